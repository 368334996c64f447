"""The reference solutions of every exercise, and what every check must do with any input.

Other `test_checks_*` files import the references from here. The tests here hold for all
checks: the reference passes with exactly one line of output, the global random state is left
as found, and the student's printing, grad-tracking tensors or grad mode don't break a check.
"""

import math
from collections.abc import Callable

import einops
import pytest
import torch
import torch.nn.functional as F
from jaxtyping import Float
from torch import Tensor, nn

import part4_utils as utils


def linear_warmup_lr(step: int, steps: int) -> float:
    return step / steps


def cosine_decay_lr(step: int, steps: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / steps))


def warmup_cosine_lr(step: int, steps: int, warmup_steps: int = 2500) -> float:
    if step < warmup_steps:
        return linear_warmup_lr(step, warmup_steps)
    return cosine_decay_lr(step - warmup_steps, steps - warmup_steps)


def generate_batch(
    batch_size: int, n_inst: int, n_features: int, feature_probability: float
) -> Float[Tensor, "batch inst feats"]:
    shape = (batch_size, n_inst, n_features)
    values = torch.rand(shape) * (torch.rand(shape) < feature_probability)
    return values / values.norm(dim=-1, keepdim=True).clamp_min(1e-12)


class ToyModel(nn.Module):
    def __init__(self, n_inst: int, n_features: int = 1000, d_hidden: int = 2):
        super().__init__()
        std = (2 / (d_hidden + n_features)) ** 0.5
        self.W = nn.Parameter(torch.randn(n_inst, d_hidden, n_features) * std)
        self.b = nn.Parameter(torch.zeros(n_inst, n_features))

    def forward(self, x: Float[Tensor, "batch inst feats"]) -> Float[Tensor, "batch inst feats"]:
        hidden = einops.einsum(x, self.W, "batch inst feats, inst d feats -> batch inst d")
        decoded = einops.einsum(hidden, self.W, "batch inst d, inst d feats -> batch inst feats")
        return F.relu(decoded + self.b)


def calculate_loss(
    out: Float[Tensor, "batch inst feats"], batch: Float[Tensor, "batch inst feats"]
) -> Float[Tensor, " inst"]:
    return (batch - out).pow(2).sum(-1).mean(0)


def train(
    model: ToyModel,
    data: Float[Tensor, "batch inst feats"],
    steps: int,
    warmup_steps: int = 2500,
    lr: float = 1e-3,
    weight_decay: float = 1e-2,
) -> Float[Tensor, " inst"]:
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for step in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = lr * warmup_cosine_lr(step, steps, warmup_steps)
        optimizer.zero_grad()
        calculate_loss(model(data), data).sum().backward()
        optimizer.step()
    with torch.no_grad():
        return calculate_loss(model(data), data)


def dimensionality(data: Float[Tensor, "... k d"]) -> Float[Tensor, "... k"]:
    squared_norms = data.pow(2).sum(-1)
    units = data / squared_norms.sqrt().clamp_min(1e-12).unsqueeze(-1)
    overlaps = einops.einsum(units, data, "... i d, ... j d -> ... i j")
    return squared_norms / overlaps.pow(2).sum(-1).clamp_min(1e-30)


def evaluate_test_loss(
    W: Float[Tensor, "inst d feats"],
    b: Float[Tensor, "inst feats"],
    test_batch: Float[Tensor, "batch feats"],
    chunk_size: int = 1000,
) -> Float[Tensor, " inst"]:
    total = torch.zeros(W.shape[0])
    for chunk in test_batch.split(chunk_size):
        hidden = einops.einsum(chunk, W, "batch feats, inst d feats -> batch inst d")
        out = F.relu(einops.einsum(hidden, W, "batch inst d, inst d feats -> batch inst feats") + b)
        total += (chunk.unsqueeze(1) - out).pow(2).sum(-1).sum(0)
    return total / test_batch.shape[0]


def pick_best(
    W: Float[Tensor, "inst d feats"], data: Float[Tensor, "batch inst feats"], train_loss: Tensor
) -> tuple[Float[Tensor, "d feats"], Float[Tensor, "batch feats"]]:
    best = train_loss.argmin()
    return W[best], data[:, best]


def hidden_datapoints(
    W: Float[Tensor, "d feats"], data: Float[Tensor, "batch feats"]
) -> Float[Tensor, "batch d"]:
    return einops.einsum(data, W, "batch feats, hidden feats -> batch hidden")


def run_train_check(train_fn: Callable) -> None:
    """`test_train` with the reference model, so a training loop can be checked on its own."""
    utils.test_train(train_fn, ToyModel)


CHECKED = {
    "test_linear_warmup_lr": (utils.test_linear_warmup_lr, linear_warmup_lr),
    "test_cosine_decay_lr": (utils.test_cosine_decay_lr, cosine_decay_lr),
    "test_warmup_cosine_lr": (utils.test_warmup_cosine_lr, warmup_cosine_lr),
    "test_generate_batch": (utils.test_generate_batch, generate_batch),
    "test_toy_model": (utils.test_toy_model, ToyModel),
    "test_calculate_loss": (utils.test_calculate_loss, calculate_loss),
    "test_train": (run_train_check, train),
    "test_dimensionality": (utils.test_dimensionality, dimensionality),
    "test_evaluate_test_loss": (utils.test_evaluate_test_loss, evaluate_test_loss),
    "test_pick_best": (utils.test_pick_best, pick_best),
    "test_hidden_datapoints": (utils.test_hidden_datapoints, hidden_datapoints),
}
"""Every check, as a one-argument callable, with the reference it must accept."""


@pytest.mark.parametrize("name", CHECKED)
def test_reference_passes_with_one_line(name: str, capsys) -> None:
    check, reference = CHECKED[name]
    check(reference)
    assert capsys.readouterr().out.strip() == f"All tests in `{name}` passed!"


@pytest.mark.parametrize("name", CHECKED)
def test_global_random_state_is_left_as_found(name: str) -> None:
    check, reference = CHECKED[name]
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check(reference)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("name", CHECKED)
def test_checks_work_under_no_grad(name: str) -> None:
    check, reference = CHECKED[name]
    with torch.no_grad():
        check(reference)


def printing(fn: Callable) -> Callable:
    """The same function (or class) with a student's debugging prints: 200 lines per call."""
    if isinstance(fn, type):
        return type(fn.__name__, (fn,), {"forward": printing(fn.forward)})

    def noisy(*args):
        for _ in range(200):
            print("debug", [getattr(a, "shape", a) for a in args[:2]])
        return fn(*args)

    return noisy


@pytest.mark.parametrize("name", CHECKED)
def test_heavy_printing_does_not_change_the_verdict(name: str, capsys) -> None:
    check, reference = CHECKED[name]
    check(printing(reference))
    assert capsys.readouterr().out.strip().endswith(f"All tests in `{name}` passed!")


def test_grad_mode_is_left_as_found() -> None:
    """The checks switch grad mode on where they need it, and restore it afterwards."""
    for enabled in (True, False):
        with torch.set_grad_enabled(enabled):
            for check, reference in CHECKED.values():
                check(reference)
            assert torch.is_grad_enabled() == enabled


@pytest.mark.parametrize("name", CHECKED)
def test_inputs_that_require_grad_are_handled(name: str) -> None:
    """Functions that return grad-tracking results (students forget .detach()) still pass."""
    check, reference = CHECKED[name]
    if isinstance(reference, type) or name == "test_train":
        pytest.skip("the model and the loop own their parameters")

    def keeps_grad(*args):
        result = reference(*args)
        if isinstance(result, Tensor) and result.is_floating_point():
            return result + 0.0 * torch.zeros((), requires_grad=True)
        return result

    check(keeps_grad)


@pytest.mark.parametrize("name", CHECKED)
def test_placeholder_is_named(name: str) -> None:
    check, _ = CHECKED[name]

    def placeholder(*args, **kwargs):
        raise NotImplementedError()

    with pytest.raises(AssertionError, match="NotImplementedError"):
        check(placeholder)


@pytest.mark.parametrize("name", CHECKED)
def test_returning_none_is_named(name: str) -> None:
    check, reference = CHECKED[name]
    if isinstance(reference, type):
        pytest.skip("a class returns an instance")
    with pytest.raises(AssertionError, match="returned None"):
        check(lambda *args: None)


@pytest.mark.parametrize("name", CHECKED)
def test_checks_are_exported_and_not_collected(name: str) -> None:
    assert getattr(utils, name).__test__ is False
