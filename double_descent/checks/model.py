"""Checks of the model exercises: the per-instance loss and the tied-weight toy model.

`test_calculate_loss` runs the loss on a table of cases with known answers (and the values
known mistakes give), then checks its gradient. `test_toy_model` checks the parameters and
their initialisation, then the forward pass on a hand-made example against known mistakes.
"""

import math
from collections.abc import Callable
from typing import Any

import einops
import torch
from jaxtyping import Float
from torch import Tensor, nn

from double_descent.checks._core import (
    Case,
    Mistake,
    as_tensor,
    call,
    check,
    compare,
    diagnose,
    fmt,
    gives,
    unit_rows,
)

# ------------------------------------------------------------------------------------------------
# The loss
# ------------------------------------------------------------------------------------------------


def _loss_shape_hint(shape: tuple[int, ...], batch: int, inst: int, feats: int) -> str:
    """Explains which reduction probably went wrong, from the shape a loss function returned."""
    hints = {
        (): "Did you average over instances too? Keep one loss per instance.",
        (1,): "Did you average over instances too? Keep one loss per instance.",
        (batch,): "Reduce over datapoints (mean) and features (sum); keep the instance dimension.",
        (feats,): "Reduce over datapoints (mean) and features (sum); keep the instance dimension.",
        (batch, inst): "You still need the mean over datapoints.",
        (inst, feats): "You still need the sum over features.",
        (batch, inst, feats): "Reduce over datapoints (mean) and features (sum).",
    }
    return hints.get(shape, "Expected one loss per instance.")


def loss_output(value: Any, batch: int, inst: int, feats: int, what: str) -> Float[Tensor, " inst"]:
    """Checks that a loss function returned a float tensor of shape (inst,)."""
    if isinstance(value, Tensor) and tuple(value.shape) != (inst,):
        raise AssertionError(
            f"expected a tensor of shape (inst,) = ({inst},) for {what}, got shape "
            f"{tuple(value.shape)}. {_loss_shape_hint(tuple(value.shape), batch, inst, feats)}"
        )
    out = as_tensor(value, (inst,), what)
    if not torch.isfinite(out).all():
        raise AssertionError(f"got NaN or infinite losses for {what}: {fmt(out)}.")
    return out


def _calculate_loss_cases() -> list[Case]:
    """Inputs (out, batch) with known per-instance losses, and the values known mistakes give."""
    batch = torch.tensor(
        [
            [[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]],
            [[0.0, 0.6, 0.8, 0.0], [0.6, 0.8, 0.0, 0.0]],
            [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]],
        ]
    )
    out = torch.tensor(
        [
            [[0.5, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0]],
            [[0.0, 0.0, 0.0, 0.0], [0.6, 0.8, 0.5, 0.0]],
            [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.5]],
        ]
    )
    by_hand = torch.tensor([1.25, 0.5]) / 3
    data = unit_rows(64, 5, 7, seed=1)
    shrink = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    return [
        Case(
            "a hand-made example with batch=3, inst=2, feats=4",
            (out, batch),
            by_hand,
            [
                gives(by_hand / 4, "You averaged over features too; sum over features instead."),
                gives(
                    by_hand * 3, "You summed over datapoints; take the mean over the batch instead."
                ),
                gives(torch.tensor([1.9, 0.0]) / 3, "Square the differences (batch - out)."),
                gives(
                    torch.tensor([1.9, 1.0]) / 3, "Square the differences instead of taking abs."
                ),
                gives(
                    torch.tensor([1.5, 1.0]) / 3,
                    "Don't take the square root (this is not an RMSE).",
                ),
                gives(
                    by_hand.mean().expand(2), "Keep instances separate; don't average over them."
                ),
            ],
            "By hand: instance 0 has errors 0.25, 1 and 0 over its 3 datapoints, instance 1 has "
            "0, 0.25 and 0.25.",
        ),
        Case(
            "an all-zero output on unit-norm data (batch=64, inst=5, feats=7)",
            (torch.zeros_like(data), data),
            torch.ones(5),
            [
                gives(
                    torch.full((5,), 1 / 7), "You averaged over features too; sum over features."
                ),
                gives(torch.full((5,), 64.0), "You summed over datapoints; take the mean instead."),
            ],
            "Each unit-norm datapoint contributes a squared error of exactly 1.",
        ),
        Case("a perfect output (out == batch)", (data.clone(), data), torch.zeros(5)),
        Case(
            "outputs scaled by (1 - c) per instance, c = [0, 0.25, 0.5, 0.75, 1]",
            (data * (1 - shrink[:, None]), data),
            shrink**2,
            [gives(torch.full((5,), (shrink**2).mean().item()), "Keep instances separate.")],
            "Instance i's output is (1 - c_i) * batch on unit-norm data, so its loss is c_i^2: "
            "keep the instance dimension and reduce only over datapoints and features.",
        ),
    ]


@check
def test_calculate_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks `fn(out, batch)`: both (batch, inst, feats) -> per-instance loss of shape (inst,).

    The loss of an instance is the mean over datapoints of the sum over features of
    (batch - out)^2 (all importances 1), so predicting zeros on unit-norm data gives 1.
    """
    for case in _calculate_loss_cases():
        value = call(fn, *case.inputs, what=case.what, names=("out", "batch"))
        compare(loss_output(value, *case.inputs[1].shape, case.what), case)
    with torch.enable_grad():
        _check_loss_gradient(fn)


def _check_loss_gradient(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks the loss on mixed-sign inputs, and that its gradient reaches `out` intact.

    `out` is a non-leaf tensor that requires grad, like a model's output during training. The
    gradient of loss.sum() with respect to out is 2 (out - batch) / n_batch.
    """
    generator = torch.Generator().manual_seed(4)
    batch = torch.randn(5, 3, 4, generator=generator)
    leaf = torch.randn(5, 3, 4, generator=generator).requires_grad_()
    case = Case(
        "mixed-sign out and batch (batch=5, inst=3, feats=4), out requiring grad",
        (leaf * 1.0, batch),
        (batch - leaf.detach()).double().pow(2).sum(-1).mean(0).float(),
        hint="The loss must hold for any signs: (batch - out)^2, with no abs, clamp or ReLU.",
    )
    value = call(fn, *case.inputs, what=case.what, names=("out", "batch"))
    compare(loss_output(value, *batch.shape, case.what), case)
    if not value.requires_grad or value.grad_fn is None:
        raise AssertionError(
            "the loss is detached from the graph, so no gradient can flow back to "
            "`out` and training would fail at backward(). Don't use .detach(), .item(), "
            ".numpy(), .data or torch.no_grad() inside the loss."
        )
    value.sum().backward()
    expected_grad = 2 * (leaf.detach() - batch) / batch.shape[0]
    if leaf.grad is None or not torch.allclose(leaf.grad, expected_grad, atol=1e-5):
        raise AssertionError(
            "the loss has the right values but the wrong gradient with respect to "
            "`out` (expected 2 (out - batch) / n_batch): part of the computation is detached "
            "from the graph. Compute it from `out` with ordinary differentiable operations."
        )


# ------------------------------------------------------------------------------------------------
# The toy model
# ------------------------------------------------------------------------------------------------


def build_model(model_cls: Callable, n_inst: int, n_features: int, d_hidden: int) -> Any:
    """Instantiates the student's model class, with the failure explained."""
    return call(
        model_cls,
        n_inst,
        n_features,
        d_hidden,
        what=f"n_inst={n_inst}, n_features={n_features}, d_hidden={d_hidden}",
    )


def parameters(
    model: Any, n_inst: int, n_features: int, d_hidden: int
) -> tuple[nn.Parameter, nn.Parameter]:
    """The model's `W` and `b`, after checking their shapes and that nothing else is learnt."""
    for name, shape in (("W", (n_inst, d_hidden, n_features)), ("b", (n_inst, n_features))):
        param = getattr(model, name, None)
        if not isinstance(param, nn.Parameter):
            raise AssertionError(f"expected an nn.Parameter `self.{name}`, found {param!r:.60}")
        if tuple(param.shape) != shape:
            raise AssertionError(
                f"`{name}` should have shape {shape} (inst, "
                f"{'d_hidden, feats' if name == 'W' else 'feats'}), got {tuple(param.shape)}"
            )
        if param.dtype != torch.float32:
            raise AssertionError(
                f"`{name}` should be float32 (PyTorch's default, which the data uses), "
                f"got {param.dtype}. Create it without dtype=torch.float64 or .double()."
            )
        if not torch.isfinite(param).all():
            raise AssertionError(f"`{name}` contains NaN or infinite values")
    n_params = sum(p.numel() for p in model.parameters())
    expected = n_inst * (d_hidden * n_features + n_features)
    if n_params != expected:
        raise AssertionError(
            f"the model has {n_params} parameters, expected {expected} (W and b only). "
            "The weights are tied: decode with the same W, not a second matrix."
        )
    return model.W, model.b


TOY_MODEL_FORWARD_MISTAKES = [
    Mistake(
        "forward returns negative values: apply the ReLU last",
        lambda W, b, x: _decoded(W, x) + b,
    ),
    Mistake(
        "add b before the ReLU, not after it",
        lambda W, b, x: torch.relu(_decoded(W, x)) + b,
    ),
    Mistake("forward ignores the bias b", lambda W, b, x: torch.relu(_decoded(W, x))),
]
"""Wrong forward passes, as functions of W (inst, d, feats), b (inst, feats) and x."""


def _decoded(
    W: Float[Tensor, "inst d feats"], x: Float[Tensor, "batch inst feats"]
) -> Float[Tensor, "batch inst feats"]:
    """W^T (W x) for every instance, before the bias and the ReLU."""
    return torch.einsum("imf,bim->bif", W, torch.einsum("imf,bif->bim", W, x))


def _check_initialisation(
    W: Tensor, b: Tensor, n_inst: int, n_features: int, d_hidden: int
) -> None:
    """Checks b starts at 0 and each instance's W is its own Xavier-normal draw."""
    if torch.any(b.detach() != 0):
        raise AssertionError("`b` should start at zeros")
    target = math.sqrt(2 / (d_hidden + n_features))
    stds = W.detach().std(dim=(1, 2))
    if not torch.allclose(stds, torch.full_like(stds, target), rtol=0.1):
        hint = ""
        wrong_fans = math.sqrt(2 / (n_features * (d_hidden + n_inst)))
        if torch.allclose(stds, torch.full_like(stds, wrong_fans), rtol=0.1):
            hint = (
                " This is what nn.init.xavier_normal_ gives on the 3-D tensor: it takes the fans "
                "from the wrong axes, sqrt(2 / (n_features (d_hidden + n_inst))) = "
                f"{wrong_fans:.4f} for this check's {n_inst} instances. Compute the std yourself."
            )
        elif stds.mean() > 0.5:
            hint = " Did you forget to scale torch.randn?"
        raise AssertionError(
            "each instance's W should have std sqrt(2 / (d_hidden + n_features)) = "
            f"{target:.4f} (Xavier normal), got {stds.mean().item():.4f}.{hint}"
        )
    tails = (W.detach().abs() > 2 * target).float().mean().item()
    if tails < 0.02:
        raise AssertionError(
            f"only {tails:.1%} of W lies beyond 2 std (a normal puts 4.6% there): "
            "initialise from a normal distribution, not a uniform one"
        )
    if torch.allclose(W[0], W[1]):
        raise AssertionError("every instance starts from the same W; draw each independently")


@check(seed=0)
def test_toy_model(model_cls: Callable) -> None:
    """Checks the student's `ToyModel`: parameters, initialisation and forward pass."""
    n_inst, n_features, d_hidden = 8, 1000, 2
    model = build_model(model_cls, n_inst, n_features, d_hidden)
    _check_initialisation(
        *parameters(model, n_inst, n_features, d_hidden), n_inst, n_features, d_hidden
    )

    small = build_model(model_cls, 2, 3, 2)
    with torch.no_grad():
        small.W.copy_(
            torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]], [[0.5, 0.5, 0.0], [0.0, 0.0, 2.0]]])
        )
        small.b.copy_(torch.tensor([[0.0, -0.5, 0.25], [0.1, -0.2, -1.0]]))
    x = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 0.6, 0.8], [0.6, 0.8, 0.0]]])
    W, b = small.W.detach(), small.b.detach()
    _require_off_kinks(_decoded(W, x) + b)
    with torch.enable_grad():
        result = call(small, x, what="a (2, 2, 3) batch", names=("features",))
        out = as_tensor(result, (2, 2, 3), "forward")
        if torch.allclose(out, torch.relu(_decoded(W, x) + b), atol=1e-5):
            _check_model_gradient(small, result, x)
            return

    def reproduces(mistake: Mistake) -> bool:
        return torch.allclose(out, mistake.fn(W, b, x), atol=1e-5)

    raise AssertionError(
        diagnose(TOY_MODEL_FORWARD_MISTAKES, reproduces)
        or "forward gives the wrong output on a hand-made example: expected "
        "ReLU(Wᵀ(W x) + b) with each instance using its own W and b"
    )


KINK_MARGIN = 0.05
"""Pre-activations of a gradient check stay this far from the ReLU's kink at 0."""


def _require_off_kinks(pre_activation: Tensor) -> None:
    """Guards a gradient check's example: no pre-activation may sit at (or near) the kink.

    At exactly 0 every subgradient in [0, 1] is valid, and torch's ReLU spellings differ there
    (`relu` gives 0, `clamp(min=0)` gives 1, `maximum(x, 0)` gives 0.5), so a gradient compared
    at a kink would reject correct code.
    """
    if (pre_activation.abs() < KINK_MARGIN).any():
        raise RuntimeError("check example puts a ReLU pre-activation at its kink; change it")


def _check_model_gradient(model: nn.Module, out: Tensor, x: Tensor) -> None:
    """Checks that gradients of the forward pass reach W and b, with the right values."""
    if not out.requires_grad:
        raise AssertionError(
            "forward's output is detached from W and b, so training can't change "
            "them. Use self.W and self.b directly (not .detach(), .data or torch.no_grad())."
        )
    W, b = model.W, model.b
    expected = torch.autograd.grad(_reference_forward(W, b, x).sum(), (W, b))
    got = torch.autograd.grad(out.sum(), (W, b), allow_unused=True)
    for name, g, e in zip(("W", "b"), got, expected, strict=True):
        if g is None or not torch.allclose(g, e, atol=1e-5):
            raise AssertionError(
                f"forward gives the right values but the wrong gradient for `{name}`: "
                "part of the computation is detached (e.g. .detach() or .data on one of the two "
                "uses of W). Both the encoding and the decoding must use self.W."
            )


def _reference_forward(
    W: Float[Tensor, "inst d feats"],
    b: Float[Tensor, "inst feats"],
    x: Float[Tensor, "batch inst feats"],
) -> Float[Tensor, "batch inst feats"]:
    """ReLU(W^T (W x) + b) for every instance, differentiable in W and b."""
    hidden = einops.einsum(x, W, "batch inst feats, inst d feats -> batch inst d")
    return torch.relu(
        einops.einsum(hidden, W, "batch inst d, inst d feats -> batch inst feats") + b
    )
