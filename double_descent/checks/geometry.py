"""Checks of the geometry exercises: dimensionality, the best instance and its hidden datapoints.

Each check runs the student's function on a table of cases with known answers; a wrong answer
is matched against the values (or the implementations) of known mistakes to name the cause.
"""

import math
from collections.abc import Callable
from typing import Any

import torch
from jaxtyping import Float
from torch import Tensor

from double_descent.checks._core import (
    Case,
    Mistake,
    as_tensor,
    call,
    check,
    compare,
    copied,
    diagnose,
    fmt,
    gives,
    require_result,
    same_result,
    shape_text,
    unit_rows,
)


def _polygon(k: int, radius: float = 1.0, phase: float = 0.0) -> Float[Tensor, "k 2"]:
    """Vertices of a regular k-gon of the given radius, rotated by `phase` radians."""
    angles = phase + 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=-1)).float()


def _dimensionalities(fn: Callable, data: Tensor, what: str) -> Tensor:
    """Calls the student's dimensionality function and checks the output's shape and values."""
    out = as_tensor(
        call(fn, data, what=what, names=("data",)),
        tuple(data.shape[:-1]),
        what,
        "The result keeps every dimension except the last (hidden) one: one value per vector.",
    )
    if not torch.isfinite(out).all():
        has_zero = (data.norm(dim=-1) == 0).any()
        hint = (
            "A zero vector must get dimensionality 0 (not NaN): guard the division by its norm."
            if has_zero
            else "The denominator must include the j = i term, so it is never 0 for a nonzero "
            "vector."
        )
        raise AssertionError(f"got NaN or infinite values for {what}. {hint}")
    return out


RECIPROCAL = "You returned the reciprocal: D_i = ||v_i||^2 / sum_j (v_hat_i . v_j)^2."
UNIT_V_I = "Not scale-invariant: use the unit vector v_hat_i in the dot products."
ONLY_V_I = "Only v_i is normalised in the dot products, not v_j."
SQUARED_NORM = "The numerator is ||v_i||^2 (squared)."
SQUARE_DOTS = "Square the dot products instead of taking their absolute values."
ALL_J = "The denominator sums (v_hat_i . v_j)^2 over ALL vectors j."


def _dimensionality_cases() -> list[Case]:
    """Hand-made inputs with known dimensionalities, and the values known mistakes give."""
    single = torch.tensor([[0.6, -1.2]])
    n2 = (single**2).sum().item()
    orthogonal = torch.tensor([[2.0, 0.0], [0.0, 0.5]]) @ torch.tensor([[0.8, 0.6], [-0.6, 0.8]])
    cases = [
        Case(
            "a single vector",
            (single,),
            torch.ones(1),
            [
                gives(torch.tensor([1 / n2]), "Use the unit vector v_hat_i in the dot products."),
                gives(torch.tensor([n2]), ONLY_V_I),
                gives(torch.tensor([n2**-0.5]), SQUARED_NORM),
                gives(torch.tensor([n2**0.5]), SQUARE_DOTS),
            ],
            "A lone vector has D = 1.",
        ),
        Case(
            "two orthogonal vectors of norms 2 and 0.5",
            (orthogonal,),
            torch.ones(2),
            [
                gives(
                    torch.tensor([0.25, 4.0]), "Use the unit vector v_hat_i in the dot products."
                ),
                gives(torch.tensor([4.0, 0.25]), ONLY_V_I),
                gives(torch.tensor([0.5, 2.0]), SQUARED_NORM),
                gives(torch.tensor([2.0, 0.5]), SQUARE_DOTS),
            ],
            "Orthogonal vectors don't interfere, so each has D = 1.",
        ),
        Case(
            "three orthogonal vectors in 3 dimensions",
            (torch.diag(torch.tensor([1.0, 2.0, 3.0])),),
            torch.ones(3),
            [],
            "Don't assume 2 hidden dimensions: the last dimension can have any size.",
        ),
        Case(
            "two antipodal vectors v and -v",
            (torch.tensor([[1.0, 2.0], [-1.0, -2.0]]),),
            torch.full((2,), 0.5),
            [
                gives(
                    torch.zeros(2),
                    "Square the dot products (v_hat_i . v_j), so signs don't cancel.",
                ),
                gives(torch.full((2,), 2.0), RECIPROCAL),
                gives(torch.ones(2), ALL_J),
            ],
            "Each of v and -v shares its direction with the other, so each gets 1/2.",
        ),
    ]
    radius = 3.0
    for k in (3, 5, 8):
        abs_sum = _polygon(k).matmul(torch.tensor([1.0, 0.0])).abs().sum().item()
        cases.append(
            Case(
                f"a regular {k}-gon of radius {radius}",
                (_polygon(k, radius, phase=0.3),),
                torch.full((k,), 2 / k),
                [
                    gives(torch.full((k,), 2 / (k - 2)), "The sum over j must include j = i."),
                    gives(torch.full((k,), k / 2), RECIPROCAL),
                    gives(torch.ones(k), ALL_J),
                    gives(torch.full((k,), 2 / (k * radius**2)), UNIT_V_I),
                    gives(torch.full((k,), 2 * radius**2 / k), ONLY_V_I),
                    gives(torch.full((k,), 2 / (k * radius)), SQUARED_NORM),
                    gives(torch.full((k,), radius / abs_sum), SQUARE_DOTS),
                ],
                f"k vectors spread evenly round a circle in 2 dimensions each get 2/k = "
                f"{2 / k:.4g}.",
            )
        )
    cases.append(
        Case(
            "the vectors (2, 0) and (1, 1)",
            (torch.tensor([[2.0, 0.0], [1.0, 1.0]]),),
            torch.tensor([0.8, 0.5]),
            [
                gives(
                    torch.full((2,), 2 / 3),
                    "This is 1 / sum_j cos^2(v_i, v_j), which ignores how long the v_j are. Two "
                    "mistakes give exactly this: normalising v_j as well as v_i (numerator "
                    "included), or summing over i instead of j. Normalise only v_i: D_i = "
                    "||v_i||^2 / sum_j (v_hat_i . v_j)^2.",
                )
            ],
            "By hand: D_1 = 4 / (4 + 1) = 0.8 and D_2 = 2 / (2 + 2) = 0.5.",
        )
    )
    return cases


def _later_cases() -> tuple[Case, list[Case]]:
    """The cases after the scale checks: a zero vector, then mixed radii and leading dimensions.

    The first is checked before, the rest after, the case of one big and 8 tiny vectors.
    """
    with_zero = Case(
        "a regular pentagon plus a zero vector (third)",
        (torch.cat([_polygon(5, 2.0)[:2], torch.zeros(1, 2), _polygon(5, 2.0)[2:]]),),
        torch.tensor([0.4, 0.4, 0.0, 0.4, 0.4, 0.4]),
        hint="A zero vector gets 0 and adds nothing to the other vectors' denominators.",
    )
    union = Case(
        "a triangle of radius 1 together with a square of radius 2",
        (torch.cat([_polygon(3, 1.0, 0.2), _polygon(4, 2.0, 1.0)]),),
        torch.tensor([1.0] * 3 + [4.0] * 4) / 9.5,
        hint="Both shapes are isotropic, so the denominator is 9.5 for every vector and "
        "the values sum to 2.",
    )
    lead = torch.zeros(4, 3, 10, 2)
    expected = torch.zeros(4, 3, 10)
    generator = torch.Generator().manual_seed(0)
    for a in range(4):
        for b in range(3):
            k = 3 + (3 * a + b) % 8
            radius, phase = (0.5 + 2.5 * torch.rand(2, generator=generator)).tolist()
            slots = torch.randperm(10, generator=generator)[:k]
            lead[a, b, slots] = _polygon(k, radius, phase)
            expected[a, b, slots] = 2 / k
    slices = Case(
        "a tensor of shape (4, 3, 10, 2) holding a different polygon in each (10, 2) slice",
        (lead,),
        expected,
        hint="Each slice along the leading dimensions is a separate set of vectors: "
        "compare vectors only within their own slice (e.g. einsum '... i d, ... j d -> ... i j').",
    )
    return with_zero, [union, slices]


FIVE_VECTORS = [[0.3, 1.1], [-0.7, 0.2], [0.5, -0.4], [1.3, 0.9], [-0.1, -0.8]]
"""Vectors in general position, for the range and the scale invariance of the result."""


@check
def test_dimensionality(fn: Callable[[Tensor], Tensor]) -> None:
    """Checks `fn(data)`: (..., batch, d_hidden) -> (..., batch), the paper's dimensionality.

    D_i = ||v_i||^2 / sum_j (v_hat_i . v_j)^2, where the sum includes j = i and v_hat_i is the
    unit vector along v_i; a zero vector gets 0.
    """
    for case in _dimensionality_cases():
        compare(_dimensionalities(fn, *case.inputs, case.what), case)

    five = torch.tensor(FIVE_VECTORS)
    reference = _dimensionalities(fn, five, "five vectors")
    if ((reference < -1e-6) | (reference > 1 + 1e-6)).any():
        raise AssertionError(
            f"dimensionalities must lie in [0, 1], got {fmt(reference)} for five vectors."
        )
    for scale in (10.0, 0.01):
        out = _dimensionalities(fn, scale * five, f"five vectors scaled by {scale}")
        if not torch.allclose(out, reference, atol=1e-4, rtol=1e-3):
            raise AssertionError(
                f"scaling every vector by {scale} changed the result from "
                f"{fmt(reference)} to {fmt(out)}. Dimensionality is scale-invariant: normalise "
                "v_i (v_hat_i) in the dot products, but not v_j."
            )

    with_zero, later = _later_cases()
    compare(_dimensionalities(fn, *with_zero.inputs, with_zero.what), with_zero)

    angles = torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9, 1.1, 1.2, 1.3]) * math.pi
    tiny = 1e-3 * torch.stack([angles.cos(), angles.sin()], dim=-1)
    big_and_tiny = torch.cat([torch.tensor([[1.0, 0.0]]), tiny])
    out = _dimensionalities(fn, big_and_tiny, "one unit vector and 8 tiny ones")
    if abs(out[0] - 1) > 1e-4 or (out[1:] > 1e-4).any():
        raise AssertionError(
            "for one unit vector plus 8 vectors of norm 1e-3, expected about 1 for the "
            f"big vector and about 0 for the tiny ones, got {fmt(out)}. Tiny vectors hardly "
            "interfere with the big one, but the big one dominates their denominators."
        )

    for case in later:
        compare(_dimensionalities(fn, *case.inputs, case.what), case)


# ------------------------------------------------------------------------------------------------
# The best instance and its hidden datapoints
# ------------------------------------------------------------------------------------------------


def _reproduces(got: Any, inputs: tuple[Any, ...], expected: Any) -> Callable[[Mistake], bool]:
    """Whether a mistake, run on copies of the inputs, gives `got` (and not the right answer).

    A mistake that can't run on these inputs (wrong shapes) reproduces nothing.
    """

    def reproduces(mistake: Mistake) -> bool:
        with torch.no_grad():
            try:
                candidate = mistake.fn(*(copied(a) for a in inputs))
            except (RuntimeError, IndexError, ValueError):
                return False
        return same_result(got, candidate) and not same_result(candidate, expected)

    return reproduces


def _pick_best_cases() -> list[Case]:
    """Inputs for `test_pick_best`: different instances with mixed signs, one case with a tie.

    batch (6), inst (4), d_hidden (2) and feats (5) all differ, so a wrong axis shows up.
    """
    generator = torch.Generator().manual_seed(7)
    W = torch.randn(4, 2, 5, generator=generator).requires_grad_()
    data = torch.randn(6, 4, 5, generator=generator)
    losses = {
        "4 instances, the lowest loss in instance 1": [0.9, 0.2, 1.4, 0.6],
        "4 instances, the lowest loss in instance 2": [0.5, 0.7, 0.1, 0.3],
        "a tie: instances 1 and 3 share the lowest loss": [0.8, 0.2, 0.9, 0.2],
    }
    return [
        Case(what, (W, data, torch.tensor(loss)), mistakes=PICK_BEST_MISTAKES)
        for what, loss in losses.items()
    ]


PICK_BEST_MISTAKES = [
    Mistake(
        "You picked the instance with the HIGHEST loss; use argmin, not argmax.",
        lambda W, data, loss: (W[loss.argmax()], data[:, loss.argmax()]),
    ),
    Mistake(
        "data[best] picks a datapoint: data has shape (batch, inst, feats), so index the "
        "instance axis, data[:, best].",
        lambda W, data, loss: (W[loss.argmin()], data[loss.argmin()]),
    ),
    Mistake(
        "W has shape (inst, d_hidden, feats): the instance is its first axis, W[best].",
        lambda W, data, loss: (W[:, loss.argmin()], data[:, loss.argmin()]),
    ),
    Mistake(
        "You returned the transpose of W[best]; keep its shape (d_hidden, feats).",
        lambda W, data, loss: (W[loss.argmin()].T, data[:, loss.argmin()]),
    ),
    Mistake(
        "Return the weights first and the data second: (W[best], data[:, best]).",
        lambda W, data, loss: (data[:, loss.argmin()], W[loss.argmin()]),
    ),
]


@check
def test_pick_best(fn: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]) -> None:
    """Checks `fn(W, data, train_loss)` -> (W[best], data[:, best]) with best = argmin(loss).

    W is (inst, d_hidden, feats), data is (batch, inst, feats), train_loss is (inst,). W may
    require grad (students pass model.W): results with or without grad are accepted. On a tie
    any of the tied instances is right (argmin and a loop with `<=` differ there, both valid).
    """
    for case in _pick_best_cases():
        W, data, loss = case.inputs
        tied = [int(i) for i in torch.nonzero(loss == loss.min())[:, 0]]
        best = tied[0]
        got = call(fn, *case.inputs, what=case.what, names=("W", "data", "train_loss"))
        require_result(got, case.what)
        got = tuple(got) if isinstance(got, list) else got
        if not isinstance(got, tuple):
            raise AssertionError(
                f"for {case.what}, expected a tuple (W_best, data_best), got "
                f"{shape_text(got)}. Return the weights and data of the best instance, not its "
                "index."
            )
        if any(same_result(got, (W[i].detach(), data[:, i])) for i in tied):
            continue
        expected = (W[best].detach(), data[:, best])
        message = diagnose(case.mistakes, _reproduces(got, case.inputs, expected))
        raise AssertionError(
            f"for {case.what}, expected W[{best}] of shape (2, 5) and data[:, {best}] of "
            f"shape (6, 5), got {', '.join(shape_text(g) for g in got)}. "
            + (message or "Pick best = train_loss.argmin(), then return (W[best], data[:, best]).")
        )


HIDDEN_DATAPOINTS_MISTAKES = [
    Mistake(
        "This is the transpose, shape (d_hidden, batch): return one row per datapoint, shape "
        "(batch, d_hidden).",
        lambda W, data: W @ data.T,
    ),
    Mistake(
        "This is the decoded output W^T W x (shape (batch, feats)); the hidden datapoint is "
        "h = W x, before decoding.",
        lambda W, data: data @ W.T @ W,
    ),
    Mistake(
        "No ReLU in the hidden space: h = W x exactly (the model's only ReLU is on its output).",
        lambda W, data: torch.relu(data @ W.T),
    ),
    Mistake("Don't take abs: h = W x keeps its signs.", lambda W, data: (data @ W.T).abs()),
    Mistake(
        "Don't normalise the hidden vectors: their lengths matter (h = W x).",
        lambda W, data: data @ W.T / (data @ W.T).norm(dim=-1, keepdim=True).clamp_min(1e-12),
    ),
]


def _hidden_cases() -> list[Case]:
    """Inputs for `test_hidden_datapoints`: mixed-sign W (requiring grad), several shapes."""
    generator = torch.Generator().manual_seed(8)
    W = torch.randn(2, 5, generator=generator).requires_grad_()
    sparse = unit_rows(7, 1, 5, seed=9)[:, 0] * (torch.rand(7, 5, generator=generator) < 0.5)
    inputs = {
        "W of shape (2, 5) with mixed signs, 7 sparse datapoints": (W, sparse),
        "W of shape (3, 4) and 6 mixed-sign datapoints": (
            torch.randn(3, 4, generator=generator),
            torch.randn(6, 4, generator=generator),
        ),
    }
    return [
        Case(
            what,
            (W, data),
            (data.double() @ W.detach().double().T).float(),
            HIDDEN_DATAPOINTS_MISTAKES,
        )
        for what, (W, data) in inputs.items()
    ]


@check
def test_hidden_datapoints(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks `fn(W, data)`: (d_hidden, feats) and (batch, feats) -> h = W x, (batch, d_hidden).

    W may require grad (students pass model.W[best]): results with or without grad pass.
    """
    for case in _hidden_cases():
        got = call(fn, *case.inputs, what=case.what, names=("W", "data"))
        require_result(got, case.what)
        if same_result(got, case.expected):
            continue
        message = diagnose(case.mistakes, _reproduces(got, case.inputs, case.expected))
        if not message and isinstance(got, Tensor) and got.shape != case.expected.shape:
            message = "Return one hidden vector per datapoint: shape (batch, d_hidden)."
        if not isinstance(got, Tensor):
            message = "Return a torch.Tensor."
        values = f" with values {fmt(got.detach().float())}. " if isinstance(got, Tensor) else ". "
        raise AssertionError(
            f"for {case.what}, expected h = W x of shape {tuple(case.expected.shape)}, got "
            f"{shape_text(got)}{values}"
            + (message or "Compute h_i = W x_i for every datapoint, with no other operation.")
        )
