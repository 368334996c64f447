"""`test_toy_model` and `test_train` pass the reference and reject a catalogue of real mistakes."""

from __future__ import annotations

import math

import einops
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import part4_utils as utils


def schedule(step: int, steps: int, warmup: int) -> float:
    if step < warmup:
        return step / warmup
    return 0.5 * (1 + math.cos(math.pi * (step - warmup) / (steps - warmup)))


class ToyModel(nn.Module):
    """Reference model; the variants below override one piece each."""

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


class XavierOn3D(ToyModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return nn.init.xavier_normal_(torch.empty(n_inst, d_hidden, n_features))


class UnscaledRandn(ToyModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return torch.randn(n_inst, d_hidden, n_features)


class XavierUniform(ToyModel):
    def init_W(self, n_inst, n_features, d_hidden):
        bound = math.sqrt(3) * math.sqrt(2 / (d_hidden + n_features))
        return (torch.rand(n_inst, d_hidden, n_features) * 2 - 1) * bound


class SharedInit(ToyModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return super().init_W(1, n_features, d_hidden).repeat(n_inst, 1, 1)


class RandomBias(ToyModel):
    def init_b(self, n_inst, n_features):
        return torch.randn(n_inst, n_features) * 0.01


class Untied(ToyModel):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        super().__init__(n_inst, n_features, d_hidden)
        self.W_dec = nn.Parameter(self.init_W(n_inst, n_features, d_hidden))


class TransposedW(ToyModel):
    def init_W(self, n_inst, n_features, d_hidden):
        return super().init_W(n_inst, n_features, d_hidden).transpose(1, 2).contiguous()


class NoRelu(ToyModel):
    def forward(self, x):
        return self.decode(x) + self.b


class BiasAfterRelu(ToyModel):
    def forward(self, x):
        return F.relu(self.decode(x)) + self.b


class NoBias(ToyModel):
    def forward(self, x):
        return F.relu(self.decode(x))


class FirstInstanceWeights(ToyModel):
    def forward(self, x):
        hidden = einops.einsum(x, self.W[0], "b i f, h f -> b i h")
        return F.relu(einops.einsum(hidden, self.W[0], "b i h, h f -> b i f") + self.b)


class Placeholder(ToyModel):
    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        raise NotImplementedError()


def test_reference_model_passes(capsys):
    utils.test_toy_model(ToyModel)
    assert capsys.readouterr().out.strip() == "All tests in `test_toy_model` passed!"


MODEL_MISTAKES = {
    XavierOn3D: "xavier_normal_ gives on the 3-D tensor",
    UnscaledRandn: "forget to scale torch.randn",
    XavierUniform: "normal distribution, not a uniform",
    SharedInit: "same W",
    RandomBias: "`b` should start at zeros",
    Untied: "weights are tied",
    TransposedW: r"`W` should have shape \(8, 2, 1000\)",
    NoRelu: "apply the ReLU last",
    BiasAfterRelu: "before the ReLU",
    NoBias: "ignores the bias",
    FirstInstanceWeights: "its own W and b",
    Placeholder: "NotImplementedError",
}


@pytest.mark.parametrize("model_cls, message", MODEL_MISTAKES.items(), ids=lambda v: str(v)[:40])
def test_model_mistakes_are_rejected(model_cls, message):
    with pytest.raises(AssertionError, match=message):
        utils.test_toy_model(model_cls)


def test_toy_model_rejects_a_non_callable():
    with pytest.raises(TypeError, match="fn"):
        utils.test_toy_model(42)


def make_train(
    *,
    zero_grad: bool = True,
    offset: int = 0,
    constant_lr: bool = False,
    optimizer=torch.optim.AdamW,
    fresh_data: bool = False,
    feature_mean: bool = False,
    reduce_instances: bool = False,
    cosine_from_zero: bool = False,
):
    """A training loop with one of the mistakes students make (none by default)."""

    def train(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
        opt = optimizer(model.parameters(), lr=lr, weight_decay=weight_decay)
        for step in range(steps):
            if cosine_from_zero:
                multiplier = 0.5 * (1 + math.cos(math.pi * step / steps))
            else:
                multiplier = 1.0 if constant_lr else schedule(step + offset, steps, warmup_steps)
            for group in opt.param_groups:
                group["lr"] = lr * multiplier
            if zero_grad:
                opt.zero_grad()
            batch = data
            if fresh_data:
                batch = torch.rand_like(data) * (torch.rand_like(data) < 0.3)
                batch = batch / batch.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            errors = (batch - model(batch)).pow(2)
            (errors.mean(-1) if feature_mean else errors.sum(-1)).mean(0).sum().backward()
            opt.step()
        with torch.no_grad():
            errors = (data - model(data)).pow(2)
            losses = (errors.mean(-1) if feature_mean else errors.sum(-1)).mean(0)
        return losses.mean() if reduce_instances else losses

    return train


def test_reference_train_passes(capsys):
    utils.test_train(make_train(), ToyModel)
    assert capsys.readouterr().out.strip() == "All tests in `test_train` passed!"


def placeholder_train(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    raise NotImplementedError()


TRAIN_MISTAKES = [
    ("no_zero_grad", make_train(zero_grad=False), "never calls optimizer.zero_grad"),
    ("lr_one_step_ahead", make_train(offset=1), "one step ahead"),
    ("constant_lr", make_train(constant_lr=True), "constant learning rate"),
    ("adam_l2", make_train(optimizer=torch.optim.Adam), "torch.optim.Adam with L2"),
    ("fresh_data_each_step", make_train(fresh_data=True), "the same data every step"),
    ("cosine_without_warmup", make_train(cosine_from_zero=True), "differ from full-batch AdamW"),
    ("loss_mean_over_features", make_train(feature_mean=True), "averages over features"),
    ("returns_scalar", make_train(reduce_instances=True), r"shape \(3,\)"),
    ("placeholder", placeholder_train, "NotImplementedError"),
]


@pytest.mark.parametrize(
    "train_fn, message", [m[1:] for m in TRAIN_MISTAKES], ids=[m[0] for m in TRAIN_MISTAKES]
)
def test_train_mistakes_are_rejected(train_fn, message):
    with pytest.raises(AssertionError, match=message):
        utils.test_train(train_fn, ToyModel)


def test_checks_leave_the_global_random_state_alone():
    state = torch.get_rng_state()
    utils.test_toy_model(ToyModel)
    utils.test_train(make_train(), ToyModel)
    assert torch.equal(state, torch.get_rng_state())
