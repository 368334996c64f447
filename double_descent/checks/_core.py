"""What every check shares: the decorator, the case and mistake types, and the student-call guards.

A check is a function decorated with `check`, whose body runs the student's code on a table of
cases. The body and its helpers raise a bare AssertionError message; the decorator adds the
check's name in front, cuts the traceback so that its last frame is the check's own line (where
the case is named), and prints the one-line pass message.
"""

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

CHECKS_FOLDER = Path(__file__).resolve().parent
"""Failures raised from files in this folder are the checks' own (the rest are the student's)."""


@dataclass(frozen=True)
class Mistake:
    """A known mistake: the message that names it and what it computes.

    `fn` is the mistaken computation, called with what the check has at hand: the student's
    arguments (a wrong schedule, a wrong loop), the parts of a model, or, for a tabulated case,
    anything (`gives` makes one that returns the value the mistake gives on that case).
    """

    message: str
    fn: Callable[..., Any]


def gives(value: Any, message: str) -> Mistake:
    """A mistake known by the value it gives on one case."""
    return Mistake(message, lambda *_: value)


@dataclass(frozen=True)
class Case:
    """One input of a check: its description, the arguments, the answer and its known mistakes.

    `hint` is the advice given when the result matches none of the mistakes.
    """

    what: str
    inputs: tuple[Any, ...]
    expected: Any = None
    mistakes: Sequence[Mistake] = ()
    hint: str = ""


def diagnose(mistakes: Sequence[Mistake], reproduces: Callable[[Mistake], bool]) -> str:
    """The message of the first mistake that `reproduces` the student's result, or ''."""
    return next((mistake.message for mistake in mistakes if reproduces(mistake)), "")


def check(
    body: Callable[..., None] | None = None, *, seed: int | None = None
) -> Callable[..., None]:
    """Turns a check's body into the function students call (usable bare or with a seed).

    Every argument must be callable. The body runs with the global random state saved and
    restored (and first set to `seed`, if given). A failure raised by the checks gets the
    prefix "name: " and a traceback that ends in the body; a pass prints one line.
    """
    if body is None:
        return functools.partial(check, seed=seed)
    name = body.__name__

    @functools.wraps(body)
    def run(*fns: Callable) -> None:
        for fn in fns:
            _require_callable(fn)
        with torch.random.fork_rng(devices=[]):
            if seed is not None:
                torch.manual_seed(seed)
            try:
                body(*fns)
            except AssertionError as failure:
                if not _raised_by_checks(failure.__traceback__):
                    raise
                failure.args = (f"{name}: {failure}",)
                failure.with_traceback(_ending_in(body, failure.__traceback__))
                raise
        print(f"All tests in `{name}` passed!")

    run.__test__ = False  # a test file importing the check must not have pytest collect it
    return run


def with_seed(checked: Callable[..., None], seed: int) -> Callable[..., None]:
    """The same check with its global random state first set to another `seed`."""
    return check(checked.__wrapped__, seed=seed)


def _raised_by_checks(traceback: TracebackType | None) -> bool:
    """True if the innermost frame of `traceback` is in one of the checks' files."""
    while traceback is not None and traceback.tb_next is not None:
        traceback = traceback.tb_next
    return (
        traceback is not None
        and Path(traceback.tb_frame.f_code.co_filename).resolve().parent == CHECKS_FOLDER
    )


def _ending_in(body: Callable, traceback: TracebackType | None) -> TracebackType | None:
    """`traceback` cut after the last frame of `body`, so that the check's line comes last."""
    last, entry = None, traceback
    while entry is not None:
        if entry.tb_frame.f_code is body.__code__:
            last = entry
        entry = entry.tb_next
    if last is not None:
        last.tb_next = None
    return traceback


def _require_callable(fn: Any) -> None:
    """Raises TypeError unless `fn` can be called."""
    if not callable(fn):
        raise TypeError(f"fn: expected the function to test (a callable), got {type(fn).__name__}")


def copied(value: Any) -> Any:
    """A copy of a tensor argument (keeping its graph), so the check's own inputs stay intact."""
    return value.clone() if isinstance(value, Tensor) else value


def call(fn: Callable, *args: Any, what: str, names: Sequence[str] = ()) -> Any:
    """Calls the student's function on copies of its inputs, turning failures into messages.

    Any exception becomes an AssertionError that says which case failed (`what`), with the
    original exception attached as the cause. A tensor input changed in place is named (from
    `names`, or by position): the check's inputs are copies, so its later cases are unaffected.
    """
    passed = [copied(a) for a in args]
    try:
        result = fn(*passed)
    except NotImplementedError as err:
        raise AssertionError(
            "your function raised NotImplementedError; implement it first."
        ) from err
    except Exception as err:
        raise AssertionError(
            f"your function raised {type(err).__name__} when called with {what}: {err}"
        ) from err
    for i, (original, copy) in enumerate(zip(args, passed, strict=True)):
        if isinstance(original, Tensor) and not _same_values(original, copy):
            name = f"`{names[i]}`" if i < len(names) else f"argument {i + 1}"
            raise AssertionError(
                f"your function modified its input {name} in place when called with "
                f"{what}. Don't change the inputs: use out-of-place operations (x = x / n, not "
                "x /= n; a - b, not a.sub_(b)) so the caller's tensors stay as they were."
            )
    return result


def _same_values(a: Tensor, b: Tensor) -> bool:
    """True if two tensors have the same shape, dtype and values (NaN equal to NaN)."""
    return (
        a.shape == b.shape
        and a.dtype == b.dtype
        and bool(torch.isclose(a.detach(), b.detach(), rtol=0, atol=0, equal_nan=True).all())
    )


def as_float(value: Any, what: str) -> float:
    """Checks that a schedule returned a single real number and returns it as a float."""
    require_result(value, what)
    if isinstance(value, Tensor | np.ndarray):
        size = value.numel() if isinstance(value, Tensor) else value.size
        if size != 1:
            raise AssertionError(
                f"expected a single number for {what}, got shape {tuple(value.shape)}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise AssertionError(
            f"expected a float for {what}, got {type(value).__name__} ({value!r:.60})"
        )
    value = float(value)
    if not math.isfinite(value):
        raise AssertionError(f"got {value} for {what}; check for a division by zero.")
    return value


def require_result(value: Any, what: str) -> None:
    """Fails with a hint when the student's function returned nothing."""
    if value is None:
        raise AssertionError(f"your function returned None for {what}; missing return?")


def as_tensor(
    value: Any,
    shape: tuple[int, ...],
    what: str,
    shape_hint: str = "",
    dtype: torch.dtype | None = None,
) -> Tensor:
    """Checks the type, shape and dtype of a tensor the student's function returned.

    Returns it detached, on the CPU, as float32. Without `dtype`, any floating-point dtype is
    accepted (float64 results are converted).
    """
    require_result(value, what)
    if not isinstance(value, Tensor):
        raise AssertionError(f"expected a torch.Tensor for {what}, got {type(value).__name__}")
    if tuple(value.shape) != shape:
        raise AssertionError(
            f"expected a tensor of shape {shape} for {what}, got shape "
            f"{tuple(value.shape)}. {shape_hint}".rstrip()
        )
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"expected dtype {dtype} for {what}, got {value.dtype}")
    if not value.is_floating_point():
        raise AssertionError(f"expected a float tensor for {what}, got {value.dtype}")
    return value.detach().cpu().float()


def fmt(x: Tensor) -> str:
    """A short printable form of a tensor's values (4 significant digits, at most 8 values)."""
    values = [float(f"{v:.4g}") for v in x.flatten()[:8].tolist()]
    more = ", ..." if x.numel() > 8 else ""
    return f"{values}{more}" if x.ndim else f"{x.item():.4g}"


def compare(got: Tensor, case: Case, atol: float = 1e-5) -> None:
    """Asserts `got` is close to the case's answer; if not, names the first mistake that gives it.

    A mistake gives `got` if called on the case's inputs it returns a tensor of the same shape
    and close values; with none, the case's hint follows the expected and observed values.
    """
    expected = torch.as_tensor(case.expected, dtype=got.dtype)
    if torch.allclose(got, expected, atol=atol, rtol=1e-4):
        return

    def reproduces(mistake: Mistake) -> bool:
        value = torch.as_tensor(mistake.fn(*case.inputs), dtype=got.dtype)
        return value.shape == got.shape and torch.allclose(got, value, atol=atol, rtol=1e-4)

    message = diagnose(case.mistakes, reproduces) or case.hint
    header = f"for {case.what}, expected {fmt(expected)}, got {fmt(got)}."
    raise AssertionError(f"{header} {message}".rstrip())


def same_result(got: Any, expected: Any) -> bool:
    """True if two results (tensors, or tuples of tensors) have equal shapes and close values."""
    if isinstance(expected, tuple):
        return (
            isinstance(got, tuple)
            and len(got) == len(expected)
            and all(same_result(g, e) for g, e in zip(got, expected, strict=True))
        )
    return (
        isinstance(got, Tensor)
        and got.shape == expected.shape
        and torch.allclose(got.detach().float(), expected.detach().float(), atol=1e-5)
    )


def shape_text(x: Any) -> str:
    """The shape of a tensor for messages, or the type of anything else."""
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def unit_rows(batch: int, inst: int, feats: int, seed: int) -> Float[Tensor, "batch inst feats"]:
    """Non-negative data whose rows (over features) have unit norm."""
    x = torch.rand(batch, inst, feats, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=-1, keepdim=True)
