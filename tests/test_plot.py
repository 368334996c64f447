"""Tests of `plot_features_in_2d`: every accepted input form, the layout, and every error."""

import subprocess
import sys

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from double_descent.plot import DEFAULT_COLOR, plot_features_in_2d

COURSE_T = [3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000]


def random_w(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def marker_traces(fig: go.Figure) -> list:
    return [t for t in fig.data if t.mode == "markers"]


def line_traces(fig: go.Figure) -> list:
    return [t for t in fig.data if t.mode == "lines"]


def marker_colors(trace) -> list[str]:
    """Decodes the per-point colour strings of a markers trace drawn with a discrete scale."""
    palette = [color for _, color in trace.marker.colorscale]
    return [palette[i] for i in np.asarray(trace.marker.color)]


def axis_range(fig: go.Figure, trace, axis: str) -> list[float]:
    name = getattr(trace, f"{axis}axis").replace(axis, f"{axis}axis")
    return list(fig.layout[name].range)


def grid_shape(fig: go.Figure) -> tuple[int, int]:
    """(rows, cols) of the subplots actually holding traces, from their axis domains."""
    xs = {tuple(fig.layout[t.xaxis.replace("x", "xaxis")].domain) for t in fig.data}
    ys = {tuple(fig.layout[t.yaxis.replace("y", "yaxis")].domain) for t in fig.data}
    return len(ys), len(xs)


# ------------------------------------------------------------------------------------------------
# Input forms of W
# ------------------------------------------------------------------------------------------------


def test_3d_tensor_gives_one_subplot_per_instance() -> None:
    W = random_w(3, 2, 7)
    fig = plot_features_in_2d(W)
    assert isinstance(fig, go.Figure)
    assert len(marker_traces(fig)) == 3 and len(line_traces(fig)) == 3
    for trace, w in zip(marker_traces(fig), W, strict=True):
        np.testing.assert_allclose(trace.x, w[0].numpy(), atol=1e-3)
        np.testing.assert_allclose(trace.y, w[1].numpy(), atol=1e-3)
    assert len({t.xaxis for t in marker_traces(fig)}) == 3


def test_lines_run_from_the_origin_with_gaps() -> None:
    W = random_w(2, 4)
    (lines,) = line_traces(plot_features_in_2d(W))
    x = np.asarray(lines.x, dtype=float).reshape(4, 3)
    y = np.asarray(lines.y, dtype=float).reshape(4, 3)
    assert (x[:, 0] == 0).all() and (y[:, 0] == 0).all()
    assert np.isnan(x[:, 2]).all() and np.isnan(y[:, 2]).all()
    np.testing.assert_allclose(x[:, 1], W[0].numpy(), atol=1e-3)
    np.testing.assert_allclose(y[:, 1], W[1].numpy(), atol=1e-3)


def test_2d_tensor_gives_one_subplot() -> None:
    fig = plot_features_in_2d(random_w(2, 5))
    assert len(fig.data) == 2
    assert len(marker_traces(fig)[0].x) == 5


def test_list_with_different_sizes() -> None:
    sizes = [3, 10, 1]
    fig = plot_features_in_2d([random_w(2, n, seed=n) for n in sizes])
    assert [len(t.x) for t in marker_traces(fig)] == sizes


@pytest.mark.parametrize(
    "W",
    [
        np.random.default_rng(0).normal(size=(2, 2, 4)),
        random_w(2, 2, 4).double(),
        random_w(2, 2, 4).half(),
        random_w(2, 2, 4).requires_grad_(),
        (random_w(2, 4), np.ones((2, 6), dtype=np.float32)),
    ],
    ids=["numpy", "float64", "float16", "requires_grad", "tuple_mixed"],
)
def test_other_accepted_inputs(W) -> None:
    assert len(plot_features_in_2d(W).data) == 4


def test_all_zero_vectors() -> None:
    fig = plot_features_in_2d(torch.zeros(2, 2, 3))
    assert axis_range(fig, fig.data[0], "x") == [-1.0, 1.0]


def test_does_not_show_the_figure(monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise AssertionError("fig.show() was called")

    monkeypatch.setattr(go.Figure, "show", fail)
    plot_features_in_2d(random_w(2, 2, 3))


# ------------------------------------------------------------------------------------------------
# Colours
# ------------------------------------------------------------------------------------------------


def test_default_colour() -> None:
    fig = plot_features_in_2d(random_w(2, 2, 3))
    for trace in marker_traces(fig):
        assert marker_colors(trace) == [DEFAULT_COLOR] * 3
    assert all(t.line.color == DEFAULT_COLOR for t in line_traces(fig))


def test_single_colour_string() -> None:
    fig = plot_features_in_2d(random_w(2, 2, 3), colors="red")
    assert all(marker_colors(t) == ["red"] * 3 for t in marker_traces(fig))
    assert all(t.line.color == "red" for t in line_traces(fig))


def test_flat_colour_list_is_shared_by_all_subplots() -> None:
    colors = ["red", "blue", "red", "#00ff00"]
    fig = plot_features_in_2d(random_w(3, 2, 4), colors=colors)
    assert all(marker_colors(t) == colors for t in marker_traces(fig))


def test_colour_list_per_subplot_with_broadcast() -> None:
    W = [random_w(2, 2), random_w(2, 3)]
    fig = plot_features_in_2d(W, colors=[["green"], ["red", "blue", "black"]])
    first, second = marker_traces(fig)
    assert marker_colors(first) == ["green", "green"]
    assert marker_colors(second) == ["red", "blue", "black"]


def test_numpy_array_of_colour_strings() -> None:
    fig = plot_features_in_2d(random_w(2, 3), colors=np.array(["red", "blue", "red"]))
    assert marker_colors(marker_traces(fig)[0]) == ["red", "blue", "red"]


def test_n_rows_accepts_numpy_integers() -> None:
    fig = plot_features_in_2d(random_w(4, 2, 3), n_rows=np.int64(2))
    assert grid_shape(fig) == (2, 2)


def test_colour_tensor_uses_one_shared_scale() -> None:
    values = torch.tensor([[0.0, 0.5, 1.0], [2.0, 3.0, -1.0]])
    fig = plot_features_in_2d(random_w(2, 2, 3), colors=values)
    for trace, row in zip(marker_traces(fig), values, strict=True):
        np.testing.assert_allclose(trace.marker.color, row.numpy())
        assert trace.marker.coloraxis == "coloraxis"
    assert fig.layout.coloraxis.cmin == -1.0 and fig.layout.coloraxis.cmax == 3.0


def test_colour_vector_is_broadcast_over_instances() -> None:
    fig = plot_features_in_2d(random_w(2, 2, 3), colors=torch.tensor([1.0, 2.0, 3.0]))
    for trace in marker_traces(fig):
        np.testing.assert_allclose(trace.marker.color, [1.0, 2.0, 3.0])


# ------------------------------------------------------------------------------------------------
# Titles, limits and layout
# ------------------------------------------------------------------------------------------------


def test_titles() -> None:
    fig = plot_features_in_2d(random_w(3, 2, 3), title="Features", subplot_titles=["a", "b", "c"])
    assert fig.layout.title.text == "Features"
    assert [a.text for a in fig.layout.annotations] == ["a", "b", "c"]


def test_shared_limits() -> None:
    W = torch.zeros(2, 2, 2)
    W[0, 0, 0] = 1.0
    W[1, :, 1] = torch.tensor([3.0, 4.0])
    fig = plot_features_in_2d(W)
    for trace in marker_traces(fig):
        for axis in "xy":
            assert axis_range(fig, trace, axis) == pytest.approx([-5.5, 5.5])


def test_different_limits_per_subplot() -> None:
    W = torch.zeros(2, 2, 2)
    W[0, 0, 0] = 1.0
    W[1, :, 1] = torch.tensor([3.0, 4.0])
    fig = plot_features_in_2d(W, allow_different_limits_across_subplots=True)
    first, second = marker_traces(fig)
    assert axis_range(fig, first, "x") == pytest.approx([-1.1, 1.1])
    assert axis_range(fig, first, "y") == pytest.approx([-1.1, 1.1])
    assert axis_range(fig, second, "x") == pytest.approx([-5.5, 5.5])


def test_axes_are_square() -> None:
    fig = plot_features_in_2d(random_w(3, 2, 3))
    for trace in marker_traces(fig):
        yaxis = fig.layout[trace.yaxis.replace("y", "yaxis")]
        assert yaxis.scaleanchor == trace.xaxis and yaxis.scaleratio == 1


@pytest.mark.parametrize(
    ("count", "n_rows", "grid"),
    [
        (5, None, (1, 5)),
        (8, None, (1, 8)),
        (9, None, (2, 5)),
        (34, None, (5, 7)),
        (5, 1, (1, 5)),
        (5, 2, (2, 3)),
        (5, 3, (3, 2)),
        (5, 4, (3, 2)),
        (5, 5, (5, 1)),
        (7, 3, (3, 3)),
        (34, 2, (2, 17)),
    ],
)
def test_grid_layout(count: int, n_rows: int | None, grid: tuple[int, int]) -> None:
    fig = plot_features_in_2d(random_w(count, 2, 2), n_rows=n_rows)
    assert grid_shape(fig) == grid
    assert len(fig.data) == 2 * count


def test_largest_course_call_stays_small() -> None:
    W = [random_w(2, 1000, seed=i) for i in range(17)]
    W += [random_w(2, T, seed=T) for T in COURSE_T]
    titles = [f"features, T={T}" for T in COURSE_T] + [f"data, T={T}" for T in COURSE_T]
    fig = plot_features_in_2d(W, subplot_titles=titles, n_rows=2)
    assert len(fig.data) <= 2 * 34
    assert len(fig.to_json()) < 10_000_000


def test_import_is_light() -> None:
    heavy = ("pandas", "IPython", "ipywidgets", "kaleido")
    code = f"import sys, part4_utils; print([m for m in {heavy} if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


# ------------------------------------------------------------------------------------------------
# Errors
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("W", "match"),
    [
        (random_w(3, 10), r"W: expected 2 hidden dimensions .*got shape \(3, 10\)"),
        (random_w(4, 3, 10), r"W: expected 2 hidden dimensions .*got shape \(4, 3, 10\)"),
        (random_w(10), r"W: expected 2 or 3 dimensions"),
        (random_w(2, 2, 2, 2), r"W: expected 2 or 3 dimensions"),
        ([], r"W: .*empty list"),
        ([random_w(2, 3), random_w(3, 3)], r"W\[1\]: expected 2 hidden dimensions"),
        ([random_w(2, 3), random_w(2)], r"W\[1\]: expected 2 hidden dimensions"),
        (torch.ones(2, 3, dtype=torch.int64), r"W: expected a real floating-point tensor"),
        (torch.ones(2, 3, dtype=torch.complex64), r"W: expected a real floating-point tensor"),
        (np.ones((2, 3), dtype=int), r"W: expected a real floating-point array"),
        (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), r"W: contains NaN"),
        (torch.tensor([[0.0, float("inf")], [1.0, 1.0]]), r"W: contains NaN or infinite"),
        ("not a tensor", r"W: expected a tensor"),
        ([[1.0, 2.0], [3.0, 4.0]], r"W\[0\]: expected a torch tensor or numpy array"),
        (torch.zeros(0, 2, 5), r"W: expected at least one instance, got shape \(0, 2, 5\)"),
        (torch.zeros(2, 0), r"W: has no vectors to draw"),
        (torch.zeros(3, 2, 0), r"W\[0\]: has no vectors to draw"),
        ([random_w(2, 3), np.zeros((2, 0))], r"W\[1\]: has no vectors to draw"),
    ],
    ids=[
        "hidden_dim_3_2d",
        "hidden_dim_3_3d",
        "1d",
        "4d",
        "empty_list",
        "list_item_hidden_dim",
        "list_item_1d",
        "int_dtype",
        "complex_dtype",
        "numpy_int",
        "nan",
        "inf",
        "string",
        "nested_python_lists",
        "zero_instances",
        "zero_features_2d",
        "zero_features_3d",
        "zero_features_in_list",
    ],
)
def test_bad_w_is_rejected(W, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plot_features_in_2d(W)


@pytest.mark.parametrize(
    ("W", "colors", "match"),
    [
        (random_w(2, 2, 3), ["red", "blue"], r"colors: a flat list .* got 2 colours"),
        ([random_w(2, 2), random_w(2, 3)], ["red", "blue"], r"colors: a flat list"),
        (random_w(2, 2, 3), [["red"]], r"colors: expected one list of colours per subplot \(2\)"),
        (random_w(2, 2, 3), [["red"], ["red", "blue"]], r"colors\[1\]: expected 1 or 3"),
        (random_w(2, 2, 3), [["red"], [1, 2, 3]], r"colors\[1\]"),
        (random_w(2, 2, 3), ["red", ["blue"]], r"colors: .*not a mixture"),
        (random_w(2, 2, 3), [], r"colors: expected None"),
        (random_w(2, 2, 3), 5, r"colors: expected None"),
        (random_w(2, 2, 3), torch.ones(3, 3), r"colors: expected a tensor of shape \(inst, n\)"),
        (random_w(2, 2, 3), torch.ones(2, 4), r"colors: expected a tensor of shape"),
        ([random_w(2, 2), random_w(2, 3)], torch.ones(2, 3), r"colors: .*same number"),
        (random_w(2, 2, 3), torch.ones(2, 3, dtype=torch.bool), r"colors: .*real-valued"),
        (random_w(2, 2, 3), torch.full((2, 3), float("nan")), r"colors: contains NaN"),
        (random_w(2, 2, 3), "notacolour", r"colors: plotly rejected a colour"),
        (random_w(2, 2, 3), [["red"], ["blue", "nope", "red"]], r"colors: plotly rejected"),
    ],
    ids=[
        "flat_list_wrong_length",
        "flat_list_different_sizes",
        "nested_wrong_count",
        "nested_wrong_length",
        "nested_not_strings",
        "mixed",
        "empty",
        "number",
        "tensor_wrong_inst",
        "tensor_wrong_n",
        "tensor_different_sizes",
        "tensor_bool",
        "tensor_nan",
        "invalid_colour_string",
        "invalid_colour_in_list",
    ],
)
def test_bad_colors_are_rejected(W, colors, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        plot_features_in_2d(W, colors=colors)


@pytest.mark.parametrize("subplot_titles", [["a"], ["a", "b", "c"], "ab"])
def test_bad_subplot_titles_are_rejected(subplot_titles) -> None:
    with pytest.raises(ValueError, match=r"subplot_titles: expected a list of 2 titles"):
        plot_features_in_2d(random_w(2, 2, 3), subplot_titles=subplot_titles)


@pytest.mark.parametrize("n_rows", [0, -1, 1.5, True, "2"])
def test_bad_n_rows_is_rejected(n_rows) -> None:
    with pytest.raises(ValueError, match=r"n_rows: expected a positive integer"):
        plot_features_in_2d(random_w(2, 2, 3), n_rows=n_rows)
