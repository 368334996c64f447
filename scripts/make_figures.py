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

from run_experiments import TEST_POINTS, TEST_SEED, sweep_test_loss  # noqa: E402

import part4_analysis as analysis  # noqa: E402
from part4_utils import plot_features_in_2d  # noqa: E402
from sweep_engine import SweepConfig, run_sweep  # noqa: E402

IMAGES = ROOT / "images"
RESULTS = ROOT / "results"
README = ROOT / "README.md"
TABLE = re.compile(r"(<!-- results:start -->\n).*?(<!-- results:end -->)", re.DOTALL)


def main_sweep() -> dict:
    """Geometry, dimensionalities, regimes and losses of the main sweep's best instances."""
    config = SweepConfig()
    result = run_sweep(config, cache_dir=ROOT / ".sweep_cache")
    features, hidden, feature_dims, data_dims = analysis.best_instance_geometry(result)
    rule = analysis.RegimeRule()
    return {
        "config": config,
        "features": features,
        "hidden": hidden,
        "feature_dims": feature_dims,
        "data_dims": data_dims,
        "regimes": [rule.classify(f, d) for f, d in zip(feature_dims, data_dims, strict=True)],
        "train_loss": result.train_loss,
        "test_loss": sweep_test_loss(result),
    }


def results_table(run: dict, extended: dict, wd: dict, fp: dict) -> str:
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
            "peak test loss by weight decay (5 instances)",
            "; ".join(analysis.ablation_peaks(wd, "weight_decay")),
            "bump grows as weight decay falls, gone at 1.0 (paper)",
        ),
        (
            "peak test loss by feature probability p",
            "; ".join(analysis.ablation_peaks(fp, "feature_probability")),
            "generalisation once T·p ≈ 5–10 (paper)",
        ),
    ]
    lines = ["| quantity | this repository (measured) | published |", "| --- | --- | --- |"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    IMAGES.mkdir(exist_ok=True)
    run = main_sweep()
    sizes = list(run["config"].sizes)
    figures = {
        "geometry": plot_features_in_2d(
            run["features"] + run["hidden"],
            title="Features (top) and hidden datapoints (bottom), best instance per T",
            subplot_titles=[f"feat. T={t}" for t in sizes] + [f"data T={t}" for t in sizes],
            allow_different_limits_across_subplots=True,
            n_rows=2,
        ),
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
    for name, figure in figures.items():
        width, height = (2400, 420) if name == "geometry" else (900, 450)
        figure.write_image(IMAGES / f"{name}.png", width=width, height=height, scale=1)
        print(f"wrote images/{name}.png")
    (IMAGES / "figures_config.json").write_text(
        json.dumps(
            {
                "main_sweep": dataclasses.asdict(run["config"]),
                "test_set": {"points": TEST_POINTS, "seed": TEST_SEED},
                "ablations": [
                    "results/ablation_weight_decay.json",
                    "results/ablation_feature_probability.json",
                ],
                "made_by": "scripts/make_figures.py",
            },
            indent=1,
        )
        + "\n"
    )
    extended = analysis.load_results(RESULTS / "extended_sizes.json")["runs"][0]
    table = results_table(run, extended, wd, fp)
    README.write_text(TABLE.sub(lambda m: m.group(1) + table + m.group(2), README.read_text()))
    print(table)


if __name__ == "__main__":
    main()
