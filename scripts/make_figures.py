"""Render the reference figures in `images/` and the README's results table from real runs.

Reads the main sweep through the engine (from `.sweep_cache/` when it has been run before, else it
trains it: a few minutes) and the ablation results in `results/` (from `run_experiments.py`).
Needs kaleido and a Chromium (Debian's `chromium` here) to write PNGs.

Usage:
    python scripts/make_figures.py
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import plotly.graph_objects as go  # noqa: E402
import torch  # noqa: E402
from browsers import GET_BROWSER, find_chromium  # noqa: E402
from run_experiments import (  # noqa: E402
    SHORT_STEPS,
    TEST_POINTS,
    TEST_SEED,
    sweep_test_loss,
    test_set,
)
from torch import Tensor  # noqa: E402

import part4_analysis as analysis  # noqa: E402
from sweep_engine import SweepConfig, SweepResult, run_sweep  # noqa: E402

IMAGES = ROOT / "images"
RESULTS = ROOT / "results"
README = ROOT / "README.md"
NEW_RESULTS = (
    "published_replication",
    "training_length",
    "hidden_size",
    "paper_scale",
    "paper_scale_large",
    "learning_dynamics",
    "learning_rate_sweep",
    "learning_rate_large",
)
LR_GEOMETRY_SIZES = (10, 300, 3000, 30000)
"""Sizes of the lowest-train-loss geometry figure: memorising, the former peak, the largest
main-sweep size and the largest size."""
STRIP_FRAMES = (8, 12, 16, 19)
"""Snapshots in the learning-dynamics strip (of 20 log-spaced steps)."""
SPIKE_SIZE = 10
TABLE = re.compile(r"(<!-- results:start -->\n).*?(<!-- results:end -->)", re.DOTALL)


def main_sweep() -> dict:
    """Geometry, dimensionalities, regimes and losses of the main sweep's best instances, and
    the per-point anatomy of its test-loss peak and of its T = 10 spike."""
    config = SweepConfig()
    result = run_sweep(config, cache_dir=ROOT / ".sweep_cache")
    features, hidden, feature_dims, data_dims = analysis.best_instance_geometry(result)
    rule = analysis.RegimeRule()
    best_train = result.train_loss.gather(1, result.best_instance()[:, None])[:, 0]
    regimes = [
        rule.classify(f, d, train_loss=t)
        for f, d, t in zip(feature_dims, data_dims, best_train.tolist(), strict=True)
    ]
    test_loss = sweep_test_loss(result)
    return {
        "config": config,
        "features": features,
        "hidden": hidden,
        "feature_dims": feature_dims,
        "data_dims": data_dims,
        "regimes": regimes,
        "train_loss": result.train_loss,
        "test_loss": test_loss,
    } | peak_anatomy(result, test_loss)


def peak_anatomy(result: SweepResult, test_loss: Tensor) -> dict:
    """Per-point losses at the peak and at the largest T, the blow-up summary at the peak, and
    the largest feature of the worst instance at T = SPIKE_SIZE."""
    test = test_set(result.config)
    peak = test_loss.mean(1).argmax().item()
    spike = result.config.sizes.index(SPIKE_SIZE)
    worst = test_loss[spike].argmax().item()
    return {
        "peak_points": analysis.per_point_loss(result.W[peak], result.b[peak], test).flatten(),
        "large_points": analysis.per_point_loss(result.W[-1], result.b[-1], test).flatten(),
        "blowup": analysis.blowup_summary(result.W[peak], result.b[peak], test),
        "spike": analysis.largest_feature(
            result.W[spike][worst], result.b[spike][worst], result.data(spike)[:, worst], test
        )
        | {"instance": worst},
    }


def issue_rows(run: dict, new: dict[str, dict]) -> list[tuple[str, str, str]]:
    """README rows of the replication check, the tail, the spike, and the three new sweeps."""
    replication = new["published_replication"]["runs"][0]
    blowup, spike, peak = run["blowup"], run["spike"], run["test_loss"].mean(1).argmax().item()
    tail = new["training_length"]["runs"][-1]["tail"][peak]
    paper_run = paper_scale_run(new)
    paper = analysis.run_peaks({"runs": [paper_run]}, "n_features")[0]
    paper_steps, paper_train = paper_run["config"]["steps"], paper_run["train_loss"][0].mean()
    rising = ", the largest size: still rising" if paper["size"] == paper_run["sizes"][-1] else ""
    pentagon, p = (
        paper_run["best_instance"]["feature_dims_top"][-1][:5],
        paper_run["feature_probability"],
    )
    return [
        (
            "published replication's setting (lr 5e-3, 3k steps, 5 instances, 5k test points)",
            "; ".join(analysis.replication_rows(replication)),
            "test loss 1.10, 1.03, 1.25, 1.53, 1.06, 0.995, 0.993 at T = 3, 100, 200, 500, "
            "1000, 1946, 5282; train loss 0.88 (T = 100), 0.96 (T = 500)",
        ),
        (
            f"per-point test loss at the peak (T = {run['config'].sizes[peak]})",
            f"median {tail['q50']:.3f}, {tail['above_2']:.0%} of points above 2, the worst 1% "
            f"carry {tail['worst_1pct_share']:.0%} of the total",
            "—",
        ),
        (
            "weights and worst test points at the peak",
            f"{blowup['weights']['features_norm_above_3']:.0f} features per instance with norm "
            f"> 3 (median norm {blowup['weights']['median_norm_above_3']:.1f}, median bias "
            f"{blowup['weights']['median_bias_norm_above_3']:.1f}); worst 1% of test points: "
            f"hidden norm {blowup['worst']['hidden_norm']:.1f} (all points "
            f"{blowup['all']['hidden_norm']:.1f}), {blowup['worst']['false_fire_share']:.0%} of "
            "their loss from absent features that fire",
            "—",
        ),
        (
            f"T = {SPIKE_SIZE} spike",
            f"instance {spike['instance']}: one feature of norm {spike['norm']:.1f} (next "
            f"{spike['runner_up_norm']:.1f}), bias {spike['bias']:.1f}, in "
            f"{spike['train_points']} training point(s); the {spike['test_fraction']:.0%} of "
            f"test points containing it carry {spike['loss_share']:.0%} of that instance's "
            f"test loss ({spike['test_loss']:.2f})",
            "—",
        ),
        (
            "peak mean test loss by training steps (10 instances)",
            "; ".join(analysis.peak_lines(new["training_length"], "steps")),
            "the bump grows with training (paper)",
        ),
        (
            f"peak mean test loss by hidden size m (3 instances, {SHORT_STEPS:,} steps)",
            "; ".join(analysis.peak_lines(new["hidden_size"], "d_hidden")),
            "double descent along m too (paper)",
        ),
        (
            "learning dynamics (best instance, main sweep's settings)",
            learning_row(new["learning_dynamics"]),
            "the bump grows with training (paper)",
        ),
        (
            "lowest train loss over 5 learning rates (1e-3 to 1e-1) and their instances",
            learning_rate_row(new["learning_rate_sweep"], new["learning_rate_large"]),
            "memorising has the lowest train loss up to ~500k samples at the paper's scale, "
            "then a first-order switch to generalising (follow-up, July 2023)",
        ),
        (
            f"paper's scale (n = 10,000, p = 0.001, 3 instances, {paper_steps:,} steps)",
            f"largest mean test loss {paper['mean']:.2f} at T = {paper['size']} "
            f"(T·p = {paper['size'] * p:g}){rising}; train loss {paper_train:.2f} at the "
            f"smallest T (T·p = {paper_run['sizes'][0] * p:g}); top feature dims at the largest "
            f"T: {', '.join(f'{v:.2f}' for v in pentagon)}; pentagon test (5 features of "
            f"dimensionality ≥ 0.15, 72° ± 18° apart): {pentagon_counts(new)}",
            "peak at T ≈ 2000 (T·p ≈ 2), about 0.015 above 1, after 50,000 steps (paper); "
            "middle-regime test losses up to ~5,000, generalising from T ≈ 20,000 (Jermyn's "
            "replication in the paper's comments)",
        ),
    ]


def paper_scale_run(new: dict[str, dict]) -> dict:
    """The paper-scale sweep with the sizes of `paper_scale_large` after its own."""
    return analysis.join_sizes(new["paper_scale"]["runs"][0], new["paper_scale_large"]["runs"][0])


def pentagon_counts(new: dict[str, dict]) -> str:
    """How many instances pass the pentagon test at each size of `paper_scale_large`."""
    (run,) = new["paper_scale_large"]["runs"]
    return ", ".join(
        f"{sum(test['regular'] for test in tests)} of {len(tests)} instances at T = {T:,}"
        for T, tests in zip(run["sizes"], run["polygons"], strict=True)
    )


def learning_row(results: dict) -> str:
    """Per size of the learning-dynamics run: the best instance's test loss at STRIP_FRAMES and
    the first snapshot with at least 3 features of dimensionality ≥ 0.15."""
    (run,) = results["runs"]
    steps, parts = run["snapshots"]["steps"], []
    for size, frames, best in zip(
        run["sizes"], run["snapshots"]["frames"], run["best_instance"]["index"]
    ):
        losses = ", ".join(f"{frames['test_loss'][f][best].item():.3g}" for f in STRIP_FRAMES)
        strong = [
            (analysis.dimensionality(torch.tensor(W).T) >= 0.15).sum().item() >= 3
            for W in frames["features"]
        ]
        formed = f"from step {steps[strong.index(True)]:,}" if any(strong) else "never"
        parts.append(f"T = {size}: test loss {losses}; ≥ 3 strong features {formed}")
    return f"(steps {', '.join(f'{steps[f]:,}' for f in STRIP_FRAMES)}) " + "; ".join(parts)


def learning_rate_row(*results: dict) -> str:
    """The kinds of the lowest-train-loss models as spans of T, and their test loss at the
    main sweep's peak size."""
    winners = analysis.lowest_train_loss(*results)
    spans = "; ".join(
        f"{kind} at T = {first}" + (f"–{last}" if last != first else "")
        for kind, first, last in analysis.kind_spans(winners)
    )
    peak = max(winners, key=lambda w: w["test_loss"])
    return (
        f"{spans}; largest test loss of a lowest-train-loss model {peak['test_loss']:.0f} at "
        f"T = {peak['size']} (lr {peak['lr']:g})"
    )


def issue_figures(run: dict, new: dict[str, dict]) -> dict[str, go.Figure]:
    """The figures of the replication check, the tail, and the three new sweeps."""
    sizes = list(run["config"].sizes)
    peak = run["test_loss"].mean(1).argmax().item()
    main = new["training_length"]["runs"][-1]
    paper_run = paper_scale_run(new)
    (large_run,) = new["paper_scale_large"]["runs"]
    paper_steps = paper_run["config"]["steps"]
    course_run = next(
        r for r in new["training_length"]["runs"] if r["config"]["steps"] == paper_steps
    )
    return {
        "published_replication": analysis.replication_figure(
            new["published_replication"]["runs"][0]
        ),
        "test_loss_tail": analysis.tail_figure(sizes, main["tail"]),
        "test_loss_histogram": analysis.loss_histogram_figure(
            {
                f"T = {sizes[peak]} (the peak)": run["peak_points"],
                f"T = {sizes[-1]}": run["large_points"],
            }
        ),
        "training_length": analysis.training_length_figure(new["training_length"]),
        "hidden_size": analysis.hidden_size_figure(new["hidden_size"]),
        "learning_dynamics": analysis.learning_strip_figure(
            new["learning_dynamics"]["runs"][0], STRIP_FRAMES
        ),
        "learning_rate": analysis.learning_rate_figure(
            new["learning_rate_sweep"], new["learning_rate_large"]
        ),
        "learning_rate_geometry": analysis.winners_geometry_figure(
            new["learning_rate_sweep"]["winners"] + new["learning_rate_large"]["winners"],
            LR_GEOMETRY_SIZES,
        ),
        "paper_scale": analysis.paper_scale_figure(
            {
                f"n = 1000, p = 0.01, {paper_steps:,} steps (10 instances)": course_run,
                f"n = 10,000, p = 0.001, {paper_steps:,} steps (3 instances)": paper_run,
            }
        ),
        "paper_scale_geometry": analysis.geometry_figure(
            large_run["sizes"],
            [torch.tensor(W) for W in large_run["best_geometry"]["features"]],
            [torch.tensor(h) for h in large_run["best_geometry"]["hidden"]],
            shown=large_run["sizes"],
        ),
    }


def results_table(
    run: dict, extended: dict, wd: dict, fp: dict, extra_rows: list[tuple[str, str, str]]
) -> str:
    """Markdown table of the measured regimes and peak beside the published numbers."""
    sizes, regimes = list(run["config"].sizes), run["regimes"]
    means = run["test_loss"].mean(1)
    peak = means.argmax().item()

    def span(name: str) -> str:
        members = [str(t) for t, r in zip(sizes, regimes, strict=True) if r == name]
        if not members:
            return "none"
        return f"T = {members[0]}" if len(members) == 1 else f"T = {members[0]}–{members[-1]}"

    last = len(sizes) - 1
    strong = run["feature_dims"][last]
    threshold = analysis.RegimeRule().feature_threshold
    strong = strong[strong >= threshold].sort(descending=True).values
    ext_sizes = extended["sizes"]
    ext_means = extended["test_loss"].mean(1)
    rows = [
        ("memorising regime", span("memorising"), "T ≲ 100"),
        ("transition regime", span("transition"), "T ≈ 200–500"),
        ("generalising regime", span("generalising"), "T ≳ 1000"),
        (
            "peak of mean test loss",
            f"{means[peak].item():.3f} at T = {sizes[peak]}",
            "≈ 1.25 at T = 200, ≈ 1.5 at T = 500 (replication, other steps/rate)",
        ),
        (
            f"features with D ≥ {threshold} at T = {sizes[last]}",
            f"{strong.numel()}: {', '.join(f'{v:.2f}' for v in strong.tolist())}",
            "about 5 (a pentagon), D ≈ 0.2–0.33",
        ),
        (
            "mean test loss at large T",
            ", ".join(f"{m:.3f} (T = {t})" for t, m in zip(ext_sizes, ext_means.tolist())),
            "≈ 0.99 by T ≈ 2700 (replication); just below 1 (paper)",
        ),
    ]
    rows += [
        (
            "peak test loss by weight decay (5 instances; train loss in the figure)",
            "; ".join(analysis.ablation_peaks(wd, "weight_decay")),
            "bump grows as weight decay falls, gone at 1.0 (paper)",
        ),
        (
            "peak test loss by feature probability p",
            "; ".join(analysis.ablation_peaks(fp, "feature_probability")),
            "generalisation once T·p ≈ 5–10 (paper)",
        ),
    ]
    rows += extra_rows
    lines = ["| quantity | this repository (measured) | published |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


SHAPES = {
    "geometry": (1200, 500),
    "learning_rate_geometry": (1200, 600),
    "learning_rate": (950, 750),
}
"""PNG width and height per figure, where not 900 × 450."""


def write_pngs(figures: dict[str, go.Figure]) -> bool:
    """Render every figure to images/<name>.png; without a browser for kaleido, print one line
    saying so and how to get one, leave images/ as it was and return False."""
    if find_chromium() is None:
        print(
            f"Skipped the PNGs (images/ left as it was): kaleido found no Chrome or Chromium; "
            f"get one with {GET_BROWSER}, then run python scripts/make_figures.py again."
        )
        return False
    for name, figure in figures.items():
        width, height = SHAPES.get(name, (900, 450))
        figure.write_image(IMAGES / f"{name}.png", width=width, height=height, scale=1)
        print(f"wrote images/{name}.png")
    return True


def write_figures_config(config: SweepConfig) -> None:
    """images/figures_config.json: the configs and results files the PNGs were made from."""
    (IMAGES / "figures_config.json").write_text(
        json.dumps(
            {
                "main_sweep": dataclasses.asdict(config),
                "test_set": {"points": TEST_POINTS, "seed": TEST_SEED},
                "ablations": [
                    "results/ablation_weight_decay.json",
                    "results/ablation_feature_probability.json",
                ]
                + [f"results/{name}.json" for name in NEW_RESULTS],
                "made_by": "scripts/make_figures.py",
            },
            indent=1,
        )
        + "\n"
    )


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    run = main_sweep()
    sizes = list(run["config"].sizes)
    figures = {
        "geometry": analysis.geometry_figure(sizes, run["features"], run["hidden"]),
        "dimensionality": analysis.dimensionality_figure(
            sizes, run["feature_dims"], run["data_dims"], run["regimes"]
        ),
        "loss_curve": analysis.loss_curve_figure(
            sizes, run["train_loss"], run["test_loss"], run["regimes"]
        ),
    }
    wd = analysis.load_results(RESULTS / "ablation_weight_decay.json")
    fp = analysis.load_results(RESULTS / "ablation_feature_probability.json")
    figures["ablation_weight_decay"] = analysis.weight_decay_figure(wd)
    figures["ablation_feature_probability"] = analysis.feature_probability_figure(fp)
    extended = analysis.load_results(RESULTS / "extended_sizes.json")["runs"][0]
    new = {name: analysis.load_results(RESULTS / f"{name}.json") for name in NEW_RESULTS}
    figures |= issue_figures(run, new)
    if write_pngs(figures):
        write_figures_config(run["config"])
    table = results_table(run, extended, wd, fp, issue_rows(run, new))
    README.write_text(TABLE.sub(lambda m: m.group(1) + table + m.group(2), README.read_text()))
    print(table)


if __name__ == "__main__":
    main()
