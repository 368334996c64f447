"""The check of `generate_batch`: shape, sparsity, normalisation and independence of the data.

The check draws four batches with a fixed global seed and tests each property on the batches
where it shows best; a failure names the property and, where the data reveal it, the cause.
"""

import math
from collections.abc import Callable

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from double_descent.checks._core import as_tensor, call, check


def _generated(
    fn: Callable, batch: int, inst: int, feats: int, p: float
) -> Float[Tensor, "batch inst feats"]:
    """Calls a batch generator and checks its output's type, shape, dtype and finiteness."""
    what = f"(batch_size={batch}, n_inst={inst}, n_features={feats}, feature_probability={p})"
    x = as_tensor(
        call(fn, batch, inst, feats, p, what=what),
        (batch, inst, feats),
        what,
        "The dimensions should be (batch, inst, feats).",
        dtype=torch.float32,
    )
    if torch.isnan(x).any() or torch.isinf(x).any():
        raise AssertionError(
            f"NaN or infinite values for {what}. All-zero datapoints must stay exactly "
            "zero: don't divide by their zero norm (e.g. divide by norm.clamp(min=1e-12)), and "
            "normalise over the feature dimension (dim=-1)."
        )
    if (x < 0).any():
        raise AssertionError(
            f"negative values for {what}. Present features take values uniform on "
            "[0, 1) (torch.rand), not torch.randn."
        )
    return x


def _check_feature_probability(x: Tensor, p: float) -> None:
    """Checks that the fraction of nonzero features is close to the probability p."""
    frac = (x != 0).float().mean().item()
    tol = 6 * math.sqrt(p * (1 - p) / x.numel()) + 1e-3
    if abs(frac - p) <= tol:
        return
    hint = (
        "It looks like feature_probability was used as the probability that a feature is "
        "ABSENT (a sparsity); it is the probability that a feature is present."
        if abs(frac - (1 - p)) <= tol
        else "Each feature should be present independently with probability feature_probability."
    )
    raise AssertionError(
        f"with feature_probability={p}, {frac:.3f} of the features are nonzero. {hint}"
    )


def _check_unit_norms(x: Tensor, lone: Tensor) -> None:
    """Checks each (datapoint, instance) vector has unit norm over features or is all zero.

    A mismatch is explained only by a cause verified on the data: `x` itself (sums, maxima,
    the norm against the count of present features) and `lone`, a batch with one feature, whose
    present values are exactly 1 for any correct normalisation and reveal the rest (raw uniform
    values, or u / (u + eps)).
    """
    norms = einops.reduce(x**2, "batch inst feats -> batch inst", "sum").sqrt()
    present = norms > 0
    bad = (norms[present] - 1).abs() > 1e-4
    if not present.any() or bad.float().mean() <= 0.01:
        return
    nonzero_norms = norms[present]
    header = (
        f"each datapoint should have unit L2 norm over its features (or be all zero), "
        f"but {bad.float().mean():.0%} of nonzero datapoints don't (norms from "
        f"{nonzero_norms.min():.3f} to {nonzero_norms.max():.3f})."
    )
    for dim, name in ((0, "batch"), (1, "instance")):
        other = x.norm(dim=dim)
        if ((other[other > 0] - 1).abs() < 1e-4).all():
            raise AssertionError(
                f"{header} You normalised over the {name} dimension; normalise over the feature "
                "dimension (dim=-1)."
            )
    rows = x[present]
    if ((rows.sum(-1) - 1).abs() < 1e-4).all():
        raise AssertionError(
            f"{header} Each datapoint's values sum to 1: you divided by the sum (the L1 norm); "
            "divide by the L2 norm, x.norm(dim=-1)."
        )
    if ((rows.max(-1).values - 1).abs() < 1e-4).all():
        raise AssertionError(
            f"{header} Each datapoint's largest value is 1: you divided by the maximum; divide "
            "by the L2 norm, x.norm(dim=-1)."
        )
    raise AssertionError(f"{header} {_unit_norm_cause(x, lone)}".rstrip())


def _unit_norm_cause(x: Tensor, lone: Tensor) -> str:
    """The verified cause of non-unit norms, or a neutral statement of what to do."""
    values = lone[lone > 0].double()
    grid = (0.25, 0.5, 0.75)
    if len(values) >= 100 and all(abs((values <= t).double().mean() - t) < 0.08 for t in grid):
        return (
            "A datapoint with one present feature keeps its raw value (uniform on [0, 1)) "
            "instead of becoming 1: divide each datapoint by its L2 norm."
        )
    if len(values) >= 100 and (values < 1 - 1e-6).all():
        ratio = values / (1 - values)
        eps = 1 / ratio.max().item()
        if all(abs((ratio * eps <= t).double().mean().item() - t) < 0.08 for t in grid):
            return (
                f"A datapoint with one present feature u becomes u / (u + {eps:.2g}) instead of 1: "
                "the epsilon added to the norm is too large. Guard the division differently "
                "(e.g. norm.clamp(min=1e-12))."
            )
    count = (x > 0).sum(-1).double()
    norms_squared = x.double().pow(2).sum(-1)
    share = (count / x.shape[-1])[count > 0].mean()
    if abs(norms_squared[count > 0].mean() / share - 1) < 0.15 and share < 0.9:
        return (
            "The squared norms average the share of present features: it looks like you "
            "normalised before zeroing the absent features. Zero them first, then divide."
        )
    return "Divide each datapoint by its own L2 norm over the features, after zeroing absent ones."


def _check_uniform_magnitudes(x: Tensor) -> None:
    """Checks present values are uniform before normalisation.

    For two independent U(0, 1) values the ratio min / max is again U(0, 1), and normalising a
    datapoint doesn't change ratios. So in datapoints with exactly two present features the
    ratio's empirical CDF must be close to the identity.
    """
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    pairs = rows[(rows > 0).sum(-1) == 2]
    pairs = einops.rearrange(pairs[pairs > 0], "(row two) -> row two", two=2)
    ratio = pairs.min(-1).values / pairs.max(-1).values
    grid = torch.linspace(0.1, 0.9, 9)
    cdf = (ratio[:, None] <= grid).float().mean(0)
    if (cdf - grid).abs().max() <= 0.06:
        return
    raise AssertionError(
        f"the values of present features don't look uniform on [0, 1) before "
        f"normalisation (fraction of ratios min/max <= 0.5 is {cdf[4]:.2f}, expected 0.50). Use "
        "torch.rand for the values, not randn, abs(randn) or a transformed uniform."
    )


def _check_identical_instances(x: Tensor) -> None:
    """Rejects data copied from one instance to the others."""
    for i in range(1, x.shape[1]):
        if torch.equal(x[:, 0], x[:, i]):
            raise AssertionError(
                f"instances 0 and {i} got exactly the same data; each instance needs "
                "its own independent datapoints (generate a (batch, inst, feats) tensor)."
            )


def _check_not_binary(x: Tensor) -> None:
    """Rejects 0/1 features: every present feature of every datapoint has the same value."""
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    rows = rows[(rows > 0).sum(-1) >= 2]
    top = rows.max(-1, keepdim=True).values
    if len(rows) and ((rows == 0) | ((rows - top).abs() < 1e-6)).all():
        raise AssertionError(
            "all present features in a datapoint have equal values. Present features "
            "should take values uniform on [0, 1) (torch.rand), not 0/1 (Bernoulli)."
        )


def _check_distinct_rows(x: Tensor) -> None:
    """Rejects repeated datapoints, within or across instances, naming the first repeat.

    Only datapoints with at least three present features count: those repeat with probability
    ~0. A lone feature always normalises to exactly 1, and two present features repeat whenever
    two float32 draws happen to be proportional (about one run in 30 over 2000 pairs).
    """
    batch, inst, _ = x.shape
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    index = torch.nonzero((rows > 0).sum(-1) >= 3)[:, 0]
    _, inverse, counts = torch.unique(rows[index], dim=0, return_inverse=True, return_counts=True)
    if len(counts) == len(index):
        return
    group = int(torch.nonzero(counts > 1)[0])
    first, second = (divmod(int(i), inst) for i in index[inverse == group][:2])
    where = (
        f"datapoint {first[0]} is identical in instances {first[1]} and {second[1]}: the "
        "instances share their values"
        if first[0] == second[0]
        else f"datapoints {first[0]} and {second[0]} of instance {first[1]} are identical"
    )
    raise AssertionError(
        f"only {len(counts)} distinct datapoints among {len(index)} (counting those "
        f"with at least three present features, which should never repeat); {where}. Draw every "
        "datapoint of every instance independently: the presence mask AND the values need "
        "the full (batch, inst, feats) shape."
    )


def _check_presence_counts(x: Tensor, p: float) -> None:
    """Checks that each feature gets its own presence coin, from the spread of present counts.

    With one coin per feature the count of present features per datapoint is Binomial(n, p),
    variance n p (1 - p). One coin per datapoint (all or nothing) makes it n times larger; a
    fixed number of features per datapoint makes it 0.
    """
    counts = (x > 0).sum(-1).float()
    ratio = counts.var().item() / (x.shape[-1] * p * (1 - p))
    if ratio > 2:
        raise AssertionError(
            f"the number of present features per datapoint varies {ratio:.0f}x more "
            "than independent features allow: the features of a datapoint seem to be present "
            "all together or not at all. Draw one presence coin per feature, i.e. a mask of "
            "shape (batch, inst, feats), not one coin per datapoint."
        )
    if ratio < 0.5:
        raise AssertionError(
            f"the number of present features per datapoint hardly varies (variance "
            f"{ratio:.2f}x that of independent features): each feature should be present "
            "independently with probability feature_probability, not a fixed number per datapoint."
        )


def _correlation(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of two samples of equal size (0 when either is constant)."""
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    scale = (a.norm() * b.norm()).item()
    return (a @ b).item() / scale if scale > 0 else 0.0


CORRELATION_Z = 6.0
"""Correlations beyond CORRELATION_Z / sqrt(n) count as dependence (normal tail about 2e-9)."""


def _check_uncorrelated(a: Tensor, b: Tensor, what: str, advice: str) -> None:
    """Fails if the presence masks, or the values where both are present, are correlated.

    Values are compared only with at least 1000 pairs: sparse data puts a point mass at 1 (lone
    features), and with fewer pairs the correlation's tail is far heavier than a normal's.
    """
    both = (a > 0) & (b > 0)
    samples = [("presence", (a > 0).float(), (b > 0).float())]
    if both.sum() >= 1000:
        samples.append(("values", a[both], b[both]))
    for kind, u, v in samples:
        corr = _correlation(u, v)
        if abs(corr) > CORRELATION_Z / math.sqrt(u.numel()):
            shared = "the same features present" if kind == "presence" else "related values"
            raise AssertionError(
                f"{what} have {shared} far more often than chance (correlation of "
                f"{kind} {corr:.2f} over {u.numel()} samples, expected about 0). {advice}"
            )


def _check_independence(x: Tensor) -> None:
    """Checks masks and values are uncorrelated across datapoints, then across instances."""
    advice = (
        "Draw the presence mask AND the values independently per {}: both torch.rand calls "
        "need the full (batch, inst, feats) shape."
    )
    _check_uncorrelated(x[:-1], x[1:], "consecutive datapoints", advice.format("datapoint"))
    for i in range(1, x.shape[1]):
        _check_uncorrelated(x[:, 0], x[:, i], f"instances 0 and {i}", advice.format("instance"))


@check(seed=0)
def test_generate_batch(fn: Callable[[int, int, int, float], Tensor]) -> None:
    """Checks `fn(batch_size, n_inst, n_features, feature_probability)` -> (batch, inst, feats).

    Data: each feature is present with probability p, with a value uniform on [0, 1); each
    (datapoint, instance) vector is then scaled to unit L2 norm, and all-zero ones stay zero.
    Every feature, datapoint and instance is drawn independently.
    """
    sparse = _generated(fn, 4000, 4, 3, 0.05)
    pairs = _generated(fn, 4000, 2, 2, 0.5)
    single = _generated(fn, 500, 3, 1, 0.5)
    dense = _generated(fn, 500, 3, 20, 0.3)
    _check_identical_instances(dense)
    _check_not_binary(dense)
    for x in (sparse, pairs, single, dense):
        _check_unit_norms(x, single)
    _check_distinct_rows(dense)
    for x in (sparse, pairs, dense):
        _check_independence(x)
    _check_presence_counts(dense, 0.3)
    _check_feature_probability(sparse, 0.05)
    _check_feature_probability(dense, 0.3)
    _check_uniform_magnitudes(pairs)
