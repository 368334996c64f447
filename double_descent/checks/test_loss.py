"""The check of `evaluate_test_loss`: the tied-weight model's loss on a shared test set, chunked.

The check runs the student's function on a table of cases with known losses (hand-made
models, then chunk sizes that do and don't divide the test set, then mixed-sign weights) and
matches a wrong answer against the values, or the computations, of known mistakes.
"""

from collections.abc import Callable

import einops
import torch
from jaxtyping import Float
from torch import Tensor

from double_descent.checks._core import Case, Mistake, call, check, compare, gives, unit_rows
from double_descent.checks.model import loss_output


def _model_loss(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch feats"],
    hidden: Callable[[Tensor], Tensor],
    out: Callable[[Tensor], Tensor],
) -> Float[Tensor, " inst"]:
    """Per-instance loss of out(W^T hidden(W x) + b), in float64 (the functions name mistakes)."""
    W, b, data = W.double(), b.double(), data.double()
    h = hidden(einops.einsum(data, W, "batch feats, inst d feats -> batch inst d"))
    recon = out(einops.einsum(h, W, "batch inst d, inst d feats -> batch inst feats") + b)
    return (data[:, None] - recon).pow(2).sum(-1).mean(0).float()


def _mistaken_model(message: str, hidden: Callable, out: Callable) -> Mistake:
    """A mistake in the model's nonlinearities: `hidden` on W x and `out` on the output."""
    return Mistake(message, lambda W, b, data, *chunk: _model_loss(W, b, data, hidden, out))


def _identity(h: Tensor) -> Tensor:
    """No nonlinearity."""
    return h


NONLINEARITY_MISTAKES = [
    _mistaken_model(
        "Don't apply a ReLU to the hidden vector h = W x: the only ReLU is on the "
        "output, ReLU(W^T h + b).",
        torch.relu,
        torch.relu,
    ),
    _mistaken_model("Don't take abs of the hidden vector h = W x.", torch.abs, torch.relu),
    _mistaken_model("The output nonlinearity is ReLU, not abs.", _identity, torch.abs),
]


def _first(value: float) -> Tensor:
    """Losses of two instances of which the second reconstructs the data exactly."""
    return torch.tensor([value, 0.0])


def _hand_made_cases() -> list[Case]:
    """Small models whose losses are worked out by hand."""
    projection = torch.zeros(3, 2, 3)
    projection[1, :, :2] = torch.eye(2)
    bias_only = torch.zeros(3, 3)
    bias_only[2] = torch.tensor([-0.5, 0.5, 0.0])
    five = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.0, 0.0, 0.0]]
    )
    return [
        Case(
            "W = [[1, 0.5], [0, 1]] and W = identity (d_hidden = feats = 2), b = 0, "
            "on the datapoints (1, 0), (0.6, 0.8) and (0, 1)",
            (
                torch.stack([torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.eye(2)]),
                torch.zeros(2, 2),
                torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]]),
            ),
            _first(0.9725 / 3),
            [
                gives(_first(1.64 / 3), "Decode with W^T (tied weights), not with W: out = W^T h."),
                gives(
                    _first(0.955 / 3), "Encode with h = W x and decode with W^T, not the reverse."
                ),
                gives(_first(0.9725 / 6), "You averaged over features too; sum over features."),
                gives(_first(0.9725), "Take the mean over datapoints, not the sum."),
                gives(torch.full((2,), 0.9725 / 3), "Use each instance's own W and b."),
            ],
            "By hand: W^T W maps (1, 0), (0.6, 0.8) and (0, 1) to (1, 0.5), (1, 1.3) and "
            "(0.5, 1.25): squared errors 0.25, 0.41 and 0.3125. The identity reconstructs all "
            "three.",
        ),
        Case(
            "W = 0 and b = 0 on 50 unit-norm datapoints (3 instances)",
            (torch.zeros(3, 2, 6), torch.zeros(3, 6), unit_rows(50, 1, 6, seed=2)[:, 0]),
            torch.ones(3),
            [
                gives(
                    torch.full((3,), 1 / 6), "You averaged over features too; sum over features."
                ),
                gives(torch.full((3,), 50.0), "You summed over datapoints; take the mean instead."),
            ],
            "A model that outputs zeros has loss exactly 1 on unit-norm data.",
        ),
        Case(
            "W = identity (d_hidden = feats = 2) and b = 0 on non-negative data",
            (
                einops.repeat(torch.eye(2), "d f -> inst d f", inst=2),
                torch.zeros(2, 2),
                unit_rows(100, 1, 2, seed=3)[:, 0],
            ),
            torch.zeros(2),
            hint="With W = I the model reconstructs non-negative data exactly.",
        ),
        Case(
            "3 instances on 5 datapoints: zeros; W projecting onto the first two features; "
            "bias-only b = (-0.5, 0.5, 0)",
            (projection, bias_only, five),
            torch.tensor([4.0, 1.0, 3.45]) / 5,
            [
                gives(torch.tensor([4.0, 1.0, 6.3]) / 5, "Apply the ReLU to W^T (W x) + b."),
                gives(torch.tensor([4.0, 1.0, 4.0]) / 5, "Add the bias b before the ReLU."),
                gives(torch.tensor([4.0, 4.0, 4.0]) / 5, "Use each instance's own W and b."),
                gives(torch.tensor([4.0, 1.0, 3.45]) / 15, "You averaged over features too."),
                gives(
                    torch.tensor([4.0, 1.0, 3.45]), "Take the mean over datapoints, not the sum."
                ),
                gives(
                    torch.tensor([4.0, 1.0, 3.1]) / 5, "The output nonlinearity is ReLU, not abs."
                ),
            ],
            "By hand: summed squared errors over the 5 datapoints are 4, 1 and 3.45.",
        ),
    ]


def _chunk_cases() -> list[Case]:
    """1050 datapoints (1000 of one feature, 50 of the other) in chunks that may not divide them."""
    W = torch.zeros(2, 2, 2)
    W[0, 0, 0] = W[1, 1, 1] = 1.0
    data = torch.cat(
        [torch.tensor([1.0, 0.0]).expand(1000, 2), torch.tensor([0.0, 1.0]).expand(50, 2)]
    )
    expected = torch.tensor([50.0, 1000.0]) / 1050
    mistakes = [
        gives(
            torch.full((2,), 0.5),
            "You averaged the chunks' mean losses, but the last chunk is smaller: sum "
            "the losses over all datapoints, then divide by the number of datapoints.",
        ),
        gives(torch.tensor([0.0, 1.0]), "The last, partial chunk was dropped."),
    ]
    hint = "The result must not depend on chunk_size: average over all datapoints."
    return [
        Case(
            f"1050 datapoints with chunk_size={chunk}",
            (W, torch.zeros(2, 2), data, chunk),
            expected,
            mistakes,
            hint,
        )
        for chunk in (1000, 16, 7, 1050, 4096)
    ] + [
        Case("1050 datapoints with the default chunk_size", (W, torch.zeros(2, 2), data), expected)
    ]


def _mixed_sign_cases() -> list[Case]:
    """Random weights and biases of both signs, where any extra nonlinearity shows."""
    generator = torch.Generator().manual_seed(5)
    W = torch.randn(3, 2, 6, generator=generator)
    b = 0.5 * torch.randn(3, 6, generator=generator)
    data = unit_rows(23, 1, 6, seed=6)[:, 0] * (torch.rand(23, 6, generator=generator) < 0.6)
    return [
        Case(
            f"mixed-sign W and b (3 different instances), 23 datapoints, chunk_size={chunk}",
            (W, b, data, chunk),
            _model_loss(W, b, data, hidden=_identity, out=torch.relu),
            NONLINEARITY_MISTAKES,
            "Weights and biases can be negative: compute ReLU(W^T (W x) + b) exactly, with no "
            "other nonlinearity, clamp or abs.",
        )
        for chunk in (5, 23, 100)
    ]


@check
def test_evaluate_test_loss(fn: Callable[..., Tensor]) -> None:
    """Checks `fn(W, b, test_batch, chunk_size=1000)` -> (inst,): every instance's test loss.

    W is (inst, d_hidden, feats), b is (inst, feats) and test_batch is (batch, feats), shared by
    all instances. Each instance computes out = ReLU(W^T (W x) + b), and the loss is the mean
    over all test datapoints of sum over features of (x - out)^2, whatever the chunk size.
    """
    for case in _hand_made_cases() + _chunk_cases() + _mixed_sign_cases():
        W, _, data, *_ = case.inputs
        value = call(fn, *case.inputs, what=case.what, names=("W", "b", "test_batch"))
        compare(loss_output(value, data.shape[0], W.shape[0], W.shape[-1], case.what), case)
