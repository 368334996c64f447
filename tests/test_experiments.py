"""The committed results match the experiment definitions, and the script regenerates them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

import part4_analysis as analysis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import run_experiments as experiments  # noqa: E402

from sweep_engine import SweepConfig, run_sweep  # noqa: E402


def check_shapes(results: dict, configs: list) -> None:
    # Fields added to SweepConfig later (warmup_start) are missing from older files: their
    # defaults reproduce the training those files were made with.
    assert [SweepConfig(**run["config"]) for run in results["runs"]] == configs
    for run, config in zip(results["runs"], configs, strict=True):
        expected = (len(config.sizes), config.n_instances)
        assert run["sizes"] == list(config.sizes)
        assert run["train_loss"].shape == expected and run["test_loss"].shape == expected
        assert torch.isfinite(run["test_loss"]).all() and (run["train_loss"] >= 0).all()


def check_details(results: dict) -> None:
    """Per-point tails and best-instance geometry: one entry per size, one dim per point."""
    for run in results["runs"]:
        assert len(run["tail"]) == len(run["sizes"])
        for tail, mean in zip(run["tail"], run["test_loss"].mean(1), strict=True):
            assert tail["q50"] <= tail["q90"] <= tail["q99"] and 0 < tail["worst_1pct_share"] <= 1
            assert tail["mean"] == pytest.approx(mean.item(), rel=1e-3)
        geometry = run["best_instance"]
        assert [len(d) for d in geometry["data_dims"]] == run["sizes"]
        assert geometry["index"] == run["train_loss"].argmin(1).tolist()
        if "snapshots" in run:
            check_snapshots(run)


def check_snapshots(run: dict) -> None:
    """SNAPSHOT_COUNT frames per size, ending with the final weights' test loss."""
    steps, frames = run["snapshots"]["steps"], run["snapshots"]["frames"]
    assert len(steps) == experiments.SNAPSHOT_COUNT and steps[-1] == run["config"]["steps"]
    for size, frame, final in zip(run["sizes"], frames, run["test_loss"], strict=True):
        assert frame["test_loss"].shape == (len(steps), run["config"]["n_instances"])
        torch.testing.assert_close(frame["test_loss"][-1], final, rtol=1e-4, atol=1e-4)
        assert len(frame["hidden"]) == len(steps) and len(frame["hidden"][0][0]) == size


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
    results = analysis.load_results(path)
    check_shapes(results, configs)
    check_details(results)
    assert results["test_set"]["points"] == experiments.TEST_POINTS_OF.get(name, 10_000)


def test_training_length_ends_with_the_main_sweep_and_scales_the_warmup():
    configs = experiments.training_length(experiments.base_config(quick=False))
    assert configs[-1] == SweepConfig()
    assert [c.steps for c in configs] == [3_000, 10_000, 25_000, 50_000]
    assert all(c.warmup_steps * 20 == c.steps for c in configs)


def test_published_replication_follows_its_schedule():
    (config,) = experiments.published_replication(experiments.base_config(quick=False))
    assert (config.steps, config.warmup_steps, config.warmup_start) == (3_000, 750, 0.1)
    assert (config.lr, config.weight_decay, config.n_instances) == (5e-3, 1e-2, 5)


def test_numba_and_torch_backends_agree_at_m_3():
    config = experiments.shrink(experiments.hidden_size(experiments.base_config(quick=True))[1])
    assert config.d_hidden == 3
    fused, plain = (
        run_sweep(config, backend=backend, cache_dir=None, progress=False)
        for backend in ("numba", "torch")
    )
    torch.testing.assert_close(fused.train_loss, plain.train_loss, rtol=2e-5, atol=1e-6)
