"""Checks of the learning-rate schedules: linear warmup, cosine decay and the two together.

A schedule is checked on a table of (arguments, expected multiplier). If it fails, the message
names the first known mistake (a wrong formula) that gives every observed value; failing that,
the most basic property it breaks (range, start, end, midpoint, shape), in that order.
"""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from double_descent.checks._core import Mistake, as_float, call, check, diagnose

Schedule = Callable[..., float]
ScheduleCase = tuple[tuple[int, ...], float]
"""The arguments of one call, (step, steps) or (step, steps, warmup_steps), and the answer."""


@dataclass(frozen=True)
class Property:
    """A property of a schedule, and the message for a value that breaks it.

    `broken_by(step, steps, warmup_steps, value)` is True where `value` breaks it (warmup_steps
    is 2500 for the default and unused by the schedules without warmup).
    """

    message: str
    broken_by: Callable[[int, int, int, float], bool]


@dataclass(frozen=True)
class ScheduleTable:
    """A schedule's cases, its known mistakes and its properties (most basic first)."""

    cases: Sequence[ScheduleCase]
    mistakes: Sequence[Mistake]
    properties: Sequence[Property]


def _half_cosine(progress: float) -> float:
    """Half-cosine multiplier: 1 at progress 0, 0.5 at 0.5, 0 at 1."""
    return 0.5 * (1 + math.cos(math.pi * progress))


def _paper_schedule(step: int, steps: int, warmup: int) -> float:
    """The paper's multiplier: linear warmup over `warmup` steps, then half-cosine decay to 0."""
    if step < warmup:
        return step / warmup
    return _half_cosine((step - warmup) / (steps - warmup))


def _older_course_schedule(step: int, steps: int, warmup: int = 2500) -> float:
    """The older course's multiplier: linear warmup, then cos(pi/2 * s / (steps_left - 1))."""
    if step < warmup:
        return step / warmup
    return math.cos(math.pi / 2 * (step - warmup) / (steps - warmup - 1))


def _observe(fn: Schedule, cases: Sequence[ScheduleCase]) -> list[float]:
    """The student's multiplier for every case, each checked to be one finite number."""
    return [as_float(call(fn, *args, what=f"{args}"), f"{args}") for args, _ in cases]


def _close(value: float, expected: float) -> bool:
    """True if a multiplier matches the expected one."""
    return math.isclose(value, expected, abs_tol=1e-6)


def _schedule_failure(table: ScheduleTable, observed: Sequence[float]) -> str:
    """The message for a schedule's observed values, or '' if they are all right.

    A mistake is named if its formula gives every observed value. Otherwise each mismatching
    case is described by the first property it breaks (the last one must hold for any case),
    and the case whose property comes first is reported, unless a minimum rate explains all.
    """
    cases, properties = table.cases, table.properties
    wrong = [
        (args, value, expected)
        for (args, expected), value in zip(cases, observed, strict=True)
        if not _close(value, expected)
    ]
    if not wrong:
        return ""

    def reproduces(mistake: Mistake) -> bool:
        return all(_close(v, mistake.fn(*a)) for (a, _), v in zip(cases, observed, strict=True))

    def rank(case: tuple[tuple[int, ...], float, float]) -> int:
        (step, steps, warmup), value = (*case[0], 2500)[:3], case[1]
        return next(i for i, p in enumerate(properties) if p.broken_by(step, steps, warmup, value))

    if message := diagnose(table.mistakes, reproduces):
        args, value, expected = wrong[0]
    else:
        args, value, expected = min(wrong, key=rank)
        message = _floor_diagnosis(cases, observed) or properties[rank((args, value, 0))].message
    return f"fn{args} returned {value:.6g}, expected {expected:.6g}. {message}"


def _require_schedule(table: ScheduleTable, observed: Sequence[float]) -> None:
    """Fails with the message for a schedule's observed values, unless they are all right."""
    if failure := _schedule_failure(table, observed):
        raise AssertionError(failure)


def _floor_diagnosis(cases: Sequence[ScheduleCase], observed: Sequence[float]) -> str:
    """Names a minimum rate, but only if every observed value is floor + (1 - floor) * expected.

    The floor is read off the last step of the first schedule that should end at 0; the claim is
    then verified on every case, so a schedule that ends above 0 for another reason (a wrong
    progress, a missing decay written differently) is not told it has a minimum rate.
    """
    ends = [v for ((step, steps, *_), e), v in zip(cases, observed) if step == steps and e == 0]
    if not ends or ends[0] <= 1e-6:
        return ""
    floor = ends[0]
    if not all(
        _close(v, e if v == e else floor + (1 - floor) * e)
        for (_, e), v in zip(cases, observed, strict=True)
    ):
        return ""
    if floor > 1 - 1e-6:
        return "The multiplier never decays: after warmup it should fall all the way to 0."
    return (
        f"The schedule decays to a minimum of {floor:.3g} instead of all the way to 0: drop the "
        "minimum rate, so that step == steps gives exactly 0."
    )


def _outside(low: float, high: float) -> Callable[[int, int, int, float], bool]:
    """A property's test: the value lies outside [low, high] (beyond rounding)."""
    return lambda step, steps, warmup, value: value < low - 1e-6 or value > high + 1e-6


def _at_start(step: int, steps: int, warmup: int, value: float) -> bool:
    """A property's test: the case is step 0."""
    return step == 0


def _at_end(step: int, steps: int, warmup: int, value: float) -> bool:
    """A property's test: the case is the last step."""
    return step == steps


def _anywhere(step: int, steps: int, warmup: int, value: float) -> bool:
    """A property's test that every case breaks: the last, most general description."""
    return True


WITHIN_0_1 = Property("The multiplier must stay within [0, 1].", _outside(0, 1))
ENDS_AT_0 = Property("The multiplier must fall all the way to 0 at step == steps.", _at_end)
"""The two properties shared by the schedules that decay."""

LINEAR_WARMUP_CASES = [((s, steps), s / steps) for steps in (4, 10) for s in range(steps + 1)]
LINEAR_WARMUP_CASES += [((s, 2500), s / 2500) for s in (0, 1, 625, 1250, 1875, 2499, 2500)]
LINEAR_WARMUP_MISTAKES = [
    Mistake("Off by one: divide by steps, not steps - 1.", lambda s, n: s / (n - 1)),
    Mistake("Off by one: use step / steps, not (step + 1) / steps.", lambda s, n: (s + 1) / n),
    Mistake("Off by one: use step / steps, not step / (steps + 1).", lambda s, n: s / (n + 1)),
    Mistake(
        "This is the learning rate itself; return the multiplier of the peak rate, in [0, 1].",
        lambda s, n: 1e-3 * s / n,
    ),
    Mistake("This decreases; warmup should rise from 0 to 1.", lambda s, n: 1 - s / n),
]
LINEAR_WARMUP_PROPERTIES = [
    Property(
        "The multiplier must never exceed 1 (the peak learning rate).", _outside(-math.inf, 1)
    ),
    Property("Warmup must start from exactly 0 at step 0.", _at_start),
    Property("Warmup must reach exactly 1 at step == steps.", _at_end),
    Property("Values between the ends must rise linearly: step / steps.", _anywhere),
]
LINEAR_WARMUP = ScheduleTable(LINEAR_WARMUP_CASES, LINEAR_WARMUP_MISTAKES, LINEAR_WARMUP_PROPERTIES)


@check
def test_linear_warmup_lr(fn: Callable[[int, int], float]) -> None:
    """Checks `fn(step, steps)`: the linear warmup multiplier step / steps (0 at 0, 1 at steps)."""
    _require_schedule(LINEAR_WARMUP, _observe(fn, LINEAR_WARMUP.cases))


COSINE_DECAY_CASES = [
    ((s, steps), _half_cosine(s / steps)) for steps in (4, 12) for s in range(steps + 1)
]
COSINE_DECAY_CASES += [
    ((s, 10_000), _half_cosine(s / 10_000)) for s in (0, 2500, 5000, 7500, 10_000)
]
COSINE_DECAY_MISTAKES = [
    Mistake(
        "This is a quarter cosine, cos(pi/2 * step/steps) (0.707 at the midpoint); use the "
        "half cosine 0.5 * (1 + cos(pi * step/steps)).",
        lambda s, n: math.cos(math.pi / 2 * s / n),
    ),
    Mistake(
        "This is the older course's quarter cosine cos(pi/2 * step/(steps - 1)); use the "
        "half cosine 0.5 * (1 + cos(pi * step/steps)).",
        lambda s, n: math.cos(math.pi / 2 * s / (n - 1)),
    ),
    Mistake(
        "Off by one: divide by steps, not steps - 1, so that step == steps gives exactly 0.",
        lambda s, n: _half_cosine(s / (n - 1)),
    ),
    Mistake(
        "Off by one: use step / steps, not (step + 1) / steps.",
        lambda s, n: _half_cosine((s + 1) / n),
    ),
    Mistake(
        "This is a linear decay; the schedule should follow a half cosine.",
        lambda s, n: 1 - s / n,
    ),
    Mistake(
        "This is cos(pi * step/steps), which goes down to -1; rescale it to "
        "0.5 * (1 + cos(...)) so it stays in [0, 1].",
        lambda s, n: math.cos(math.pi * s / n),
    ),
    Mistake(
        "This rises from 0 to 1; the decay should start at 1 and fall to 0 "
        "(0.5 * (1 + cos(...)), not 0.5 * (1 - cos(...))).",
        lambda s, n: 0.5 * (1 - math.cos(math.pi * s / n)),
    ),
]
COSINE_DECAY_PROPERTIES = [
    WITHIN_0_1,
    Property("The decay must start at exactly 1 (the peak rate) at step 0.", _at_start),
    ENDS_AT_0,
    Property(
        "At the midpoint a half cosine gives exactly 0.5.",
        lambda step, steps, warmup, value: 2 * step == steps,
    ),
    Property(
        "Between the ends the values should follow 0.5 * (1 + cos(pi * step / steps)).", _anywhere
    ),
]
COSINE_DECAY = ScheduleTable(COSINE_DECAY_CASES, COSINE_DECAY_MISTAKES, COSINE_DECAY_PROPERTIES)


@check
def test_cosine_decay_lr(fn: Callable[[int, int], float]) -> None:
    """Checks `fn(step, steps)`: the half-cosine multiplier 0.5 * (1 + cos(pi * step / steps))."""
    _require_schedule(COSINE_DECAY, _observe(fn, COSINE_DECAY.cases))


WARMUP_COSINE_EXPLICIT_CASES = [
    ((s, steps, warmup), _paper_schedule(s, steps, warmup))
    for steps, warmup in ((50_000, 2500), (1000, 100), (20, 4), (10_000, 5000))
    for s in sorted(
        {0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, (warmup + steps) // 2, steps}
    )
]
"""Cases that pass warmup_steps, for several lengths of run and of warmup."""
WARMUP_COSINE_DEFAULT_CASES = [
    ((s, 50_000), _paper_schedule(s, 50_000, 2500))
    for s in (0, 1, 1250, 2499, 2500, 2501, 10_000, 26_250, 40_000, 49_999, 50_000)
]
"""Cases that leave warmup_steps at its default, the paper's 2500."""
WARMUP_COSINE_MISTAKES = [
    Mistake(
        "The cosine seems to be measured from step 0; measure it from the end of warmup: "
        "progress = (step - warmup_steps) / (steps - warmup_steps).",
        lambda s, n, w=2500: s / w if s < w else _half_cosine(s / n),
    ),
    Mistake(
        "The cosine's progress is divided by steps; divide by the length of the decay: "
        "progress = (step - warmup_steps) / (steps - warmup_steps).",
        lambda s, n, w=2500: s / w if s < w else _half_cosine((s - w) / n),
    ),
    Mistake(
        "Your function ignores its warmup_steps argument (it behaves as if it were 2500).",
        lambda s, n, w=2500: _paper_schedule(s, n, 2500),
    ),
    Mistake(
        "The decay is a quarter cosine cos(pi/2 * progress); use the half cosine "
        "0.5 * (1 + cos(pi * progress)).",
        lambda s, n, w=2500: s / w if s < w else math.cos(math.pi / 2 * (s - w) / (n - w)),
    ),
    Mistake(
        "The decay is the older course's quarter cosine cos(pi/2 * (step - warmup_steps) / "
        "(steps - warmup_steps - 1)), which dips below 0 at the last step; use the half "
        "cosine 0.5 * (1 + cos(pi * progress)) with progress = (step - warmup_steps) / "
        "(steps - warmup_steps).",
        _older_course_schedule,
    ),
    Mistake(
        "Off by one in the warmup: use step / warmup_steps, not (step + 1) / warmup_steps.",
        lambda s, n, w=2500: (s + 1) / w if s < w else _paper_schedule(s, n, w),
    ),
    Mistake(
        "Off by one in the decay: divide by (steps - warmup_steps), not one less.",
        lambda s, n, w=2500: s / w if s < w else _half_cosine((s - w) / (n - 1 - w)),
    ),
    Mistake(
        "There is no warmup: the multiplier should rise linearly from 0 over warmup_steps.",
        lambda s, n, w=2500: _half_cosine(s / n),
    ),
    Mistake(
        "The decay after warmup is linear; it should follow a half cosine.",
        lambda s, n, w=2500: s / w if s < w else 1 - (s - w) / (n - w),
    ),
]
WARMUP_COSINE_PROPERTIES = [
    WITHIN_0_1,
    Property("Warmup must start from exactly 0 at step 0.", _at_start),
    ENDS_AT_0,
    Property(
        "During warmup the multiplier should be step / warmup_steps.",
        lambda step, steps, warmup, value: step < warmup,
    ),
    Property(
        "The schedule should be continuous at the end of warmup, reaching the peak "
        "(1.0) at step == warmup_steps and decaying from there.",
        lambda step, steps, warmup, value: step in (warmup, warmup + 1),
    ),
    Property(
        "After warmup the multiplier should be "
        "0.5 * (1 + cos(pi * (step - warmup_steps) / (steps - warmup_steps))).",
        _anywhere,
    ),
]
WARMUP_COSINE = ScheduleTable(
    WARMUP_COSINE_EXPLICIT_CASES + WARMUP_COSINE_DEFAULT_CASES,
    WARMUP_COSINE_MISTAKES,
    WARMUP_COSINE_PROPERTIES,
)


@check
def test_warmup_cosine_lr(fn: Callable[..., float]) -> None:
    """Checks `fn(step, steps, warmup_steps=2500)`: linear warmup, then half-cosine decay to 0.

    The expected multiplier is step / warmup_steps for step < warmup_steps, and afterwards
    0.5 * (1 + cos(pi * (step - warmup_steps) / (steps - warmup_steps))).
    """
    cases = WARMUP_COSINE.cases
    observed = _observe(fn, cases)
    explicit = len(WARMUP_COSINE_EXPLICIT_CASES)
    explicit_ok = all(_close(v, e) for (_, e), v in zip(cases[:explicit], observed[:explicit]))
    default_ok = all(_close(v, e) for (_, e), v in zip(cases[explicit:], observed[explicit:]))
    if explicit_ok and not default_ok:
        raise AssertionError(
            "correct when warmup_steps is passed, but wrong with the default; "
            "the default warmup_steps should be 2500 (the paper's value)."
        )
    _require_schedule(WARMUP_COSINE, observed)
