"""The catalogue of mistakes: every wrong implementation a check must reject, with its message.

MISTAKES holds, for each check, the realistic mistakes (from teaching and from review: off-by-one
schedules, dependent data, detached losses, in-place changes to inputs, float64 parameters, NaN,
misleading diagnoses) as {label: (wrong implementation, regex the message must match)}. One
test runs each through its check, and sees the traceback end in the check itself (where the
student reads the case). The sections follow the check modules.
"""

import math
from collections.abc import Callable

import einops
import pytest
import torch
import torch.nn.functional as F
from einops import einsum, rearrange
from test_checks_reference import (
    CHECKED,
    ToyModel,
    calculate_loss,
    dimensionality,
    evaluate_test_loss,
    generate_batch,
    train,
    warmup_cosine_lr,
)
from torch import nn

import part4_utils


def half_cosine(progress: float) -> float:
    return 0.5 * (1 + math.cos(math.pi * progress))


def paper_schedule(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


def old_course_warmup_cosine(step, steps, warmup_steps=2500):
    if step < warmup_steps:
        return step / warmup_steps
    return math.cos(math.pi / 2 * (step - warmup_steps) / (steps - warmup_steps - 1))


def normalise(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp(min=1e-12)


def interference(unit: torch.Tensor, data: torch.Tensor) -> torch.Tensor:
    return einsum(unit, data, "... i d, ... j d -> ... i j") ** 2


def forward(W: torch.Tensor, b: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    hidden = einsum(W, x, "inst d f, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst d f, batch inst d -> batch inst f") + b)


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
    return warmup_cosine_lr(step, steps, warmup_steps)


WARMUP_COSINE_MISTAKES = {
    "cosine_from_step_0": (
        lambda s, n, w=2500: s / w if s < w else half_cosine(s / n),
        "measured from step 0",
    ),
    "ignores_warmup_argument": (lambda s, n, w=2500: warmup_cosine_lr(s, n), "ignores its warmup"),
    "wrong_default_warmup": (wrong_default, "default warmup_steps should be 2500"),
    "quarter_cosine": (
        lambda s, n, w=2500: s / w if s < w else math.cos(math.pi / 2 * (s - w) / (n - w)),
        "quarter cosine",
    ),
    "older_course_quarter_cosine": (old_course_warmup_cosine, "older course's quarter cosine"),
    "warmup_step_plus_1": (
        lambda s, n, w=2500: (s + 1) / w if s < w else warmup_cosine_lr(s, n, w),
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
        lambda s, n, w=2500: max(0.1, warmup_cosine_lr(s, n, w)),
        r"returned 0\.1, expected 0\. Warmup must start from exactly 0 at step 0\.$",
    ),
    "warmup_divides_by_w_minus_1": (
        lambda s, n, w=2500: min(s / (w - 1), 1.0) if s < w else warmup_cosine_lr(s, n, w),
        "step / warmup_steps",
    ),
    "jump_after_warmup": (
        lambda s, n, w=2500: s / w if s <= w else 0.9 * half_cosine((s - w) / (n - w)),
        "continuous at the end of warmup",
    ),
    "overshoot_in_warmup": (
        lambda s, n, w=2500: 2 * s / w if s < w else warmup_cosine_lr(s, n, w),
        r"within \[0, 1\]",
    ),
}

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


def gen_same_mask_for_every_instance(batch, inst, feats, p):
    present = torch.rand(batch, 1, feats) < p
    return normalise(torch.rand(batch, inst, feats) * present)


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


def coin_per_datapoint(batch, inst, feats, p):
    present = torch.rand(batch, inst, 1) < p
    return normalise(torch.rand(batch, inst, feats) * present)


def fixed_count_per_datapoint(batch, inst, feats, p):
    k = max(round(p * feats), 1)
    order = torch.rand(batch, inst, feats).argsort(-1)
    return normalise(torch.rand(batch, inst, feats) * (order < k))


def values_shared_by_instances(batch, inst, feats, p):
    return normalise(torch.rand(batch, 1, feats) * (torch.rand(batch, inst, feats) < p))


def values_shared_by_datapoints(batch, inst, feats, p):
    return normalise(torch.rand(1, inst, feats) * (torch.rand(batch, inst, feats) < p))


def mask_shared_by_datapoints(batch, inst, feats, p):
    return normalise(torch.rand(batch, inst, feats) * (torch.rand(1, inst, feats) < p))


def mask_half_shared_by_instances(batch, inst, feats, p):
    shared = torch.rand(batch, 1, feats) < p
    own = torch.rand(batch, inst, feats) < p
    present = torch.where(torch.rand(batch, inst, 1) < 0.5, shared, own)
    return normalise(torch.rand(batch, inst, feats) * present)


def second_half_repeats_first(batch, inst, feats, p):
    half = generate_batch((batch + 1) // 2, inst, feats, p)
    return torch.cat([half, half])[:batch]


GENERATE_BATCH_MISTAKES = {
    "normalise_over_batch": (gen_normalise_over_batch, "batch dimension"),
    "normalise_over_instances": (gen_normalise_over_instances, "instance dimension"),
    "divide_by_zero_norm": (gen_divide_by_zero, "NaN"),
    "randn_values": (gen_randn, "randn"),
    "abs_randn_values": (gen_abs_randn, "don't look uniform"),
    "squared_uniform_values": (gen_squared_uniform, "don't look uniform"),
    "bernoulli_values": (gen_bernoulli, "Bernoulli"),
    "p_used_as_sparsity": (gen_sparsity, "ABSENT"),
    "same_data_every_instance": (
        lambda b, i, f, p: generate_batch(b, 1, f, p).expand(b, i, f),
        "exactly the same data",
    ),
    "same_mask_every_instance": (gen_same_mask_for_every_instance, "same features present"),
    "float64": (lambda b, i, f, p: generate_batch(b, i, f, p).double(), "float32"),
    "unnormalised": (raw_features, "keeps its raw value"),
    "large_eps": (gen_large_eps, "epsilon"),
    "l1_normalised": (gen_l1_normalised, r"divided by the sum \(the L1 norm\)"),
    "max_normalised": (gen_max_normalised, "divided by the maximum"),
    "squared_norm": (gen_squared_norm, r"norms from .*\)\. Divide each datapoint by its own L2"),
    "normalise_before_mask": (gen_normalise_before_mask, "normalised before zeroing"),
    "same_datapoint_repeated": (
        lambda b, i, f, p: generate_batch(1, i, f, p).expand(b, i, f),
        "distinct datapoints",
    ),
    "inst_batch_swapped": (
        lambda b, i, f, p: normalise(raw_features(i, b, f, p)),
        r"\(batch, inst, feats\)",
    ),
    "returns_numpy": (lambda b, i, f, p: generate_batch(b, i, f, p).numpy(), "torch.Tensor"),
    "no_instance_dim": (lambda b, i, f, p: normalise(raw_features(b, 1, f, p))[:, 0], "shape"),
    "one_coin_per_datapoint": (coin_per_datapoint, "not one coin per datapoint"),
    "fixed_count_per_datapoint": (fixed_count_per_datapoint, "not a fixed number"),
    "values_shared_by_instances": (
        values_shared_by_instances,
        "instances 0 and 1 have related values",
    ),
    "values_shared_by_datapoints": (values_shared_by_datapoints, "distinct datapoints"),
    "mask_shared_by_datapoints": (
        mask_shared_by_datapoints,
        "consecutive datapoints .*same features",
    ),
    "mask_half_shared_by_instances": (
        mask_half_shared_by_instances,
        "instances 0 and 1 .*same features present",
    ),
    "second_half_repeats_first": (second_half_repeats_first, "distinct datapoints"),
}

# ------------------------------------------------------------------------------------------------
# Model and loss
# ------------------------------------------------------------------------------------------------


class HookedModel(nn.Module):
    """The reference model written with hooks; each mistake below overrides one piece."""

    def __init__(self, n_inst: int, n_features: int = 1000, d_hidden: int = 2):
        super().__init__()
        self.W = nn.Parameter(self.init_W(n_inst, n_features, d_hidden))
        self.b = nn.Parameter(self.init_b(n_inst, n_features))

    def init_W(self, n_inst: int, n_features: int, d_hidden: int) -> torch.Tensor:
        return torch.randn(n_inst, d_hidden, n_features) * math.sqrt(2 / (d_hidden + n_features))

    def init_b(self, n_inst: int, n_features: int) -> torch.Tensor:
        return torch.zeros(n_inst, n_features)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        hidden = einops.einsum(x, self.W, "b i f, i h f -> b i h")
        return einops.einsum(hidden, self.W, "b i h, i h f -> b i f")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.decode(x) + self.b)


class XavierOn3D(HookedModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return nn.init.xavier_normal_(torch.empty(n_inst, d_hidden, n_features))


class UnscaledRandn(HookedModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return torch.randn(n_inst, d_hidden, n_features)


class XavierUniform(HookedModel):
    def init_W(self, n_inst, n_features, d_hidden):
        bound = math.sqrt(3) * math.sqrt(2 / (d_hidden + n_features))
        return (torch.rand(n_inst, d_hidden, n_features) * 2 - 1) * bound


class SharedInit(HookedModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return super().init_W(1, n_features, d_hidden).repeat(n_inst, 1, 1)


class RandomBias(HookedModel):
    def init_b(self, n_inst, n_features):
        return torch.randn(n_inst, n_features) * 0.01


class Untied(HookedModel):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        super().__init__(n_inst, n_features, d_hidden)
        self.W_dec = nn.Parameter(self.init_W(n_inst, n_features, d_hidden))


class TransposedW(HookedModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return super().init_W(n_inst, n_features, d_hidden).transpose(1, 2).contiguous()


class NoRelu(HookedModel):
    def forward(self, x):
        return self.decode(x) + self.b


class BiasAfterRelu(HookedModel):
    def forward(self, x):
        return F.relu(self.decode(x)) + self.b


class NoBias(HookedModel):
    def forward(self, x):
        return F.relu(self.decode(x))


class FirstInstanceWeights(HookedModel):
    def forward(self, x):
        hidden = einops.einsum(x, self.W[0], "b i f, h f -> b i h")
        return F.relu(einops.einsum(hidden, self.W[0], "b i h, h f -> b i f") + self.b)


class PlaceholderModel(HookedModel):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        raise NotImplementedError()


class Float64Parameters(ToyModel):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        super().__init__(n_inst, n_features, d_hidden)
        self.double()


class DetachedForward(ToyModel):
    def forward(self, x):
        hidden = einops.einsum(x, self.W.detach(), "b i f, i d f -> b i d")
        return F.relu(
            einops.einsum(hidden, self.W.detach(), "b i d, i d f -> b i f") + self.b.detach()
        )


class HalfDetachedForward(ToyModel):
    def forward(self, x):
        hidden = einops.einsum(x, self.W.data, "b i f, i d f -> b i d")
        return F.relu(einops.einsum(hidden, self.W, "b i d, i d f -> b i f") + self.b)


class NaNModel(ToyModel):
    def forward(self, x):
        return super().forward(x) / (x.sum() * 0)


TOY_MODEL_MISTAKES = {
    "XavierOn3D": (XavierOn3D, "xavier_normal_ gives on the 3-D tensor"),
    "UnscaledRandn": (UnscaledRandn, "forget to scale torch.randn"),
    "XavierUniform": (XavierUniform, "normal distribution, not a uniform"),
    "SharedInit": (SharedInit, "same W"),
    "RandomBias": (RandomBias, "`b` should start at zeros"),
    "Untied": (Untied, "weights are tied"),
    "TransposedW": (TransposedW, r"`W` should have shape \(8, 2, 1000\)"),
    "NoRelu": (NoRelu, "apply the ReLU last"),
    "BiasAfterRelu": (BiasAfterRelu, "before the ReLU"),
    "NoBias": (NoBias, "ignores the bias"),
    "FirstInstanceWeights": (FirstInstanceWeights, "its own W and b"),
    "Placeholder": (PlaceholderModel, "NotImplementedError"),
    "float64_parameters": (Float64Parameters, "should be float32"),
    "detached_forward": (DetachedForward, "detached from W and b"),
    "half_detached_forward": (HalfDetachedForward, "wrong gradient for `W`"),
}

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
    "detached": (lambda o, b: calculate_loss(o.detach(), b), "detached from the graph"),
    "no_grad": (torch.no_grad()(calculate_loss), "detached from the graph"),
    "numpy": (
        lambda o, b: torch.from_numpy(((b - o).detach().numpy() ** 2).sum(-1).mean(0)),
        "detached from the graph",
    ),
    "in_place_sub": (lambda o, b: o.sub_(b).pow(2).sum(-1).mean(0), "modified its input `out`"),
    "half_detached": (lambda o, b: ((b - o) * (b - o).detach()).sum(-1).mean(0), "wrong gradient"),
    "abs_of_batch": (lambda o, b: (b.abs() - o).pow(2).sum(-1).mean(0), "any signs"),
}

# ------------------------------------------------------------------------------------------------
# Training
# ------------------------------------------------------------------------------------------------


def errors(model, batch):
    return (batch - model(batch)).pow(2)


def summed(model, batch):
    return errors(model, batch).sum(-1).mean(0)


def make_train(
    *,
    zero_grad: bool = True,
    offset: int = 0,
    schedule: Callable[[int, int, int], float] = paper_schedule,
    optimizer=torch.optim.AdamW,
    fresh_data: bool = False,
    loss: Callable = summed,
    final_loss: Callable | None = None,
):
    """A training loop with one of the mistakes students make (none by default).

    `loss(model, batch)` gives the per-instance losses that are summed and minimised, and
    `final_loss(model, data)` (the same by default) what the loop returns.
    """

    def train(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
        opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr * schedule(step + offset, steps, warmup_steps)
            if zero_grad:
                opt.zero_grad()
            batch = data
            if fresh_data:
                batch = normalise(torch.rand_like(data) * (torch.rand_like(data) < 0.3))
            loss(model, batch).sum().backward()
            opt.step()
        with torch.no_grad():
            return (final_loss or loss)(model, data)

    return train


def feature_mean(model, batch):
    return errors(model, batch).mean(-1).mean(0)


def paper_loss(model, data):
    return calculate_loss(model(data), data)


def train_returns_nan(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    return train(model, data, steps, warmup_steps, lr, weight_decay) * float("nan")


def train_normalises_data_in_place(
    model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2
):
    data *= 2
    return train(model, data, steps, warmup_steps, lr, weight_decay)


def placeholder_train(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    raise NotImplementedError()


TRAIN_MISTAKES = {
    "no_zero_grad": (make_train(zero_grad=False), "never calls optimizer.zero_grad"),
    "lr_one_step_ahead": (make_train(offset=1), "one step ahead"),
    "constant_lr": (make_train(schedule=lambda *_: 1.0), "constant learning rate"),
    "adam_l2": (make_train(optimizer=torch.optim.Adam), "torch.optim.Adam with L2"),
    "fresh_data_each_step": (make_train(fresh_data=True), "the same data every step"),
    "cosine_without_warmup": (
        make_train(schedule=lambda s, n, w: 0.5 * (1 + math.cos(math.pi * s / n))),
        "differ from full-batch AdamW",
    ),
    "loss_mean_over_features": (make_train(loss=feature_mean), "averages over features"),
    "returns_scalar": (
        make_train(final_loss=lambda model, data: summed(model, data).mean()),
        r"shape \(3,\)",
    ),
    "placeholder": (placeholder_train, "NotImplementedError"),
    "returns_nan": (train_returns_nan, "returned NaN or infinite losses"),
    "mutates_data": (train_normalises_data_in_place, "modified its input `data` in place"),
    "mean_over_instances": (
        make_train(
            schedule=warmup_cosine_lr,
            loss=lambda model, data: paper_loss(model, data).mean(),
            final_loss=paper_loss,
        ),
        "averages the per-instance losses",
    ),
    "older_course_schedule_and_feature_mean": (
        make_train(schedule=old_course_warmup_cosine, loss=feature_mean, final_loss=paper_loss),
        "averages over features too.*; and .*quarter cosine",
    ),
}

TRAIN_BROKEN_MODEL = {
    "nan_model": (NaNModel, "contains NaN"),
    "float64_model": (Float64Parameters, "should be float32"),
}
"""Models that `test_train` must name when the reference loop trains them."""

# ------------------------------------------------------------------------------------------------
# Geometry: dimensionality, pick_best, hidden_datapoints
# ------------------------------------------------------------------------------------------------


def dimensionality_from(data, denominator):
    sq_norms = (data**2).sum(-1)
    return torch.where(sq_norms > 0, sq_norms / denominator.clamp(min=1e-30), 0.0)


def dim_without_self_term(data):
    terms = interference(normalise(data), data)
    eye = torch.eye(data.shape[-2], dtype=torch.bool)
    return (data**2).sum(-1) / terms.masked_fill(eye, 0).sum(-1)


def dim_zero_division(data):
    unit = data / data.norm(dim=-1, keepdim=True)
    return (data**2).sum(-1) / interference(unit, data).sum(-1)


def dim_abs(data):
    terms = einsum(normalise(data), data, "... i d, ... j d -> ... i j").abs()
    return dimensionality_from(data, terms.sum(-1))


def dim_flattened(data):
    return dimensionality(rearrange(data, "... d -> (...) d")).reshape(data.shape[:-1])


def dimensionality_in_place(data):
    squared_norms = data.pow(2).sum(-1)
    data /= squared_norms.sqrt().clamp_min(1e-12)[..., None]
    overlaps = (data @ data.mT).pow(2) * squared_norms[..., None, :]
    return squared_norms / overlaps.sum(-1).clamp_min(1e-30)


def dimensionality_cos_squared(data):
    units = data / data.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    denominator = (units @ units.mT).pow(2).sum(-1)
    return torch.where(data.norm(dim=-1) > 0, 1 / denominator.clamp_min(1e-30), 0.0)


DIMENSIONALITY_MISTAKES = {
    "drops_self_term": (dim_without_self_term, "j = i"),
    "unnormalised_dot_products": (
        lambda d: (d**2).sum(-1) / interference(d, d).sum(-1).clamp(min=1e-30),
        "unit vector",
    ),
    "normalises_v_j_too": (
        lambda d: (
            (d**2).sum(-1) / interference(normalise(d), normalise(d)).sum(-1).clamp(min=1e-30)
        ),
        "not v_j",
    ),
    "zero_division": (dim_zero_division, "zero vector"),
    "sums_over_wrong_index": (
        lambda d: dimensionality_from(d, interference(normalise(d), d).sum(-2)),
        "summing over i instead of j",
    ),
    "reciprocal": (
        lambda d: dimensionality_from(d, interference(normalise(d), d).sum(-1)) ** -1,
        "reciprocal",
    ),
    "abs_instead_of_square": (dim_abs, "absolute values"),
    "norm_not_squared": (
        lambda d: dimensionality(d) / d.norm(dim=-1).clamp(min=1e-30),
        r"\(squared\)",
    ),
    "mixes_leading_dims": (dim_flattened, "slice"),
    "assumes_two_hidden_dims": (
        lambda d: dimensionality(d[..., :2]),
        "Don't assume 2 hidden dimensions",
    ),
    "self_term_only": (
        lambda d: dimensionality_from(d, ((normalise(d) * d).sum(-1)) ** 2),
        "ALL vectors j",
    ),
    "mean_over_vectors": (lambda d: dimensionality(d).mean(-1), "shape"),
    "offset": (lambda d: dimensionality(d) + 1e-2, "lone vector"),
    "mutates_data": (dimensionality_in_place, "modified its input `data` in place"),
    "one_over_sum_of_cos_squared": (dimensionality_cos_squared, "summing over i instead of j"),
}


def pick_sorts_in_place(W, data, train_loss):
    train_loss[:] = train_loss.sort().values
    best = train_loss.argmin()
    return W[best], data[:, best]


def picking(choose: Callable) -> Callable:
    """A pick_best that returns `choose(W, data, best)` for best = train_loss.argmin()."""
    return lambda W, data, train_loss: choose(W, data, train_loss.argmin())


PICK_BEST_MISTAKES = {
    "returns_index": (lambda W, data, train_loss: train_loss.argmin(), "not its index"),
    "argmax": (
        lambda W, data, train_loss: (W[train_loss.argmax()], data[:, train_loss.argmax()]),
        "argmin, not argmax",
    ),
    "datapoint_instead_of_instance": (
        picking(lambda W, data, best: (W[best], data[best])),
        r"data\[best\] picks a datapoint",
    ),
    "wrong_axis_of_W": (
        picking(lambda W, data, best: (W[:, best], data[:, best])),
        r"first axis, W\[best\]",
    ),
    "transposed_W": (picking(lambda W, data, best: (W[best].T, data[:, best])), "transpose"),
    "swapped_outputs": (picking(lambda W, data, best: (data[:, best], W[best])), "weights first"),
    "sorts_the_losses_in_place": (pick_sorts_in_place, "modified its input `train_loss`"),
    "always_instance_0": (lambda W, data, loss: (W[0], data[:, 0]), r"train_loss\.argmin\(\)"),
}


def hidden_in_place(W, data):
    data *= 2
    return data @ W.T / 2


HIDDEN_MISTAKES = {
    "transposed": (lambda W, data: W @ data.T, "transpose"),
    "decoded": (lambda W, data: data @ W.T @ W, "decoded output"),
    "relu": (lambda W, data: torch.relu(data @ W.T), "No ReLU in the hidden space"),
    "abs": (lambda W, data: (data @ W.T).abs(), "Don't take abs"),
    "normalised": (
        lambda W, data: (data @ W.T) / (data @ W.T).norm(dim=-1, keepdim=True),
        "Don't normalise",
    ),
    "bias": (lambda W, data: data @ W.T + 0.1, "no other operation"),
    "mutates_data": (hidden_in_place, "modified its input `data`"),
    "assumes_two_hidden_dims": (
        lambda W, data: torch.stack([data @ W[0], data @ W[1]], dim=-1),
        r"shape \(batch, d_hidden\)",
    ),
    "returns_numpy": (lambda W, data: (data @ W.T).detach().numpy(), "Return a torch.Tensor"),
}

# ------------------------------------------------------------------------------------------------
# Test loss
# ------------------------------------------------------------------------------------------------


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


def eval_decode_with_w(W, b, x):
    hidden = einsum(W, x, "inst d f, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst f d, batch inst d -> batch inst f") + b)


def eval_encode_with_w_transpose(W, b, x):
    hidden = einsum(W, x, "inst f d, batch f -> batch inst d")
    return torch.relu(einsum(W, hidden, "inst f d, batch inst d -> batch inst f") + b)


def eval_drop_last_chunk(W, b, test_batch, chunk_size=1000):
    n_full = test_batch.shape[0] // chunk_size * chunk_size
    return evaluate_test_loss(W, b, test_batch[: max(n_full, chunk_size)], chunk_size)


def evaluate_relu_on_hidden(W, b, test_batch, chunk_size=1000):
    hidden = torch.relu(einops.einsum(test_batch, W, "b f, i d f -> b i d"))
    out = torch.relu(einops.einsum(hidden, W, "b i d, i d f -> b i f") + b)
    return (test_batch[:, None] - out).pow(2).sum(-1).mean(0)


def evaluate_abs_output(W, b, test_batch, chunk_size=1000):
    hidden = einops.einsum(test_batch, W, "b f, i d f -> b i d")
    out = (einops.einsum(hidden, W, "b i d, i d f -> b i f") + b).abs()
    return (test_batch[:, None] - out).pow(2).sum(-1).mean(0)


def evaluate_normalises_in_place(W, b, test_batch, chunk_size=1000):
    W /= W.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return evaluate_test_loss(W, b, test_batch, chunk_size)


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
        chunked(
            summed_errors(lambda W, b, x: forward(W[:1].expand_as(W), b[:1].expand_as(b), x)),
            mean_of_sums,
        ),
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
    "relu_on_hidden": (evaluate_relu_on_hidden, "ReLU to the hidden vector"),
    "abs_output": (evaluate_abs_output, "not abs"),
    "mutates_W": (evaluate_normalises_in_place, "modified its input `W` in place"),
}

# ------------------------------------------------------------------------------------------------
# The table and its test
# ------------------------------------------------------------------------------------------------

MISTAKES: dict[str, dict[str, tuple[Callable, str]]] = {
    "test_linear_warmup_lr": LINEAR_WARMUP_MISTAKES,
    "test_cosine_decay_lr": COSINE_DECAY_MISTAKES,
    "test_warmup_cosine_lr": WARMUP_COSINE_MISTAKES,
    "test_generate_batch": GENERATE_BATCH_MISTAKES,
    "test_toy_model": TOY_MODEL_MISTAKES,
    "test_calculate_loss": CALCULATE_LOSS_MISTAKES,
    "test_train": TRAIN_MISTAKES,
    "test_train with the reference loop": TRAIN_BROKEN_MODEL,
    "test_dimensionality": DIMENSIONALITY_MISTAKES,
    "test_evaluate_test_loss": EVALUATE_TEST_LOSS_MISTAKES,
    "test_pick_best": PICK_BEST_MISTAKES,
    "test_hidden_datapoints": HIDDEN_MISTAKES,
}
CHECKS = {name: check for name, (check, _) in CHECKED.items()}
CHECKS["test_train with the reference loop"] = lambda model: part4_utils.test_train(train, model)

MISTAKE_CASES = [(name, label) for name, table in MISTAKES.items() for label in table]


def test_every_check_has_a_catalogue_of_at_least_five_mistakes() -> None:
    assert set(CHECKED) <= set(MISTAKES)
    assert all(len(table) >= 5 for table in MISTAKES.values() if table is not TRAIN_BROKEN_MODEL)


@pytest.mark.parametrize(
    ("name", "label"), MISTAKE_CASES, ids=[f"{n.split()[0]}-{m}" for n, m in MISTAKE_CASES]
)
def test_mistake_is_named(name: str, label: str) -> None:
    fn, match = MISTAKES[name][label]
    with pytest.raises(AssertionError, match=match) as failure:
        CHECKS[name](fn)
    assert failure.traceback[-1].name == name.split()[0], "the last frame must be the check's"
