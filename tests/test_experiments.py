"""The committed results match the experiment definitions, and the script regenerates them."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest
import torch

import part4_analysis as analysis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import run_experiments as experiments  # noqa: E402


def check_shapes(results: dict, configs: list) -> None:
    as_json = [json.loads(json.dumps(dataclasses.asdict(c))) for c in configs]
    assert [run["config"] for run in results["runs"]] == as_json
    for run, config in zip(results["runs"], configs, strict=True):
        expected = (len(config.sizes), config.n_instances)
        assert run["sizes"] == list(config.sizes)
        assert run["train_loss"].shape == expected and run["test_loss"].shape == expected
        assert torch.isfinite(run["test_loss"]).all() and (run["train_loss"] >= 0).all()


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_committed_results_come_from_the_current_definitions(name):
    results = analysis.load_results(ROOT / "results" / f"{name}.json")
    assert results["experiment"] == name and results["made_by"] == "scripts/run_experiments.py"
    check_shapes(results, experiments.EXPERIMENTS[name](experiments.base_config(quick=False)))


@pytest.mark.parametrize("name", sorted(experiments.EXPERIMENTS))
def test_script_regenerates_each_experiment_at_reduced_size(name, tmp_path):
    path = experiments.run_experiment(name, tmp_path, quick=True, cache_dir=None, backend="numba")
    configs = [
        experiments.shrink(c)
        for c in experiments.EXPERIMENTS[name](experiments.base_config(quick=True))
    ]
    check_shapes(analysis.load_results(path), configs)
