"""Stored results (`results/*.json`, written by `scripts/run_experiments.py`) and their peaks."""

from __future__ import annotations

import json
from pathlib import Path

import torch


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
