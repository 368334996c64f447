"""The published scaled-down replication: its numbers, and ours beside them."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from jaxtyping import Float
from torch import Tensor

from .figures import ablation_figure

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


def recipe_draws(recipe: dict, draws: dict) -> list[dict[str, object]]:
    """Per size of `draws` (`load_results` of `published_recipe_draws.json`): the published test
    loss, the 5-seed mean test loss of every draw of the whole experiment (seed 0: the recipe run
    of `recipe`, `published_recipe.json`; then each stored draw), their range, and how many draws
    reach the published mean or more."""
    (seed_zero,) = [run for run in recipe["runs"] if run["variant"] == "recipe"]
    rows = []
    for size in draws["runs"][0]["sizes"]:
        means = {0: seed_zero["test_loss"][seed_zero["sizes"].index(size)].mean().item()}
        for run in draws["runs"]:
            means[run["config"]["seed"]] = run["test_loss"][run["sizes"].index(size)].mean().item()
        published = PUBLISHED_REPLICATION["test_loss"][size]
        rows.append(
            {
                "size": size,
                "published": published,
                "means": means,
                "low": min(means.values()),
                "high": max(means.values()),
                "reaching": sum(mean >= published for mean in means.values()),
            }
        )
    return rows
