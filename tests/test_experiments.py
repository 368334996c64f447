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

import published_recipe as recipe  # noqa: E402
from published_recipe import RecipeConfig  # noqa: E402
from sweep_engine import SweepConfig, lr_multiplier, run_sweep  # noqa: E402


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
        best = run["train_loss"].gather(1, torch.tensor(geometry["index"])[:, None])[:, 0]
        assert best.tolist() == run["train_loss"].min(1).values.tolist()  # ties: rounded losses
        if "snapshots" in run:
            check_snapshots(run)
        if "solutions" in run:
            check_solutions(run)
        if "polygons" in run:
            check_polygons(run)
    if "winners" in results:
        check_winners(results)


def check_solutions(run: dict) -> None:
    """A kind and a direction share for every (size, instance)."""
    expected = [run["config"]["n_instances"]] * len(run["sizes"])
    for key in ("kind", "direction_share"):
        assert [len(row) for row in run["solutions"][key]] == expected
    assert {k for row in run["solutions"]["kind"] for k in row} <= set(analysis.SOLUTION_KINDS)
    assert all(0 <= share <= 1 for row in run["solutions"]["direction_share"] for share in row)


def check_polygons(run: dict) -> None:
    """A pentagon test for every (size, instance): 5 dimensionalities, 5 gaps round the circle."""
    expected = [run["config"]["n_instances"]] * len(run["sizes"])
    assert [len(row) for row in run["polygons"]] == expected
    for test in (test for row in run["polygons"] for test in row):
        assert len(test["dims"]) == 5 and test["dims"] == sorted(test["dims"], reverse=True)
        assert len(test["gaps"]) == 5 and sum(test["gaps"]) == pytest.approx(360, abs=0.3)
        assert isinstance(test["regular"], bool)
    geometry = run["best_geometry"]
    for T, W, hidden in zip(run["sizes"], geometry["features"], geometry["hidden"], strict=True):
        assert len(W) == 2 == len(hidden) and len(W[0]) == run["config"]["n_features"]
        assert len(hidden[0]) == min(T, experiments.MAX_HIDDEN_STORED)


def check_winners(results: dict) -> None:
    """Per size, the stored winner has the lowest train loss of all runs and its geometry."""
    runs = results["runs"]
    for i, winner in enumerate(results["winners"]):
        assert winner["size"] == runs[0]["sizes"][i]
        assert winner["train_loss"] == min(run["train_loss"][i].min().item() for run in runs)
        (run,) = [r for r in runs if r["config"]["lr"] == winner["lr"]]
        assert run["train_loss"][i, winner["instance"]].item() == winner["train_loss"]
        assert winner["kind"] == run["solutions"]["kind"][i][winner["instance"]]
        assert len(winner["features"]) == 2 == len(winner["hidden"])
        assert len(winner["features"][0]) == run["config"]["n_features"]
        assert len(winner["hidden"][0]) == min(winner["size"], experiments.MAX_HIDDEN_STORED)


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
    path = ROOT / "results" / f"{name}.json"
    results = analysis.load_results(path)
    assert results["experiment"] == name and results["made_by"] == "scripts/run_experiments.py"
    check_shapes(results, experiments.EXPERIMENTS[name](experiments.base_config(quick=False)))
    if name in experiments.FINISHES:
        check_winners(results)


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


def test_learning_rate_sweeps_change_only_the_rate_instances_and_kernel():
    base = experiments.base_config(quick=False)
    main = experiments.learning_rate_sweep(base)
    large = experiments.learning_rate_large(base)
    assert [c.lr for c in main] == [c.lr for c in large] == list(experiments.LEARNING_RATES)
    assert max(experiments.LEARNING_RATES) / min(experiments.LEARNING_RATES) >= 100
    for config in main:
        assert config == dataclasses.replace(
            base, lr=config.lr, kernel="bound", n_instances=experiments.LEARNING_RATE_INSTANCES
        )
    for config, short in zip(large, main, strict=True):
        assert config == dataclasses.replace(
            short, sizes=experiments.LARGE_SIZES, n_instances=experiments.LARGE_INSTANCES
        )


def test_paper_scale_large_is_the_paper_scale_at_larger_sizes():
    base = experiments.base_config(quick=False)
    (paper,) = experiments.paper_scale(base)
    (large,) = experiments.paper_scale_large(base)
    assert large == dataclasses.replace(paper, sizes=(20_000, 40_000), kernel="bound")
    assert (large.n_features, large.feature_probability) == (10_000, 0.001)
    assert (large.steps, large.n_instances) == (50_000, 3)


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


def check_recipe_runs(results: dict, base: recipe.RecipeConfig) -> None:
    """One run per variant, in order, with its config and (size, inst) losses."""
    configs = recipe.variant_configs(base)
    assert [run["variant"] for run in results["runs"]] == list(configs)
    expected = (len(base.sizes), base.n_instances)
    for run, config in zip(results["runs"], configs.values(), strict=True):
        assert recipe.RecipeConfig(**run["config"] | {"sizes": tuple(run["sizes"])}) == config
        for name in ("train_loss", "test_loss"):
            assert run[name].shape == expected and torch.isfinite(run[name]).all()
        assert len(run["seed_mean_test_set_se"]) == len(base.sizes)
        assert all(len(se) == base.n_instances for se in run["test_set_se"])


def test_published_recipe_committed_results_come_from_the_current_definitions():
    """The committed file may hold a subset of the sizes (`--recipe-sizes`)."""
    results = analysis.load_results(ROOT / "results" / "published_recipe.json")
    assert results["made_by"] == "scripts/run_experiments.py"
    sizes = tuple(results["runs"][0]["sizes"])
    assert set(sizes) <= set(recipe.RECIPE_SIZES)
    check_recipe_runs(results, dataclasses.replace(recipe.recipe_config(quick=False), sizes=sizes))
    table = analysis.published_recipe_table(results)
    published = [s for v in analysis.PUBLISHED_REPLICATION.values() for s in v if s in sizes]
    assert len(table) == 2 + len(published)


def test_recipe_sizes_trained_apart_merge_into_the_run_of_all_sizes(tmp_path):
    whole = json.loads(experiments.run_published_recipe(tmp_path / "a", quick=True).read_text())
    for sizes in ((60, 3), (20,)):
        path = experiments.run_published_recipe(tmp_path / "b", quick=True, sizes=sizes)
    merged = json.loads(path.read_text())
    for one, other in zip(whole["runs"], merged["runs"], strict=True):
        assert one.pop("seconds") >= 0 and other.pop("seconds") >= 0
        assert one == other
    changed = dataclasses.replace(recipe.recipe_config(quick=True), lr=1.0)
    run = {"variant": "recipe", "config": dataclasses.asdict(changed)}
    with pytest.raises(ValueError, match="recipe: the stored run has another config"):
        experiments.merge_recipe_runs(merged["runs"][0], run)


def test_recipe_draws_committed_results_come_from_the_current_definitions():
    results = analysis.load_results(ROOT / "results" / "published_recipe_draws.json")
    assert results["made_by"] == "scripts/run_experiments.py"
    configs = recipe.draw_configs(recipe.recipe_config(quick=False))
    assert [
        RecipeConfig(**run["config"] | {"sizes": tuple(run["config"]["sizes"])})
        for run in results["runs"]
    ] == configs
    assert recipe.DRAW_SIZES == (1000,) and len(configs) == len(recipe.DRAW_SEEDS) >= 8
    assert 0 not in recipe.DRAW_SEEDS  # seed 0 is the recipe run of published_recipe.json
    for run in results["runs"]:
        assert run["test_loss"].shape == run["train_loss"].shape == (1, 5)
    rows = analysis.recipe_draws(
        analysis.load_results(ROOT / "results" / "published_recipe.json"), results
    )
    assert [len(row["means"]) for row in rows] == [1 + len(configs)]


def test_recipe_draws_resume_from_the_seeds_stored(tmp_path):
    path = experiments.run_recipe_draws(tmp_path, quick=True)
    whole = json.loads(path.read_text())
    assert [run["config"]["seed"] for run in whole["runs"]] == list(recipe.DRAW_SEEDS)
    kept = dict(whole, runs=whole["runs"][2:5])
    path.write_text(json.dumps(kept))
    resumed = json.loads(experiments.run_recipe_draws(tmp_path, quick=True).read_text())
    assert resumed["runs"][2:5] == kept["runs"], "stored seeds are kept as they are"
    for one, other in zip(whole["runs"], resumed["runs"], strict=True):
        assert one.pop("seconds") >= 0 and other.pop("seconds") >= 0
        assert one == other, "a retrained seed gives the same numbers"
    path.write_text(json.dumps(dict(whole, made_by="scripts/run_experiments.py")))
    again = json.loads(experiments.run_recipe_draws(tmp_path, quick=True).read_text())
    assert again["made_by"].endswith("--quick") and len(again["runs"]) == len(recipe.DRAW_SEEDS)


def test_recipe_fused_gradients_train_as_autograd_does():
    config = recipe.recipe_config(quick=True)
    fused, plain = (recipe.train_size(config, 20, fused=f) for f in (True, False))
    for a, b in zip(fused, plain):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_script_regenerates_the_published_recipe_at_reduced_size(tmp_path):
    path = experiments.run_experiment("published_recipe", tmp_path, quick=True, cache_dir=None)
    results = analysis.load_results(path)
    base = recipe.recipe_config(quick=True)
    assert base.batch_size < max(base.sizes)  # both sides of min(T, batch_size) run
    check_recipe_runs(results, base)
    assert results["test_set"]["points"] == base.test_points


def test_minibatch_indices_draw_min_size_batch_with_replacement():
    gen = torch.Generator().manual_seed(0)
    small = recipe.minibatch_indices(100, 5, 2048, gen)
    assert small.shape == (5, 100) and small.min() >= 0 and small.max() < 100
    # with replacement: a 100-of-100 draw repeats an index (all distinct: p = 100!/100^100)
    assert all(len(set(row.tolist())) < 100 for row in small)
    assert not torch.equal(small[0], small[1])  # each instance draws its own indices
    large = recipe.minibatch_indices(5282, 3, 2048, gen)
    assert large.shape == (3, 2048) and large.max() < 5282
    full = recipe.minibatch_indices(7, 2, None, gen)
    assert full.tolist() == [list(range(7))] * 2


def test_recipe_schedule_is_the_replications_linear_then_cosine():
    """Its code steps LinearLR(0.1, 750) for the first 750 updates, then CosineAnnealingLR(2250):
    the multiplier of `lr_multiplier` (used by both the recipe and `published_replication`)."""
    config = recipe.RecipeConfig()
    opt = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=config.lr)
    warmup = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=750)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2250)
    theirs = []
    for step in range(config.steps):
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        (warmup if step < 750 else cosine).step()
    ours = [
        config.lr * lr_multiplier(s, config.steps, config.warmup_steps, config.warmup_start)
        for s in range(config.steps)
    ]
    torch.testing.assert_close(torch.tensor(ours), torch.tensor(theirs), rtol=1e-6, atol=1e-9)
    (engine,) = experiments.published_replication(experiments.base_config(quick=False))
    assert (engine.steps, engine.warmup_steps, engine.warmup_start) == (
        config.steps,
        config.warmup_steps,
        config.warmup_start,
    )
