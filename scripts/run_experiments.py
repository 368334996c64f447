"""Train the sweeps that the notebook loads from `results/` instead of running them in CI.

- `extended_sizes`: T = 5,000 and 10,000 with the main sweep's settings (they cost as much as the
  other 17 sizes together);
- `ablation_weight_decay`: weight decay 0, 1e-2, 1e-1, 1.0;
- `ablation_feature_probability`: p = 0.005, 0.01, 0.02 over the same grid of T · p;
- `published_replication`: the published scaled-down replication's own recipe (lr 5e-3, 3,000
  steps, warmup from 0.1 · lr over the first 25%, 5 instances, a 5,000-point test set);
- `training_length`: the course setting at 3k, 10k and 25k steps; its 50k run is the main sweep;
- `hidden_size`: m = 2, 3, 5 (10k steps, T up to 5,000: about 12 minutes on 2 cores);
- `paper_scale`: the paper's n = 10,000, p = 0.001, 50k steps, T · p = 0.03 to 10 (about 40 minutes
  on 2 cores);
- `paper_scale_large`: the same at T = 20,000 and 40,000 with the bound kernel (about 30 minutes
  on 2 cores; a checkpoint every 500 steps in the cache directory, so run it again to resume);
- `learning_dynamics`: 3 sizes with 20 log-spaced weight snapshots of the best instance;
- `learning_rate_sweep`, `learning_rate_large`: the main sweep at 5 peak rates (1e-3 to 1e-1),
  5 instances, and at T = 10,000 and 30,000 with 2 instances; every model's solution kind, and
  the geometry of the lowest-train-loss model per size (the authors' follow-up, July 2023);
- `published_recipe`: the replication trained as its code trains (minibatches of min(T, 2048)
  drawn with replacement, 5 seeds on one shared training set), with two one-factor ablations
  (full batch; independent training sets): `scripts/published_recipe.py`, not the engine;
- `published_recipe_draws`: that recipe at T = 1000 with 8 more seeds of the whole experiment
  (training set, inits, minibatch draws, test set), about 2 minutes each on one core; it keeps
  the seeds already in its file, so a stopped run resumes.

Each file holds, per run, the engine config, the train and test loss of every (size, instance),
the per-point test-loss distribution per size and the best instance's geometry, the test loss
measured on one fresh test set (10,000 points, seed 1234, unless the experiment says otherwise).
Runs are cached in `--cache-dir`, so writing a file again after training is free.

Usage:
    python scripts/run_experiments.py                  # all of them, full size (hours on 2 cores)
    python scripts/run_experiments.py --only training_length
    python scripts/run_experiments.py --quick --out /tmp/results   # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import part4_analysis as analysis  # noqa: E402
import published_recipe as recipe  # noqa: E402
from sweep_engine import (  # noqa: E402
    SweepConfig,
    SweepResult,
    evaluate_loss,
    generate_data,
    log_spaced_steps,
    run_sweep,
)

TEST_POINTS, TEST_SEED = 10_000, 1234
ABLATION_INSTANCES = 5
ABLATION_SIZES = (5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000, 3000)
EXPOSURES = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)  # T · p grid


def extended_sizes(base: SweepConfig) -> list[SweepConfig]:
    """The main sweep's settings at T = 5,000 and 10,000."""
    return [dataclasses.replace(base, sizes=(5000, 10000))]


def ablation_weight_decay(base: SweepConfig) -> list[SweepConfig]:
    """One sweep per weight decay."""
    return [
        dataclasses.replace(base, weight_decay=wd, n_instances=ABLATION_INSTANCES)
        for wd in (0.0, 1e-2, 1e-1, 1.0)
    ]


def ablation_feature_probability(base: SweepConfig) -> list[SweepConfig]:
    """One sweep per feature probability p, with sizes chosen on a shared grid of T · p."""
    return [
        dataclasses.replace(
            base,
            feature_probability=p,
            sizes=tuple(round(exposure / p) for exposure in EXPOSURES),
            n_instances=ABLATION_INSTANCES,
        )
        for p in (0.005, 0.01, 0.02)
    ]


PAPER_SCALE_SIZES = (30, 100, 300, 1000, 2000, 4000, 10000)
"""T · p = 0.03 to 10 at p = 0.001: from memorising, through the paper's peak (T ≈ 2000), to where
the course setting generalises (T · p = 10)."""
SHORT_STEPS = 10_000
"""Steps of the hidden-size sweeps: the peak's position does not move between 3k and 50k steps at
the course setting (`training_length`), its height does."""
PAPER_SCALE_STEPS = 50_000
"""Steps of the paper-scale sweep: the paper's 50,000 (each step costs 10× a course step per
datapoint)."""
REPLICATION_SIZES = (3, 5, 8, 10, 15, 30, 50, 100, 200, 500, 1000, 1395, 1946, 2714, 3786, 5282)
"""The published replication's sizes up to 5282 (its largest tabulated size)."""
STEP_COUNTS = (3_000, 10_000, 25_000)
STEP_SIZES = (10, 30, 100, 200, 300, 500, 1000)
HIDDEN_SIZES = (10, 30, 100, 200, 300, 500, 1000, 2000, 3000, 5000)
DYNAMICS_SIZES = (10, 300, 1000)
"""A memorising, a transition and a generalising size for the snapshots."""
SNAPSHOT_COUNT = 20


def shortened(config: SweepConfig, steps: int = SHORT_STEPS) -> SweepConfig:
    """`config` trained for `steps` (scaled with --quick), warmup 5% of the steps."""
    steps = round(config.steps * steps / 50_000)
    return dataclasses.replace(config, steps=steps, warmup_steps=steps // 20)


def paper_scale(base: SweepConfig) -> list[SweepConfig]:
    """The paper's own scale: n = 10,000 features, S = 0.999 (p = 0.001), 3 instances."""
    scaled = dataclasses.replace(
        base,
        n_features=base.n_features * 10,
        feature_probability=base.feature_probability / 10,
        n_instances=3,
        sizes=PAPER_SCALE_SIZES,
    )
    return [shortened(scaled, PAPER_SCALE_STEPS)]


PAPER_SCALE_LARGE_SIZES = (20_000, 40_000)
"""Beyond `paper_scale`: where a replication trained as the paper describes (Adam Jermyn's comment
on the paper) saw the model generalise, from T = 20,000 on."""
PAPER_SCALE_LARGE_CHECKPOINT_EVERY = 500
"""Steps between checkpoints of `paper_scale_large` (run_sweep's default is 5,000): a stopped run
loses at most this many steps (about a minute) when the same command is run again."""


def paper_scale_large(base: SweepConfig) -> list[SweepConfig]:
    """`paper_scale` at PAPER_SCALE_LARGE_SIZES with the bound kernel (hours on 2 cores: it
    checkpoints every PAPER_SCALE_LARGE_CHECKPOINT_EVERY steps and resumes when run again)."""
    return [
        dataclasses.replace(config, sizes=PAPER_SCALE_LARGE_SIZES, kernel="bound")
        for config in paper_scale(base)
    ]


def published_replication(base: SweepConfig) -> list[SweepConfig]:
    """The replication's own setting: lr 5e-3, 3,000 steps, warmup over the first 25% from
    0.1 · lr, cosine to 0, 5 instances, its sizes (test set: REPLICATION_TEST_POINTS)."""
    steps = round(base.steps * 3_000 / 50_000)
    return [
        dataclasses.replace(
            base,
            sizes=REPLICATION_SIZES,
            n_instances=5,
            lr=5e-3,
            steps=steps,
            warmup_steps=steps // 4,
            warmup_start=0.1,
        )
    ]


def training_length(base: SweepConfig) -> list[SweepConfig]:
    """The course setting at 3k, 10k and 25k steps (warmup 5% of the steps, as 2,500 of 50k),
    around the peak; the 50k point is the main sweep itself (same sizes' data and init)."""
    scale = base.steps / 50_000
    shorter = [
        dataclasses.replace(
            base, sizes=STEP_SIZES, steps=round(s * scale), warmup_steps=round(s * scale) // 20
        )
        for s in STEP_COUNTS
    ]
    return shorter + [base]


def hidden_size(base: SweepConfig) -> list[SweepConfig]:
    """Hidden size m = 2, 3 and 5 (the engine's general-m path for m > 2), 3 instances."""
    return [
        shortened(dataclasses.replace(base, d_hidden=m, sizes=HIDDEN_SIZES, n_instances=3))
        for m in (2, 3, 5)
    ]


LEARNING_RATES = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
"""Peak rates of the learning-rate sweeps: the course's 1e-3 up to 100× it. A 10k-step pilot at
T = 10, 300 and 3000 trained worse at 1e-4 and 3e-4 than at 1e-3 at every size, and worse at
1e-1 than at 3e-2."""
LEARNING_RATE_INSTANCES = 5
"""Instances per rate and size: 25 models per size over the 5 rates (the main sweep has 10)."""
LARGE_SIZES = (10_000, 30_000)
"""Sizes beyond the main sweep for the learning-rate sweep (T · p = 100 and 300)."""
LARGE_INSTANCES = 2


def learning_rate_sweep(base: SweepConfig) -> list[SweepConfig]:
    """The main sweep at every rate of LEARNING_RATES (the bound kernel: same training up to
    float32 rounding, faster at large T)."""
    return [
        dataclasses.replace(base, lr=lr, kernel="bound", n_instances=LEARNING_RATE_INSTANCES)
        for lr in LEARNING_RATES
    ]


def learning_rate_large(base: SweepConfig) -> list[SweepConfig]:
    """`learning_rate_sweep` at LARGE_SIZES with LARGE_INSTANCES instances."""
    return [
        dataclasses.replace(config, sizes=LARGE_SIZES, n_instances=LARGE_INSTANCES)
        for config in learning_rate_sweep(base)
    ]


def learning_dynamics(base: SweepConfig) -> list[SweepConfig]:
    """The main sweep's settings at DYNAMICS_SIZES, 3 instances, with weight snapshots."""
    return [dataclasses.replace(base, sizes=DYNAMICS_SIZES, n_instances=3)]


EXPERIMENTS: dict[str, Callable[[SweepConfig], list[SweepConfig]]] = {
    "extended_sizes": extended_sizes,
    "ablation_weight_decay": ablation_weight_decay,
    "ablation_feature_probability": ablation_feature_probability,
    "paper_scale": paper_scale,
    "paper_scale_large": paper_scale_large,
    "published_replication": published_replication,
    "training_length": training_length,
    "hidden_size": hidden_size,
    "learning_dynamics": learning_dynamics,
    "learning_rate_sweep": learning_rate_sweep,
    "learning_rate_large": learning_rate_large,
}
TEST_POINTS_OF: dict[str, int] = {"published_replication": 5_000}
"""Test-set size where an experiment follows a setting with its own (default TEST_POINTS)."""


def base_config(quick: bool) -> SweepConfig:
    """The main sweep's config, or a tiny one for smoke tests (sizes set per experiment)."""
    if not quick:
        return SweepConfig()
    return SweepConfig(n_features=40, n_instances=2, steps=60, warmup_steps=10)


def shrink(config: SweepConfig) -> SweepConfig:
    """For --quick: cap every size at 60 points and keep at most 2 instances."""
    sizes = tuple(dict.fromkeys(min(t, 60) for t in config.sizes))
    return dataclasses.replace(config, sizes=sizes, n_instances=min(config.n_instances, 2))


def test_set(config: SweepConfig, points: int = TEST_POINTS) -> Float[Tensor, "batch feats"]:
    """One fresh test set of `points` datapoints from the config's distribution (seed TEST_SEED)."""
    generator = torch.Generator().manual_seed(TEST_SEED)
    return generate_data(points, 1, config.n_features, config.feature_probability, generator)[:, 0]


def sweep_test_loss(result: SweepResult, points: int = TEST_POINTS) -> Float[Tensor, "size inst"]:
    """Loss of every (size, instance) model on one fresh, seeded test set of `points`."""
    test = test_set(result.config, points)
    return torch.stack([evaluate_loss(W, b, test) for W, b in zip(result.W, result.b)])


def rounded(values: list[float], digits: int = 5) -> list[float]:
    """Floats rounded for the JSON files."""
    return [round(v, digits) for v in values]


def geometry_summary(result: SweepResult) -> dict:
    """The best instance of every size: its index, its 8 largest feature dimensionalities and
    all its datapoint dimensionalities."""
    _, _, feature_dims, data_dims = analysis.best_instance_geometry(result)
    return {
        "index": result.best_instance().tolist(),
        "feature_dims_top": [
            rounded(d.topk(min(8, d.numel())).values.tolist()) for d in feature_dims
        ],
        "data_dims": [rounded(d.tolist()) for d in data_dims],
    }


def measure(
    config: SweepConfig,
    cache_dir: Path | None,
    backend: str,
    test_points: int = TEST_POINTS,
    checkpoint_every: int = 5000,
) -> dict:
    """Train one sweep (checkpointing every `checkpoint_every` steps) and measure train and test
    loss per (size, instance), the per-point test-loss distribution per size and the best
    instance's geometry."""
    result = run_sweep(
        config, cache_dir=cache_dir, backend=backend, checkpoint_every=checkpoint_every
    )
    test = test_set(config, test_points)
    tails = [
        analysis.tail_statistics(analysis.per_point_loss(W, b, test))
        for W, b in zip(result.W, result.b)
    ]
    return {
        "config": dataclasses.asdict(config),
        "backend": backend,
        "sizes": list(config.sizes),
        "weight_decay": config.weight_decay,
        "feature_probability": config.feature_probability,
        "train_loss": result.train_loss.round(decimals=5).tolist(),
        "test_loss": sweep_test_loss(result, test_points).round(decimals=5).tolist(),
        "tail": [dict(zip(tail, rounded(list(tail.values())))) for tail in tails],
        "best_instance": geometry_summary(result),
    }


def best_frames(result: SweepResult, size_index: int, test: Tensor) -> dict:
    """Per snapshot: every instance's test loss, and the best instance's features (d_hidden,
    feats) and hidden training datapoints (d_hidden, T), rounded for the JSON file."""
    best = int(result.best_instance()[size_index])
    data = result.data(size_index)[:, best]
    W_snaps, b_snaps = result.W_snapshots[size_index], result.b_snapshots[size_index]
    return {
        "test_loss": [
            rounded(evaluate_loss(W, b, test).tolist()) for W, b in zip(W_snaps, b_snaps)
        ],
        "features": [[rounded(row, 3) for row in W[best].tolist()] for W in W_snaps],
        "hidden": [
            [rounded(row, 3) for row in analysis.hidden_vectors(W[best], data).tolist()]
            for W in W_snaps
        ],
    }


def measure_snapshots(
    config: SweepConfig, cache_dir: Path | None, backend: str, test_points: int = TEST_POINTS
) -> dict:
    """`measure`, plus SNAPSHOT_COUNT log-spaced snapshots of every size (`best_frames`)."""
    steps = log_spaced_steps(config.steps, SNAPSHOT_COUNT)
    result = run_sweep(config, cache_dir=cache_dir, backend=backend, snapshot_steps=steps)
    test = test_set(config, test_points)
    frames = [best_frames(result, i, test) for i in range(len(config.sizes))]
    return measure(config, cache_dir, backend, test_points) | {
        "snapshots": {"steps": steps, "frames": frames}
    }


def solutions(result: SweepResult) -> dict:
    """Every model's solution kind and hidden-direction share (`analysis.solution_kind`), per
    size and instance."""
    kinds, shares = [], []
    for i in range(len(result.W)):
        data = result.data(i)
        hidden = [analysis.hidden_vectors(W, data[:, k]) for k, W in enumerate(result.W[i])]
        kinds.append([analysis.solution_kind(W, data[:, k]) for k, W in enumerate(result.W[i])])
        shares.append(rounded([analysis.direction_share(h) for h in hidden], 4))
    return {"kind": kinds, "direction_share": shares}


def measure_solutions(
    config: SweepConfig, cache_dir: Path | None, backend: str, test_points: int = TEST_POINTS
) -> dict:
    """`measure`, plus every model's solution kind (`solutions`)."""
    result = run_sweep(config, cache_dir=cache_dir, backend=backend)
    return measure(config, cache_dir, backend, test_points) | {"solutions": solutions(result)}


def polygons(result: SweepResult) -> list[list[dict]]:
    """The pentagon test (`analysis.polygon_test`) of every model, per size and instance."""
    tests = [[analysis.polygon_test(W) for W in W_size] for W_size in result.W]
    return [
        [
            test | {"dims": rounded(test["dims"], 4), "gaps": rounded(test["gaps"], 1)}
            for test in row
        ]
        for row in tests
    ]


def measure_polygons(
    config: SweepConfig,
    cache_dir: Path | None,
    backend: str,
    test_points: int = TEST_POINTS,
    checkpoint_every: int = 5000,
) -> dict:
    """`measure`, plus every model's solution kind (`solutions`) and pentagon test (`polygons`),
    and the best instance's features (d_hidden, feats) and hidden datapoints (d_hidden, at most
    MAX_HIDDEN_STORED) per size."""
    measured = measure(config, cache_dir, backend, test_points, checkpoint_every)
    result = run_sweep(config, cache_dir=cache_dir, backend=backend)
    best = result.best_instance().tolist()
    features = [result.W[i][k] for i, k in enumerate(best)]
    hidden = [
        analysis.hidden_vectors(W, result.data(i)[:MAX_HIDDEN_STORED, k])
        for i, (W, k) in enumerate(zip(features, best))
    ]
    return measured | {
        "solutions": solutions(result),
        "polygons": polygons(result),
        "best_geometry": {
            "features": [[rounded(row, 4) for row in W.tolist()] for W in features],
            "hidden": [[rounded(row, 3) for row in h.tolist()] for h in hidden],
        },
    }


MAX_HIDDEN_STORED = 3000
"""Hidden datapoints stored per winner: the first 3,000 of larger training sets."""


def keep_lowest_train_loss(
    configs: list[SweepConfig], cache_dir: Path | None, backend: str, payload: dict
) -> None:
    """Add `winners` to `payload`: per size, the model with the lowest train loss over all runs
    and instances, with its rate, kind, losses, features (d_hidden, feats) and hidden datapoints
    (d_hidden, at most MAX_HIDDEN_STORED)."""
    results = [run_sweep(c, cache_dir=cache_dir, backend=backend) for c in configs]
    winners = []
    for i, size in enumerate(configs[0].sizes):
        r, k = min(
            ((r, k) for r, result in enumerate(results) for k in range(configs[r].n_instances)),
            key=lambda rk: results[rk[0]].train_loss[i, rk[1]].item(),
        )
        run, W = payload["runs"][r], results[r].W[i][k]
        hidden = analysis.hidden_vectors(W, results[r].data(i)[:MAX_HIDDEN_STORED, k])
        winners.append(
            {
                "size": size,
                "lr": configs[r].lr,
                "instance": k,
                "train_loss": run["train_loss"][i][k],
                "test_loss": run["test_loss"][i][k],
                "kind": run["solutions"]["kind"][i][k],
                "features": [rounded(row, 3) for row in W.tolist()],
                "hidden": [rounded(row, 3) for row in hidden.tolist()],
            }
        )
    payload["winners"] = winners


MEASURES: dict[str, Callable[..., dict]] = {
    "learning_dynamics": measure_snapshots,
    "learning_rate_sweep": measure_solutions,
    "learning_rate_large": measure_solutions,
    "paper_scale_large": functools.partial(
        measure_polygons, checkpoint_every=PAPER_SCALE_LARGE_CHECKPOINT_EVERY
    ),
}
"""How an experiment measures its runs, where not with `measure`."""
FINISHES: dict[str, Callable[[list[SweepConfig], Path | None, str, dict], None]] = {
    "learning_rate_sweep": keep_lowest_train_loss,
    "learning_rate_large": keep_lowest_train_loss,
}
"""What an experiment adds to its file from all its runs together, after measuring each."""


def run_published_recipe(out_dir: Path, quick: bool, sizes: tuple[int, ...] | None = None) -> Path:
    """Train the replication's recipe and its ablations (`recipe.VARIANTS`), at `sizes` (a
    subset of the recipe's; default all), and write `out_dir/published_recipe.json` after each
    variant. With `sizes`, the sizes already in that file are kept (`merge_recipe_runs`). Not
    cached."""
    base = recipe.recipe_config(quick)
    if sizes is not None:
        base = dataclasses.replace(base, sizes=tuple(sizes))
    path = out_dir / "published_recipe.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = json.loads(path.read_text())["runs"] if sizes is not None and path.exists() else []
    payload = {
        "experiment": "published_recipe",
        "made_by": "scripts/run_experiments.py" + (" --quick" if quick else ""),
        "test_set": {"points": base.test_points, "seed": "per size"},
        "runs": [],
    }
    with _one_thread():
        for variant, config in recipe.variant_configs(base).items():
            run = {"variant": variant} | recipe.run_recipe(config)
            print(f"published_recipe {variant}: {run['seconds']} s", flush=True)
            old = [r for r in kept if r["variant"] == variant]
            payload["runs"].append(merge_recipe_runs(old[0], run) if old else run)
            path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def run_recipe_draws(out_dir: Path, quick: bool) -> Path:
    """Train the replication's recipe once per seed of `recipe.draw_configs` and write
    `out_dir/published_recipe_draws.json` after each; seeds already in that file (same config
    otherwise) are kept, so a stopped run resumes. Not cached."""
    path = out_dir / "published_recipe_draws.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    made_by = "scripts/run_experiments.py" + (" --quick" if quick else "")
    configs = recipe.draw_configs(recipe.recipe_config(quick))
    wanted = {json.dumps(dataclasses.asdict(c), sort_keys=True) for c in configs}
    stored = json.loads(path.read_text()) if path.exists() else {"made_by": None, "runs": []}
    runs = [
        run
        for run in stored["runs"]
        if stored["made_by"] == made_by and json.dumps(run["config"], sort_keys=True) in wanted
    ]
    payload = {
        "experiment": "published_recipe_draws",
        "made_by": made_by,
        "test_set": {"points": configs[0].test_points, "seed": "per size and draw"},
        "runs": runs,
    }
    done = {run["config"]["seed"] for run in runs}
    with _one_thread():
        for config in (c for c in configs if c.seed not in done):
            payload["runs"].append({"variant": "recipe"} | recipe.run_recipe(config))
            payload["runs"].sort(key=lambda run: run["config"]["seed"])
            seconds = next(
                r["seconds"] for r in payload["runs"] if r["config"]["seed"] == config.seed
            )
            print(f"published_recipe_draws seed {config.seed}: {seconds} s", flush=True)
            path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


RECIPE_SIZE_FIELDS = ("train_loss", "test_loss", "test_set_se", "seed_mean_test_set_se")
"""The per-size entries of a published-recipe run."""


def merge_recipe_runs(old: dict, new: dict) -> dict:
    """One variant's run with the sizes of both, in increasing order (`new` wins a size both
    have). Their configs must agree except in the sizes."""
    if {**old["config"], "sizes": None} != {**new["config"], "sizes": None}:
        raise ValueError(f"{new['variant']}: the stored run has another config; rerun all sizes")
    entries = {
        size: {name: run[name][i] for name in RECIPE_SIZE_FIELDS}
        for run in (old, new)
        for i, size in enumerate(run["sizes"])
    }
    sizes = sorted(entries)
    return {
        "variant": new["variant"],
        "config": new["config"] | {"sizes": sizes},
        "sizes": sizes,
        **{name: [entries[t][name] for t in sizes] for name in RECIPE_SIZE_FIELDS},
        "seconds": round(old["seconds"] + new["seconds"], 1),
    }


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run with one torch thread (the machine's cores are shared), restoring the count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


OWN_TRAINERS: dict[str, Callable[[Path, bool], Path]] = {
    "published_recipe": run_published_recipe,
    "published_recipe_draws": run_recipe_draws,
}
"""Experiments that train with their own loop instead of `run_sweep` (no SweepConfig)."""


def run_experiment(
    name: str, out_dir: Path, quick: bool, cache_dir: Path | None, backend: str = "auto"
) -> Path:
    """Run every sweep of one experiment and write `out_dir/<name>.json`."""
    if name in OWN_TRAINERS:
        return OWN_TRAINERS[name](out_dir, quick)
    configs = EXPERIMENTS[name](base_config(quick))
    if quick:
        configs = [shrink(c) for c in configs]
    test_points = TEST_POINTS_OF.get(name, TEST_POINTS)
    measure_run = MEASURES.get(name, measure)
    runs = [measure_run(config, cache_dir, backend, test_points) for config in configs]
    path = out_dir / f"{name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "experiment": name,
        "made_by": "scripts/run_experiments.py" + (" --quick" if quick else ""),
        "test_set": {"points": test_points, "seed": TEST_SEED},
        "runs": runs,
    }
    if name in FINISHES:
        FINISHES[name](configs, cache_dir, backend, payload)
    indent = None if name in MEASURES else 1  # the files with geometry: compact
    path.write_text(json.dumps(payload, indent=indent) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(EXPERIMENTS | OWN_TRAINERS), action="append")
    parser.add_argument("--quick", action="store_true", help="tiny configs, for smoke tests")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".sweep_cache")
    parser.add_argument("--backend", choices=("auto", "numba", "torch"), default="auto")
    parser.add_argument(
        "--recipe-sizes",
        type=int,
        nargs="+",
        help="published_recipe: train only these sizes, keeping the stored file's others",
    )
    args = parser.parse_args()
    for name in args.only or list(EXPERIMENTS | OWN_TRAINERS):
        if name == "published_recipe" and args.recipe_sizes:
            print(f"wrote {run_published_recipe(args.out, args.quick, tuple(args.recipe_sizes))}")
            continue
        path = run_experiment(name, args.out, args.quick, args.cache_dir, args.backend)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
