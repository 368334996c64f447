"""The catalogue of valid variants: correct but unusual implementations pass every check.

For each check, VALID holds at least three correct implementations written differently from
the reference (loops instead of einsum, Bernoulli instead of `rand <`, float64 internals, a
scheduler from torch.optim.lr_scheduler, ...); the mistakes are in `test_checks_mistakes`.
"""

import functools
import math
from collections.abc import Callable

import einops
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_checks_mistakes import HookedModel, forward, make_train, normalise
from test_checks_reference import (
    CHECKED,
    ToyModel,
    calculate_loss,
    dimensionality,
    hidden_datapoints,
    pick_best,
    train,
    warmup_cosine_lr,
)
from torch import nn

import part4_utils
from double_descent.checks import model as model_checks


@functools.cache
def scheduler_curve(kind: str, steps: int, warmup: int = 0) -> list[float]:
    """Multipliers of a torch.optim.lr_scheduler schedule at steps 0..steps (memoised)."""
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    if kind == "cosine":
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    elif kind == "linear":
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: s / steps)
    else:
        scheduler = torch.optim.lr_scheduler.SequentialLR(
            optimizer,
            [
                torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: s / warmup),
                torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps - warmup),
            ],
            milestones=[warmup],
        )
    curve = []
    for _ in range(steps + 1):
        curve.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return curve


def warmup_from_interp(step, steps):
    return float(np.interp(step, [0, steps], [0.0, 1.0]))


def warmup_as_tensor(step, steps):
    return torch.tensor(step, dtype=torch.float64) / steps


def cosine_squared(step, steps):
    return math.cos(math.pi * step / (2 * steps)) ** 2


def cosine_float32(step, steps):
    return float(0.5 * (1 + np.cos(np.float32(np.pi) * np.float32(step / steps))))


def warmup_cosine_piecewise(step, steps, warmup_steps=2500):
    progress = np.clip((step - warmup_steps) / (steps - warmup_steps), 0, 1)
    return float(
        np.where(step < warmup_steps, step / warmup_steps, np.cos(np.pi * progress / 2) ** 2)
    )


def generate_bernoulli(batch, inst, feats, p):
    present = torch.bernoulli(torch.full((batch, inst, feats), p))
    return F.normalize(torch.rand(batch, inst, feats) * present, dim=-1)


def generate_per_instance_loop(batch, inst, feats, p):
    columns = []
    for _ in range(inst):
        x = torch.rand(batch, feats).double()
        x[torch.rand(batch, feats) >= p] = 0
        norms = x.norm(dim=-1, keepdim=True)
        columns.append(torch.where(norms > 0, x / norms, 0.0))
    return torch.stack(columns, dim=1).float()


def generate_with_distributions(batch, inst, feats, p):
    values = torch.distributions.Uniform(0.0, 1.0).sample((batch, inst, feats))
    present = torch.distributions.Bernoulli(probs=p).sample((batch, inst, feats)).bool()
    x = values.masked_fill(~present, 0.0)
    return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True).clamp_min(1e-30)


class LoopModel(nn.Module):
    """Initialised instance by instance with xavier_normal_ on each (d, n) matrix; bmm forward."""

    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        super().__init__()
        self.W = nn.Parameter(
            torch.stack(
                [nn.init.xavier_normal_(torch.empty(d_hidden, n_features)) for _ in range(n_inst)]
            )
        )
        self.b = nn.Parameter(torch.zeros(n_inst, n_features))

    def forward(self, x):
        by_inst = x.transpose(0, 1)
        hidden = torch.bmm(by_inst, self.W.transpose(1, 2))
        return torch.relu(torch.bmm(hidden, self.W) + self.b[:, None]).transpose(0, 1)


class Float64Forward(ToyModel):
    """Computes in float64 and returns float64."""

    def forward(self, x):
        W, b = self.W.double(), self.b.double()
        hidden = torch.einsum("bif,idf->bid", x.double(), W)
        return torch.relu(torch.einsum("bid,idf->bif", hidden, W) + b)


class NormalInitModel(ToyModel):
    """nn.init.normal_ with the Xavier std, and a forward through the Gram matrix W^T W."""

    def __init__(self, n_inst, n_features=1000, d_hidden=2):
        nn.Module.__init__(self)
        std = math.sqrt(2 / (d_hidden + n_features))
        self.W = nn.Parameter(nn.init.normal_(torch.empty(n_inst, d_hidden, n_features), std=std))
        self.b = nn.Parameter(torch.zeros(n_inst, n_features))

    def forward(self, x):
        gram = einops.einsum(self.W, self.W, "inst d f, inst d g -> inst f g")
        return F.relu(einops.einsum(x, gram, "batch inst f, inst f g -> batch inst g") + self.b)


def generate_with_where(batch, inst, feats, p):
    x = torch.where(torch.rand(batch, inst, feats) <= p, torch.rand(batch, inst, feats), 0.0)
    norms = x.norm(dim=-1, keepdim=True)
    return torch.where(norms > 0, x / (norms + 1e-8), 0.0)


def generate_values_first(batch, inst, feats, p):
    values = torch.rand(batch, inst, feats)
    return normalise(values * (torch.rand(batch, inst, feats) < p))


def loss_mse(out, batch):
    return F.mse_loss(out, batch, reduction="none").sum(-1).mean(0)


def loss_float64(out, batch):
    return einops.reduce((batch.double() - out.double()) ** 2, "b i f -> b i", "sum").mean(0)


def loss_vector_norm(out, batch):
    return torch.linalg.vector_norm(batch - out, dim=-1).pow(2).mean(0)


def train_lambda_lr(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine_lr(s, steps, warmup_steps)
    )
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        F.mse_loss(model(data), data, reduction="sum").div(data.shape[0]).backward()
        optimizer.step()
        scheduler.step()
    with torch.no_grad():
        return calculate_loss(model(data), data)


def train_returns_float64(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    return train(model, data, steps, warmup_steps, lr, weight_decay).double()


def train_model_zero_grad(model, data, steps, warmup_steps=2500, lr=1e-3, weight_decay=1e-2):
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for step in range(steps):
        optimizer.param_groups[0]["lr"] = lr * warmup_cosine_lr(step, steps, warmup_steps)
        model.zero_grad()
        losses = calculate_loss(model(data), data)
        torch.autograd.backward(losses, torch.ones_like(losses))
        optimizer.step()
    return calculate_loss(model(data), data).detach()


def dimensionality_gram(data):
    gram = data @ data.mT
    squared_norms = gram.diagonal(dim1=-2, dim2=-1)
    return torch.where(squared_norms > 0, squared_norms**2 / gram.pow(2).sum(-1), 0.0)


def dimensionality_loops(data):
    flat = data.reshape(-1, *data.shape[-2:]).double()
    out = torch.zeros(flat.shape[:-1], dtype=torch.float64)
    for s, vectors in enumerate(flat):
        for i, v in enumerate(vectors):
            if v.norm() > 0:
                out[s, i] = v.dot(v) / sum((v / v.norm()).dot(u) ** 2 for u in vectors)
    return out.reshape(data.shape[:-1])


def dimensionality_cosines(data):
    norms = data.norm(dim=-1)
    cosines = F.cosine_similarity(data[..., :, None, :], data[..., None, :, :], dim=-1, eps=1e-30)
    weighted = (cosines * norms[..., None, :]).pow(2).sum(-1)
    return torch.where(norms > 0, norms**2 / weighted.clamp_min(1e-30), 0.0)


def dimensionality_with_zero_guard(data):
    sq_norms = (data**2).sum(-1)
    unit = data / sq_norms.sqrt().clamp(min=1e-12)[..., None]
    denominator = (einops.einsum(unit, data, "... i d, ... j d -> ... i j") ** 2).sum(-1)
    return torch.where(sq_norms > 0, sq_norms / denominator.clamp(min=1e-30), 0.0)


def evaluate_unchunked_float64(W, b, test_batch, chunk_size=1000):
    x, W = test_batch.double(), W.double()
    hidden = torch.einsum("idf,bf->bid", W, x)
    out = torch.relu(torch.einsum("idf,bid->bif", W, hidden) + b.double())
    return (x[:, None] - out).pow(2).sum(-1).mean(0)


def evaluate_instance_loop(W, b, test_batch, chunk_size=1000):
    losses = []
    for W_i, b_i in zip(W, b, strict=True):
        total = 0.0
        for start in range(0, len(test_batch), chunk_size):
            chunk = test_batch[start : start + chunk_size]
            out = torch.relu(chunk @ W_i.T @ W_i + b_i)
            total = total + (chunk - out).pow(2).sum()
        losses.append(total / len(test_batch))
    return torch.stack(losses)


def evaluate_via_model(W, b, test_batch, chunk_size=1000):
    model = ToyModel(W.shape[0], W.shape[2], W.shape[1])
    model.load_state_dict({"W": W, "b": b})
    sums = [
        calculate_loss(model(chunk[:, None].expand(-1, W.shape[0], -1)), chunk[:, None])
        * len(chunk)
        for chunk in torch.split(test_batch, chunk_size)
    ]
    return torch.stack(sums).sum(0).detach() / len(test_batch)


def pick_best_sorted(W, data, train_loss):
    best = sorted(range(len(train_loss)), key=lambda i: float(train_loss[i]))[0]
    return W[best].detach().clone(), data[:, best].clone()


def pick_best_torch_min(W, data, train_loss):
    best = torch.min(train_loss, dim=0).indices
    return W.select(0, best), einops.rearrange(data, "b i f -> i b f")[best]


def pick_best_numpy(W, data, train_loss):
    best = int(np.argmin(train_loss.numpy()))
    return W[best].double(), data[:, best].double()


def pick_best_loop_last_of_ties(W, data, train_loss):
    """A loop with `<=`: on a tie it keeps the last of the tied instances, which is as valid."""
    best = 0
    for i, loss in enumerate(train_loss.tolist()):
        if loss <= train_loss[best]:
            best = i
    return W[best], data[:, best]


def hidden_matmul(W, data):
    return data @ W.T


def hidden_loops(W, data):
    return torch.stack([torch.stack([w.dot(x) for w in W]) for x in data])


def hidden_float64(W, data):
    return torch.einsum("hf,bf->bh", W.double(), data.double())


VALID = {
    "test_linear_warmup_lr": [
        warmup_from_interp,
        warmup_as_tensor,
        lambda s, n: scheduler_curve("linear", n)[s],
    ],
    "test_cosine_decay_lr": [
        cosine_squared,
        cosine_float32,
        lambda s, n: scheduler_curve("cosine", n)[s],
    ],
    "test_warmup_cosine_lr": [
        warmup_cosine_piecewise,
        lambda s, n, w=2500: scheduler_curve("sequential", n, w)[s],
        lambda s, n, w=2500: min(s / w, 0.5 * (1 + math.cos(math.pi * max(s - w, 0) / (n - w)))),
    ],
    "test_generate_batch": [
        generate_bernoulli,
        generate_per_instance_loop,
        generate_with_distributions,
        generate_with_where,
        generate_values_first,
    ],
    "test_toy_model": [LoopModel, Float64Forward, NormalInitModel, HookedModel],
    "test_calculate_loss": [loss_mse, loss_float64, loss_vector_norm],
    "test_train": [train_lambda_lr, train_returns_float64, train_model_zero_grad, make_train()],
    "test_dimensionality": [
        dimensionality_gram,
        dimensionality_loops,
        dimensionality_cosines,
        dimensionality_with_zero_guard,
        lambda d: dimensionality(d.double()),
    ],
    "test_evaluate_test_loss": [
        evaluate_unchunked_float64,
        evaluate_instance_loop,
        evaluate_via_model,
        lambda W, b, x, chunk_size=1000: calculate_loss(forward(W, b, x), x[:, None]),
    ],
    "test_pick_best": [
        pick_best_sorted,
        pick_best_torch_min,
        pick_best_numpy,
        pick_best_loop_last_of_ties,
        lambda W, d, loss: (W[loss.argmin()] * 1.0, d[:, loss.argmin()]),
        lambda W, d, loss: (W[loss.argmin()].detach(), d[:, loss.argmin()]),
        lambda W, d, loss: list(pick_best(W, d, loss)),
    ],
    "test_hidden_datapoints": [
        hidden_matmul,
        hidden_loops,
        hidden_float64,
        lambda W, d: hidden_datapoints(W.detach(), d),
    ],
}

VALID_CASES = [(name, i) for name, variants in VALID.items() for i in range(len(variants))]


def test_every_check_has_three_valid_variants() -> None:
    assert set(VALID) == set(CHECKED)
    assert all(len(v) >= 3 for v in VALID.values())


@pytest.mark.parametrize(("name", "index"), VALID_CASES, ids=[f"{n}-{i}" for n, i in VALID_CASES])
def test_valid_variant_passes(name: str, index: int, capsys) -> None:
    check, _ = CHECKED[name]
    check(VALID[name][index])
    assert capsys.readouterr().out.strip() == f"All tests in `{name}` passed!"


RELU_SPELLINGS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "torch.relu": torch.relu,
    "F.relu": F.relu,
    "nn.ReLU()": nn.ReLU(),
    "Tensor.relu": torch.Tensor.relu,
    "F.relu(inplace=True)": functools.partial(F.relu, inplace=True),
    "Tensor.relu_": torch.Tensor.relu_,
    "clamp(min=0)": lambda x: x.clamp(min=0),
    "clamp_min": lambda x: torch.clamp_min(x, 0),
    "clip(min=0)": lambda x: torch.clip(x, min=0),
    "maximum(x, 0)": lambda x: torch.maximum(x, torch.zeros_like(x)),
    "max(x, tensor(0))": lambda x: torch.max(x, torch.tensor(0.0)),
    "fmax(x, 0)": lambda x: torch.fmax(x, torch.zeros_like(x)),
    "where(x > 0)": lambda x: torch.where(x > 0, x, 0.0),
    "where(x >= 0)": lambda x: torch.where(x >= 0, x, 0.0),
    "x * (x > 0)": lambda x: x * (x > 0),
    "(x + |x|) / 2": lambda x: (x + x.abs()) / 2,
    "F.threshold": lambda x: F.threshold(x, 0.0, 0.0),
    "F.hardtanh(0, inf)": lambda x: F.hardtanh(x, 0.0, math.inf),
    "F.leaky_relu(0)": lambda x: F.leaky_relu(x, 0.0),
    "nn.Threshold": nn.Threshold(0.0, 0.0),
}
"""Every way torch offers to write the output ReLU. They differ only in the subgradient at 0."""


def model_with_relu(relu: Callable[[torch.Tensor], torch.Tensor]) -> type[nn.Module]:
    """The reference model with its output ReLU written another way."""

    class SpelledReLUModel(ToyModel):
        def forward(self, x):
            hidden = einops.einsum(x, self.W, "batch inst feats, inst d feats -> batch inst d")
            return relu(
                einops.einsum(hidden, self.W, "batch inst d, inst d f -> batch inst f") + self.b
            )

    return SpelledReLUModel


@pytest.mark.parametrize("spelling", RELU_SPELLINGS, ids=RELU_SPELLINGS)
def test_every_relu_spelling_passes_the_model_and_training_checks(spelling: str, capsys) -> None:
    model_cls = model_with_relu(RELU_SPELLINGS[spelling])
    part4_utils.test_toy_model(model_cls)
    part4_utils.test_train(train, model_cls)
    assert capsys.readouterr().out.split("\n")[:2] == [
        "All tests in `test_toy_model` passed!",
        "All tests in `test_train` passed!",
    ]


def test_the_model_check_never_compares_gradients_at_a_kink() -> None:
    """The guard itself: an example with a pre-activation at 0 is refused before any comparison."""
    with pytest.raises(RuntimeError, match="kink"):
        model_checks._require_off_kinks(torch.tensor([0.3, 0.0, -0.4]))
    model_checks._require_off_kinks(torch.tensor([0.3, -0.2, 1.0]))
