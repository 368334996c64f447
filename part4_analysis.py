"""Analysis and figures for the double-descent sweep, shared by the notebooks and the scripts.

The notebook computes dimensionalities and test losses with the student's own functions and passes
them in here; `scripts/make_figures.py` uses `dimensionality` below. Every figure is a plotly
`Figure`, so the same call renders in Colab, Jupyter and (through kaleido) to the PNGs in `images/`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import einops
import numpy as np
import plotly.graph_objects as go
import torch
from jaxtyping import Float
from plotly.subplots import make_subplots
from torch import Tensor

REGIME_COLOURS = {
    "memorising": "rgba(99, 110, 250, 0.12)",
    "transition": "rgba(239, 85, 59, 0.12)",
    "generalising": "rgba(0, 204, 150, 0.12)",
}


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


def best_instance_geometry(
    result, dimensionality_fn: Callable[[Tensor], Tensor] = dimensionality
) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
    """Feature vectors (d_hidden, feats), hidden datapoints (d_hidden, T) and the
    dimensionalities of both, for the best instance of every size of an engine `SweepResult`.

    `dimensionality_fn` maps (k, d) vectors to (k,) dimensionalities: the notebook passes the
    student's own function.
    """
    best = result.best_instance()
    features, hidden = [], []
    for i in range(len(result.W)):
        features.append(result.W[i][best[i]])
        hidden.append(hidden_vectors(features[-1], result.data(i)[:, best[i]]))
    feature_dims = [dimensionality_fn(w.T) for w in features]
    data_dims = [dimensionality_fn(h.T) for h in hidden]
    return features, hidden, feature_dims, data_dims


@dataclass(frozen=True)
class RegimeRule:
    """Thresholds that name a trained model's regime from its geometry.

    - generalising: at least `min_features` features have dimensionality ≥ `feature_threshold`
      (the pentagon's features sit at about 0.2–0.33; memorising models keep every feature
      below about 0.1 once T ≳ 10);
    - memorising: otherwise, if at least `min_fraction` of the datapoints get a dimensionality of
      at least `data_fraction_of_gon` × m/T (a regular T-gon gives every point exactly m/T);
    - transition: neither (both geometries have collapsed).
    """

    data_fraction_of_gon: float = 0.5
    min_fraction: float = 0.7
    feature_threshold: float = 0.15
    min_features: int = 3

    def classify(
        self,
        feature_dims: Float[Tensor, " feats"],
        data_dims: Float[Tensor, " batch"],
        d_hidden: int = 2,
    ) -> str:
        """'memorising', 'transition' or 'generalising' for one model."""
        n_points = data_dims.numel()
        gon_value = d_hidden / n_points
        represented = (data_dims >= self.data_fraction_of_gon * gon_value).float().mean().item()
        n_strong_features = int((feature_dims >= self.feature_threshold).sum().item())
        if n_strong_features >= self.min_features:
            return "generalising"
        if represented >= self.min_fraction:
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
                x=xs.round(3),
                y=ys.round(4),
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


def ablation_figure(
    curves: dict[str, tuple[Sequence[float], Float[Tensor, "size inst"]]],
    title: str,
    x_title: str = "dataset size T",
) -> go.Figure:
    """Mean test loss against x (log-log) for several settings; bars span min–max of instances."""
    if not curves:
        raise ValueError("curves: expected at least one labelled curve, got none")
    fig = go.Figure()
    palette = ["#636efa", "#ef553b", "#00cc96", "#ab63fa", "#ffa15a", "#19d3f3"]
    for i, (label, (xs, losses)) in enumerate(curves.items()):
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
                name=label,
                line=dict(color=palette[i % len(palette)]),
            )
        )
    fig.add_hline(y=1.0, line=dict(color="black", dash="dash", width=1))
    fig.update_layout(
        title=title,
        xaxis=dict(type="log", title=x_title),
        yaxis=dict(type="log", title="test loss (mean; bars: min–max over instances)"),
        height=420,
        width=900,
    )
    return fig


def weight_decay_figure(results: dict) -> go.Figure:
    """Test loss against T, one curve per weight decay (`results` from `load_results`)."""
    return ablation_figure(
        {
            f"weight decay {r['weight_decay']:g}": (r["sizes"], r["test_loss"])
            for r in results["runs"]
        },
        title="Test loss against T for several weight decays",
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
        from part4_utils import plot_features_in_2d

        if not 0 <= index < len(self.sizes):
            raise ValueError(f"index: expected 0 ≤ index < {len(self.sizes)}, got {index}")
        T = self.sizes[index]
        figure = plot_features_in_2d(
            [self.feature_vectors[index], self.hidden_data[index]],
            subplot_titles=[f"features (T = {T})", f"hidden datapoints (T = {T})"],
            allow_different_limits_across_subplots=True,
        )
        return figure, self.summary(index)

    def widget(self):
        """An ipywidgets dropdown over T that redraws the figure and the summary."""
        import ipywidgets as widgets

        dropdown = widgets.Dropdown(
            options=[(f"T = {T}", i) for i, T in enumerate(self.sizes)],
            value=0,
            description="dataset:",
        )
        output = widgets.Output()

        def show(change: dict) -> None:
            figure, text = self.render(change["new"])
            output.outputs = ()
            output.append_stdout(text + "\n")
            output.append_display_data(figure)

        dropdown.observe(show, names="value")
        show({"new": dropdown.value})
        return widgets.VBox([dropdown, output])
