"""Training over time: a progress bar for any training loop, and the learning-dynamics figures
of weight snapshots.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import numpy as np
import plotly.graph_objects as go
import torch
from plotly.subplots import make_subplots
from torch.optim.optimizer import register_optimizer_step_post_hook
from tqdm.auto import tqdm


@contextlib.contextmanager
def optimizer_steps_progress(total: int, desc: str) -> Iterator[tqdm]:
    """A progress bar that ticks at every optimizer step taken inside the block.

    It hooks every torch optimizer (`register_optimizer_step_post_hook`), so a student's own
    training loop shows per-step progress without any change to it. The hook is removed on exit.
    """
    bar = tqdm(total=total, desc=desc, unit="step")
    handle = register_optimizer_step_post_hook(lambda *_: bar.update())
    try:
        yield bar
    finally:
        handle.remove()
        bar.close()


def _frame_vectors(run: dict, size_index: int, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Features (2, feats) and hidden datapoints (2, T) of the best instance at one snapshot
    (the first two hidden dimensions)."""
    frames = run["snapshots"]["frames"][size_index]
    return np.asarray(frames["features"][frame])[:2], np.asarray(frames["hidden"][frame])[:2]


def _best_test_losses(run: dict, size_index: int) -> list[float]:
    """Test loss of the size's best instance at every snapshot."""
    best = run["best_instance"]["index"][size_index]
    return torch.as_tensor(run["snapshots"]["frames"][size_index]["test_loss"])[:, best].tolist()


def learning_figure(run: dict) -> go.Figure:
    """Top: features (blue) and hidden training datapoints (red) of each size's best instance,
    with a slider over the snapshot steps. Bottom: that instance's test loss against the step
    (the slider's step marked)."""
    sizes, steps = run["sizes"], run["snapshots"]["steps"]
    fig = make_subplots(
        rows=2,
        cols=len(sizes),
        row_heights=[0.65, 0.35],
        specs=[[{}] * len(sizes), [{"colspan": len(sizes)}] + [None] * (len(sizes) - 1)],
        subplot_titles=[f"T = {t}" for t in sizes] + ["test loss of the instance shown"],
        vertical_spacing=0.12,
    )
    palette = ["#636efa", "#ef553b", "#00cc96"]
    for i, size in enumerate(sizes):
        fig.add_trace(
            go.Scatter(
                x=[s + 1 for s in steps],
                y=_best_test_losses(run, i),
                mode="lines+markers",
                name=f"T = {size}",
                line_color=palette[i % len(palette)],
            ),
            row=2,
            col=1,
        )
    n_static = len(fig.data)
    for frame in range(len(steps)):
        for i in range(len(sizes)):
            features, hidden = _frame_vectors(run, i, frame)
            for name, vectors, colour in (
                ("features", features, "#636efa"),
                ("datapoints", hidden, "#ef553b"),
            ):
                fig.add_trace(
                    go.Scatter(
                        x=vectors[0].astype(np.float32),  # binary in the JSON: half of float64
                        y=vectors[1].astype(np.float32),
                        mode="markers",
                        marker=dict(color=colour, size=4, opacity=0.6),
                        name=name,
                        showlegend=False,
                        visible=frame == len(steps) - 1,
                    ),
                    row=1,
                    col=i + 1,
                )
        fig.add_trace(
            go.Scatter(
                x=[steps[frame] + 1] * len(sizes),
                y=[_best_test_losses(run, i)[frame] for i in range(len(sizes))],
                mode="markers",
                marker=dict(color="black", size=10, symbol="circle-open"),
                showlegend=False,
                visible=frame == len(steps) - 1,
            ),
            row=2,
            col=1,
        )
    per_frame = 2 * len(sizes) + 1
    slider_steps = []
    for frame, step in enumerate(steps):
        visible = [True] * n_static + [
            k // per_frame == frame for k in range(per_frame * len(steps))
        ]
        ranges = {}
        for i in range(len(sizes)):
            features, hidden = _frame_vectors(run, i, frame)
            r = 1.1 * max(np.abs(features).max(), np.abs(hidden).max(), 1e-3)
            axis = "" if i == 0 else str(i + 1)
            ranges[f"xaxis{axis}.range"] = [-r, r]
            ranges[f"yaxis{axis}.range"] = [-r, r]
        slider_steps.append(
            dict(method="update", label=f"{step:,}", args=[{"visible": visible}, ranges])
        )
    fig.layout.update(slider_steps[-1]["args"][1])
    fig.update_layout(
        sliders=[dict(active=len(steps) - 1, steps=slider_steps, currentvalue_prefix="step ")],
        title="Watching it learn: features (blue) and hidden datapoints (red), best instance",
        height=700,
        width=1000,
    )
    fig.update_xaxes(type="log", title="training step + 1", row=2, col=1)
    fig.update_yaxes(type="log", title="test loss", row=2, col=1)
    return fig


def learning_strip_figure(run: dict, frames: Sequence[int]) -> go.Figure:
    """A grid of snapshots: one row per size, one column per snapshot in `frames`; features
    (blue) and hidden training datapoints (red) of the best instance, each panel its own scale."""
    sizes, steps = run["sizes"], run["snapshots"]["steps"]
    fig = make_subplots(
        rows=len(sizes),
        cols=len(frames),
        subplot_titles=[f"T = {t}, step {steps[f]:,}" for t in sizes for f in frames],
        vertical_spacing=0.08,
    )
    for i in range(len(sizes)):
        for j, frame in enumerate(frames):
            features, hidden = _frame_vectors(run, i, frame)
            for vectors, colour in ((features, "#636efa"), (hidden, "#ef553b")):
                fig.add_trace(
                    go.Scatter(
                        x=vectors[0],
                        y=vectors[1],
                        mode="markers",
                        marker=dict(color=colour, size=3, opacity=0.6),
                        showlegend=False,
                    ),
                    row=i + 1,
                    col=j + 1,
                )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(
        title="Snapshots during training: features (blue), hidden datapoints (red)",
        height=250 * len(sizes),
        width=250 * len(frames),
    )
    return fig
