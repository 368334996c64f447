"""Geometry of trained models: dimensionalities, hidden datapoints, the best instance per size, and
the rule that names a model's regime.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from torch import Tensor

from double_descent.plot import plot_features_in_2d


def dimensionality(vectors: Float[Tensor, "... k d"]) -> Float[Tensor, "... k"]:
    """Generalised dimensionality D_i = ||v_i||² / Σ_j (v̂_i · v_j)² of each of k vectors.

    The sum includes j = i; a zero vector gets 0. Leading dimensions are independent sets. The
    sum is v̂_iᵀ G v̂_i with G = Σ_j v_j v_jᵀ (d × d), so memory grows with k, not k² (the hidden
    datapoints of T = 40,000 would need a 6 GB matrix of overlaps).
    """
    squared_norms = vectors.pow(2).sum(-1)
    units = vectors / squared_norms.sqrt().clamp_min(torch.finfo(vectors.dtype).tiny).unsqueeze(-1)
    gram = einops.einsum(vectors, vectors, "... k d, ... k e -> ... d e")
    spread = einops.einsum(units, gram, units, "... k d, ... d e, ... k e -> ... k")
    return squared_norms / spread.clamp_min(torch.finfo(vectors.dtype).tiny)


def hidden_vectors(
    W: Float[Tensor, "d_hidden feats"], data: Float[Tensor, "batch feats"]
) -> Float[Tensor, "d_hidden batch"]:
    """Hidden representations h = W x of every datapoint, one column per datapoint."""
    return einops.einsum(W, data, "d_hidden feats, batch feats -> d_hidden batch")


GEOMETRY_SIZES = (5, 30, 100, 300, 1000, 3000)
"""The sizes of the geometry figure: memorising, transition and generalising."""


def geometry_figure(
    sizes: Sequence[int],
    features: Sequence[Float[Tensor, "d_hidden feats"]],
    hidden: Sequence[Float[Tensor, "d_hidden T"]],
    shown: Sequence[int] = GEOMETRY_SIZES,
) -> go.Figure:
    """Features (top row, blue) and hidden datapoints (bottom row, red) of the best instance at
    each size in `shown`; `features` and `hidden` hold one entry per size of `sizes`."""
    index = [list(sizes).index(T) for T in shown]
    return plot_features_in_2d(
        [features[i] for i in index] + [hidden[i] for i in index],
        colors=[["blue"]] * len(index) + [["red"]] * len(index),
        title="Features (top, blue) and hidden datapoints (bottom, red), best instance per size",
        subplot_titles=[f"features, T = {T}" for T in shown] + [f"data, T = {T}" for T in shown],
        allow_different_limits_across_subplots=True,
        n_rows=2,
    )


def best_instance_geometry(
    result,
    dimensionality_fn: Callable[[Tensor], Tensor] = dimensionality,
    pick_best_fn: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]] | None = None,
    hidden_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """Feature vectors (d_hidden, feats), hidden datapoints (d_hidden, T) and the
    dimensionalities of both, for the best instance of every size of an engine `SweepResult`.

    The notebook passes the student's own functions, with the contracts of its exercises:
    - `dimensionality_fn` maps (k, d) vectors to (k,) dimensionalities;
    - `pick_best_fn(W (inst, d, feats), data (batch, inst, feats), train_loss (inst,))` returns the
      weights (d, feats) and data (batch, feats) of the instance with the lowest train loss;
    - `hidden_fn(W (d, feats), data (batch, feats))` returns h = W x as (batch, d).
    Left out, the module's own versions are used.
    """
    features, hidden = [], []
    for i in range(len(result.W)):
        W, data, loss = result.W[i], result.data(i), result.train_loss[i]
        if pick_best_fn is None:
            best = int(loss.argmin())
            W_best, data_best = W[best], data[:, best]
        else:
            W_best, data_best = pick_best_fn(W, data, loss)
        features.append(W_best)
        if hidden_fn is None:
            hidden.append(hidden_vectors(W_best, data_best))
        else:
            hidden.append(hidden_fn(W_best, data_best).T)
    feature_dims = [dimensionality_fn(w.T) for w in features]
    data_dims = [dimensionality_fn(h.T) for h in hidden]
    return features, hidden, feature_dims, data_dims


@dataclass(frozen=True)
class RegimeRule:
    """Thresholds that name a trained model's regime from quantities the reader can measure.

    - generalising: at least `min_features` features have dimensionality ≥ `feature_threshold`
      (the pentagon's features sit at about 0.2–0.33; memorising models keep every feature
      below about 0.1 once T ≳ 10);
    - memorising: otherwise, if at least `min_fraction` of the datapoints get a dimensionality of
      at least `data_fraction_of_gon` × m/T (a regular T-gon gives every point exactly m/T) AND
      the model fits its training set: train loss ≤ `max_train_loss` (predicting all zeros
      scores 1);
    - transition: neither: the geometries have collapsed, or the T-gon survives while the model
      no longer reconstructs its training points.

    The paper names the regimes from the geometry alone; the train-loss condition is ours, and
    is skipped when no train loss is given.
    """

    data_fraction_of_gon: float = 0.5
    min_fraction: float = 0.7
    feature_threshold: float = 0.15
    min_features: int = 3
    max_train_loss: float = 0.5

    def classify(
        self,
        feature_dims: Float[Tensor, " feats"],
        data_dims: Float[Tensor, " batch"],
        d_hidden: int = 2,
        train_loss: float | None = None,
    ) -> str:
        """'memorising', 'transition' or 'generalising' for one model (`train_loss`: its own)."""
        n_points = data_dims.numel()
        gon_value = d_hidden / n_points
        represented = (data_dims >= self.data_fraction_of_gon * gon_value).float().mean().item()
        n_strong_features = int((feature_dims >= self.feature_threshold).sum().item())
        if n_strong_features >= self.min_features:
            return "generalising"
        fits = train_loss is None or train_loss <= self.max_train_loss
        if represented >= self.min_fraction and fits:
            return "memorising"
        return "transition"


def regime_bands(sizes: Sequence[int], regimes: Sequence[str]) -> list[tuple[str, float, float]]:
    """Merge per-size regimes into (regime, x0, x1) bands on a log axis.

    A band edge sits at the geometric mean of the two neighbouring sizes; the outer edges extend
    half a step (in log space) beyond the first and last size.
    """
    if len(sizes) != len(regimes):
        raise ValueError(f"regimes: expected one per size ({len(sizes)}), got {len(regimes)}")
    if not sizes:
        raise ValueError("sizes: expected at least one dataset size, got none")
    logs = np.log10(np.asarray(sizes, dtype=float))
    steps = np.diff(logs) if len(logs) > 1 else np.array([0.2])
    edges = np.concatenate([[logs[0] - steps[0] / 2], (logs[1:] + logs[:-1]) / 2])
    edges = np.append(edges, logs[-1] + steps[-1] / 2)
    bands: list[tuple[str, float, float]] = []
    for i, regime in enumerate(regimes):
        if bands and bands[-1][0] == regime:
            bands[-1] = (regime, bands[-1][1], 10 ** edges[i + 1])
        else:
            bands.append((regime, 10 ** edges[i], 10 ** edges[i + 1]))
    return bands


def summarise_dims(dims: Float[Tensor, " k"], top: int = 5) -> str:
    """One line: the `top` largest dimensionalities, the median and the mean."""
    largest = dims.topk(min(top, dims.numel())).values
    return (
        f"top {largest.numel()}: [{', '.join(f'{v:.3f}' for v in largest.tolist())}], "
        f"median {dims.median().item():.4f}, mean {dims.mean().item():.4f}"
    )


def describe_run(
    sizes: Sequence[int],
    feature_dims: Sequence[Float[Tensor, " feats"]],
    data_dims: Sequence[Float[Tensor, " batch"]],
    regimes: Sequence[str],
    train_loss: Float[Tensor, "size inst"],
    test_loss: Float[Tensor, "size inst"],
    feature_threshold: float = RegimeRule.feature_threshold,
) -> str:
    """A plain-text summary of a sweep: which sizes fall in which regime, and the numbers."""
    lines = []
    for regime in ("memorising", "transition", "generalising"):
        members = [i for i, r in enumerate(regimes) if r == regime]
        if not members:
            lines.append(f"{regime}: no dataset size")
            continue
        tested = test_loss[members].mean(1)
        test_range = f"{tested.min().item():.3f}"
        if len(members) > 1:
            test_range += f"–{tested.max().item():.3f}"
        lines.append(
            f"{regime}: T = {', '.join(str(sizes[i]) for i in members)}; "
            f"mean train loss {train_loss[members].mean().item():.3f}, "
            f"mean test loss {test_range}"
        )
        if regime == "memorising":
            ratios = torch.stack([data_dims[i].median() * sizes[i] / 2 for i in members])
            lines.append(
                "  datapoints form T-gons: median datapoint dimensionality / (2/T) = "
                f"{ratios.min().item():.2f}–{ratios.max().item():.2f}"
            )
        if regime == "generalising":
            for i in members:
                strong = feature_dims[i][feature_dims[i] >= feature_threshold].sort().values
                lines.append(
                    f"  T = {sizes[i]}: {strong.numel()} features with dimensionality ≥ "
                    f"{feature_threshold} ({', '.join(f'{v:.2f}' for v in strong.tolist())}); "
                    f"datapoint dimensionality median {data_dims[i].median().item():.4f}"
                )
        if regime == "transition":
            for i in members:
                lines.append(
                    f"  T = {sizes[i]}: largest feature dimensionality "
                    f"{feature_dims[i].max().item():.3f}, datapoints with dimensionality ≥ "
                    f"(1/2)(2/T): {(data_dims[i] >= 1 / sizes[i]).float().mean().item():.0%}"
                )
    peak = test_loss.mean(1).argmax().item()
    lines.append(
        f"peak mean test loss: {test_loss[peak].mean().item():.3f} at T = {sizes[peak]} "
        f"({regimes[peak]})"
    )
    return "\n".join(lines)
