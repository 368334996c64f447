"""Analysis and figures for the double-descent sweep, shared by the notebooks and the scripts.

The notebook computes dimensionalities and test losses with the student's own functions and passes
them in here; `scripts/make_figures.py` uses `dimensionality` below. Every figure is a plotly
`Figure`, so the same call renders in Colab, Jupyter and (through kaleido) to the PNGs in `images/`.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor
from torch.optim.optimizer import register_optimizer_step_post_hook
from tqdm.auto import tqdm

from part4_utils import plot_features_in_2d

REGIME_COLOURS = {
    "memorising": "rgba(99, 110, 250, 0.12)",
    "transition": "rgba(239, 85, 59, 0.12)",
    "generalising": "rgba(0, 204, 150, 0.12)",
}


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


def dimensionality(vectors: Float[Tensor, "... k d"]) -> Float[Tensor, "... k"]:
    """Generalised dimensionality D_i = ||v_i||² / Σ_j (v̂_i · v_j)² of each of k vectors.

    The sum includes j = i; a zero vector gets 0. Leading dimensions are independent sets.
    """
    squared_norms = vectors.pow(2).sum(-1)
    units = vectors / squared_norms.sqrt().clamp_min(torch.finfo(vectors.dtype).tiny).unsqueeze(-1)
    overlaps = einops.einsum(units, vectors, "... i d, ... j d -> ... i j")
    return squared_norms / overlaps.pow(2).sum(-1).clamp_min(torch.finfo(vectors.dtype).tiny)


def hidden_vectors(
    W: Float[Tensor, "d_hidden feats"], data: Float[Tensor, "batch feats"]
) -> Float[Tensor, "d_hidden batch"]:
    """Hidden representations h = W x of every datapoint, one column per datapoint."""
    return einops.einsum(W, data, "d_hidden feats, batch feats -> d_hidden batch")


GEOMETRY_SIZES = (5, 30, 100, 300, 1000, 3000)
"""The sizes of the geometry figure: memorising, transition and generalising."""


def geometry_figure(
    sizes: Sequence[int],
    features: Sequence[Float[Tensor, "d_hidden feats"]],
    hidden: Sequence[Float[Tensor, "d_hidden T"]],
    shown: Sequence[int] = GEOMETRY_SIZES,
) -> go.Figure:
    """Features (top row, blue) and hidden datapoints (bottom row, red) of the best instance at
    each size in `shown`; `features` and `hidden` hold one entry per size of `sizes`."""
    index = [list(sizes).index(T) for T in shown]
    return plot_features_in_2d(
        [features[i] for i in index] + [hidden[i] for i in index],
        colors=[["blue"]] * len(index) + [["red"]] * len(index),
        title="Features (top, blue) and hidden datapoints (bottom, red), best instance per size",
        subplot_titles=[f"features, T = {T}" for T in shown] + [f"data, T = {T}" for T in shown],
        allow_different_limits_across_subplots=True,
        n_rows=2,
    )


def best_instance_geometry(
    result,
    dimensionality_fn: Callable[[Tensor], Tensor] = dimensionality,
    pick_best_fn: Callable[[Tensor, Tensor, Tensor], tuple[Tensor, Tensor]] | None = None,
    hidden_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """Feature vectors (d_hidden, feats), hidden datapoints (d_hidden, T) and the
    dimensionalities of both, for the best instance of every size of an engine `SweepResult`.

    The notebook passes the student's own functions, with the contracts of its exercises:
    - `dimensionality_fn` maps (k, d) vectors to (k,) dimensionalities;
    - `pick_best_fn(W (inst, d, feats), data (batch, inst, feats), train_loss (inst,))` returns the
      weights (d, feats) and data (batch, feats) of the instance with the lowest train loss;
    - `hidden_fn(W (d, feats), data (batch, feats))` returns h = W x as (batch, d).
    Left out, the module's own versions are used.
    """
    features, hidden = [], []
    for i in range(len(result.W)):
        W, data, loss = result.W[i], result.data(i), result.train_loss[i]
        if pick_best_fn is None:
            best = int(loss.argmin())
            W_best, data_best = W[best], data[:, best]
        else:
            W_best, data_best = pick_best_fn(W, data, loss)
        features.append(W_best)
        if hidden_fn is None:
            hidden.append(hidden_vectors(W_best, data_best))
        else:
            hidden.append(hidden_fn(W_best, data_best).T)
    feature_dims = [dimensionality_fn(w.T) for w in features]
    data_dims = [dimensionality_fn(h.T) for h in hidden]
    return features, hidden, feature_dims, data_dims


@dataclass(frozen=True)
class RegimeRule:
    """Thresholds that name a trained model's regime from quantities the reader can measure.

    - generalising: at least `min_features` features have dimensionality ≥ `feature_threshold`
      (the pentagon's features sit at about 0.2–0.33; memorising models keep every feature
      below about 0.1 once T ≳ 10);
    - memorising: otherwise, if at least `min_fraction` of the datapoints get a dimensionality of
      at least `data_fraction_of_gon` × m/T (a regular T-gon gives every point exactly m/T) AND
      the model fits its training set: train loss ≤ `max_train_loss` (predicting all zeros
      scores 1);
    - transition: neither: the geometries have collapsed, or the T-gon survives while the model
      no longer reconstructs its training points.

    The paper names the regimes from the geometry alone; the train-loss condition is ours, and
    is skipped when no train loss is given.
    """

    data_fraction_of_gon: float = 0.5
    min_fraction: float = 0.7
    feature_threshold: float = 0.15
    min_features: int = 3
    max_train_loss: float = 0.5

    def classify(
        self,
        feature_dims: Float[Tensor, " feats"],
        data_dims: Float[Tensor, " batch"],
        d_hidden: int = 2,
        train_loss: float | None = None,
    ) -> str:
        """'memorising', 'transition' or 'generalising' for one model (`train_loss`: its own)."""
        n_points = data_dims.numel()
        gon_value = d_hidden / n_points
        represented = (data_dims >= self.data_fraction_of_gon * gon_value).float().mean().item()
        n_strong_features = int((feature_dims >= self.feature_threshold).sum().item())
        if n_strong_features >= self.min_features:
            return "generalising"
        fits = train_loss is None or train_loss <= self.max_train_loss
        if represented >= self.min_fraction and fits:
            return "memorising"
        return "transition"


def regime_bands(sizes: Sequence[int], regimes: Sequence[str]) -> list[tuple[str, float, float]]:
    """Merge per-size regimes into (regime, x0, x1) bands on a log axis.

    A band edge sits at the geometric mean of the two neighbouring sizes; the outer edges extend
    half a step (in log space) beyond the first and last size.
    """
    if len(sizes) != len(regimes):
        raise ValueError(f"regimes: expected one per size ({len(sizes)}), got {len(regimes)}")
    if not sizes:
        raise ValueError("sizes: expected at least one dataset size, got none")
    logs = np.log10(np.asarray(sizes, dtype=float))
    steps = np.diff(logs) if len(logs) > 1 else np.array([0.2])
    edges = np.concatenate([[logs[0] - steps[0] / 2], (logs[1:] + logs[:-1]) / 2])
    edges = np.append(edges, logs[-1] + steps[-1] / 2)
    bands: list[tuple[str, float, float]] = []
    for i, regime in enumerate(regimes):
        if bands and bands[-1][0] == regime:
            bands[-1] = (regime, bands[-1][1], 10 ** edges[i + 1])
        else:
            bands.append((regime, 10 ** edges[i], 10 ** edges[i + 1]))
    return bands


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


def ablation_peaks(results: dict, setting: str) -> list[str]:
    """One line per run: its `setting` value and where its mean test loss peaks."""
    lines = []
    for run in results["runs"]:
        means = run["test_loss"].mean(1)
        i = means.argmax().item()
        size, p = run["sizes"][i], run["feature_probability"]
        lines.append(
            f"{setting.replace('_', ' ')} {run[setting]:g}: peak test loss {means[i].item():.1f} "
            f"at T = {size} (T·p = {size * p:g})"
        )
    return lines


def summarise_dims(dims: Float[Tensor, " k"], top: int = 5) -> str:
    """One line: the `top` largest dimensionalities, the median and the mean."""
    largest = dims.topk(min(top, dims.numel())).values
    return (
        f"top {largest.numel()}: [{', '.join(f'{v:.3f}' for v in largest.tolist())}], "
        f"median {dims.median().item():.4f}, mean {dims.mean().item():.4f}"
    )


def load_results(path: str | Path) -> dict:
    """Read a results file written by `scripts/run_experiments.py`; loss lists become tensors.

    Every `train_loss` / `test_loss` entry (a list of per-size lists over instances) is returned
    as a float tensor of shape (size, inst); everything else is returned as stored.
    """

    def convert(node):
        if isinstance(node, dict):
            return {
                k: torch.tensor(v) if k in ("train_loss", "test_loss") else convert(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [convert(v) for v in node]
        return node

    return convert(json.loads(Path(path).read_text()))


def describe_run(
    sizes: Sequence[int],
    feature_dims: Sequence[Float[Tensor, " feats"]],
    data_dims: Sequence[Float[Tensor, " batch"]],
    regimes: Sequence[str],
    train_loss: Float[Tensor, "size inst"],
    test_loss: Float[Tensor, "size inst"],
    feature_threshold: float = RegimeRule.feature_threshold,
) -> str:
    """A plain-text summary of a sweep: which sizes fall in which regime, and the numbers."""
    lines = []
    for regime in ("memorising", "transition", "generalising"):
        members = [i for i, r in enumerate(regimes) if r == regime]
        if not members:
            lines.append(f"{regime}: no dataset size")
            continue
        tested = test_loss[members].mean(1)
        test_range = f"{tested.min().item():.3f}"
        if len(members) > 1:
            test_range += f"–{tested.max().item():.3f}"
        lines.append(
            f"{regime}: T = {', '.join(str(sizes[i]) for i in members)}; "
            f"mean train loss {train_loss[members].mean().item():.3f}, "
            f"mean test loss {test_range}"
        )
        if regime == "memorising":
            ratios = torch.stack([data_dims[i].median() * sizes[i] / 2 for i in members])
            lines.append(
                "  datapoints form T-gons: median datapoint dimensionality / (2/T) = "
                f"{ratios.min().item():.2f}–{ratios.max().item():.2f}"
            )
        if regime == "generalising":
            for i in members:
                strong = feature_dims[i][feature_dims[i] >= feature_threshold].sort().values
                lines.append(
                    f"  T = {sizes[i]}: {strong.numel()} features with dimensionality ≥ "
                    f"{feature_threshold} ({', '.join(f'{v:.2f}' for v in strong.tolist())}); "
                    f"datapoint dimensionality median {data_dims[i].median().item():.4f}"
                )
        if regime == "transition":
            for i in members:
                lines.append(
                    f"  T = {sizes[i]}: largest feature dimensionality "
                    f"{feature_dims[i].max().item():.3f}, datapoints with dimensionality ≥ "
                    f"(1/2)(2/T): {(data_dims[i] >= 1 / sizes[i]).float().mean().item():.0%}"
                )
    peak = test_loss.mean(1).argmax().item()
    lines.append(
        f"peak mean test loss: {test_loss[peak].mean().item():.3f} at T = {sizes[peak]} "
        f"({regimes[peak]})"
    )
    return "\n".join(lines)


# ----------------------------------------------------------------------------- what the mean hides

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


# ----------------------------------------------------------------------------- issue-10 experiments

PUBLISHED_REPLICATION: dict[str, dict[int, float]] = {
    "test_loss": {3: 1.10, 100: 1.03, 200: 1.25, 500: 1.53, 1000: 1.06, 1946: 0.995, 5282: 0.993},
    "train_loss": {100: 0.88, 500: 0.96},
}
"""Mean losses reported by the published scaled-down replication of Henighan et al. (2023) at
n = 1000, S = 0.99, 5 seeds: M. Hobbhahn, "More findings on memorization and double descent"
(LessWrong / Alignment Forum), the follow-up linked from the paper's comments."""


def replication_rows(run: dict) -> list[str]:
    """One line per size the replication published: our mean (min–max over instances) and
    median per-point loss beside its number (`run` from `load_results`)."""
    sizes = run["sizes"]
    lines = []
    for name, published in PUBLISHED_REPLICATION.items():
        for size, theirs in published.items():
            i = sizes.index(size)
            ours = run[name][i]
            median = f", median point {run['tail'][i]['q50']:.3f}" if name == "test_loss" else ""
            lines.append(
                f"{name.replace('_', ' ')} T = {size}: ours {ours.mean().item():.3f} "
                f"({ours.min().item():.3f}–{ours.max().item():.3f}{median}), published {theirs}"
            )
    return lines


def replication_figure(run: dict) -> go.Figure:
    """Our mean test loss in the replication's setting (bars: min–max over instances), the
    median per-point loss, and the published means as markers."""
    fig = ablation_figure(
        {"ours: mean test loss": (run["sizes"], run["test_loss"])},
        title="The published replication's own setting: our run beside its numbers",
    )
    fig.add_trace(
        go.Scatter(
            x=run["sizes"],
            y=[t["q50"] for t in run["tail"]],
            mode="lines",
            name="ours: median per-point test loss",
            line=dict(color="#636efa", dash="dot"),
        )
    )
    published = PUBLISHED_REPLICATION["test_loss"]
    fig.add_trace(
        go.Scatter(
            x=list(published),
            y=list(published.values()),
            mode="markers",
            name="published replication (mean of 5 seeds)",
            marker=dict(color="black", symbol="x", size=10),
        )
    )
    return fig


MATCH_STANDARD_ERRORS = 2.0
"""A published mean matches ours when they differ by at most this many standard errors of the
difference (`recipe_comparison`)."""


def _seed_mean_and_se(losses: Float[Tensor, " inst"]) -> tuple[float, float]:
    """Mean over instances and its standard error over instances (ddof 1)."""
    return losses.mean().item(), (losses.std() / math.sqrt(losses.numel())).item()


def _rounding_sd(published: float) -> float:
    """Standard deviation of the rounding of a number printed as `published` (e.g. 0.96: a unit
    of 0.01, uniform rounding error, sd 0.01 / √12). At least 2 decimals: the replication
    printed 1.10 as 1.10, which a float keeps as 1.1."""
    decimals = max(2, len(repr(published).partition(".")[2]))
    return 10.0**-decimals / math.sqrt(12)


def recipe_comparison(results: dict) -> list[dict[str, float | int | str | bool]]:
    """Per published number (`PUBLISHED_REPLICATION`) at a size of the run: theirs, each
    variant's mean and standard error over seeds (`results` from `load_results` of
    `published_recipe.json`), and whether the recipe run matches.

    The recipe's standard error `se` combines the seeds' (std / √5) with, for test losses, the
    test-set draw's (the seed-mean per-point loss's std / √points). Their number carries noise of
    the same kind and size (same recipe, seeds and test-set size, other draws), plus its rounding
    (uniform over one unit of its last digit: sd unit / √12), so the standard error of the
    difference is √(2 se² + rounding²); `match` is |ours − theirs| ≤ MATCH_STANDARD_ERRORS of it,
    and `z` is the difference in those units.
    """
    runs = {run["variant"]: run for run in results["runs"]}
    rows = []
    for name, published in PUBLISHED_REPLICATION.items():
        for size, theirs in published.items():
            if size not in results["runs"][0]["sizes"]:
                continue  # a partial run (`--recipe-sizes`)
            row: dict[str, float | int | str | bool] = {
                "loss": name,
                "size": size,
                "published": theirs,
            }
            for variant, run in runs.items():
                i = run["sizes"].index(size)
                mean, se = _seed_mean_and_se(run[name][i])
                if name == "test_loss":
                    se = math.hypot(se, run["seed_mean_test_set_se"][i])
                row[variant], row[f"{variant}_se"] = mean, se
            difference_se = math.hypot(math.sqrt(2) * float(row["recipe_se"]), _rounding_sd(theirs))
            row["z"] = (float(row["recipe"]) - theirs) / difference_se
            row["match"] = abs(float(row["z"])) <= MATCH_STANDARD_ERRORS
            rows.append(row)
    return rows


def published_recipe_table(results: dict) -> list[str]:
    """A markdown table of `recipe_comparison`: published mean, the recipe run here ± its
    standard error, the full-batch and independent-sets ablations ± theirs, and the match."""
    lines = [
        "| loss | T | published | recipe here | full batch | independent sets | z | match |",
        "|---|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for row in recipe_comparison(results):
        cells = [
            f"{row[v]:.3f} ± {row[f'{v}_se']:.3f}"
            for v in ("recipe", "full_batch", "independent_sets")
        ]
        lines.append(
            f"| {str(row['loss']).replace('_loss', '')} | {row['size']} | {row['published']} | "
            + " | ".join(cells)
            + f" | {row['z']:+.1f} | {'yes' if row['match'] else 'no'} |"
        )
    return lines


def run_peaks(results: dict, setting: str) -> list[dict[str, float]]:
    """Per run: its `setting` value, the size with the largest mean test loss, that mean, and
    the median point and worst-1% share there."""
    peaks = []
    for run in results["runs"]:
        means = run["test_loss"].mean(1)
        i = means.argmax().item()
        peaks.append(
            {
                setting: run["config"][setting],
                "size": run["sizes"][i],
                "mean": means[i].item(),
                "median": run["tail"][i]["q50"],
                "worst_1pct_share": run["tail"][i]["worst_1pct_share"],
            }
        )
    return peaks


def peak_lines(results: dict, setting: str) -> list[str]:
    """`run_peaks` as printable lines."""
    return [
        f"{setting.replace('_', ' ')} {p[setting]:g}: peak mean test loss {p['mean']:.1f} at "
        f"T = {p['size']} (median point {p['median']:.3f}, worst 1% carry "
        f"{p['worst_1pct_share']:.0%})"
        for p in run_peaks(results, setting)
    ]


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


class SweepExplorer:
    """Browse one sweep by dataset size: geometry, dimensionalities and losses together.

    `render(index)` builds the figure and the text for one size (tests call it directly);
    `widget()` wraps it in an ipywidgets dropdown for Colab and Jupyter.
    """

    def __init__(
        self,
        sizes: Sequence[int],
        feature_vectors: Sequence[Float[Tensor, "d_hidden feats"]],
        hidden_data: Sequence[Float[Tensor, "d_hidden batch"]],
        feature_dims: Sequence[Float[Tensor, " feats"]],
        data_dims: Sequence[Float[Tensor, " batch"]],
        train_loss: Float[Tensor, "size inst"],
        test_loss: Float[Tensor, "size inst"],
        regimes: Sequence[str],
    ):
        lengths = {
            len(sizes),
            len(feature_vectors),
            len(hidden_data),
            len(feature_dims),
            len(data_dims),
            len(train_loss),
            len(test_loss),
            len(regimes),
        }
        if len(lengths) != 1 or not sizes:
            raise ValueError(
                "SweepExplorer: expected one entry per dataset size in every argument, got "
                f"lengths {sorted(lengths)}"
            )
        self.sizes = list(sizes)
        self.feature_vectors, self.hidden_data = feature_vectors, hidden_data
        self.feature_dims, self.data_dims = feature_dims, data_dims
        self.train_loss, self.test_loss, self.regimes = train_loss, test_loss, regimes

    def summary(self, index: int) -> str:
        """Losses, regime and dimensionalities of one dataset size, as text."""
        return (
            f"T = {self.sizes[index]} ({self.regimes[index]}): "
            f"train loss {self.train_loss[index].mean().item():.3f}, "
            f"test loss {self.test_loss[index].mean().item():.3f} (means over instances)\n"
            f"features: {summarise_dims(self.feature_dims[index])}\n"
            f"datapoints: {summarise_dims(self.data_dims[index])} (2/T = "
            f"{2 / self.sizes[index]:.4f})"
        )

    def render(self, index: int) -> tuple[go.Figure, str]:
        """Geometry figure (features, datapoints) and summary text for `sizes[index]`."""

        if not 0 <= index < len(self.sizes):
            raise ValueError(f"index: expected 0 ≤ index < {len(self.sizes)}, got {index}")
        T = self.sizes[index]
        figure = plot_features_in_2d(
            [self.feature_vectors[index], self.hidden_data[index]],
            subplot_titles=[f"features (T = {T})", f"hidden datapoints (T = {T})"],
            allow_different_limits_across_subplots=True,
        )
        return figure, self.summary(index)

    @staticmethod
    def figure_bundle(figure: go.Figure) -> dict[str, object]:
        """The mimebundle a notebook front end needs to draw `figure`.

        plotly's JSON (JupyterLab, VS Code, the HTML report of `scripts/make_report.py`), plus
        what the active default renderer adds, e.g. HTML in Colab, which cannot read that JSON.
        """
        import plotly.io as pio

        title = figure.layout.title.text or "untitled"
        return {
            "text/plain": f"<plotly figure: {title}>",
            "application/vnd.plotly.v1+json": json.loads(pio.to_json(figure)),
            **figure._repr_mimebundle_(),
        }

    def widget(self):
        """An ipywidgets dropdown over T that redraws the figure and the summary.

        The figure goes into the `Output` widget as an explicit mimebundle (`figure_bundle`):
        `append_display_data(figure)` would store an empty one, since a plotly `Figure` displays
        itself through `_ipython_display_` rather than through IPython's formatters.
        """
        import ipywidgets as widgets

        dropdown = widgets.Dropdown(
            options=[(f"T = {T}", i) for i, T in enumerate(self.sizes)],
            value=0,
            description="dataset:",
        )
        output = widgets.Output()

        def show(change: dict) -> None:
            figure, text = self.render(change["new"])
            output.outputs = (
                {"output_type": "stream", "name": "stdout", "text": text + "\n"},
                {"output_type": "display_data", "data": self.figure_bundle(figure), "metadata": {}},
            )

        dropdown.observe(show, names="value")
        show({"new": dropdown.value})
        return widgets.VBox([dropdown, output])
