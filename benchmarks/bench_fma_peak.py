"""Microbenchmark: the float32 FMA peak of one core, for the engine's pinned CPU level.

Run from the repository root: ``python benchmarks/bench_fma_peak.py``. It first pins numba to
the same CPU level as the engine's kernel (``pin_numba_cpu``: x86-64-v3 on any AVX2 machine,
256-bit vectors), before it creates any numba function, so the number printed is the roofline
that kernel can reach: many independent chains of fused multiply-adds on data that stays in L1,
one thread. For comparison it
also prints a one-thread float32 matmul of PyTorch (which may use wider vectors than the pin).
Reports the best of several repeats (the machine may be shared).

Then it times the engine's dense pass (``_dense_pass_m2``, 14 flops per (datapoint, feature)
pair: 6 FMAs, a max and an add) and the bound kernel's pair-by-pair loop on all pairs
(``_exact_pairs_pass`` with nothing decided) at T = 1000 and 3000, n = 1000, one thread, the
two interleaved, and prints their GFLOP/s against the FMA peak measured in the same process.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from jaxtyping import Float

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from double_descent.engine import cpu  # noqa: E402

cpu.pin_numba_cpu()  # before the first @njit below: numba fixes its CPU then
kernels, bound = cpu.numba_module("kernels"), cpu.numba_module("bound")

from numba import njit  # noqa: E402

CHAINS = 8
"""Independent dependency chains per vector lane group: 2 FMA ports x 4 cycles latency."""
DEPTH = 8
"""Dependent FMAs per chain between a load and a store."""


@njit(fastmath={"contract"}, cache=True)
def _fma_chains(x, a, b, reps):  # pragma: no cover - numba
    """``reps`` times, every x[k, i] <- (x[k, i] · a + b) applied DEPTH times, k < CHAINS.

    The i loop is vectorised; the CHAINS rows give independent chains inside one iteration.
    """
    L = x.shape[1]
    x0, x1, x2, x3, x4, x5, x6, x7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    for _ in range(reps):
        for i in range(L):
            v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
            v4, v5, v6, v7 = x4[i], x5[i], x6[i], x7[i]
            for _k in range(DEPTH):
                v0 = v0 * a + b
                v1 = v1 * a + b
                v2 = v2 * a + b
                v3 = v3 * a + b
                v4 = v4 * a + b
                v5 = v5 * a + b
                v6 = v6 * a + b
                v7 = v7 * a + b
            x0[i], x1[i], x2[i], x3[i] = v0, v1, v2, v3
            x4[i], x5[i], x6[i], x7[i] = v4, v5, v6, v7


def fma_gflops(seconds: float = 0.3, length: int = 256) -> float:
    """GFLOP/s (an FMA counts 2) of :func:`_fma_chains` on one thread, one timed call."""
    x: Float[np.ndarray, "chains length"] = np.random.default_rng(0).random(
        (CHAINS, length), np.float32
    )
    a, b = np.float32(0.999), np.float32(0.001)
    _fma_chains(x, a, b, 1)
    reps = max(1, int(seconds * 1e9 / (CHAINS * length * DEPTH * 2 * 50)))
    start = time.perf_counter()
    _fma_chains(x, a, b, reps)
    elapsed = time.perf_counter() - start
    return reps * CHAINS * length * DEPTH * 2 / elapsed / 1e9


def matmul_gflops(size: int = 1024, repeats: int = 5) -> float:
    """GFLOP/s of a one-thread float32 ``torch.mm`` of two (size, size) matrices (best run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        a, b = torch.rand(size, size), torch.rand(size, size)
        torch.mm(a, b)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, b)
            best = min(best, time.perf_counter() - start)
    finally:
        torch.set_num_threads(threads)
    return 2 * size**3 / best / 1e9


@njit(cache=True)
def _dense_passes(W, b, h, dh, gW, gb, reps):  # pragma: no cover - numba
    """``reps`` dense passes of the engine's m = 2 kernel (its loop, called from compiled code)."""
    for _ in range(reps):
        kernels._dense_pass_m2(W, b, h, dh, gW, gb, np.float32(0.001))


@njit(cache=True)
def _exact_passes(W, b, h, dh, gW, gb, reps):  # pragma: no cover - numba
    """``reps`` runs of the bound kernel's pair-by-pair loop over every pair (nothing decided)."""
    features = np.arange(W.shape[1])
    K = np.zeros(W.shape[1], np.int64)
    for _ in range(reps):
        bound._exact_pairs_pass(W, b, features, K, h, dh, gW, gb)


def pass_gflops(T: int, n: int = 1000, repeats: int = 7) -> dict[str, float]:
    """Best GFLOP/s (14 flops a pair) of the dense pass and the exact loop, interleaved."""
    rng = np.random.default_rng(0)
    W = (rng.standard_normal((2, n)) * 0.1).astype(np.float32)
    b = (rng.standard_normal(n) * 0.01).astype(np.float32)
    h = rng.standard_normal((2, T)).astype(np.float32)
    dh, gW, gb = np.zeros_like(h), np.zeros_like(W), np.zeros_like(b)
    runs = {"dense pass (old)": _dense_passes, "pair loop (bound kernel)": _exact_passes}
    reps = max(1, int(2e7 / (T * n)))
    best = dict.fromkeys(runs, 0.0)
    for run in runs.values():
        run(W, b, h, dh, gW, gb, 1)
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run(W, b, h, dh, gW, gb, reps)
            gflops = 14 * T * n * reps / (time.perf_counter() - start) / 1e9
            best[name] = max(best[name], gflops)
    return best


def cpu_name() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=7, help="timed runs (the best is kept)")
    args = parser.parse_args()
    runs = [fma_gflops() for _ in range(args.repeats)]
    print(f"CPU: {cpu_name()}; numba compiled for {cpu.NUMBA_CPU}")
    print(
        f"FMA peak, 1 thread ({CHAINS} chains, 256-bit under the pin): best {max(runs):.1f} "
        f"GFLOP/s, median {sorted(runs)[len(runs) // 2]:.1f}"
    )
    print(f"torch float32 matmul, 1 thread (1024^3): {matmul_gflops():.1f} GFLOP/s")
    peak = max(runs)
    for T in (1000, 3000):
        for name, gflops in pass_gflops(T).items():
            print(f"T = {T}, {name}: {gflops:.1f} GFLOP/s, {gflops / peak:.0%} of the FMA peak")
    print(f"FMA peak again (after): {max(fma_gflops() for _ in range(args.repeats)):.1f} GFLOP/s")


if __name__ == "__main__":
    main()
