"""Helpers for part 4: superposition, memorisation and double descent (Henighan et al., 2023).

Two kinds of helper live here:

* `plot_features_in_2d` draws vectors in a 2-D hidden space (columns of W, or hidden datapoints
  h = W x), one subplot per instance.
* `test_*` functions check the functions you write in the exercises. Each one runs your function
  on inputs with known answers and checks properties the result must have. On success it prints
  one line; otherwise it raises an AssertionError that says what looks wrong and what the likely
  cause is. Your function gets copies of the check's inputs, and changing an input in place is
  reported by name.
"""

import itertools
import math
from collections.abc import Callable, Sequence
from typing import Any

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor, nn

DEFAULT_COLOR = "#636EFA"
LINE_COLOR_MIXED = "rgba(120, 120, 120, 0.45)"
COLORSCALE = "Viridis"
MAX_COLS_DEFAULT = 8
WEBGL_MIN_VECTORS = 1000
SIGNIFICANT_DIGITS = 4

W_SHAPES = "shape (inst, 2, n), (2, n) or a list of (2, n_i)"

ColorSpec = str | Sequence[str] | Sequence[Sequence[str]] | Float[Tensor, "inst n"] | None


# ------------------------------------------------------------------------------------------------
# Plotting
# ------------------------------------------------------------------------------------------------


def _to_2d_array(x: Any, name: str) -> np.ndarray:
    """Converts one (2, n) tensor or array to a float64 numpy array, checking dtype and values."""
    if isinstance(x, Tensor):
        if x.is_complex() or not x.is_floating_point():
            raise ValueError(f"{name}: expected a real floating-point tensor, got dtype {x.dtype}")
        arr = x.detach().to("cpu", torch.float64).numpy()
    elif isinstance(x, np.ndarray):
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"{name}: expected a real floating-point array, got dtype {x.dtype}")
        arr = x.astype(np.float64)
    else:
        raise ValueError(f"{name}: expected a torch tensor or numpy array, got {type(x).__name__}")
    if arr.ndim != 2 or arr.shape[0] != 2:
        raise ValueError(
            f"{name}: expected 2 hidden dimensions ({W_SHAPES}), got shape {arr.shape}"
        )
    if arr.shape[1] == 0:
        raise ValueError(f"{name}: has no vectors to draw (shape {arr.shape}, 0 columns)")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return arr


def _split_vectors(W: Any) -> list[np.ndarray]:
    """Turns any accepted form of `W` into a list of (2, n_i) float64 arrays, one per subplot."""
    if isinstance(W, Tensor | np.ndarray):
        if W.ndim == 3:
            if W.shape[1] != 2:
                raise ValueError(
                    f"W: expected 2 hidden dimensions ({W_SHAPES}), got shape {tuple(W.shape)}"
                )
            if W.shape[0] == 0:
                raise ValueError(f"W: expected at least one instance, got shape {tuple(W.shape)}")
            return [_to_2d_array(w, f"W[{i}]") for i, w in enumerate(W)]
        if W.ndim == 2:
            return [_to_2d_array(W, "W")]
        raise ValueError(f"W: expected 2 or 3 dimensions ({W_SHAPES}), got shape {tuple(W.shape)}")
    if isinstance(W, list | tuple):
        if len(W) == 0:
            raise ValueError(f"W: expected at least one matrix ({W_SHAPES}), got an empty list")
        return [_to_2d_array(w, f"W[{i}]") for i, w in enumerate(W)]
    raise ValueError(f"W: expected a tensor, array or list ({W_SHAPES}), got {type(W).__name__}")


def _split_colors(colors: ColorSpec, sizes: list[int]) -> list[np.ndarray] | list[list[str]]:
    """Returns one entry per subplot: a list of n_i colour strings, or an array of n_i values.

    Numeric colours (a tensor or array of shape (inst, n) or (n,)) come back as float arrays to be
    mapped through a shared colour scale; everything else comes back as lists of strings.
    """
    count = len(sizes)
    if colors is None:
        colors = DEFAULT_COLOR
    if isinstance(colors, str):
        return [[colors] * n for n in sizes]
    if isinstance(colors, np.ndarray) and colors.dtype.kind in "US":
        colors = colors.tolist()
    if isinstance(colors, Tensor | np.ndarray):
        values = colors.detach().cpu().numpy() if isinstance(colors, Tensor) else colors
        if values.dtype.kind not in "fiu":
            raise ValueError(f"colors: expected a real-valued tensor, got dtype {values.dtype}")
        if len(set(sizes)) != 1:
            raise ValueError(
                "colors: a tensor of colour values needs every subplot to have the same number "
                f"of vectors, got {sorted(set(sizes))}"
            )
        n = sizes[0]
        if values.shape == (n,):
            values = einops.repeat(values, "n -> inst n", inst=count)
        if values.shape != (count, n):
            raise ValueError(
                f"colors: expected a tensor of shape (inst, n) = ({count}, {n}) or (n,) = ({n},), "
                f"got shape {tuple(values.shape)}"
            )
        values = values.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError("colors: contains NaN or infinite values")
        return list(values)
    if not isinstance(colors, list | tuple) or len(colors) == 0:
        raise ValueError(
            "colors: expected None, a colour string, a list of colour strings, a list of lists "
            f"(one per subplot) or a tensor of values, got {colors!r:.80}"
        )
    if all(isinstance(c, str) for c in colors):
        if len(set(sizes)) != 1 or len(colors) != sizes[0]:
            raise ValueError(
                f"colors: a flat list of colours needs one colour per vector, shared by all "
                f"subplots; got {len(colors)} colours for subplots with {sorted(set(sizes))} "
                "vectors (pass a list of lists to colour subplots separately)"
            )
        return [list(colors) for _ in sizes]
    if all(isinstance(c, list | tuple) for c in colors):
        if len(colors) != count:
            raise ValueError(
                f"colors: expected one list of colours per subplot ({count}), got {len(colors)}"
            )
        result = []
        for i, (inner, n) in enumerate(zip(colors, sizes, strict=True)):
            if not all(isinstance(c, str) for c in inner) or len(inner) not in (1, n):
                raise ValueError(
                    f"colors[{i}]: expected 1 or {n} colour strings, got {len(inner)} items"
                )
            result.append(list(inner) * n if len(inner) == 1 else list(inner))
        return result
    raise ValueError(
        "colors: expected a list of colour strings or a list of lists of colour strings, "
        "not a mixture"
    )


def _grid_shape(count: int, n_rows: int | None) -> tuple[int, int]:
    """Rows and columns for `count` subplots, filled row by row (no empty rows)."""
    if n_rows is None:
        n_rows = math.ceil(count / MAX_COLS_DEFAULT)
    elif isinstance(n_rows, bool) or not isinstance(n_rows, int | np.integer) or n_rows < 1:
        raise ValueError(f"n_rows: expected a positive integer, got {n_rows!r}")
    n_cols = math.ceil(count / int(n_rows))
    return math.ceil(count / n_cols), n_cols


def _round_significant(x: np.ndarray, scale: float) -> np.ndarray:
    """Rounds coordinates to about SIGNIFICANT_DIGITS digits relative to `scale`, keeping NaN.

    Returned as float32: plotly stores arrays as binary (base64), where rounding alone saves
    nothing and float32 halves the stored figure; its 7 digits are far finer than a pixel.
    """
    decimals = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(scale))
    return np.round(x, max(decimals, 0)).astype(np.float32)


def _subplot_traces(
    vectors: np.ndarray, colors: np.ndarray | list[str], axes: tuple[str, str]
) -> list[go.Scatter | go.Scattergl]:
    """Two traces for one subplot: all lines from the origin (one path) and all tip markers.

    `vectors` has shape (2, n); coordinates are rounded relative to the longest vector. String
    colours are drawn through a discrete colour scale of the distinct colours (much faster for
    plotly to validate than one string per point); numeric colours use the shared colour axis.
    """
    n = vectors.shape[1]
    scale = float(np.linalg.norm(vectors, axis=0).max(initial=0.0)) or 1.0
    trace_type = go.Scattergl if n >= WEBGL_MIN_VECTORS else go.Scatter
    segments = np.stack([np.zeros_like(vectors), vectors, np.full_like(vectors, np.nan)], axis=-1)
    lines_x, lines_y = einops.rearrange(segments, "xy n point -> xy (n point)")
    tips = _round_significant(vectors, scale)

    if isinstance(colors, np.ndarray):
        marker = dict(color=colors, coloraxis="coloraxis")
        line_color = LINE_COLOR_MIXED
    else:
        palette = list(dict.fromkeys(colors))
        index = {c: i for i, c in enumerate(palette)}
        stops = [palette[0], palette[0]] if len(palette) == 1 else palette
        marker = dict(
            color=np.array([index[c] for c in colors], dtype=np.int32),
            colorscale=[[i / (len(stops) - 1), c] for i, c in enumerate(stops)],
            cmin=0,
            cmax=max(len(palette) - 1, 1),
        )
        line_color = palette[0] if len(palette) == 1 else LINE_COLOR_MIXED
    marker["size"] = 7 if n <= 100 else 4

    try:
        lines = trace_type(line=dict(color=line_color, width=1))
        markers = trace_type(marker=marker)
    except ValueError as err:
        raise ValueError(f"colors: plotly rejected a colour in this subplot: {err}") from err
    lines.update(
        x=_round_significant(lines_x, scale),
        y=_round_significant(lines_y, scale),
        mode="lines",
        hoverinfo="skip",
        showlegend=False,
        xaxis=axes[0],
        yaxis=axes[1],
    )
    markers.update(
        x=tips[0],
        y=tips[1],
        mode="markers",
        customdata=np.arange(n, dtype=np.int32),
        hovertemplate="vector %{customdata}<br>(%{x:.3f}, %{y:.3f})<extra></extra>",
        showlegend=False,
        xaxis=axes[0],
        yaxis=axes[1],
    )
    return [lines, markers]


def plot_features_in_2d(
    W: Float[Tensor, "inst 2 n"] | Float[Tensor, "2 n"] | Sequence[Float[Tensor, "2 _n"]],
    colors: ColorSpec = None,
    title: str | None = None,
    subplot_titles: Sequence[str] | None = None,
    allow_different_limits_across_subplots: bool = False,
    n_rows: int | None = None,
) -> go.Figure:
    """Draws 2-D vectors as lines from the origin with a marker at each tip, one subplot per matrix.

    Args:
        W: vectors to draw, as columns. A tensor of shape (inst, 2, n) gives `inst` subplots, a
            tensor of shape (2, n) gives one, and a list of (2, n_i) tensors gives one subplot per
            entry (the n_i may differ). Numpy arrays work too.
        colors: None (one default colour); a colour string for every vector; a list of n colour
            strings shared by all subplots (all n_i equal); a list with one entry per subplot,
            each a list of 1 colour (used for every vector) or n_i colours; or a tensor of values
            of shape (inst, n) or (n,), mapped through one colour scale with a single colour bar.
        title: title of the whole figure.
        subplot_titles: one title per subplot.
        allow_different_limits_across_subplots: if True, each subplot's axes reach about 1.1x its
            own longest vector; otherwise all subplots share the limit set by the longest vector.
        n_rows: number of rows; columns are ceil(count / n_rows), filled row by row, and rows
            left empty by that are dropped. By default up to 8 subplots go in one row.

    Returns:
        The plotly figure. In a notebook, leave it as the last expression of a cell to show it.
    """
    matrices = _split_vectors(W)
    count = len(matrices)
    sizes = [m.shape[1] for m in matrices]
    color_lists = _split_colors(colors, sizes)
    if subplot_titles is not None:
        if isinstance(subplot_titles, str) or len(subplot_titles) != count:
            raise ValueError(
                f"subplot_titles: expected a list of {count} titles (one per subplot), "
                f"got {subplot_titles!r:.80}"
            )
        subplot_titles = [str(t) for t in subplot_titles]
    rows, cols = _grid_shape(count, n_rows)

    norms = [float(np.linalg.norm(m, axis=0).max(initial=0.0)) for m in matrices]
    shared_limit = 1.1 * max(norms) or 1.0
    limits = [
        (1.1 * norm or 1.0) if allow_different_limits_across_subplots else shared_limit
        for norm in norms
    ]

    specs = [[{} if r * cols + c < count else None for c in range(cols)] for r in range(rows)]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        specs=specs,
        subplot_titles=subplot_titles,
        horizontal_spacing=0.15 / cols,
        vertical_spacing=0.25 / rows,
    )
    traces = []
    for i, (vectors, subplot_colors, limit) in enumerate(
        zip(matrices, color_lists, limits, strict=True)
    ):
        subplot = fig.get_subplot(i // cols + 1, i % cols + 1)
        x_anchor = subplot.xaxis.plotly_name.replace("axis", "")
        y_anchor = subplot.yaxis.plotly_name.replace("axis", "")
        axis_style = dict(range=[-limit, limit], zeroline=True, showgrid=False, nticks=5)
        subplot.xaxis.update(axis_style, constrain="domain")
        subplot.yaxis.update(axis_style, scaleanchor=x_anchor, scaleratio=1, constrain="domain")
        traces += _subplot_traces(vectors, subplot_colors, (x_anchor, y_anchor))
    fig.add_traces(traces)

    side = min(300, max(150, 1600 // cols))
    fig.update_layout(
        title=title,
        width=cols * side + 100,
        height=rows * side + (120 if title else 60),
        margin=dict(l=40, r=40, t=80 if title or subplot_titles else 30, b=30),
        plot_bgcolor="white",
    )
    if isinstance(color_lists[0], np.ndarray):
        values = np.concatenate(color_lists)
        fig.update_layout(
            coloraxis=dict(colorscale=COLORSCALE, cmin=values.min(), cmax=values.max())
        )
    return fig


# ------------------------------------------------------------------------------------------------
# Shared machinery for the checks
# ------------------------------------------------------------------------------------------------


def _require_callable(fn: Any) -> None:
    """Raises TypeError unless `fn` can be called."""
    if not callable(fn):
        raise TypeError(f"fn: expected the function to test (a callable), got {type(fn).__name__}")


def _copy(value: Any) -> Any:
    """A copy of a tensor argument (keeping its graph), so the check's own inputs stay intact."""
    return value.clone() if isinstance(value, Tensor) else value


def _call(check: str, fn: Callable, *args: Any, what: str, names: Sequence[str] = ()) -> Any:
    """Calls the student's function on copies of its inputs, turning failures into messages.

    Any exception becomes an AssertionError that says which case failed (`what`), with the
    original exception attached as the cause. A tensor input changed in place is named (from
    `names`, or by position): the check's inputs are copies, so its later cases are unaffected.
    """
    passed = [_copy(a) for a in args]
    try:
        result = fn(*passed)
    except NotImplementedError as err:
        raise AssertionError(
            f"{check}: your function raised NotImplementedError; implement it first."
        ) from err
    except Exception as err:
        raise AssertionError(
            f"{check}: your function raised {type(err).__name__} when called with {what}: {err}"
        ) from err
    for i, (original, copy) in enumerate(zip(args, passed, strict=True)):
        if isinstance(original, Tensor) and not _same_values(original, copy):
            name = f"`{names[i]}`" if i < len(names) else f"argument {i + 1}"
            raise AssertionError(
                f"{check}: your function modified its input {name} in place when called with "
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


def _as_float(check: str, value: Any, what: str) -> float:
    """Checks that a schedule returned a single real number and returns it as a float."""
    if value is None:
        raise AssertionError(f"{check}: your function returned None for {what}; missing return?")
    if isinstance(value, Tensor | np.ndarray):
        size = value.size if isinstance(value, np.ndarray) else value.numel()
        if size != 1:
            raise AssertionError(
                f"{check}: expected a single number for {what}, got shape {tuple(value.shape)}"
            )
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise AssertionError(
            f"{check}: expected a float for {what}, got {type(value).__name__} ({value!r:.60})"
        )
    value = float(value)
    if not math.isfinite(value):
        raise AssertionError(f"{check}: got {value} for {what}; check for a division by zero.")
    return value


def _as_tensor(
    check: str,
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
    if value is None:
        raise AssertionError(f"{check}: your function returned None for {what}; missing return?")
    if not isinstance(value, Tensor):
        raise AssertionError(
            f"{check}: expected a torch.Tensor for {what}, got {type(value).__name__}"
        )
    if tuple(value.shape) != shape:
        raise AssertionError(
            f"{check}: expected a tensor of shape {shape} for {what}, got shape "
            f"{tuple(value.shape)}. {shape_hint}".rstrip()
        )
    if dtype is not None and value.dtype != dtype:
        raise AssertionError(f"{check}: expected dtype {dtype} for {what}, got {value.dtype}")
    if not value.is_floating_point():
        raise AssertionError(f"{check}: expected a float tensor for {what}, got {value.dtype}")
    return value.detach().cpu().float()


def _fmt(x: Tensor) -> str:
    """A short printable form of a tensor's values (4 significant digits, at most 8 values)."""
    values = [float(f"{v:.4g}") for v in x.flatten()[:8].tolist()]
    more = ", ..." if x.numel() > 8 else ""
    return f"{values}{more}" if x.ndim else f"{x.item():.4g}"


def _compare(
    check: str,
    got: Tensor,
    expected: Tensor,
    what: str,
    alternatives: Sequence[tuple[Tensor, str]] = (),
    otherwise: str = "",
    atol: float = 1e-5,
) -> None:
    """Asserts `got` is close to the known answer; if not, names the first matching mistake.

    `alternatives` pairs the value a particular mistake would produce with a message naming it.
    """
    expected = torch.as_tensor(expected, dtype=got.dtype)
    if torch.allclose(got, expected, atol=atol, rtol=1e-4):
        return
    header = f"{check}: for {what}, expected {_fmt(expected)}, got {_fmt(got)}."
    for value, message in alternatives:
        value = torch.as_tensor(value, dtype=got.dtype)
        if value.shape == got.shape and torch.allclose(got, value, atol=atol, rtol=1e-4):
            raise AssertionError(f"{header} {message}")
    raise AssertionError(f"{header} {otherwise}".rstrip())


def _check_function(check: Callable[[Callable], None]) -> Callable[[Callable], None]:
    """Marks a check so that pytest doesn't collect it as a test when a test file imports it."""
    check.__test__ = False
    return check


def _passed(check: str) -> None:
    """Prints the one-line success message of a check."""
    print(f"All tests in `{check}` passed!")


# ------------------------------------------------------------------------------------------------
# Learning-rate schedules
# ------------------------------------------------------------------------------------------------

Schedule = Callable[..., float]
Mistake = tuple[str, Callable[..., float]]


def _half_cosine(progress: float) -> float:
    """Half-cosine multiplier: 1 at progress 0, 0.5 at 0.5, 0 at 1."""
    return 0.5 * (1 + math.cos(math.pi * progress))


def _check_schedule(
    check: str,
    fn: Schedule,
    cases: list[tuple[tuple, float]],
    mistakes: list[Mistake],
    describe: Callable[[tuple, float], tuple[int, str]],
) -> None:
    """Compares a schedule with known values at named steps and explains any mismatch.

    `cases` holds (arguments, expected value). If every observed value equals one of the
    `mistakes` (a message and the wrong formula, called with the same arguments), that message
    is used. Otherwise `describe(args, observed)` gives each mismatching case a (rank, message)
    for the property it breaks, and the lowest rank is reported.
    """
    observed = [_as_float(check, _call(check, fn, *a, what=f"{a}"), f"{a}") for a, _ in cases]
    wrong = [
        (args, value, expected)
        for (args, expected), value in zip(cases, observed, strict=True)
        if not math.isclose(value, expected, abs_tol=1e-6)
    ]
    if not wrong:
        return
    for message, formula in mistakes:
        if all(
            math.isclose(v, formula(*a), abs_tol=1e-6)
            for (a, _), v in zip(cases, observed, strict=True)
        ):
            args, value, expected = wrong[0]
            raise AssertionError(
                f"{check}: fn{args} returned {value:.6g}, expected {expected:.6g}. {message}"
            )
    floor = _floor_diagnosis(cases, observed)
    args, value, expected = min(wrong, key=lambda case: describe(case[0], case[1])[0])
    _, message = describe(args, value)
    raise AssertionError(
        f"{check}: fn{args} returned {value:.6g}, expected {expected:.6g}. {floor or message}"
    )


def _floor_diagnosis(cases: list[tuple[tuple, float]], observed: list[float]) -> str:
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
        math.isclose(v, e if v == e else floor + (1 - floor) * e, abs_tol=1e-6)
        for (_, e), v in zip(cases, observed, strict=True)
    ):
        return ""
    if floor > 1 - 1e-6:
        return "The multiplier never decays: after warmup it should fall all the way to 0."
    return (
        f"The schedule decays to a minimum of {floor:.3g} instead of all the way to 0: drop the "
        "minimum rate, so that step == steps gives exactly 0."
    )


@_check_function
def test_linear_warmup_lr(fn: Callable[[int, int], float]) -> None:
    """Checks `fn(step, steps)`: the linear warmup multiplier step / steps (0 at 0, 1 at steps)."""
    check = "test_linear_warmup_lr"
    _require_callable(fn)
    cases = [((s, steps), s / steps) for steps in (4, 10) for s in range(steps + 1)]
    cases += [((s, 2500), s / 2500) for s in (0, 1, 625, 1250, 1875, 2499, 2500)]
    mistakes: list[Mistake] = [
        ("Off by one: divide by steps, not steps - 1.", lambda s, n: s / (n - 1)),
        ("Off by one: use step / steps, not (step + 1) / steps.", lambda s, n: (s + 1) / n),
        ("Off by one: use step / steps, not step / (steps + 1).", lambda s, n: s / (n + 1)),
        (
            "This is the learning rate itself; return the multiplier of the peak rate, in [0, 1].",
            lambda s, n: 1e-3 * s / n,
        ),
        ("This decreases; warmup should rise from 0 to 1.", lambda s, n: 1 - s / n),
    ]

    def describe(args: tuple, value: float) -> tuple[int, str]:
        step, steps = args
        if value > 1 + 1e-6:
            return 0, "The multiplier must never exceed 1 (the peak learning rate)."
        if step == 0:
            return 1, "Warmup must start from exactly 0 at step 0."
        if step == steps:
            return 2, "Warmup must reach exactly 1 at step == steps."
        return 3, "Values between the ends must rise linearly: step / steps."

    _check_schedule(check, fn, cases, mistakes, describe)
    _passed(check)


@_check_function
def test_cosine_decay_lr(fn: Callable[[int, int], float]) -> None:
    """Checks `fn(step, steps)`: the half-cosine multiplier 0.5 * (1 + cos(pi * step / steps))."""
    check = "test_cosine_decay_lr"
    _require_callable(fn)
    cases = [((s, steps), _half_cosine(s / steps)) for steps in (4, 12) for s in range(steps + 1)]
    cases += [((s, 10_000), _half_cosine(s / 10_000)) for s in (0, 2500, 5000, 7500, 10_000)]
    mistakes: list[Mistake] = [
        (
            "This is a quarter cosine, cos(pi/2 * step/steps) (0.707 at the midpoint); use the "
            "half cosine 0.5 * (1 + cos(pi * step/steps)).",
            lambda s, n: math.cos(math.pi / 2 * s / n),
        ),
        (
            "This is the older course's quarter cosine cos(pi/2 * step/(steps - 1)); use the "
            "half cosine 0.5 * (1 + cos(pi * step/steps)).",
            lambda s, n: math.cos(math.pi / 2 * s / (n - 1)),
        ),
        (
            "Off by one: divide by steps, not steps - 1, so that step == steps gives exactly 0.",
            lambda s, n: _half_cosine(s / (n - 1)),
        ),
        (
            "Off by one: use step / steps, not (step + 1) / steps.",
            lambda s, n: _half_cosine((s + 1) / n),
        ),
        (
            "This is a linear decay; the schedule should follow a half cosine.",
            lambda s, n: 1 - s / n,
        ),
        (
            "This is cos(pi * step/steps), which goes down to -1; rescale it to "
            "0.5 * (1 + cos(...)) so it stays in [0, 1].",
            lambda s, n: math.cos(math.pi * s / n),
        ),
        (
            "This rises from 0 to 1; the decay should start at 1 and fall to 0 "
            "(0.5 * (1 + cos(...)), not 0.5 * (1 - cos(...))).",
            lambda s, n: 0.5 * (1 - math.cos(math.pi * s / n)),
        ),
    ]

    def describe(args: tuple, value: float) -> tuple[int, str]:
        step, steps = args
        if value < -1e-6 or value > 1 + 1e-6:
            return 0, "The multiplier must stay within [0, 1]."
        if step == 0:
            return 1, "The decay must start at exactly 1 (the peak rate) at step 0."
        if step == steps:
            return 2, "The multiplier must fall all the way to 0 at step == steps."
        if 2 * step == steps:
            return 3, "At the midpoint a half cosine gives exactly 0.5."
        return 4, "Between the ends the values should follow 0.5 * (1 + cos(pi * step / steps))."

    _check_schedule(check, fn, cases, mistakes, describe)
    _passed(check)


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


@_check_function
def test_warmup_cosine_lr(fn: Callable[..., float]) -> None:
    """Checks `fn(step, steps, warmup_steps=2500)`: linear warmup, then half-cosine decay to 0.

    The expected multiplier is step / warmup_steps for step < warmup_steps, and afterwards
    0.5 * (1 + cos(pi * (step - warmup_steps) / (steps - warmup_steps))).
    """
    check = "test_warmup_cosine_lr"
    _require_callable(fn)
    default_steps = (0, 1, 1250, 2499, 2500, 2501, 10_000, 26_250, 40_000, 49_999, 50_000)
    default_cases = [((s, 50_000), _paper_schedule(s, 50_000, 2500)) for s in default_steps]
    explicit_cases = []
    for steps, warmup in ((50_000, 2500), (1000, 100), (20, 4), (10_000, 5000)):
        named = {0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, (warmup + steps) // 2, steps}
        explicit_cases += [
            ((s, steps, warmup), _paper_schedule(s, steps, warmup)) for s in sorted(named)
        ]
    mistakes: list[Mistake] = [
        (
            "The cosine seems to be measured from step 0; measure it from the end of warmup: "
            "progress = (step - warmup_steps) / (steps - warmup_steps).",
            lambda s, n, w=2500: s / w if s < w else _half_cosine(s / n),
        ),
        (
            "The cosine's progress is divided by steps; divide by the length of the decay: "
            "progress = (step - warmup_steps) / (steps - warmup_steps).",
            lambda s, n, w=2500: s / w if s < w else _half_cosine((s - w) / n),
        ),
        (
            "Your function ignores its warmup_steps argument (it behaves as if it were 2500).",
            lambda s, n, w=2500: _paper_schedule(s, n, 2500),
        ),
        (
            "The decay is a quarter cosine cos(pi/2 * progress); use the half cosine "
            "0.5 * (1 + cos(pi * progress)).",
            lambda s, n, w=2500: s / w if s < w else math.cos(math.pi / 2 * (s - w) / (n - w)),
        ),
        (
            "The decay is the older course's quarter cosine cos(pi/2 * (step - warmup_steps) / "
            "(steps - warmup_steps - 1)), which dips below 0 at the last step; use the half "
            "cosine 0.5 * (1 + cos(pi * progress)) with progress = (step - warmup_steps) / "
            "(steps - warmup_steps).",
            _older_course_schedule,
        ),
        (
            "Off by one in the warmup: use step / warmup_steps, not (step + 1) / warmup_steps.",
            lambda s, n, w=2500: (s + 1) / w if s < w else _paper_schedule(s, n, w),
        ),
        (
            "Off by one in the decay: divide by (steps - warmup_steps), not one less.",
            lambda s, n, w=2500: s / w if s < w else _half_cosine((s - w) / (n - 1 - w)),
        ),
        (
            "There is no warmup: the multiplier should rise linearly from 0 over warmup_steps.",
            lambda s, n, w=2500: _half_cosine(s / n),
        ),
        (
            "The decay after warmup is linear; it should follow a half cosine.",
            lambda s, n, w=2500: s / w if s < w else 1 - (s - w) / (n - w),
        ),
    ]

    def describe(args: tuple, value: float) -> tuple[int, str]:
        step, steps, warmup = (*args, 2500)[:3]
        if value < -1e-6 or value > 1 + 1e-6:
            return 0, "The multiplier must stay within [0, 1]."
        if step == 0:
            return 1, "Warmup must start from exactly 0 at step 0."
        if step == steps:
            return 2, "The multiplier must fall all the way to 0 at step == steps."
        if step < warmup:
            return 3, "During warmup the multiplier should be step / warmup_steps."
        if step in (warmup, warmup + 1):
            return 4, (
                "The schedule should be continuous at the end of warmup, reaching the peak "
                "(1.0) at step == warmup_steps and decaying from there."
            )
        return 5, (
            "After warmup the multiplier should be "
            "0.5 * (1 + cos(pi * (step - warmup_steps) / (steps - warmup_steps)))."
        )

    explicit_ok = all(
        math.isclose(
            _as_float(check, _call(check, fn, *a, what=f"{a}"), f"{a}"), expected, abs_tol=1e-6
        )
        for a, expected in explicit_cases
    )
    default_ok = all(
        math.isclose(
            _as_float(check, _call(check, fn, *a, what=f"{a}"), f"{a}"), expected, abs_tol=1e-6
        )
        for a, expected in default_cases
    )
    if explicit_ok and not default_ok:
        raise AssertionError(
            f"{check}: correct when warmup_steps is passed, but wrong with the default; "
            "the default warmup_steps should be 2500 (the paper's value)."
        )
    _check_schedule(check, fn, explicit_cases + default_cases, mistakes, describe)
    _passed(check)


# ------------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------------


def _generated(
    check: str, fn: Callable, batch: int, inst: int, feats: int, p: float
) -> Float[Tensor, "batch inst feats"]:
    """Calls a batch generator and checks its output's type, shape, dtype and finiteness."""
    what = f"(batch_size={batch}, n_inst={inst}, n_features={feats}, feature_probability={p})"
    x = _as_tensor(
        check,
        _call(check, fn, batch, inst, feats, p, what=what),
        (batch, inst, feats),
        what,
        "The dimensions should be (batch, inst, feats).",
        dtype=torch.float32,
    )
    if torch.isnan(x).any() or torch.isinf(x).any():
        raise AssertionError(
            f"{check}: NaN or infinite values for {what}. All-zero datapoints must stay exactly "
            "zero: don't divide by their zero norm (e.g. divide by norm.clamp(min=1e-12)), and "
            "normalise over the feature dimension (dim=-1)."
        )
    if (x < 0).any():
        raise AssertionError(
            f"{check}: negative values for {what}. Present features take values uniform on "
            "[0, 1) (torch.rand), not torch.randn."
        )
    return x


def _check_feature_probability(check: str, x: Tensor, p: float) -> None:
    """Checks that the fraction of nonzero features is close to the probability p."""
    frac = (x != 0).float().mean().item()
    tol = 6 * math.sqrt(p * (1 - p) / x.numel()) + 1e-3
    if abs(frac - p) <= tol:
        return
    hint = (
        "It looks like feature_probability was used as the probability that a feature is "
        "ABSENT (a sparsity); it is the probability that a feature is present."
        if abs(frac - (1 - p)) <= tol
        else "Each feature should be present independently with probability feature_probability."
    )
    raise AssertionError(
        f"{check}: with feature_probability={p}, {frac:.3f} of the features are nonzero. {hint}"
    )


def _check_unit_norms(check: str, x: Tensor, lone: Tensor) -> None:
    """Checks each (datapoint, instance) vector has unit norm over features or is all zero.

    A mismatch is explained only by a cause verified on the data: `x` itself (sums, maxima,
    the norm against the count of present features) and `lone`, a batch with one feature, whose
    present values are exactly 1 for any correct normalisation and reveal the rest (raw uniform
    values, or u / (u + eps)).
    """
    norms = einops.reduce(x**2, "batch inst feats -> batch inst", "sum").sqrt()
    present = norms > 0
    bad = (norms[present] - 1).abs() > 1e-4
    if not present.any() or bad.float().mean() <= 0.01:
        return
    nonzero_norms = norms[present]
    header = (
        f"{check}: each datapoint should have unit L2 norm over its features (or be all zero), "
        f"but {bad.float().mean():.0%} of nonzero datapoints don't (norms from "
        f"{nonzero_norms.min():.3f} to {nonzero_norms.max():.3f})."
    )
    for dim, name in ((0, "batch"), (1, "instance")):
        other = x.norm(dim=dim)
        if ((other[other > 0] - 1).abs() < 1e-4).all():
            raise AssertionError(
                f"{header} You normalised over the {name} dimension; normalise over the feature "
                "dimension (dim=-1)."
            )
    rows = x[present]
    if ((rows.sum(-1) - 1).abs() < 1e-4).all():
        raise AssertionError(
            f"{header} Each datapoint's values sum to 1: you divided by the sum (the L1 norm); "
            "divide by the L2 norm, x.norm(dim=-1)."
        )
    if ((rows.max(-1).values - 1).abs() < 1e-4).all():
        raise AssertionError(
            f"{header} Each datapoint's largest value is 1: you divided by the maximum; divide "
            "by the L2 norm, x.norm(dim=-1)."
        )
    raise AssertionError(f"{header} {_unit_norm_cause(x, lone)}".rstrip())


def _unit_norm_cause(x: Tensor, lone: Tensor) -> str:
    """The verified cause of non-unit norms, or a neutral statement of what to do."""
    values = lone[lone > 0].double()
    grid = (0.25, 0.5, 0.75)
    if len(values) >= 100 and all(abs((values <= t).double().mean() - t) < 0.08 for t in grid):
        return (
            "A datapoint with one present feature keeps its raw value (uniform on [0, 1)) "
            "instead of becoming 1: divide each datapoint by its L2 norm."
        )
    if len(values) >= 100 and (values < 1 - 1e-6).all():
        ratio = values / (1 - values)
        eps = 1 / ratio.max().item()
        if all(abs((ratio * eps <= t).double().mean().item() - t) < 0.08 for t in grid):
            return (
                f"A datapoint with one present feature u becomes u / (u + {eps:.2g}) instead of 1: "
                "the epsilon added to the norm is too large. Guard the division differently "
                "(e.g. norm.clamp(min=1e-12))."
            )
    count = (x > 0).sum(-1).double()
    norms_squared = x.double().pow(2).sum(-1)
    share = (count / x.shape[-1])[count > 0].mean()
    if abs(norms_squared[count > 0].mean() / share - 1) < 0.15 and share < 0.9:
        return (
            "The squared norms average the share of present features: it looks like you "
            "normalised before zeroing the absent features. Zero them first, then divide."
        )
    return "Divide each datapoint by its own L2 norm over the features, after zeroing absent ones."


def _check_uniform_magnitudes(check: str, x: Tensor) -> None:
    """Checks present values are uniform before normalisation.

    For two independent U(0, 1) values the ratio min / max is again U(0, 1), and normalising a
    datapoint doesn't change ratios. So in datapoints with exactly two present features the
    ratio's empirical CDF must be close to the identity.
    """
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    pairs = rows[(rows > 0).sum(-1) == 2]
    pairs = einops.rearrange(pairs[pairs > 0], "(row two) -> row two", two=2)
    ratio = pairs.min(-1).values / pairs.max(-1).values
    grid = torch.linspace(0.1, 0.9, 9)
    cdf = (ratio[:, None] <= grid).float().mean(0)
    if (cdf - grid).abs().max() <= 0.06:
        return
    raise AssertionError(
        f"{check}: the values of present features don't look uniform on [0, 1) before "
        f"normalisation (fraction of ratios min/max <= 0.5 is {cdf[4]:.2f}, expected 0.50). Use "
        "torch.rand for the values, not randn, abs(randn) or a transformed uniform."
    )


def _check_identical_instances(check: str, x: Tensor) -> None:
    """Rejects data copied from one instance to the others."""
    for i in range(1, x.shape[1]):
        if torch.equal(x[:, 0], x[:, i]):
            raise AssertionError(
                f"{check}: instances 0 and {i} got exactly the same data; each instance needs "
                "its own independent datapoints (generate a (batch, inst, feats) tensor)."
            )


def _check_not_binary(check: str, x: Tensor) -> None:
    """Rejects 0/1 features: every present feature of every datapoint has the same value."""
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    rows = rows[(rows > 0).sum(-1) >= 2]
    top = rows.max(-1, keepdim=True).values
    if len(rows) and ((rows == 0) | ((rows - top).abs() < 1e-6)).all():
        raise AssertionError(
            f"{check}: all present features in a datapoint have equal values. Present features "
            "should take values uniform on [0, 1) (torch.rand), not 0/1 (Bernoulli)."
        )


def _check_distinct_rows(check: str, x: Tensor) -> None:
    """Rejects repeated datapoints, within or across instances, naming the first repeat.

    Only datapoints with at least three present features count: those repeat with probability
    ~0. A lone feature always normalises to exactly 1, and two present features repeat whenever
    two float32 draws happen to be proportional (about one run in 30 over 2000 pairs).
    """
    batch, inst, _ = x.shape
    rows = einops.rearrange(x, "batch inst feats -> (batch inst) feats")
    index = torch.nonzero((rows > 0).sum(-1) >= 3)[:, 0]
    _, inverse, counts = torch.unique(rows[index], dim=0, return_inverse=True, return_counts=True)
    if len(counts) == len(index):
        return
    group = int(torch.nonzero(counts > 1)[0])
    first, second = (divmod(int(i), inst) for i in index[inverse == group][:2])
    where = (
        f"datapoint {first[0]} is identical in instances {first[1]} and {second[1]}: the "
        "instances share their values"
        if first[0] == second[0]
        else f"datapoints {first[0]} and {second[0]} of instance {first[1]} are identical"
    )
    raise AssertionError(
        f"{check}: only {len(counts)} distinct datapoints among {len(index)} (counting those "
        f"with at least three present features, which should never repeat); {where}. Draw every "
        "datapoint of every instance independently: the presence mask AND the values need "
        "the full (batch, inst, feats) shape."
    )


def _check_presence_counts(check: str, x: Tensor, p: float) -> None:
    """Checks that each feature gets its own presence coin, from the spread of present counts.

    With one coin per feature the count of present features per datapoint is Binomial(n, p),
    variance n p (1 - p). One coin per datapoint (all or nothing) makes it n times larger; a
    fixed number of features per datapoint makes it 0.
    """
    counts = (x > 0).sum(-1).float()
    ratio = counts.var().item() / (x.shape[-1] * p * (1 - p))
    if ratio > 2:
        raise AssertionError(
            f"{check}: the number of present features per datapoint varies {ratio:.0f}x more "
            "than independent features allow: the features of a datapoint seem to be present "
            "all together or not at all. Draw one presence coin per feature, i.e. a mask of "
            "shape (batch, inst, feats), not one coin per datapoint."
        )
    if ratio < 0.5:
        raise AssertionError(
            f"{check}: the number of present features per datapoint hardly varies (variance "
            f"{ratio:.2f}x that of independent features): each feature should be present "
            "independently with probability feature_probability, not a fixed number per datapoint."
        )


def _correlation(a: Tensor, b: Tensor) -> float:
    """Pearson correlation of two samples of equal size (0 when either is constant)."""
    a, b = a.double().flatten(), b.double().flatten()
    a, b = a - a.mean(), b - b.mean()
    scale = (a.norm() * b.norm()).item()
    return (a @ b).item() / scale if scale > 0 else 0.0


CORRELATION_Z = 6.0
"""Correlations beyond CORRELATION_Z / sqrt(n) count as dependence (normal tail about 2e-9)."""


def _check_uncorrelated(check: str, a: Tensor, b: Tensor, what: str, advice: str) -> None:
    """Fails if the presence masks, or the values where both are present, are correlated.

    Values are compared only with at least 1000 pairs: sparse data puts a point mass at 1 (lone
    features), and with fewer pairs the correlation's tail is far heavier than a normal's.
    """
    both = (a > 0) & (b > 0)
    samples = [("presence", (a > 0).float(), (b > 0).float())]
    if both.sum() >= 1000:
        samples.append(("values", a[both], b[both]))
    for kind, u, v in samples:
        corr = _correlation(u, v)
        if abs(corr) > CORRELATION_Z / math.sqrt(u.numel()):
            shared = "the same features present" if kind == "presence" else "related values"
            raise AssertionError(
                f"{check}: {what} have {shared} far more often than chance (correlation of "
                f"{kind} {corr:.2f} over {u.numel()} samples, expected about 0). {advice}"
            )


def _check_independence(check: str, x: Tensor) -> None:
    """Checks masks and values are uncorrelated across datapoints, then across instances."""
    advice = (
        "Draw the presence mask AND the values independently per {}: both torch.rand calls "
        "need the full (batch, inst, feats) shape."
    )
    _check_uncorrelated(check, x[:-1], x[1:], "consecutive datapoints", advice.format("datapoint"))
    for i in range(1, x.shape[1]):
        _check_uncorrelated(
            check, x[:, 0], x[:, i], f"instances 0 and {i}", advice.format("instance")
        )


@_check_function
def test_generate_batch(fn: Callable[[int, int, int, float], Tensor]) -> None:
    """Checks `fn(batch_size, n_inst, n_features, feature_probability)` -> (batch, inst, feats).

    Data: each feature is present with probability p, with a value uniform on [0, 1); each
    (datapoint, instance) vector is then scaled to unit L2 norm, and all-zero ones stay zero.
    Every feature, datapoint and instance is drawn independently.
    """
    _require_callable(fn)
    with torch.random.fork_rng(devices=[]):
        _check_generate_batch(fn, seed=0)
    _passed("test_generate_batch")


def _check_generate_batch(fn: Callable[[int, int, int, float], Tensor], seed: int) -> None:
    """The body of `test_generate_batch`, with the global seed it sets first."""
    check = "test_generate_batch"
    torch.manual_seed(seed)
    sparse = _generated(check, fn, 4000, 4, 3, 0.05)
    pairs = _generated(check, fn, 4000, 2, 2, 0.5)
    single = _generated(check, fn, 500, 3, 1, 0.5)
    dense = _generated(check, fn, 500, 3, 20, 0.3)
    _check_identical_instances(check, dense)
    _check_not_binary(check, dense)
    for x in (sparse, pairs, single, dense):
        _check_unit_norms(check, x, single)
    _check_distinct_rows(check, dense)
    for x in (sparse, pairs, dense):
        _check_independence(check, x)
    _check_presence_counts(check, dense, 0.3)
    _check_feature_probability(check, sparse, 0.05)
    _check_feature_probability(check, dense, 0.3)
    _check_uniform_magnitudes(check, pairs)


# ------------------------------------------------------------------------------------------------
# Dimensionality
# ------------------------------------------------------------------------------------------------


def _polygon(k: int, radius: float = 1.0, phase: float = 0.0) -> Float[Tensor, "k 2"]:
    """Vertices of a regular k-gon of the given radius, rotated by `phase` radians."""
    angles = phase + 2 * math.pi * torch.arange(k, dtype=torch.float64) / k
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=-1)).float()


def _dimensionalities(check: str, fn: Callable, data: Tensor, what: str) -> Tensor:
    """Calls the student's dimensionality function and checks the output's shape and values."""
    out = _as_tensor(
        check,
        _call(check, fn, data, what=what, names=("data",)),
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
        raise AssertionError(f"{check}: got NaN or infinite values for {what}. {hint}")
    return out


DimensionalityCase = tuple[str, Tensor, Tensor, list[tuple[Tensor, str]], str]
"""(description, vectors, expected D, [(a mistake's D, message naming it)], fallback hint)."""

RECIPROCAL = "You returned the reciprocal: D_i = ||v_i||^2 / sum_j (v_hat_i . v_j)^2."
UNIT_V_I = "Not scale-invariant: use the unit vector v_hat_i in the dot products."
ONLY_V_I = "Only v_i is normalised in the dot products, not v_j."
SQUARED_NORM = "The numerator is ||v_i||^2 (squared)."
SQUARE_DOTS = "Square the dot products instead of taking their absolute values."
ALL_J = "The denominator sums (v_hat_i . v_j)^2 over ALL vectors j."


def _dimensionality_cases() -> list[DimensionalityCase]:
    """Hand-made inputs with known dimensionalities, and the values known mistakes give."""
    single = torch.tensor([[0.6, -1.2]])
    n2 = (single**2).sum().item()
    orthogonal = torch.tensor([[2.0, 0.0], [0.0, 0.5]]) @ torch.tensor([[0.8, 0.6], [-0.6, 0.8]])
    cases: list[DimensionalityCase] = [
        (
            "a single vector",
            single,
            torch.ones(1),
            [
                (torch.tensor([1 / n2]), "Use the unit vector v_hat_i in the dot products."),
                (torch.tensor([n2]), ONLY_V_I),
                (torch.tensor([n2**-0.5]), SQUARED_NORM),
                (torch.tensor([n2**0.5]), SQUARE_DOTS),
            ],
            "A lone vector has D = 1.",
        ),
        (
            "two orthogonal vectors of norms 2 and 0.5",
            orthogonal,
            torch.ones(2),
            [
                (torch.tensor([0.25, 4.0]), "Use the unit vector v_hat_i in the dot products."),
                (torch.tensor([4.0, 0.25]), ONLY_V_I),
                (torch.tensor([0.5, 2.0]), SQUARED_NORM),
                (torch.tensor([2.0, 0.5]), SQUARE_DOTS),
            ],
            "Orthogonal vectors don't interfere, so each has D = 1.",
        ),
        (
            "three orthogonal vectors in 3 dimensions",
            torch.diag(torch.tensor([1.0, 2.0, 3.0])),
            torch.ones(3),
            [],
            "Don't assume 2 hidden dimensions: the last dimension can have any size.",
        ),
        (
            "two antipodal vectors v and -v",
            torch.tensor([[1.0, 2.0], [-1.0, -2.0]]),
            torch.full((2,), 0.5),
            [
                (torch.zeros(2), "Square the dot products (v_hat_i . v_j), so signs don't cancel."),
                (torch.full((2,), 2.0), RECIPROCAL),
                (torch.ones(2), ALL_J),
            ],
            "Each of v and -v shares its direction with the other, so each gets 1/2.",
        ),
    ]
    radius = 3.0
    for k in (3, 5, 8):
        abs_sum = _polygon(k).matmul(torch.tensor([1.0, 0.0])).abs().sum().item()
        cases.append(
            (
                f"a regular {k}-gon of radius {radius}",
                _polygon(k, radius, phase=0.3),
                torch.full((k,), 2 / k),
                [
                    (torch.full((k,), 2 / (k - 2)), "The sum over j must include j = i."),
                    (torch.full((k,), k / 2), RECIPROCAL),
                    (torch.ones(k), ALL_J),
                    (torch.full((k,), 2 / (k * radius**2)), UNIT_V_I),
                    (torch.full((k,), 2 * radius**2 / k), ONLY_V_I),
                    (torch.full((k,), 2 / (k * radius)), SQUARED_NORM),
                    (torch.full((k,), radius / abs_sum), SQUARE_DOTS),
                ],
                f"k vectors spread evenly round a circle in 2 dimensions each get 2/k = "
                f"{2 / k:.4g}.",
            )
        )
    cases.append(
        (
            "the vectors (2, 0) and (1, 1)",
            torch.tensor([[2.0, 0.0], [1.0, 1.0]]),
            torch.tensor([0.8, 0.5]),
            [
                (
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


@_check_function
def test_dimensionality(fn: Callable[[Tensor], Tensor]) -> None:
    """Checks `fn(data)`: (..., batch, d_hidden) -> (..., batch), the paper's dimensionality.

    D_i = ||v_i||^2 / sum_j (v_hat_i . v_j)^2, where the sum includes j = i and v_hat_i is the
    unit vector along v_i; a zero vector gets 0.
    """
    check = "test_dimensionality"
    _require_callable(fn)
    for what, data, expected, mistakes, hint in _dimensionality_cases():
        out = _dimensionalities(check, fn, data, what)
        _compare(check, out, expected, what, mistakes, hint)

    random_set = torch.tensor([[0.3, 1.1], [-0.7, 0.2], [0.5, -0.4], [1.3, 0.9], [-0.1, -0.8]])
    reference = _dimensionalities(check, fn, random_set, "five vectors")
    if ((reference < -1e-6) | (reference > 1 + 1e-6)).any():
        raise AssertionError(
            f"{check}: dimensionalities must lie in [0, 1], got {_fmt(reference)} for five vectors."
        )
    for scale in (10.0, 0.01):
        out = _dimensionalities(check, fn, scale * random_set, f"five vectors scaled by {scale}")
        if not torch.allclose(out, reference, atol=1e-4, rtol=1e-3):
            raise AssertionError(
                f"{check}: scaling every vector by {scale} changed the result from "
                f"{_fmt(reference)} to {_fmt(out)}. Dimensionality is scale-invariant: normalise "
                "v_i (v_hat_i) in the dot products, but not v_j."
            )

    with_zero = torch.cat([_polygon(5, 2.0)[:2], torch.zeros(1, 2), _polygon(5, 2.0)[2:]])
    what = "a regular pentagon plus a zero vector (third)"
    out = _dimensionalities(check, fn, with_zero, what)
    _compare(
        check,
        out,
        torch.tensor([0.4, 0.4, 0.0, 0.4, 0.4, 0.4]),
        what,
        otherwise="A zero vector gets 0 and adds nothing to the other vectors' denominators.",
    )

    angles = torch.tensor([0.1, 0.2, 0.3, 0.8, 0.9, 1.1, 1.2, 1.3]) * math.pi
    tiny = 1e-3 * torch.stack([angles.cos(), angles.sin()], dim=-1)
    big_and_tiny = torch.cat([torch.tensor([[1.0, 0.0]]), tiny])
    out = _dimensionalities(check, fn, big_and_tiny, "one unit vector and 8 tiny ones")
    if abs(out[0] - 1) > 1e-4 or (out[1:] > 1e-4).any():
        raise AssertionError(
            f"{check}: for one unit vector plus 8 vectors of norm 1e-3, expected about 1 for the "
            f"big vector and about 0 for the tiny ones, got {_fmt(out)}. Tiny vectors hardly "
            "interfere with the big one, but the big one dominates their denominators."
        )

    union = torch.cat([_polygon(3, 1.0, 0.2), _polygon(4, 2.0, 1.0)])
    what = "a triangle of radius 1 together with a square of radius 2"
    out = _dimensionalities(check, fn, union, what)
    expected = torch.tensor([1.0] * 3 + [4.0] * 4) / 9.5
    _compare(
        check,
        out,
        expected,
        what,
        otherwise="Both shapes are isotropic, so the denominator is 9.5 for every vector and "
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
    what = "a tensor of shape (4, 3, 10, 2) holding a different polygon in each (10, 2) slice"
    out = _dimensionalities(check, fn, lead, what)
    _compare(
        check,
        out,
        expected,
        what,
        otherwise="Each slice along the leading dimensions is a separate set of vectors: "
        "compare vectors only within their own slice (e.g. einsum '... i d, ... j d -> ... i j').",
    )
    _passed(check)


# ------------------------------------------------------------------------------------------------
# Losses
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


def _loss_output(
    check: str, value: Any, batch: int, inst: int, feats: int, what: str
) -> Float[Tensor, " inst"]:
    """Checks that a loss function returned a float tensor of shape (inst,)."""
    if isinstance(value, Tensor) and tuple(value.shape) != (inst,):
        raise AssertionError(
            f"{check}: expected a tensor of shape (inst,) = ({inst},) for {what}, got shape "
            f"{tuple(value.shape)}. {_loss_shape_hint(tuple(value.shape), batch, inst, feats)}"
        )
    out = _as_tensor(check, value, (inst,), what)
    if not torch.isfinite(out).all():
        raise AssertionError(f"{check}: got NaN or infinite losses for {what}: {_fmt(out)}.")
    return out


def _unit_rows(batch: int, inst: int, feats: int, seed: int) -> Float[Tensor, "batch inst feats"]:
    """Non-negative data whose rows (over features) have unit norm."""
    x = torch.rand(batch, inst, feats, generator=torch.Generator().manual_seed(seed))
    return x / x.norm(dim=-1, keepdim=True)


@_check_function
def test_calculate_loss(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks `fn(out, batch)`: both (batch, inst, feats) -> per-instance loss of shape (inst,).

    The loss of an instance is the mean over datapoints of the sum over features of
    (batch - out)^2 (all importances 1), so predicting zeros on unit-norm data gives 1.
    """
    check = "test_calculate_loss"
    _require_callable(fn)

    def loss(out: Tensor, batch: Tensor, what: str) -> Tensor:
        value = _call(check, fn, out, batch, what=what, names=("out", "batch"))
        return _loss_output(check, value, *batch.shape, what)

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
    what = "a hand-made example with batch=3, inst=2, feats=4"
    expected = torch.tensor([1.25, 0.5]) / 3
    _compare(
        check,
        loss(out, batch, what),
        expected,
        what,
        [
            (expected / 4, "You averaged over features too; sum over features instead."),
            (expected * 3, "You summed over datapoints; take the mean over the batch instead."),
            (torch.tensor([1.9, 0.0]) / 3, "Square the differences (batch - out)."),
            (torch.tensor([1.9, 1.0]) / 3, "Square the differences instead of taking abs."),
            (torch.tensor([1.5, 1.0]) / 3, "Don't take the square root (this is not an RMSE)."),
            (expected.mean().expand(2), "Keep instances separate; don't average over them."),
        ],
        "By hand: instance 0 has errors 0.25, 1 and 0 over its 3 datapoints, instance 1 has "
        "0, 0.25 and 0.25.",
    )

    data = _unit_rows(64, 5, 7, seed=1)
    what = "an all-zero output on unit-norm data (batch=64, inst=5, feats=7)"
    _compare(
        check,
        loss(torch.zeros_like(data), data, what),
        torch.ones(5),
        what,
        [
            (torch.full((5,), 1 / 7), "You averaged over features too; sum over features."),
            (torch.full((5,), 64.0), "You summed over datapoints; take the mean instead."),
        ],
        "Each unit-norm datapoint contributes a squared error of exactly 1.",
    )
    what = "a perfect output (out == batch)"
    _compare(check, loss(data.clone(), data, what), torch.zeros(5), what)

    shrink = torch.tensor([0.0, 0.25, 0.5, 0.75, 1.0])
    what = "outputs scaled by (1 - c) per instance, c = [0, 0.25, 0.5, 0.75, 1]"
    _compare(
        check,
        loss(data * (1 - shrink[:, None]), data, what),
        shrink**2,
        what,
        [(torch.full((5,), (shrink**2).mean().item()), "Keep instances separate.")],
        "Instance i's output is (1 - c_i) * batch on unit-norm data, so its loss is c_i^2: "
        "keep the instance dimension and reduce only over datapoints and features.",
    )
    with torch.enable_grad():
        _check_loss_gradient(check, fn)
    _passed(check)


def _check_loss_gradient(check: str, fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks the loss on mixed-sign inputs, and that its gradient reaches `out` intact.

    `out` is a non-leaf tensor that requires grad, like a model's output during training. The
    gradient of loss.sum() with respect to out is 2 (out - batch) / n_batch.
    """
    generator = torch.Generator().manual_seed(4)
    batch = torch.randn(5, 3, 4, generator=generator)
    leaf = torch.randn(5, 3, 4, generator=generator).requires_grad_()
    out = leaf * 1.0
    what = "mixed-sign out and batch (batch=5, inst=3, feats=4), out requiring grad"
    value = _call(check, fn, out, batch, what=what, names=("out", "batch"))
    expected = (batch - leaf.detach()).double().pow(2).sum(-1).mean(0).float()
    _compare(
        check,
        _loss_output(check, value, *batch.shape, what),
        expected,
        what,
        otherwise="The loss must hold for any signs: (batch - out)^2, with no abs, clamp or ReLU.",
    )
    if not value.requires_grad or value.grad_fn is None:
        raise AssertionError(
            f"{check}: the loss is detached from the graph, so no gradient can flow back to "
            "`out` and training would fail at backward(). Don't use .detach(), .item(), "
            ".numpy(), .data or torch.no_grad() inside the loss."
        )
    value.sum().backward()
    expected_grad = 2 * (leaf.detach() - batch) / batch.shape[0]
    if leaf.grad is None or not torch.allclose(leaf.grad, expected_grad, atol=1e-5):
        raise AssertionError(
            f"{check}: the loss has the right values but the wrong gradient with respect to "
            "`out` (expected 2 (out - batch) / n_batch): part of the computation is detached "
            "from the graph. Compute it from `out` with ordinary differentiable operations."
        )


@_check_function
def test_evaluate_test_loss(fn: Callable[..., Tensor]) -> None:
    """Checks `fn(W, b, test_batch, chunk_size=1000)` -> (inst,): every instance's test loss.

    W is (inst, d_hidden, feats), b is (inst, feats) and test_batch is (batch, feats), shared by
    all instances. Each instance computes out = ReLU(W^T (W x) + b), and the loss is the mean
    over all test datapoints of sum over features of (x - out)^2, whatever the chunk size.
    """
    check = "test_evaluate_test_loss"
    _require_callable(fn)

    def loss(W: Tensor, b: Tensor, data: Tensor, what: str, *chunk: int) -> Tensor:
        value = _call(check, fn, W, b, data, *chunk, what=what, names=("W", "b", "test_batch"))
        return _loss_output(check, value, data.shape[0], W.shape[0], W.shape[-1], what)

    W = torch.stack([torch.tensor([[1.0, 0.5], [0.0, 1.0]]), torch.eye(2)])
    data = torch.tensor([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    what = (
        "W = [[1, 0.5], [0, 1]] and W = identity (d_hidden = feats = 2), b = 0, "
        "on the datapoints (1, 0), (0.6, 0.8) and (0, 1)"
    )

    def first(value: float) -> Tensor:
        return torch.tensor([value, 0.0])

    _compare(
        check,
        loss(W, torch.zeros(2, 2), data, what),
        first(0.9725 / 3),
        what,
        [
            (first(1.64 / 3), "Decode with W^T (tied weights), not with W: out = W^T h."),
            (first(0.955 / 3), "Encode with h = W x and decode with W^T, not the reverse."),
            (first(0.9725 / 6), "You averaged over features too; sum over features."),
            (first(0.9725), "Take the mean over datapoints, not the sum."),
            (torch.full((2,), 0.9725 / 3), "Use each instance's own W and b."),
        ],
        "By hand: W^T W maps (1, 0), (0.6, 0.8) and (0, 1) to (1, 0.5), (1, 1.3) and "
        "(0.5, 1.25): squared errors 0.25, 0.41 and 0.3125. The identity reconstructs all three.",
    )

    data = _unit_rows(50, 1, 6, seed=2)[:, 0]
    what = "W = 0 and b = 0 on 50 unit-norm datapoints (3 instances)"
    _compare(
        check,
        loss(torch.zeros(3, 2, 6), torch.zeros(3, 6), data, what),
        torch.ones(3),
        what,
        [
            (torch.full((3,), 1 / 6), "You averaged over features too; sum over features."),
            (torch.full((3,), 50.0), "You summed over datapoints; take the mean instead."),
        ],
        "A model that outputs zeros has loss exactly 1 on unit-norm data.",
    )

    identity = einops.repeat(torch.eye(2), "d f -> inst d f", inst=2)
    data = _unit_rows(100, 1, 2, seed=3)[:, 0]
    what = "W = identity (d_hidden = feats = 2) and b = 0 on non-negative data"
    _compare(
        check,
        loss(identity, torch.zeros(2, 2), data, what),
        torch.zeros(2),
        what,
        otherwise="With W = I the model reconstructs non-negative data exactly.",
    )

    data = torch.tensor(
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.6, 0.8, 0.0], [0.0, 0.0, 0.0]]
    )
    W = torch.zeros(3, 2, 3)
    W[1, :, :2] = torch.eye(2)
    b = torch.zeros(3, 3)
    b[2] = torch.tensor([-0.5, 0.5, 0.0])
    what = (
        "3 instances on 5 datapoints: zeros; W projecting onto the first two features; "
        "bias-only b = (-0.5, 0.5, 0)"
    )
    _compare(
        check,
        loss(W, b, data, what),
        torch.tensor([4.0, 1.0, 3.45]) / 5,
        what,
        [
            (torch.tensor([4.0, 1.0, 6.3]) / 5, "Apply the ReLU to W^T (W x) + b."),
            (torch.tensor([4.0, 1.0, 4.0]) / 5, "Add the bias b before the ReLU."),
            (torch.tensor([4.0, 4.0, 4.0]) / 5, "Use each instance's own W and b."),
            (torch.tensor([4.0, 1.0, 3.45]) / 15, "You averaged over features too."),
            (torch.tensor([4.0, 1.0, 3.45]), "Take the mean over datapoints, not the sum."),
            (torch.tensor([4.0, 1.0, 3.1]) / 5, "The output nonlinearity is ReLU, not abs."),
        ],
        "By hand: summed squared errors over the 5 datapoints are 4, 1 and 3.45.",
    )

    W = torch.zeros(2, 2, 2)
    W[0, 0, 0] = W[1, 1, 1] = 1.0
    data = torch.cat(
        [torch.tensor([1.0, 0.0]).expand(1000, 2), torch.tensor([0.0, 1.0]).expand(50, 2)]
    )
    expected = torch.tensor([50.0, 1000.0]) / 1050
    for chunk in (1000, 16, 7, 1050, 4096):
        what = f"1050 datapoints with chunk_size={chunk}"
        _compare(
            check,
            loss(W, torch.zeros(2, 2), data, what, chunk),
            expected,
            what,
            [
                (
                    torch.full((2,), 0.5),
                    "You averaged the chunks' mean losses, but the last chunk is smaller: sum "
                    "the losses over all datapoints, then divide by the number of datapoints.",
                ),
                (torch.tensor([0.0, 1.0]), "The last, partial chunk was dropped."),
            ],
            "The result must not depend on chunk_size: average over all datapoints.",
        )
    what = "1050 datapoints with the default chunk_size"
    _compare(check, loss(W, torch.zeros(2, 2), data, what), expected, what)

    generator = torch.Generator().manual_seed(5)
    W = torch.randn(3, 2, 6, generator=generator)
    b = 0.5 * torch.randn(3, 6, generator=generator)
    data = _unit_rows(23, 1, 6, seed=6)[:, 0] * (torch.rand(23, 6, generator=generator) < 0.6)
    expected = _model_loss(W, b, data, hidden=lambda h: h, out=torch.relu)
    for chunk in (5, 23, 100):
        what = f"mixed-sign W and b (3 different instances), 23 datapoints, chunk_size={chunk}"
        _compare(
            check,
            loss(W, b, data, what, chunk),
            expected,
            what,
            [
                (
                    _model_loss(W, b, data, hidden=torch.relu, out=torch.relu),
                    "Don't apply a ReLU to the hidden vector h = W x: the only ReLU is on the "
                    "output, ReLU(W^T h + b).",
                ),
                (
                    _model_loss(W, b, data, hidden=torch.abs, out=torch.relu),
                    "Don't take abs of the hidden vector h = W x.",
                ),
                (
                    _model_loss(W, b, data, hidden=lambda h: h, out=torch.abs),
                    "The output nonlinearity is ReLU, not abs.",
                ),
            ],
            "Weights and biases can be negative: compute ReLU(W^T (W x) + b) exactly, with no "
            "other nonlinearity, clamp or abs.",
        )
    _passed(check)


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


# ------------------------------------------------------------------------------------------------
# The model and the training loop
# ------------------------------------------------------------------------------------------------


def _build_model(check: str, model_cls: Callable, n_inst: int, n_features: int, d_hidden: int):
    """Instantiates the student's model class, with the failure explained."""
    return _call(
        check,
        model_cls,
        n_inst,
        n_features,
        d_hidden,
        what=f"n_inst={n_inst}, n_features={n_features}, d_hidden={d_hidden}",
    )


def _parameters(check: str, model: Any, n_inst: int, n_features: int, d_hidden: int):
    """The model's `W` and `b`, after checking their shapes and that nothing else is learnt."""
    for name, shape in (("W", (n_inst, d_hidden, n_features)), ("b", (n_inst, n_features))):
        param = getattr(model, name, None)
        if not isinstance(param, nn.Parameter):
            raise AssertionError(
                f"{check}: expected an nn.Parameter `self.{name}`, found {param!r:.60}"
            )
        if tuple(param.shape) != shape:
            raise AssertionError(
                f"{check}: `{name}` should have shape {shape} (inst, "
                f"{'d_hidden, feats' if name == 'W' else 'feats'}), got {tuple(param.shape)}"
            )
        if param.dtype != torch.float32:
            raise AssertionError(
                f"{check}: `{name}` should be float32 (PyTorch's default, which the data uses), "
                f"got {param.dtype}. Create it without dtype=torch.float64 or .double()."
            )
        if not torch.isfinite(param).all():
            raise AssertionError(f"{check}: `{name}` contains NaN or infinite values")
    n_params = sum(p.numel() for p in model.parameters())
    expected = n_inst * (d_hidden * n_features + n_features)
    if n_params != expected:
        raise AssertionError(
            f"{check}: the model has {n_params} parameters, expected {expected} (W and b only). "
            "The weights are tied: decode with the same W, not a second matrix."
        )
    return model.W, model.b


@_check_function
def test_toy_model(model_cls: Callable) -> None:
    """Checks the student's `ToyModel`: parameters, initialisation and forward pass."""
    _require_callable(model_cls)
    with torch.random.fork_rng(devices=[]):
        _check_toy_model(model_cls)


def _check_toy_model(model_cls: Callable) -> None:
    """The body of `test_toy_model`, run with the caller's random state saved."""
    check = "test_toy_model"
    n_inst, n_features, d_hidden = 8, 1000, 2
    torch.manual_seed(0)
    model = _build_model(check, model_cls, n_inst, n_features, d_hidden)
    W, b = _parameters(check, model, n_inst, n_features, d_hidden)
    if torch.any(b.detach() != 0):
        raise AssertionError(f"{check}: `b` should start at zeros")
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
            f"{check}: each instance's W should have std sqrt(2 / (d_hidden + n_features)) = "
            f"{target:.4f} (Xavier normal), got {stds.mean().item():.4f}.{hint}"
        )
    tails = (W.detach().abs() > 2 * target).float().mean().item()
    if tails < 0.02:
        raise AssertionError(
            f"{check}: only {tails:.1%} of W lies beyond 2 std (a normal puts 4.6% there): "
            "initialise from a normal distribution, not a uniform one"
        )
    if torch.allclose(W[0], W[1]):
        raise AssertionError(
            f"{check}: every instance starts from the same W; draw each independently"
        )

    small = _build_model(check, model_cls, 2, 3, 2)
    with torch.no_grad():
        small.W.copy_(
            torch.tensor([[[1.0, 0.0, -1.0], [0.0, 1.0, 1.0]], [[0.5, 0.5, 0.0], [0.0, 0.0, 2.0]]])
        )
        small.b.copy_(torch.tensor([[0.0, -0.5, 0.25], [0.1, -0.2, -1.0]]))
    x = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], [[0.0, 0.6, 0.8], [0.6, 0.8, 0.0]]])
    pre = torch.einsum("imf,bif->bim", small.W.detach(), x)
    _require_off_kinks(torch.einsum("imf,bim->bif", small.W.detach(), pre) + small.b.detach())
    expected = torch.relu(torch.einsum("imf,bim->bif", small.W.detach(), pre) + small.b.detach())
    with torch.enable_grad():
        result = _call(check, small, x, what="a (2, 2, 3) batch", names=("features",))
        out = _as_tensor(check, result, (2, 2, 3), "forward")
        if torch.allclose(out, expected, atol=1e-5):
            _check_model_gradient(check, small, result, x)
            _passed(check)
            return
    no_relu = torch.einsum("imf,bim->bif", small.W.detach(), pre) + small.b.detach()
    if torch.allclose(out, no_relu, atol=1e-5):
        raise AssertionError(f"{check}: forward returns negative values: apply the ReLU last")
    if torch.allclose(out, torch.relu(no_relu - small.b.detach()) + small.b.detach(), atol=1e-5):
        raise AssertionError(f"{check}: add b before the ReLU, not after it")
    if torch.allclose(out, torch.relu(no_relu - small.b.detach()), atol=1e-5):
        raise AssertionError(f"{check}: forward ignores the bias b")
    raise AssertionError(
        f"{check}: forward gives the wrong output on a hand-made example: expected "
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


def _check_model_gradient(check: str, model: nn.Module, out: Tensor, x: Tensor) -> None:
    """Checks that gradients of the forward pass reach W and b, with the right values."""
    if not out.requires_grad:
        raise AssertionError(
            f"{check}: forward's output is detached from W and b, so training can't change "
            "them. Use self.W and self.b directly (not .detach(), .data or torch.no_grad())."
        )
    W, b = model.W, model.b
    expected = torch.autograd.grad(_reference_forward(W, b, x).sum(), (W, b))
    got = torch.autograd.grad(out.sum(), (W, b), allow_unused=True)
    for name, g, e in zip(("W", "b"), got, expected, strict=True):
        if g is None or not torch.allclose(g, e, atol=1e-5):
            raise AssertionError(
                f"{check}: forward gives the right values but the wrong gradient for `{name}`: "
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


def _reference_train(
    model: nn.Module,
    data: Tensor,
    steps: int,
    warmup_steps: int,
    lr: float,
    weight_decay: float,
    *,
    zero_grad: bool = True,
    step_offset: int = 0,
    use_schedule: bool = True,
    decoupled: bool = True,
    feature_mean: bool = False,
    instance_mean: bool = False,
    quarter_cosine: bool = False,
) -> None:
    """Full-batch training as the exercise defines it; the flags reproduce common mistakes."""
    optimizer_cls = torch.optim.AdamW if decoupled else torch.optim.Adam
    optimizer = optimizer_cls(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = _older_course_schedule if quarter_cosine else _paper_schedule
    for step in range(steps):
        multiplier = schedule(step + step_offset, steps, warmup_steps) if use_schedule else 1.0
        for group in optimizer.param_groups:
            group["lr"] = lr * multiplier
        if zero_grad:
            optimizer.zero_grad()
        errors = (data - model(data)).pow(2)
        per_instance = (errors.mean(-1) if feature_mean else errors.sum(-1)).mean(0)
        (per_instance.mean() if instance_mean else per_instance.sum()).backward()
        optimizer.step()


TRAIN_MISTAKES: dict[str, tuple[dict[str, bool | int], str]] = {
    "zero_grad": (
        {"zero_grad": False},
        "your loop matches one that never calls optimizer.zero_grad(): gradients pile up",
    ),
    "step_offset": (
        {"step_offset": 1},
        "your learning rate is one step ahead: use warmup_cosine_lr(step, ...) for "
        "step = 0 .. steps-1, set before optimizer.step()",
    ),
    "use_schedule": (
        {"use_schedule": False},
        "your loop matches one with a constant learning rate: set each step's rate from "
        "warmup_cosine_lr",
    ),
    "decoupled": (
        {"decoupled": False},
        "your loop matches torch.optim.Adam with L2 weight decay: use torch.optim.AdamW",
    ),
    "feature_mean": (
        {"feature_mean": True},
        "your loss averages over features too (which shrinks the gradients towards Adam's eps): "
        "sum over features, mean over the batch",
    ),
    "instance_mean": (
        {"instance_mean": True},
        "your loop averages the per-instance losses before backward(): that divides every "
        "instance's gradient by n_inst, which Adam undoes except through its eps, so the runs "
        "drift apart. Sum them: loss.sum().backward()",
    ),
    "quarter_cosine": (
        {"quarter_cosine": True},
        "your learning rate decays along the older course's quarter cosine "
        "cos(pi/2 * (step - warmup_steps) / (steps - warmup_steps - 1)): use the half cosine "
        "of warmup_cosine_lr",
    ),
}
"""Known mistakes of a training loop: the flags of `_reference_train` that reproduce each."""


@_check_function
def test_train(train_fn: Callable, model_cls: Callable) -> None:
    """Checks a full-batch training loop against the definition, naming the likely mistake."""
    _require_callable(train_fn)
    _require_callable(model_cls)
    with torch.random.fork_rng(devices=[]):
        _check_train(train_fn, model_cls)


def _check_train(train_fn: Callable, model_cls: Callable) -> None:
    """The body of `test_train`, run with the caller's random state saved."""
    check = "test_train"
    n_inst, n_features, d_hidden, batch = 3, 20, 2, 6
    hyper = dict(steps=40, warmup_steps=10, lr=0.05, weight_decay=0.5)
    generator = torch.Generator().manual_seed(0)
    data = torch.rand(batch, n_inst, n_features, generator=generator)
    data *= torch.rand(batch, n_inst, n_features, generator=generator) < 0.3
    data /= data.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    torch.manual_seed(0)
    model = _build_model(check, model_cls, n_inst, n_features, d_hidden)
    _parameters(check, model, n_inst, n_features, d_hidden)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    with torch.enable_grad():
        losses = _call(
            check,
            train_fn,
            model,
            data,
            *hyper.values(),
            what="a tiny 40-step run",
            names=("model", "data"),
        )
    losses = _as_tensor(
        check, losses, (n_inst,), "the returned losses", "Return one final loss per instance."
    )
    for name, param in model.named_parameters():
        if not torch.isfinite(param).all():
            raise AssertionError(
                f"{check}: after training, `{name}` contains NaN or infinite values. Look for a "
                "division by zero or a log/sqrt of 0 in the model or the loss."
            )
    if not torch.isfinite(losses).all():
        raise AssertionError(
            f"{check}: your function returned NaN or infinite losses ({_fmt(losses)}) although "
            "the weights are finite: compute the final loss as in training, on `data`."
        )

    def reference(**mistake: bool | int) -> dict[str, Tensor]:
        ref = model_cls(n_inst, n_features, d_hidden)
        ref.load_state_dict(init)
        with torch.enable_grad():
            _reference_train(ref, data, *hyper.values(), **mistake)
        return {k: v.detach() for k, v in ref.state_dict().items()}

    def matches(state: dict[str, Tensor]) -> bool:
        return all(torch.allclose(model.state_dict()[k], v, atol=1e-4) for k, v in state.items())

    expected = reference()
    if not matches(expected):
        singles = [[name] for name in TRAIN_MISTAKES]
        pairs = [list(pair) for pair in itertools.combinations(TRAIN_MISTAKES, 2)]
        for names in singles + pairs:
            flags = {k: v for name in names for k, v in TRAIN_MISTAKES[name][0].items()}
            if matches(reference(**flags)):
                found = "; and ".join(TRAIN_MISTAKES[name][1] for name in names)
                raise AssertionError(f"{check}: {found}")
        raise AssertionError(
            f"{check}: after 40 steps your weights differ from full-batch AdamW with the warmup-"
            "cosine schedule on the given data. Check: the same data every step, the rate set "
            "before each step, zero_grad, backward on the summed per-instance losses."
        )
    with torch.no_grad():
        final = (data - model(data)).pow(2).sum(-1).mean(0).float()
    if not torch.allclose(losses, final, atol=1e-4):
        raise AssertionError(
            f"{check}: the returned losses {losses.tolist()} are not the per-instance losses of "
            f"the final weights on the data ({final.tolist()})"
        )
    _passed(check)


# ------------------------------------------------------------------------------------------------
# The best instance and its hidden datapoints
# ------------------------------------------------------------------------------------------------

Candidate = tuple[Callable[..., Any], str]
"""A known wrong implementation (same arguments as the exercise) and the message naming it."""


def _same_result(got: Any, expected: Any) -> bool:
    """True if two results (tensors, or tuples of tensors) have equal shapes and close values."""
    if isinstance(expected, tuple):
        return (
            isinstance(got, tuple)
            and len(got) == len(expected)
            and all(_same_result(g, e) for g, e in zip(got, expected, strict=True))
        )
    return (
        isinstance(got, Tensor)
        and got.shape == expected.shape
        and torch.allclose(got.detach().float(), expected.detach().float(), atol=1e-5)
    )


def _diagnose(got: Any, inputs: tuple, expected: Any, mistakes: list[Candidate]) -> str:
    """The message of the first known mistake that reproduces `got` on the same inputs, or ''."""
    for mistake, message in mistakes:
        with torch.no_grad():
            try:
                candidate = mistake(*(_copy(a) for a in inputs))
            except (RuntimeError, IndexError, ValueError):
                continue
        if _same_result(got, candidate) and not _same_result(candidate, expected):
            return message
    return ""


def _require_result(check: str, value: Any, what: str) -> None:
    """Fails with a hint when the student's function returned nothing."""
    if value is None:
        raise AssertionError(f"{check}: your function returned None for {what}; missing return?")


def _shape_text(x: Any) -> str:
    """The shape of a tensor for messages, or the type of anything else."""
    return str(tuple(x.shape)) if isinstance(x, Tensor) else type(x).__name__


def _pick_best_cases() -> list[tuple[str, tuple[Tensor, Tensor, Tensor]]]:
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
    return [(what, (W, data, torch.tensor(loss))) for what, loss in losses.items()]


PICK_BEST_MISTAKES: list[Candidate] = [
    (
        lambda W, data, loss: (W[loss.argmax()], data[:, loss.argmax()]),
        "You picked the instance with the HIGHEST loss; use argmin, not argmax.",
    ),
    (
        lambda W, data, loss: (W[loss.argmin()], data[loss.argmin()]),
        "data[best] picks a datapoint: data has shape (batch, inst, feats), so index the "
        "instance axis, data[:, best].",
    ),
    (
        lambda W, data, loss: (W[:, loss.argmin()], data[:, loss.argmin()]),
        "W has shape (inst, d_hidden, feats): the instance is its first axis, W[best].",
    ),
    (
        lambda W, data, loss: (W[loss.argmin()].T, data[:, loss.argmin()]),
        "You returned the transpose of W[best]; keep its shape (d_hidden, feats).",
    ),
    (
        lambda W, data, loss: (data[:, loss.argmin()], W[loss.argmin()]),
        "Return the weights first and the data second: (W[best], data[:, best]).",
    ),
]


@_check_function
def test_pick_best(fn: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]]) -> None:
    """Checks `fn(W, data, train_loss)` -> (W[best], data[:, best]) with best = argmin(loss).

    W is (inst, d_hidden, feats), data is (batch, inst, feats), train_loss is (inst,). W may
    require grad (students pass model.W): results with or without grad are accepted. On a tie
    any of the tied instances is right (argmin and a loop with `<=` differ there, both valid).
    """
    check = "test_pick_best"
    _require_callable(fn)
    for what, inputs in _pick_best_cases():
        W, data, loss = inputs
        tied = [int(i) for i in torch.nonzero(loss == loss.min())[:, 0]]
        best = tied[0]
        expected = (W[best].detach(), data[:, best])
        got = _call(check, fn, *inputs, what=what, names=("W", "data", "train_loss"))
        _require_result(check, got, what)
        got = tuple(got) if isinstance(got, list) else got
        if not isinstance(got, tuple):
            raise AssertionError(
                f"{check}: for {what}, expected a tuple (W_best, data_best), got "
                f"{_shape_text(got)}. Return the weights and data of the best instance, not its "
                "index."
            )
        if any(_same_result(got, (W[i].detach(), data[:, i])) for i in tied):
            continue
        message = _diagnose(got, inputs, expected, PICK_BEST_MISTAKES)
        shapes = ", ".join(_shape_text(g) for g in got)
        raise AssertionError(
            f"{check}: for {what}, expected W[{best}] of shape (2, 5) and data[:, {best}] of "
            f"shape (6, 5), got {shapes}. "
            + (message or "Pick best = train_loss.argmin(), then return (W[best], data[:, best]).")
        )
    _passed(check)


def _hidden_cases() -> list[tuple[str, tuple[Tensor, Tensor]]]:
    """Inputs for `test_hidden_datapoints`: mixed-sign W (requiring grad), several shapes."""
    generator = torch.Generator().manual_seed(8)
    W = torch.randn(2, 5, generator=generator).requires_grad_()
    sparse = _unit_rows(7, 1, 5, seed=9)[:, 0] * (torch.rand(7, 5, generator=generator) < 0.5)
    return [
        ("W of shape (2, 5) with mixed signs, 7 sparse datapoints", (W, sparse)),
        (
            "W of shape (3, 4) and 6 mixed-sign datapoints",
            (torch.randn(3, 4, generator=generator), torch.randn(6, 4, generator=generator)),
        ),
    ]


HIDDEN_DATAPOINTS_MISTAKES: list[Candidate] = [
    (
        lambda W, data: W @ data.T,
        "This is the transpose, shape (d_hidden, batch): return one row per datapoint, shape "
        "(batch, d_hidden).",
    ),
    (
        lambda W, data: data @ W.T @ W,
        "This is the decoded output W^T W x (shape (batch, feats)); the hidden datapoint is "
        "h = W x, before decoding.",
    ),
    (
        lambda W, data: torch.relu(data @ W.T),
        "No ReLU in the hidden space: h = W x exactly (the model's only ReLU is on its output).",
    ),
    (
        lambda W, data: (data @ W.T).abs(),
        "Don't take abs: h = W x keeps its signs.",
    ),
    (
        lambda W, data: data @ W.T / (data @ W.T).norm(dim=-1, keepdim=True).clamp_min(1e-12),
        "Don't normalise the hidden vectors: their lengths matter (h = W x).",
    ),
]


@_check_function
def test_hidden_datapoints(fn: Callable[[Tensor, Tensor], Tensor]) -> None:
    """Checks `fn(W, data)`: (d_hidden, feats) and (batch, feats) -> h = W x, (batch, d_hidden).

    W may require grad (students pass model.W[best]): results with or without grad pass.
    """
    check = "test_hidden_datapoints"
    _require_callable(fn)
    for what, inputs in _hidden_cases():
        W, data = inputs
        expected = (data.double() @ W.detach().double().T).float()
        got = _call(check, fn, *inputs, what=what, names=("W", "data"))
        _require_result(check, got, what)
        if _same_result(got, expected):
            continue
        message = _diagnose(got, inputs, expected, HIDDEN_DATAPOINTS_MISTAKES)
        if not message and isinstance(got, Tensor) and got.shape != expected.shape:
            message = "Return one hidden vector per datapoint: shape (batch, d_hidden)."
        if not isinstance(got, Tensor):
            message = "Return a torch.Tensor."
        raise AssertionError(
            f"{check}: for {what}, expected h = W x of shape {tuple(expected.shape)}, got "
            f"{_shape_text(got)}"
            + (f" with values {_fmt(got.detach().float())}. " if isinstance(got, Tensor) else ". ")
            + (message or "Compute h_i = W x_i for every datapoint, with no other operation.")
        )
    _passed(check)
