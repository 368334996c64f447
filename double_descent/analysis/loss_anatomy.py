"""The test loss point by point: per-point losses, their tails, and what makes a loss blow up."""

from __future__ import annotations

import math
from collections.abc import Sequence

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

TAIL_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.99)


def per_point_loss(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch feats"],
    chunk_size: int = 1000,
) -> Float[Tensor, "inst batch"]:
    """Loss Σ_f (x_f − out_f)² of every datapoint of a shared `data` set under every instance."""
    W, b = W.detach().float(), b.detach().float()
    parts = []
    for chunk in data.float().split(chunk_size):
        hidden = einops.einsum(chunk, W, "batch feats, inst hidden feats -> inst batch hidden")
        pre = einops.einsum(hidden, W, "inst batch hidden, inst hidden feats -> inst batch feats")
        parts.append((chunk - torch.relu(pre + b[:, None])).pow(2).sum(-1))
    return torch.cat(parts, dim=1)


def tail_statistics(losses: Float[Tensor, "inst batch"]) -> dict[str, float]:
    """Distribution of per-point losses pooled over instances: mean, quantiles `q50`, `q90`,
    `q99`, the share of the total loss carried by the worst 1% of points, the fraction of
    points scoring above 2 (twice what predicting all zeros scores), and `test_set_se`: the
    standard error of one instance's mean from the draw of its test points (mean over instances)."""
    flat = losses.flatten().double()
    standard_error = losses.double().std(dim=1) / math.sqrt(losses.shape[1])
    quantiles = torch.quantile(flat, torch.tensor(TAIL_QUANTILES, dtype=torch.float64))
    worst = flat.topk(max(1, flat.numel() // 100)).values
    stats = {f"q{round(100 * q)}": v for q, v in zip(TAIL_QUANTILES, quantiles.tolist())}
    return stats | {
        "mean": flat.mean().item(),
        "worst_1pct_share": (worst.sum() / flat.sum()).item(),
        "above_2": (flat > 2).double().mean().item(),
        "test_set_se": standard_error.mean().item(),
    }


def point_anatomy(
    W: Float[Tensor, "d_hidden feats"],
    b: Float[Tensor, " feats"],
    data: Float[Tensor, "batch feats"],
) -> dict[str, Float[Tensor, " batch"]]:
    """Per-point anatomy of one model's error on `data`:

    - `loss`: Σ_f (x_f − out_f)²;
    - `false_fire_share`: the part of it from features absent from the point (x_f = 0) that fire;
    - `false_fires`: how many absent features fire (out_f > 0);
    - `hidden_norm`: ||W x||;
    - `present_norm`: the mean norm ||W_f|| of the features present in the point.
    """
    hidden = einops.einsum(W, data, "hidden feats, batch feats -> batch hidden")
    out = torch.relu(einops.einsum(hidden, W, "batch hidden, hidden feats -> batch feats") + b)
    error = (data - out).pow(2)
    absent = data == 0
    loss = error.sum(-1)
    present = (~absent).float()
    norms = W.norm(dim=0)
    return {
        "loss": loss,
        "false_fire_share": (error * absent).sum(-1) / loss.clamp_min(1e-12),
        "false_fires": (absent & (out > 0)).sum(-1).float(),
        "hidden_norm": hidden.norm(dim=-1),
        "present_norm": (present * norms).sum(-1) / present.sum(-1).clamp_min(1),
    }


def blowup_summary(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch feats"],
    worst_fraction: float = 0.01,
) -> dict[str, dict[str, float]]:
    """Means of `point_anatomy` over the worst `worst_fraction` of test points and over all
    points (pooled over instances), plus the weights: features per instance with norm > 3, the
    median norm and the median bias of those features, and the largest norm."""
    anatomy = [point_anatomy(w, bias, data) for w, bias in zip(W.detach(), b.detach())]
    pooled = {k: torch.cat([a[k] for a in anatomy]) for k in anatomy[0]}
    worst = pooled["loss"] >= torch.quantile(pooled["loss"], 1 - worst_fraction)
    norms = W.detach().norm(dim=1)
    large = norms > 3
    return {
        "worst": {k: v[worst].mean().item() for k, v in pooled.items()},
        "all": {k: v.mean().item() for k, v in pooled.items()},
        "weights": {
            "features_norm_above_3": large.sum(-1).float().mean().item(),
            "median_norm_above_3": norms[large].median().item() if large.any() else 0.0,
            "median_bias_norm_above_3": b.detach()[large].median().item() if large.any() else 0.0,
            "max_norm": norms.max().item(),
        },
    }


def largest_feature(
    W: Float[Tensor, "d_hidden feats"],
    b: Float[Tensor, " feats"],
    train: Float[Tensor, "batch feats"],
    test: Float[Tensor, "points feats"],
) -> dict[str, float]:
    """One model's largest feature vector: its index, norm, the runner-up's norm, its bias,
    how many training points contain it, and the share of the model's total test loss carried
    by the test points that contain it (`test_fraction` of them)."""
    norms = W.norm(dim=0)
    top = norms.topk(2)
    feature = top.indices[0].item()
    losses = per_point_loss(W[None], b[None], test)[0]
    has = test[:, feature] > 0
    return {
        "feature": feature,
        "norm": top.values[0].item(),
        "runner_up_norm": top.values[1].item(),
        "bias": b[feature].item(),
        "train_points": int((train[:, feature] > 0).sum().item()),
        "test_fraction": has.float().mean().item(),
        "loss_share": (losses[has].sum() / losses.sum()).item(),
        "test_loss": losses.mean().item(),
    }


def tail_figure(sizes: Sequence[int], stats: Sequence[dict[str, float]]) -> go.Figure:
    """Per-point test loss against T: mean and quantiles (top, log y); the share of the total
    carried by the worst 1% and the fraction of points above 2 (bottom)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for key, name, colour in (
        ("mean", "mean", "#ef553b"),
        ("q99", "99th percentile", "#ab63fa"),
        ("q90", "90th percentile", "#ffa15a"),
        ("q50", "median", "#636efa"),
    ):
        ys = [s[key] for s in stats]
        fig.add_trace(
            go.Scatter(x=list(sizes), y=ys, mode="lines+markers", name=name, line_color=colour),
            row=1,
            col=1,
        )
    for key, name, colour in (
        ("worst_1pct_share", "share of the total loss in the worst 1% of points", "#19d3f3"),
        ("above_2", "fraction of points with loss > 2", "#00cc96"),
    ):
        ys = [s[key] for s in stats]
        fig.add_trace(
            go.Scatter(x=list(sizes), y=ys, mode="lines+markers", name=name, line_color=colour),
            row=2,
            col=1,
        )
    fig.add_hline(y=1.0, line=dict(color="black", dash="dash", width=1), row=1, col=1)
    fig.update_xaxes(type="log")
    fig.update_xaxes(title="dataset size T", row=2, col=1)
    fig.update_yaxes(type="log", title="per-point test loss", row=1, col=1)
    fig.update_yaxes(title="fraction", range=[-0.03, 1.03], row=2, col=1)
    fig.update_layout(
        title="What the mean hides: the per-point test-loss distribution against T",
        height=600,
        width=900,
    )
    return fig


HISTOGRAM_BIN = 0.05
"""Width of the loss histogram's bins, in log10 of the per-point loss."""


def log_loss_bins(values: Float[Tensor, " points"]) -> tuple[np.ndarray, np.ndarray]:
    """Centres and counts of the non-empty bins of log10(loss) (losses below 1e-3 in the first
    bin), the bins `HISTOGRAM_BIN` wide with edges on its multiples."""
    logs = values.float().clamp_min(1e-3).log10().numpy()
    index = np.floor(logs / HISTOGRAM_BIN).astype(np.int64)
    bins, counts = np.unique(index, return_counts=True)
    return ((bins + 0.5) * HISTOGRAM_BIN).round(6), counts


def loss_histogram_figure(losses: dict[str, Float[Tensor, " points"]]) -> go.Figure:
    """Histograms of per-point test losses (log-spaced bins), one per label.

    The counts are binned here and drawn as bars, so the figure stores one number per bin rather
    than every point (100,000 per label).
    """
    fig = go.Figure()
    for label, values in losses.items():
        centres, counts = log_loss_bins(values)
        fig.add_trace(
            go.Bar(
                x=centres,
                y=counts,
                width=HISTOGRAM_BIN,
                name=label,
                opacity=0.6,
                marker_line_width=0,  # edge to edge, as a histogram's bars are drawn
            )
        )
    fig.add_vline(x=0.0, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        barmode="overlay",
        title="Per-point test loss (dashed: predicting all zeros scores 1)",
        xaxis_title="log10 per-point test loss",
        yaxis=dict(title="test points (all instances)", type="log"),
        height=420,
        width=900,
    )
    return fig
