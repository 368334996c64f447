"""Benchmark: the fused numba engine against the straightforward PyTorch model, per step.

Run from the repository root: ``python benchmarks/bench_engine.py``. Times both backends in this
one process (10 instances, n = 1000 features, d_hidden = 2) at several dataset sizes and for the
whole paper sweep, then measures the JIT compile time and the peak memory of a full-sweep run in
fresh subprocesses.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import sweep_engine as se  # noqa: E402

SIZES = (3, 100, 1000, 3000)
FULL_STEPS = 50_000


def engine(config: se.SweepConfig, backend: str) -> se._Backend:
    """A fresh engine (step 0) of the given backend for ``config``."""
    sparse, W, b = se.build_problem(config)
    state = se.TrainState.fresh(W, b)
    if backend == "numba":
        return se._NumbaBackend(config, sparse, state)
    return se._TorchBackend(config, sparse, state, torch.device("cpu"))


def ms_per_step(config: se.SweepConfig, backend: str, min_seconds: float) -> float:
    """Median-free simple timing: one warm-up step, then whole chunks until ``min_seconds``."""
    eng = engine(config, backend)
    lrs = np.full(config.steps, config.lr)
    eng.advance(0, 1, lrs[:1])
    chunk = 1 if backend == "torch" else 50
    done, start = 1, time.perf_counter()
    while time.perf_counter() - start < min_seconds and done + chunk <= config.steps:
        eng.advance(done, chunk, lrs[done : done + chunk])
        done += chunk
    return (time.perf_counter() - start) / (done - 1) * 1e3


def jit_seconds() -> float:
    """Compile time of the kernels from an empty numba cache, in a fresh process."""
    code = (
        "import time, sweep_engine as se, dataclasses;"
        "c = se.SweepConfig(sizes=(3, 5), n_features=20, n_instances=1, steps=2, warmup_steps=1);"
        "t = time.perf_counter();"
        "se.run_sweep(c, backend='numba', cache_dir=None, progress=False);"
        "sparse, W, b = se.build_problem(c); se.fused_loss_and_grads(W[0], b[0], sparse.dense(0));"
        "print(time.perf_counter() - t)"
    )
    with tempfile.TemporaryDirectory() as cache:
        env = os.environ | {"NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    return float(out.stdout.strip().splitlines()[-1])


def peak_rss_gib(steps: int) -> float:
    """Peak resident memory (GiB, VmHWM) of a fresh process running the full sweep for ``steps``.

    Memory does not grow with the step count (beyond the loss history), so a short run tells.
    """
    code = (
        "import sweep_engine as se;"
        f"se.run_sweep(se.SweepConfig(steps={steps}, warmup_steps=10), backend='numba',"
        " cache_dir=None, progress=False);"
        "print(open('/proc/self/status').read())"
    )
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    kib = next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("VmHWM"))
    return int(kib) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per cell")
    args = parser.parse_args()
    base = se.SweepConfig(steps=FULL_STEPS)
    print(
        f"threads: numba {numba.get_num_threads()}, torch {torch.get_num_threads()}; "
        f"{base.n_instances} instances, n = {base.n_features}, d_hidden = {base.d_hidden}"
    )
    rows = [(f"T = {T}", dataclasses.replace(base, sizes=(T,))) for T in SIZES]
    rows.append((f"sweep ({len(base.sizes)} sizes)", base))
    header = f"{'':>18} {'torch ms/step':>14} {'numba ms/step':>14} {'speed-up':>9}"
    print(header + f" {'numba 50k steps':>16}")
    for name, config in rows:
        time.sleep(1.0)  # let torch's idle OpenMP threads stop spinning before timing numba
        fused = ms_per_step(config, "numba", args.seconds)
        plain = ms_per_step(config, "torch", args.seconds)
        projected = fused * FULL_STEPS / 1e3
        print(
            f"{name:>18} {plain:>14.2f} {fused:>14.3f} {plain / fused:>8.0f}x {projected:>14.0f} s"
        )
    print(f"JIT compile (empty cache, fresh process): {jit_seconds():.1f} s")
    print(f"peak RSS of a full-sweep run (fresh process): {peak_rss_gib(200):.2f} GiB")


if __name__ == "__main__":
    main()
