"""`plot_features_in_2d`: vectors in a 2-D hidden space, one subplot per instance.

The vectors are columns of W (each feature's direction) or hidden datapoints h = W x, drawn as
lines from the origin with a marker at each tip.
"""

import math
from collections.abc import Sequence
from typing import Any

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

DEFAULT_COLOR = "#636EFA"
LINE_COLOR_MIXED = "rgba(120, 120, 120, 0.45)"
COLORSCALE = "Viridis"
MAX_COLS_DEFAULT = 8
WEBGL_MIN_VECTORS = 1000
SIGNIFICANT_DIGITS = 4

W_SHAPES = "shape (inst, 2, n), (2, n) or a list of (2, n_i)"

ColorSpec = str | Sequence[str] | Sequence[Sequence[str]] | Float[Tensor, "inst n"] | None


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
