"""Tests of the check functions in part4_utils.

For each check: a correct implementation passes, and a catalogue of realistic mistakes each
fails with an AssertionError whose message names that mistake.
"""

import math
from collections.abc import Callable

import pytest
import torch
from course_reference import (
    calculate_loss,
    dimensionality,
    evaluate_test_loss,
    generate_batch,
)
from course_reference import cosine_decay_lr as cosine_decay
from course_reference import linear_warmup_lr as linear_warmup
from course_reference import warmup_cosine_lr as warmup_cosine
from einops import einsum, rearrange

import part4_utils
from part4_utils import (
    test_calculate_loss as check_calculate_loss,
)
from part4_utils import (
    test_cosine_decay_lr as check_cosine_decay_lr,
)
from part4_utils import (
    test_dimensionality as check_dimensionality,
)
from part4_utils import (
    test_evaluate_test_loss as check_evaluate_test_loss,
)
from part4_utils import (
    test_generate_batch as check_generate_batch,
)
from part4_utils import (
    test_linear_warmup_lr as check_linear_warmup_lr,
)
from part4_utils import (
    test_warmup_cosine_lr as check_warmup_cosine_lr,
)

CHECKS = [
    check_linear_warmup_lr,
    check_cosine_decay_lr,
    check_warmup_cosine_lr,
    check_generate_batch,
    check_dimensionality,
    check_calculate_loss,
    check_evaluate_test_loss,
]


def half_cosine(progress: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * progress))


# ------------------------------------------------------------------------------------------------
# Correct implementations: the course's references, and helpers for the mistakes below
# ------------------------------------------------------------------------------------------------


def normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def interference(unit: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    return einsum(unit, data, "... i d, ... j d -> ... i j") ** 2


def forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    hidden = einsum(W, x, "inst d f, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst d f, batch inst d -> batch inst f") + b)


CORRECT = [
    (check_linear_warmup_lr, linear_warmup),
    (check_cosine_decay_lr, cosine_decay),
    (check_warmup_cosine_lr, warmup_cosine),
    (check_generate_batch, generate_batch),
    (check_dimensionality, dimensionality),
    (check_calculate_loss, calculate_loss),
    (check_evaluate_test_loss, evaluate_test_loss),
]


@pytest.mark.parametrize(("check", "fn"), CORRECT, ids=lambda x: getattr(x, "__name__", ""))
def test_correct_implementation_passes(check: Callable, fn: Callable, capsys) -> None:
    check(fn)
    assert capsys.readouterr().out.strip() == f"All tests in `{check.__name__}` passed!"


def test_alternative_correct_implementations_pass() -> None:
    def unchunked_loss(W, b, test_batch, chunk_size=1000):
        return calculate_loss(forward(W, b, test_batch), test_batch[:, None])

    def generate_with_where(batch, inst, feats, p):
        x = torch.where(torch.rand(batch, inst, feats) <= p, torch.rand(batch, inst, feats), 0.0)
        norms = x.norm(dim=-1, keepdim=True)
        return torch.where(norms > 0, x / (norms + 1e-8), 0.0)

    def generate_values_first(batch, inst, feats, p):
        values = torch.rand(batch, inst, feats)
        return normalise(values * (torch.rand(batch, inst, feats) < p))

    def dimensionality_with_zero_guard(data):
        sq_norms = (data**2).sum(-1)
        unit = data / sq_norms.sqrt().clamp(min=1e-12)[..., None]
        denominator = interference(unit, data).sum(-1)
        return torch.where(sq_norms > 0, sq_norms / denominator.clamp(min=1e-30), 0.0)

    check_evaluate_test_loss(unchunked_loss)
    check_generate_batch(generate_with_where)
    check_generate_batch(generate_values_first)
    check_dimensionality(dimensionality_with_zero_guard)
    check_warmup_cosine_lr(lambda s, n, w=2500: min(s / w, half_cosine(max(s - w, 0) / (n - w))))
    check_dimensionality(lambda d: dimensionality(d.double()))


def placeholder(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_placeholder_fails(check: Callable) -> None:
    with pytest.raises(AssertionError, match="NotImplementedError"):
        check(placeholder)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_function_returning_none_fails(check: Callable) -> None:
    with pytest.raises(AssertionError, match="returned None"):
        check(lambda *args: None)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_not_callable_is_rejected(check: Callable) -> None:
    with pytest.raises(TypeError, match="fn"):
        check(42)


def test_checks_keep_the_global_rng_state() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    check_generate_batch(generate_batch)
    assert torch.equal(torch.rand(3), expected)


# ------------------------------------------------------------------------------------------------
# Schedules
# ------------------------------------------------------------------------------------------------

LINEAR_WARMUP_MISTAKES = {
    "divides_by_steps_minus_1": (lambda s, n: s / (n - 1), r"steps - 1"),
    "step_plus_1": (lambda s, n: (s + 1) / n, r"\(step \+ 1\) / steps"),
    "divides_by_steps_plus_1": (lambda s, n: s / (n + 1), r"step / \(steps \+ 1\)"),
    "returns_learning_rate": (lambda s, n: 1e-3 * s / n, "learning rate itself"),
    "decreasing": (lambda s, n: 1 - s / n, "decreases"),
    "quadratic": (lambda s, n: (s / n) ** 2, "linearly"),
    "integer_division": (lambda s, n: s // n, "linearly"),
    "overshoots": (lambda s, n: 1.5 * s / n, "never exceed 1"),
    "starts_above_zero": (lambda s, n: 0.01 + 0.99 * s / n, "start from exactly 0"),
    "returns_tensor_vector": (lambda s, n: torch.tensor([s / n, 0.0]), "single number"),
    "returns_string": (lambda s, n: str(s / n), "expected a float"),
}

COSINE_DECAY_MISTAKES = {
    "quarter_cosine": (lambda s, n: math.cos(math.pi / 2 * s / n), "quarter cosine"),
    "old_course_quarter_cosine": (
        lambda s, n: math.cos(math.pi / 2 * s / (n - 1)),
        "older course's quarter cosine",
    ),
    "steps_minus_1": (lambda s, n: half_cosine(s / (n - 1)), "not steps - 1"),
    "step_plus_1": (lambda s, n: half_cosine((s + 1) / n), r"\(step \+ 1\)"),
    "linear": (lambda s, n: 1 - s / n, "linear decay"),
    "full_cosine_goes_negative": (lambda s, n: math.cos(math.pi * s / n), "down to -1"),
    "increasing": (lambda s, n: 0.5 * (1 - math.cos(math.pi * s / n)), "rises from 0 to 1"),
    "min_lr": (
        lambda s, n: 0.1 + 0.9 * half_cosine(s / n),
        "minimum of 0.1 instead of all the way",
    ),
    "ends_at_half": (lambda s, n: 0.75 + 0.25 * math.cos(math.pi * s / n), "all the way to 0"),
    "scaled_by_peak_lr": (lambda s, n: 1e-3 * half_cosine(s / n), "start at exactly 1"),
    "cosine_squared": (lambda s, n: math.cos(math.pi / 2 * s / n) ** 2 * 0.98, "start at"),
}


def wrong_default(step, steps, warmup_steps=1000):
    return warmup_cosine(step, steps, warmup_steps)


WARMUP_COSINE_MISTAKES = {
    "cosine_from_step_0": (
        lambda s, n, w=2500: s / w if s < w else half_cosine(s / n),
        "measured from step 0",
    ),
    "ignores_warmup_argument": (lambda s, n, w=2500: warmup_cosine(s, n), "ignores its warmup"),
    "wrong_default_warmup": (wrong_default, "default warmup_steps should be 2500"),
    "quarter_cosine": (
        lambda s, n, w=2500: s / w if s < w else math.cos(math.pi / 2 * (s - w) / (n - w)),
        "quarter cosine",
    ),
    "warmup_step_plus_1": (
        lambda s, n, w=2500: (s + 1) / w if s < w else warmup_cosine(s, n, w),
        r"\(step \+ 1\) / warmup_steps",
    ),
    "decay_off_by_one": (
        lambda s, n, w=2500: s / w if s < w else half_cosine((s - w) / (n - 1 - w)),
        "not one less",
    ),
    "no_warmup": (lambda s, n, w=2500: half_cosine(s / n), "no warmup"),
    "linear_decay": (lambda s, n, w=2500: s / w if s < w else 1 - (s - w) / (n - w), "linear"),
    "no_decay": (lambda s, n, w=2500: min(s / w, 1.0), "never decays"),
    "min_lr": (
        lambda s, n, w=2500: s / w if s < w else 0.1 + 0.9 * half_cosine((s - w) / (n - w)),
        "minimum of 0.1 instead",
    ),
    "progress_over_steps": (
        lambda s, n, w=2500: s / w if s < w else half_cosine((s - w) / n),
        "progress is divided by steps",
    ),
    "floor_in_the_warmup_too": (
        lambda s, n, w=2500: max(0.1, warmup_cosine(s, n, w)),
        r"returned 0\.1, expected 0\. Warmup must start from exactly 0 at step 0\.$",
    ),
    "warmup_divides_by_w_minus_1": (
        lambda s, n, w=2500: min(s / (w - 1), 1.0) if s < w else warmup_cosine(s, n, w),
        "step / warmup_steps",
    ),
    "jump_after_warmup": (
        lambda s, n, w=2500: s / w if s <= w else 0.9 * half_cosine((s - w) / (n - w)),
        "continuous at the end of warmup",
    ),
    "overshoot_in_warmup": (
        lambda s, n, w=2500: 2 * s / w if s < w else warmup_cosine(s, n, w),
        r"within \[0, 1\]",
    ),
}

SCHEDULE_CASES = [
    (check_linear_warmup_lr, name, fn, match)
    for name, (fn, match) in LINEAR_WARMUP_MISTAKES.items()
]
SCHEDULE_CASES += [
    (check_cosine_decay_lr, name, fn, match) for name, (fn, match) in COSINE_DECAY_MISTAKES.items()
]
SCHEDULE_CASES += [
    (check_warmup_cosine_lr, name, fn, match)
    for name, (fn, match) in WARMUP_COSINE_MISTAKES.items()
]


@pytest.mark.parametrize(
    ("check", "name", "fn", "match"),
    SCHEDULE_CASES,
    ids=[f"{c.__name__.removeprefix('test_')}-{name}" for c, name, _, _ in SCHEDULE_CASES],
)
def test_schedule_mistake_is_caught(check, name, fn, match) -> None:
    with pytest.raises(AssertionError, match=match):
        check(fn)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def raw_features(batch, inst, feats, p):
    return torch.rand(batch, inst, feats) * (torch.rand(batch, inst, feats) < p)


def gen_normalise_over_batch(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / x.norm(dim=0, keepdim=True).clamp(min=1e-12)


def gen_normalise_over_instances(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)


def gen_divide_by_zero(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / x.norm(dim=-1, keepdim=True)


def gen_randn(batch, inst, feats, p):
    return normalise(torch.randn(batch, inst, feats) * (torch.rand(batch, inst, feats) < p))


def gen_abs_randn(batch, inst, feats, p):
    return normalise(torch.randn(batch, inst, feats).abs() * (torch.rand(batch, inst, feats) < p))


def gen_squared_uniform(batch, inst, feats, p):
    return normalise(torch.rand(batch, inst, feats) ** 2 * (torch.rand(batch, inst, feats) < p))


def gen_bernoulli(batch, inst, feats, p):
    return normalise((torch.rand(batch, inst, feats) < p).float())


def gen_sparsity(batch, inst, feats, p):
    return normalise(torch.rand(batch, inst, feats) * (torch.rand(batch, inst, feats) < 1 - p))


def gen_same_for_every_instance(batch, inst, feats, p):
    return generate_batch(batch, 1, feats, p).expand(batch, inst, feats)


def gen_same_mask_for_every_instance(batch, inst, feats, p):
    present = torch.rand(batch, 1, feats) < p
    return normalise(torch.rand(batch, inst, feats) * present)


def gen_float64(batch, inst, feats, p):
    return generate_batch(batch, inst, feats, p).double()


def gen_unnormalised(batch, inst, feats, p):
    return raw_features(batch, inst, feats, p)


def gen_normalise_before_mask(batch, inst, feats, p):
    return normalise(torch.rand(batch, inst, feats)) * (torch.rand(batch, inst, feats) < p)


def gen_large_eps(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / (x.norm(dim=-1, keepdim=True) + 1e-2)


def gen_l1_normalised(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / x.sum(dim=-1, keepdim=True).clamp(min=1e-12)


def gen_max_normalised(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / x.amax(dim=-1, keepdim=True).clamp(min=1e-12)


def gen_squared_norm(batch, inst, feats, p):
    x = raw_features(batch, inst, feats, p)
    return x / (x**2).sum(dim=-1, keepdim=True).clamp(min=1e-12)


def gen_same_datapoint(batch, inst, feats, p):
    return generate_batch(1, inst, feats, p).expand(batch, inst, feats)


def gen_inst_first(batch, inst, feats, p):
    return normalise(raw_features(inst, batch, feats, p))


def gen_numpy(batch, inst, feats, p):
    return generate_batch(batch, inst, feats, p).numpy()


def gen_batch_only(batch, inst, feats, p):
    return normalise(raw_features(batch, 1, feats, p))[:, 0]


GENERATE_BATCH_MISTAKES = {
    "normalise_over_batch": (gen_normalise_over_batch, "batch dimension"),
    "normalise_over_instances": (gen_normalise_over_instances, "instance dimension"),
    "divide_by_zero_norm": (gen_divide_by_zero, "NaN"),
    "randn_values": (gen_randn, "randn"),
    "abs_randn_values": (gen_abs_randn, "don't look uniform"),
    "squared_uniform_values": (gen_squared_uniform, "don't look uniform"),
    "bernoulli_values": (gen_bernoulli, "Bernoulli"),
    "p_used_as_sparsity": (gen_sparsity, "ABSENT"),
    "same_data_every_instance": (gen_same_for_every_instance, "exactly the same data"),
    "same_mask_every_instance": (gen_same_mask_for_every_instance, "same features present"),
    "float64": (gen_float64, "float32"),
    "unnormalised": (gen_unnormalised, "keeps its raw value"),
    "large_eps": (gen_large_eps, "epsilon"),
    "l1_normalised": (gen_l1_normalised, r"divided by the sum \(the L1 norm\)"),
    "max_normalised": (gen_max_normalised, "divided by the maximum"),
    "squared_norm": (gen_squared_norm, r"norms from .*\)\. Divide each datapoint by its own L2"),
    "normalise_before_mask": (gen_normalise_before_mask, "normalised before zeroing"),
    "same_datapoint_repeated": (gen_same_datapoint, "distinct datapoints"),
    "inst_batch_swapped": (gen_inst_first, r"\(batch, inst, feats\)"),
    "returns_numpy": (gen_numpy, "torch.Tensor"),
    "no_instance_dim": (gen_batch_only, "shape"),
}


@pytest.mark.parametrize(
    ("fn", "match"), GENERATE_BATCH_MISTAKES.values(), ids=GENERATE_BATCH_MISTAKES.keys()
)
def test_generate_batch_mistake_is_caught(fn, match) -> None:
    with pytest.raises(AssertionError, match=match):
        check_generate_batch(fn)


# ------------------------------------------------------------------------------------------------
# Dimensionality
# ------------------------------------------------------------------------------------------------


def units(data):
    return data / data.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def dim_without_self_term(data):
    terms = interference(units(data), data)
    eye = torch.eye(data.shape[-2], dtype=torch.bool)
    return (data**2).sum(-1) / terms.masked_fill(eye, 0).sum(-1)


def dim_unnormalised(data):
    return (data**2).sum(-1) / interference(data, data).sum(-1).clamp(min=1e-30)


def dim_both_normalised(data):
    return (data**2).sum(-1) / interference(units(data), units(data)).sum(-1).clamp(min=1e-30)


def dim_zero_division(data):
    unit = data / data.norm(dim=-1, keepdim=True)
    return (data**2).sum(-1) / interference(unit, data).sum(-1)


def dim_wrong_axis(data):
    return dimensionality_from(data, interference(units(data), data).sum(-2))


def dimensionality_from(data, denominator):
    sq_norms = (data**2).sum(-1)
    return torch.where(sq_norms > 0, sq_norms / denominator.clamp(min=1e-30), 0.0)


def dim_reciprocal(data):
    return dimensionality_from(data, interference(units(data), data).sum(-1)) ** -1


def dim_abs(data):
    terms = einsum(units(data), data, "... i d, ... j d -> ... i j").abs()
    return dimensionality_from(data, terms.sum(-1))


def dim_norm_not_squared(data):
    return dimensionality(data) / data.norm(dim=-1).clamp(min=1e-30)


def dim_flattened(data):
    flat = rearrange(data, "... d -> (...) d")
    return dimensionality(flat).reshape(data.shape[:-1])


def dim_two_dims_only(data):
    return dimensionality(data[..., :2])


def dim_self_term_only(data):
    return dimensionality_from(data, ((units(data) * data).sum(-1)) ** 2)


def dim_mean(data):
    return dimensionality(data).mean(-1)


def dim_eps_in_numerator(data):
    return dimensionality(data) + 1e-2


DIMENSIONALITY_MISTAKES = {
    "drops_self_term": (dim_without_self_term, "j = i"),
    "unnormalised_dot_products": (dim_unnormalised, "unit vector"),
    "normalises_v_j_too": (dim_both_normalised, "not v_j"),
    "zero_division": (dim_zero_division, "zero vector"),
    "sums_over_wrong_index": (dim_wrong_axis, "summing over i instead of j"),
    "reciprocal": (dim_reciprocal, "reciprocal"),
    "abs_instead_of_square": (dim_abs, "absolute values"),
    "norm_not_squared": (dim_norm_not_squared, r"\(squared\)"),
    "mixes_leading_dims": (dim_flattened, "slice"),
    "assumes_two_hidden_dims": (dim_two_dims_only, "Don't assume 2 hidden dimensions"),
    "self_term_only": (dim_self_term_only, "ALL vectors j"),
    "mean_over_vectors": (dim_mean, "shape"),
    "offset": (dim_eps_in_numerator, "lone vector"),
}


@pytest.mark.parametrize(
    ("fn", "match"), DIMENSIONALITY_MISTAKES.values(), ids=DIMENSIONALITY_MISTAKES.keys()
)
def test_dimensionality_mistake_is_caught(fn, match) -> None:
    with pytest.raises(AssertionError, match=match):
        check_dimensionality(fn)


# ------------------------------------------------------------------------------------------------
# Losses
# ------------------------------------------------------------------------------------------------

CALCULATE_LOSS_MISTAKES = {
    "mean_over_features": (lambda o, b: ((b - o) ** 2).mean(-1).mean(0), "averaged over features"),
    "sum_over_batch": (lambda o, b: ((b - o) ** 2).sum(-1).sum(0), "summed over datapoints"),
    "mean_over_everything": (lambda o, b: ((b - o) ** 2).sum(-1).mean(), "instances too"),
    "not_squared": (lambda o, b: (b - o).sum(-1).mean(0), "Square the differences"),
    "abs": (lambda o, b: (b - o).abs().sum(-1).mean(0), "instead of taking abs"),
    "root_of_squares": (lambda o, b: (b - o).norm(dim=-1).mean(0), "square root"),
    "reduces_over_instances": (
        lambda o, b: ((b - o) ** 2).sum(-1).mean(1),
        "keep the instance dimension",
    ),
    "no_sum_over_features": (lambda o, b: ((b - o) ** 2).mean(0), "sum over features"),
    "no_mean_over_batch": (lambda o, b: ((b - o) ** 2).sum(-1), "mean over datapoints"),
    "broadcast_mean": (
        lambda o, b: ((b - o) ** 2).sum(-1).mean().expand(b.shape[1]),
        "instances separate",
    ),
    "returns_float": (lambda o, b: ((b - o) ** 2).sum(-1).mean().item(), "torch.Tensor"),
    "relu_on_error": (lambda o, b: torch.relu(b - o).pow(2).sum(-1).mean(0), "hand-made"),
}


@pytest.mark.parametrize(
    ("fn", "match"), CALCULATE_LOSS_MISTAKES.values(), ids=CALCULATE_LOSS_MISTAKES.keys()
)
def test_calculate_loss_mistake_is_caught(fn, match) -> None:
    with pytest.raises(AssertionError, match=match):
        check_calculate_loss(fn)


def chunked(per_chunk: Callable, combine: Callable) -> Callable:
    """A chunked evaluator built from a per-chunk loss and a way of combining chunk results."""

    def evaluate(W, b, test_batch, chunk_size=1000):
        results = [per_chunk(W, b, chunk) for chunk in test_batch.split(chunk_size)]
        return combine(results, test_batch.shape[0])

    return evaluate


def summed_errors(out_fn):
    return lambda W, b, x: ((x[:, None] - out_fn(W, b, x)) ** 2).sum(-1).sum(0)


def mean_of_sums(results, n):
    return sum(results) / n


def eval_no_relu(W, b, x):
    hidden = einsum(W, x, "inst d f, batch f -> batch inst d")
    return einsum(W, hidden, "inst d f, batch inst d -> batch inst f") + b


def eval_first_instance(W, b, x):
    return forward(W[:1].expand_as(W), b[:1].expand_as(b), x)


def eval_decode_with_w(W, b, x):
    hidden = einsum(W, x, "inst d f, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst f d, batch inst d -> batch inst f") + b)


def eval_encode_with_w_transpose(W, b, x):
    hidden = einsum(W, x, "inst f d, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst f d, batch inst d -> batch inst f") + b)


def eval_drop_last_chunk(W, b, test_batch, chunk_size=1000):
    n_full = test_batch.shape[0] // chunk_size * chunk_size
    return evaluate_test_loss(W, b, test_batch[: max(n_full, chunk_size)], chunk_size)


EVALUATE_TEST_LOSS_MISTAKES = {
    "averages_chunk_means": (
        chunked(
            lambda W, b, x: calculate_loss(forward(W, b, x), x[:, None]),
            lambda r, n: sum(r) / len(r),
        ),
        "averaged the chunks",
    ),
    "mean_over_features": (
        lambda W, b, x, chunk_size=1000: evaluate_test_loss(W, b, x, chunk_size) / W.shape[-1],
        "averaged over features",
    ),
    "no_relu": (chunked(summed_errors(eval_no_relu), mean_of_sums), "ReLU"),
    "no_bias": (chunked(summed_errors(lambda W, b, x: forward(W, 0 * b, x)), mean_of_sums), "bias"),
    "first_instance_for_all": (
        chunked(summed_errors(eval_first_instance), mean_of_sums),
        "own W and b",
    ),
    "decode_with_w": (chunked(summed_errors(eval_decode_with_w), mean_of_sums), r"W\^T"),
    "encode_with_w_transpose": (
        chunked(summed_errors(eval_encode_with_w_transpose), mean_of_sums),
        "not the reverse",
    ),
    "sum_instead_of_mean": (chunked(summed_errors(forward), lambda r, n: sum(r)), "not the sum"),
    "drops_last_chunk": (eval_drop_last_chunk, "partial chunk was dropped"),
    "mean_over_instances": (
        chunked(summed_errors(forward), lambda r, n: (sum(r) / n).mean()),
        "instances too",
    ),
    "per_datapoint_losses": (
        lambda W, b, x, chunk_size=1000: ((x[:, None] - forward(W, b, x)) ** 2).sum(-1),
        "mean over datapoints",
    ),
}


@pytest.mark.parametrize(
    ("fn", "match"), EVALUATE_TEST_LOSS_MISTAKES.values(), ids=EVALUATE_TEST_LOSS_MISTAKES.keys()
)
def test_evaluate_test_loss_mistake_is_caught(fn, match) -> None:
    with pytest.raises(AssertionError, match=match):
        check_evaluate_test_loss(fn)


def test_catalogue_sizes() -> None:
    catalogues = [
        LINEAR_WARMUP_MISTAKES,
        COSINE_DECAY_MISTAKES,
        WARMUP_COSINE_MISTAKES,
        GENERATE_BATCH_MISTAKES,
        DIMENSIONALITY_MISTAKES,
        CALCULATE_LOSS_MISTAKES,
        EVALUATE_TEST_LOSS_MISTAKES,
    ]
    assert all(len(c) >= 5 for c in catalogues)


def test_module_exports() -> None:
    for name in ("plot_features_in_2d", *(c.__name__ for c in CHECKS)):
        assert callable(getattr(part4_utils, name))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_checks_are_not_collected_by_pytest(check: Callable) -> None:
    assert check.__test__ is False
