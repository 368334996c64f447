"""The learning-rate sweep: which solution has the lowest train loss at each dataset size.

The authors' follow-up (Circuits Updates, July 2023, "Finite Data Intermediate Regime") trained
with several learning rates and found the memorising solution to have the lowest train loss up to
far larger T than the paper's regimes suggest. Here every trained model is named by the kind of
solution it is, from its geometry alone:

- **generalising**: a feature polygon: at least 3 features with dimensionality ≥ 0.15 (the
  course's `RegimeRule`), each present in at least MIN_SUPPORT training points;
- **memorising points**: otherwise, when the hidden datapoints point in (nearly) as many
  distinct directions as a set of T random directions would (`direction_share` ≥
  `CLUSTER_SHARE`);
- **memorising clusters**: otherwise: groups of datapoints share one hidden direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import einops
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

from double_descent.plot import plot_features_in_2d

from .geometry import RegimeRule, dimensionality

SOLUTION_KINDS = ("memorising points", "memorising clusters", "generalising")
KIND_COLOURS = {
    "memorising points": "#636efa",
    "memorising clusters": "#ab63fa",
    "generalising": "#00cc96",
}
GAP_FRACTION = 0.25
"""Two neighbouring hidden directions count as distinct when the angle between them is at least
this fraction of the even spacing 2π/T."""
RANDOM_SHARE = math.exp(-GAP_FRACTION)
"""`direction_share` of T independent uniformly random directions (large T): the gaps between
neighbours are then exponential with mean 2π/T, and a share e^(-1/4) ≈ 0.78 of them are wider
than a quarter of it. A regular T-gon scores 1."""
CLUSTER_SHARE = 0.5
"""Below this `direction_share` the hidden datapoints share directions: clusters."""
MIN_SUPPORT = 3
"""A strong feature counts towards a polygon only if at least this many training points contain
it: at T of a few, a memorising model gives each stored point's largest feature a direction of
its own, and those features form a T-gon that is the datapoints', not a learnt feature set."""
MIN_NORM_FRACTION = 0.01
"""Hidden datapoints shorter than this fraction of the longest are not stored: they have no
direction to share, and `direction_share` leaves them out."""


def direction_share(hidden: Float[Tensor, "d_hidden batch"]) -> float:
    """Share of the stored hidden datapoints (2-D) whose direction is distinct from its neighbour's.

    A point is stored when its norm is at least MIN_NORM_FRACTION × the largest. The angles of the
    k stored points are sorted round the circle; the count of gaps of at least
    GAP_FRACTION · 2π/k, divided by k, is returned (1 for a single stored point, 0 for none).
    """
    if hidden.shape[0] != 2:
        raise ValueError(f"hidden: expected 2 hidden dimensions, got shape {tuple(hidden.shape)}")
    norms = hidden.norm(dim=0)
    stored = hidden[:, (norms >= MIN_NORM_FRACTION * norms.max()) & (norms > 0)]
    n_stored = stored.shape[1]
    if n_stored < 2:
        return float(n_stored)
    angles = torch.atan2(stored[1].double(), stored[0].double()).sort().values
    gaps = torch.diff(angles, append=angles[:1] + 2 * math.pi)
    return (gaps >= GAP_FRACTION * 2 * math.pi / n_stored).sum().item() / n_stored


def solution_kind(
    features: Float[Tensor, "d_hidden feats"],
    data: Float[Tensor, "batch feats"],
    rule: RegimeRule | None = None,
) -> str:
    """One of SOLUTION_KINDS for one model with weights `features`, trained on `data`."""
    rule = RegimeRule() if rule is None else rule
    strong = dimensionality(features.T) >= rule.feature_threshold
    support = (data[:, strong] > 0).sum(0)
    if int((support >= MIN_SUPPORT).sum()) >= rule.min_features:
        return "generalising"
    if direction_share(einops.einsum(features, data, "d feats, batch feats -> d batch")) >= (
        CLUSTER_SHARE
    ):
        return "memorising points"
    return "memorising clusters"


def lowest_train_loss(*results: dict) -> list[dict]:
    """Per size, the model with the lowest train loss over all rates and instances.

    `results`: learning-rate results files (`load_results`), each holding one run per rate with
    `config.lr`, `train_loss` and `test_loss` (size, inst) and `solutions.kind` (per size, per
    instance). Returns, per size of every file in turn: `size`, `lr`, `instance`, `train_loss`,
    `test_loss`, `kind`, `direction_share`.
    """
    winners = []
    for result in results:
        runs = result["runs"]
        for i, size in enumerate(runs[0]["sizes"]):
            run, k = min(
                ((run, k) for run in runs for k in range(run["train_loss"].shape[1])),
                key=lambda rk: rk[0]["train_loss"][i, rk[1]].item(),
            )
            winners.append(
                {
                    "size": size,
                    "lr": run["config"]["lr"],
                    "instance": k,
                    "train_loss": run["train_loss"][i, k].item(),
                    "test_loss": run["test_loss"][i, k].item(),
                    "kind": run["solutions"]["kind"][i][k],
                    "direction_share": run["solutions"]["direction_share"][i][k],
                }
            )
    return winners


def rate_curves(*results: dict) -> dict[float, dict[str, list]]:
    """Per learning rate, over the sizes of every file in turn: `sizes`, the lowest train loss
    over instances (`train_loss`), that instance's `kind`, and the mean test loss over instances
    (`mean_test_loss`)."""
    curves: dict[float, dict[str, list]] = {}
    for result in results:
        for run in result["runs"]:
            curve = curves.setdefault(
                run["config"]["lr"],
                {"sizes": [], "train_loss": [], "kind": [], "mean_test_loss": []},
            )
            best = run["train_loss"].argmin(1)
            for i, size in enumerate(run["sizes"]):
                curve["sizes"].append(size)
                curve["train_loss"].append(run["train_loss"][i, best[i]].item())
                curve["kind"].append(run["solutions"]["kind"][i][int(best[i])])
                curve["mean_test_loss"].append(run["test_loss"][i].mean().item())
    return dict(sorted(curves.items()))


def kind_spans(winners: Sequence[dict]) -> list[tuple[str, int, int]]:
    """Runs of consecutive sizes whose lowest-train-loss model is of one kind:
    (kind, first size, last size)."""
    spans: list[tuple[str, int, int]] = []
    for winner in winners:
        if spans and spans[-1][0] == winner["kind"]:
            spans[-1] = (winner["kind"], spans[-1][1], winner["size"])
        else:
            spans.append((winner["kind"], winner["size"], winner["size"]))
    return spans


def learning_rate_figure(*results: dict, course_lr: float = 1e-3) -> go.Figure:
    """Top: the lowest train loss over instances per rate against T, the lowest over all rates
    marked by its solution kind. Bottom: the test loss of that lowest-train-loss model beside the
    course rate's mean test loss (log y)."""
    curves, winners = rate_curves(*results), lowest_train_loss(*results)
    fig = make_subplots(
        rows=2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        subplot_titles=(
            "lowest train loss over instances, per peak learning rate",
            "test loss: the lowest-train-loss model against the course rate",
        ),
    )
    for lr, curve in curves.items():
        fig.add_trace(
            go.Scatter(
                x=curve["sizes"],
                y=curve["train_loss"],
                mode="lines",
                name=f"lr {lr:g}",
                line=dict(width=3 if lr == course_lr else 1.5),
                legendgroup="rates",
            ),
            row=1,
            col=1,
        )
    for kind in SOLUTION_KINDS:
        members = [w for w in winners if w["kind"] == kind]
        if not members:
            continue
        for row, key in ((1, "train_loss"), (2, "test_loss")):
            fig.add_trace(
                go.Scatter(
                    x=[w["size"] for w in members],
                    y=[w[key] for w in members],
                    mode="markers",
                    name=f"lowest train loss: {kind}",
                    marker=dict(color=KIND_COLOURS[kind], size=10, line=dict(width=1)),
                    text=[f"lr {w['lr']:g}" for w in members],
                    showlegend=row == 1,
                    legendgroup=kind,
                ),
                row=row,
                col=1,
            )
    course = curves[course_lr]
    fig.add_trace(
        go.Scatter(
            x=course["sizes"],
            y=course["mean_test_loss"],
            mode="lines",
            name=f"course rate {course_lr:g}: mean test loss",
            line=dict(color="black", dash="dash"),
        ),
        row=2,
        col=1,
    )
    fig.update_xaxes(type="log", title_text="dataset size T", row=2, col=1)
    fig.update_xaxes(type="log", row=1, col=1)
    fig.update_yaxes(title_text="train loss", row=1, col=1)
    fig.update_yaxes(type="log", title_text="test loss", row=2, col=1)
    fig.update_layout(height=750, width=950, title="Which solution trains best at each size?")
    return fig


def winners_geometry_figure(winners: Sequence[dict], shown: Sequence[int]) -> go.Figure:
    """Features (top, blue) and hidden datapoints (bottom, red) of the lowest-train-loss model
    at each size in `shown`; `winners` holds per size `size`, `lr`, `kind`, `features`
    (d_hidden, feats) and `hidden` (d_hidden, points) as nested lists."""
    by_size = {w["size"]: w for w in winners}
    missing = [T for T in shown if T not in by_size]
    if missing:
        raise ValueError(f"shown: sizes {missing} have no stored winner")
    chosen = [by_size[T] for T in shown]
    return plot_features_in_2d(
        [torch.tensor(w["features"]) for w in chosen] + [torch.tensor(w["hidden"]) for w in chosen],
        colors=[["blue"]] * len(chosen) + [["red"]] * len(chosen),
        title="The lowest-train-loss model: features (top, blue), hidden datapoints (bottom, red)",
        subplot_titles=[f"T = {w['size']}, lr {w['lr']:g}<br>{w['kind']}" for w in chosen]
        + [f"data, T = {w['size']}" for w in chosen],
        allow_different_limits_across_subplots=True,
        n_rows=2,
    )
