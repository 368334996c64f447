"""Train the sweeps that the notebook loads from `results/` instead of running them in CI.

- `extended_sizes`: T = 5,000 and 10,000 with the main sweep's settings (they cost as much as the
  other 17 sizes together);
- `ablation_weight_decay`: weight decay 0, 1e-2, 1e-1, 1.0;
- `ablation_feature_probability`: p = 0.005, 0.01, 0.02 over the same grid of T · p.

Each file holds, per run, the engine config and the train and test loss of every
(size, instance), the test loss measured on one fresh 10,000-point test set.

Usage:
    python scripts/run_experiments.py                  # all three, full size (tens of minutes)
    python scripts/run_experiments.py --only ablation_weight_decay
    python scripts/run_experiments.py --quick --out /tmp/results   # tiny smoke run (seconds)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sweep_engine import (  # noqa: E402
    SweepConfig,
    SweepResult,
    evaluate_loss,
    generate_data,
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


EXPERIMENTS: dict[str, Callable[[SweepConfig], list[SweepConfig]]] = {
    "extended_sizes": extended_sizes,
    "ablation_weight_decay": ablation_weight_decay,
    "ablation_feature_probability": ablation_feature_probability,
}


def base_config(quick: bool) -> SweepConfig:
    """The main sweep's config, or a tiny one for smoke tests (sizes set per experiment)."""
    if not quick:
        return SweepConfig()
    return SweepConfig(n_features=40, n_instances=2, steps=60, warmup_steps=10)


def shrink(config: SweepConfig) -> SweepConfig:
    """For --quick: cap every size at 60 points and keep at most 2 instances."""
    sizes = tuple(dict.fromkeys(min(t, 60) for t in config.sizes))
    return dataclasses.replace(config, sizes=sizes, n_instances=min(config.n_instances, 2))


def sweep_test_loss(result: SweepResult) -> Float[Tensor, "size inst"]:
    """Loss of every (size, instance) model on one fresh, seeded test set of TEST_POINTS."""
    config = result.config
    generator = torch.Generator().manual_seed(TEST_SEED)
    test_set = generate_data(
        TEST_POINTS, 1, config.n_features, config.feature_probability, generator
    )[:, 0]
    return torch.stack([evaluate_loss(W, b, test_set) for W, b in zip(result.W, result.b)])


def measure(config: SweepConfig, cache_dir: Path | None, backend: str) -> dict:
    """Train one sweep and measure train and test loss per (size, instance)."""
    result = run_sweep(config, cache_dir=cache_dir, backend=backend)
    test_loss = sweep_test_loss(result)
    return {
        "config": dataclasses.asdict(config),
        "backend": backend,
        "sizes": list(config.sizes),
        "weight_decay": config.weight_decay,
        "feature_probability": config.feature_probability,
        "train_loss": result.train_loss.round(decimals=5).tolist(),
        "test_loss": test_loss.round(decimals=5).tolist(),
    }


def run_experiment(
    name: str, out_dir: Path, quick: bool, cache_dir: Path | None, backend: str = "auto"
) -> Path:
    """Run every sweep of one experiment and write `out_dir/<name>.json`."""
    configs = EXPERIMENTS[name](base_config(quick))
    if quick:
        configs = [shrink(c) for c in configs]
    runs = [measure(config, cache_dir, backend) for config in configs]
    path = out_dir / f"{name}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {
        "experiment": name,
        "made_by": "scripts/run_experiments.py" + (" --quick" if quick else ""),
        "test_set": {"points": TEST_POINTS, "seed": TEST_SEED},
        "runs": runs,
    }
    path.write_text(json.dumps(payload, indent=1) + "\n")
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(EXPERIMENTS), action="append")
    parser.add_argument("--quick", action="store_true", help="tiny configs, for smoke tests")
    parser.add_argument("--out", type=Path, default=ROOT / "results")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".sweep_cache")
    parser.add_argument("--backend", choices=("auto", "numba", "torch"), default="auto")
    args = parser.parse_args()
    for name in args.only or list(EXPERIMENTS):
        path = run_experiment(name, args.out, args.quick, args.cache_dir, args.backend)
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
