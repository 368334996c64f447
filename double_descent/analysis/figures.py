"""The sweep's figures over dataset size: losses, dimensionalities, ablations, training length and
hidden size, with the regimes shaded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from .geometry import regime_bands
from .results import run_peaks

REGIME_COLOURS = {
    "memorising": "rgba(99, 110, 250, 0.12)",
    "transition": "rgba(239, 85, 59, 0.12)",
    "generalising": "rgba(0, 204, 150, 0.12)",
}


def _shade_regimes(fig: go.Figure, sizes: Sequence[int], regimes: Sequence[str]) -> None:
    """Shade each regime band (in every row of the figure) and label it at the top."""
    for regime, x0, x1 in regime_bands(sizes, regimes):
        fig.add_vrect(
            x0=x0, x1=x1, fillcolor=REGIME_COLOURS[regime], line_width=0, layer="below", row="all"
        )
        fig.add_annotation(
            x=math.log10(math.sqrt(x0 * x1)),
            y=1.0,
            xref="x",
            yref="paper",
            text=regime,
            showarrow=False,
            yanchor="bottom",
            font_size=11,
        )


def _jittered_log_x(size: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """x positions spread ±6% around `size`, so that a strip of points does not overlap."""
    return size * np.exp(rng.uniform(-0.06, 0.06, count))


def dimensionality_figure(
    sizes: Sequence[int],
    feature_dims: Sequence[Float[Tensor, " feats"]],
    data_dims: Sequence[Float[Tensor, " batch"]],
    regimes: Sequence[str],
    d_hidden: int = 2,
) -> go.Figure:
    """Strip plot of feature and datapoint dimensionalities against T (log x).

    One strip of points per size for features and for datapoints, the m/T line a regular T-gon
    sits on, and the regimes shaded.
    """
    if not (len(sizes) == len(feature_dims) == len(data_dims) == len(regimes)):
        raise ValueError(
            "sizes, feature_dims, data_dims, regimes: expected equal lengths, got "
            f"{len(sizes)}, {len(feature_dims)}, {len(data_dims)}, {len(regimes)}"
        )
    rng = np.random.default_rng(0)
    fig = go.Figure()
    for name, dims, colour in (
        ("features", feature_dims, "#636efa"),
        ("datapoints", data_dims, "#ef553b"),
    ):
        xs = np.concatenate(
            [_jittered_log_x(t, d.numel(), rng) for t, d in zip(sizes, dims, strict=True)]
        )
        ys = np.concatenate([d.detach().cpu().float().numpy() for d in dims])
        fig.add_trace(
            go.Scattergl(
                x=xs.astype(np.float32),  # stored as binary: float32 halves it, below a pixel
                y=ys.astype(np.float32),
                mode="markers",
                name=name,
                marker=dict(color=colour, size=4, opacity=0.45),
            )
        )
    grid = np.geomspace(min(sizes) * 0.8, max(sizes) * 1.25, 200)
    fig.add_trace(
        go.Scatter(
            x=grid,
            y=np.minimum(d_hidden / grid, 1.0),
            mode="lines",
            name=f"m/T (a regular T-gon, m = {d_hidden})",
            line=dict(color="black", dash="dash", width=1),
        )
    )
    _shade_regimes(fig, sizes, regimes)
    fig.update_layout(
        title="Dimensionality of features and of training datapoints (best instance per T)",
        xaxis=dict(type="log", title="dataset size T"),
        yaxis=dict(title="dimensionality", range=[-0.03, 1.05]),
        height=450,
        width=900,
        legend=dict(x=0.99, xanchor="right", y=0.8),
    )
    return fig


def _mean_and_band(
    fig: go.Figure, sizes: Sequence[int], losses: Tensor, name: str, colour: str, row: int
) -> None:
    """Add a mean line with a min–max band over instances; `losses` is (size, inst)."""
    lo, hi = losses.min(1).values.numpy(), losses.max(1).values.numpy()
    xs = list(sizes)
    fig.add_trace(
        go.Scatter(
            x=xs + xs[::-1],
            y=np.concatenate([hi, lo[::-1]]),
            fill="toself",
            fillcolor=colour.replace("rgb", "rgba").replace(")", ", 0.2)"),
            line=dict(width=0),
            hoverinfo="skip",
            name=f"{name} (min–max over instances)",
        ),
        row=row,
        col=1,
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=losses.mean(1).numpy(),
            mode="lines+markers",
            name=f"{name} (mean)",
            line=dict(color=colour),
        ),
        row=row,
        col=1,
    )


def loss_curve_figure(
    sizes: Sequence[int],
    train_loss: Float[Tensor, "size inst"],
    test_loss: Float[Tensor, "size inst"],
    regimes: Sequence[str] | None = None,
) -> go.Figure:
    """Test loss (top, log y) and train loss (bottom) against T (log x), zeros-predictor at 1."""
    for name, losses in (("train_loss", train_loss), ("test_loss", test_loss)):
        if losses.ndim != 2 or losses.shape[0] != len(sizes):
            raise ValueError(
                f"{name}: expected shape (size, inst) with size = {len(sizes)}, "
                f"got {tuple(losses.shape)}"
            )
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    _mean_and_band(fig, sizes, test_loss.float(), "test loss", "rgb(239, 85, 59)", row=1)
    _mean_and_band(fig, sizes, train_loss.float(), "train loss", "rgb(99, 110, 250)", row=2)
    fig.add_hline(
        y=1.0,
        line=dict(color="black", dash="dash", width=1),
        annotation_text="predict all zeros",
        annotation_position="bottom right",
        row="all",
    )
    if regimes is not None:
        _shade_regimes(fig, sizes, regimes)
    fig.update_layout(
        title="Double descent: test loss (top, log scale) and train loss (bottom) against T",
        height=600,
        width=900,
    )
    fig.update_xaxes(type="log")
    fig.update_xaxes(title="dataset size T", row=2, col=1)
    fig.update_yaxes(type="log", title="test loss", row=1, col=1)
    fig.update_yaxes(title="train loss", range=[-0.03, 1.05], row=2, col=1)
    return fig


def _add_ablation_curve(
    fig: go.Figure,
    xs: Sequence[float],
    losses: Float[Tensor, "size inst"],
    label: str,
    colour: str,
    row: int,
) -> None:
    """Mean over instances against x, with min–max bars; legend entry only in row 1."""
    losses = losses.float()
    mean = losses.mean(1)
    fig.add_trace(
        go.Scatter(
            x=list(xs),
            y=mean.numpy(),
            error_y=dict(
                type="data",
                array=(losses.max(1).values - mean).numpy(),
                arrayminus=(mean - losses.min(1).values).numpy(),
                visible=True,
            ),
            mode="lines+markers",
            name=label if row == 1 else f"{label} (train)",
            line=dict(color=colour),
            showlegend=row == 1,
        ),
        row=row,
        col=1,
    )


def ablation_figure(
    curves: dict[str, tuple[Sequence[float], Float[Tensor, "size inst"]]],
    title: str,
    x_title: str = "dataset size T",
    train_curves: dict[str, tuple[Sequence[float], Float[Tensor, "size inst"]]] | None = None,
) -> go.Figure:
    """Mean test loss against x (log-log) for several settings; bars span min–max of instances.
    With `train_curves` (same labels), a second row shows the train losses (linear y)."""
    if not curves:
        raise ValueError("curves: expected at least one labelled curve, got none")
    rows = 1 if train_curves is None else 2
    fig = make_subplots(rows=rows, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]
    for row, group in enumerate([curves] + ([train_curves] if train_curves else []), start=1):
        for i, (label, (xs, losses)) in enumerate(group.items()):
            _add_ablation_curve(fig, xs, losses, label, palette[i % len(palette)], row)
    fig.add_hline(y=1.0, line=dict(color="black", dash="dash", width=1), row="all", col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title=x_title, row=rows, col=1)
    fig.update_yaxes(type="log", title="test loss (mean; bars: min–max)", row=1, col=1)
    if train_curves is not None:
        fig.update_yaxes(title="train loss", range=[-0.03, 1.05], row=2, col=1)
    fig.update_layout(title=title, height=420 if rows == 1 else 640, width=900)
    return fig


def weight_decay_figure(results: dict) -> go.Figure:
    """Test loss (top) and train loss (bottom) against T, one curve per weight decay
    (`results` from `load_results`)."""

    def label(run: dict) -> str:
        return f"weight decay {run['weight_decay']:g}"

    return ablation_figure(
        {label(r): (r["sizes"], r["test_loss"]) for r in results["runs"]},
        title="Test loss (top) and train loss (bottom) against T for several weight decays",
        train_curves={label(r): (r["sizes"], r["train_loss"]) for r in results["runs"]},
    )


def feature_probability_figure(results: dict) -> go.Figure:
    """Test loss against T·p, one curve per feature probability p."""
    return ablation_figure(
        {
            f"p = {r['feature_probability']:g}": (
                [t * r["feature_probability"] for t in r["sizes"]],
                r["test_loss"],
            )
            for r in results["runs"]
        },
        title="Test loss against T·p, the expected number of times each feature appears",
        x_title="T · p",
    )


def training_length_figure(results: dict) -> go.Figure:
    """Left: mean test loss against T for each number of steps. Right: the peak's height and
    position against the number of steps."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["mean test loss against T", "peak height against steps"],
        horizontal_spacing=0.12,
    )
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a"]
    for i, run in enumerate(results["runs"]):
        fig.add_trace(
            go.Scatter(
                x=run["sizes"],
                y=run["test_loss"].mean(1).numpy(),
                mode="lines+markers",
                name=f"{run['config']['steps']:,} steps",
                line_color=palette[i % len(palette)],
            ),
            row=1,
            col=1,
        )
    peaks = run_peaks(results, "steps")
    fig.add_trace(
        go.Scatter(
            x=[p["steps"] for p in peaks],
            y=[p["mean"] for p in peaks],
            mode="lines+markers+text",
            text=[f"T = {p['size']}" for p in peaks],
            textposition="bottom right",
            name="peak (mean test loss)",
            line_color="black",
        ),
        row=1,
        col=2,
    )
    fig.update_xaxes(type="log", title="dataset size T", row=1, col=1)
    fig.update_xaxes(type="log", title="training steps", row=1, col=2)
    fig.update_yaxes(type="log", title="mean test loss", row=1, col=1)
    fig.update_yaxes(type="log", title="peak mean test loss", row=1, col=2)
    fig.update_layout(title="Peak height against training length", height=450, width=1000)
    return fig


def hidden_size_figure(results: dict) -> go.Figure:
    """One strip plot per hidden size m: the best instance's datapoint dimensionalities against
    T with the m/T line a memorising T-gon sits on, and the mean test loss (right axis)."""
    runs = results["runs"]
    fig = make_subplots(
        rows=1,
        cols=len(runs),
        subplot_titles=[f"m = {r['config']['d_hidden']}" for r in runs],
        specs=[[{"secondary_y": True}] * len(runs)],
    )
    rng = np.random.default_rng(0)
    for col, run in enumerate(runs, start=1):
        m, sizes = run["config"]["d_hidden"], run["sizes"]
        dims = run["best_instance"]["data_dims"]
        xs = np.concatenate([_jittered_log_x(t, len(d), rng) for t, d in zip(sizes, dims)])
        fig.add_trace(
            go.Scattergl(
                x=xs.astype(np.float32),  # stored as binary: float32 halves it, below a pixel
                y=np.concatenate(dims).astype(np.float32),
                mode="markers",
                marker=dict(color="#ef553b", size=3, opacity=0.4),
                name="datapoint dimensionality",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        grid = np.geomspace(min(sizes) * 0.8, max(sizes) * 1.25, 100)
        fig.add_trace(
            go.Scatter(
                x=grid,
                y=np.minimum(m / grid, 1.0),
                mode="lines",
                line=dict(color="black", dash="dash", width=1),
                name="m/T",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=sizes,
                y=run["test_loss"].mean(1).numpy(),
                mode="lines+markers",
                line_color="#636efa",
                name="mean test loss (right axis)",
                showlegend=col == 1,
            ),
            row=1,
            col=col,
            secondary_y=True,
        )
        fig.update_yaxes(type="log", secondary_y=True, row=1, col=col)
        fig.update_yaxes(range=[-0.03, 1.05], secondary_y=False, row=1, col=col)
    fig.update_xaxes(type="log", title="dataset size T")
    fig.update_layout(
        title="Hidden size m: datapoint dimensionality (left axis) and test loss (right axis)",
        height=450,
        width=1200,
    )
    return fig


def exposure_figure(curves: dict[str, dict]) -> go.Figure:
    """Mean test loss against T·p for runs of different sizes n (label -> run)."""
    return ablation_figure(
        {
            label: ([t * run["feature_probability"] for t in run["sizes"]], run["test_loss"])
            for label, run in curves.items()
        },
        title="Test loss against T·p: the course's scale and the paper's",
        x_title="T · p",
    )
