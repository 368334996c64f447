"""Benchmark: the fused numba engine against the straightforward PyTorch model, per step.

Run from the repository root: ``python benchmarks/bench_engine.py``. Times both backends in this
one process (10 instances, n = 1000 features, d_hidden = 2) at several dataset sizes and for the
whole paper sweep, then measures the JIT compile time and the peak memory of a full-sweep run in
fresh subprocesses.

``python benchmarks/bench_engine.py --checkpoints`` instead measures what a checkpoint costs over
a course-sweep run (17 sizes x 10 instances, ``--steps`` 50,000, a checkpoint every ``--every``
5,000 steps, the loss recorded every 100): each checkpoint rewrites one file with every record so
far, so it is timed with the records such a run holds there (random weights, no training), with
no snapshots (the notebook's sweep) and with 20 log-spaced ones (the learning run's).

``python benchmarks/bench_engine.py --kernels`` instead compares the numba backend's two gradient
kernels (``SweepConfig.kernel``: "dense", the stored results', and "bound", the ReLU-bound one)
over one training run of the course sweep (trained with the bound kernel, snapshots log-spaced):
at each snapshot both kernels train on from the same weights and AdamW moments for 100 steps in
this process, interleaved, next to the share of pairs the bound leaves to evaluate. It prints the
run's own wall time and, per kernel, the whole run's time integrated over the snapshots;
``--sizes`` and ``--kernel-steps`` pick a cheaper subset.

``python benchmarks/bench_engine.py --whole-sweep`` instead trains the whole course sweep (50k
steps, or ``--kernel-steps``) once with each kernel, timing each run's wall time, then the plain
PyTorch loop's ms/step at T = 1000 and 3000 (``--seconds`` each), all in this process, and
compares the two kernels' final train and test losses (and each against its weights' float64
loss).

``python benchmarks/bench_engine.py --paper-scale`` instead times both kernels at the paper's scale
(n = 10,000, p = 0.001, 3 instances) at T = 20,000 and 40,000: a short run of ``--paper-steps``
steps (bound kernel, the paper's schedule), then both kernels training on from its final state for
100 steps, interleaved; the 50k-step time is extrapolated from there (early weights: the bound
decides fewer pairs than later in training, so this overestimates the bound kernel's time).

``python benchmarks/bench_engine.py --short-runs --sizes 1000 3000 --paper-steps 5000`` does the
same for course sizes (course config, 10 instances); ``--threads 1`` times one thread, which
suffers less from a shared machine's descheduling than two.

``python benchmarks/bench_engine.py --cpu-targets`` instead times the whole sweep's numba kernel
compiled for the pinned CPU (``double_descent.engine.cpu.NUMBA_CPU``, x86-64-v3) against the
host's own CPU name and features. The compile target is fixed per process, so each is timed in fresh
subprocesses, alternating, and the ratio is taken between neighbouring runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numba
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_fma_peak import cpu_name  # noqa: E402

import sweep_engine as se  # noqa: E402
from double_descent.engine.backends import _Backend, _NumbaBackend, _TorchBackend  # noqa: E402
from double_descent.engine.cache import _Cache  # noqa: E402
from double_descent.engine.config import learning_rates  # noqa: E402

SIZES = (3, 100, 1000, 3000)
FULL_STEPS = 50_000


def engine(config: se.SweepConfig, backend: str) -> _Backend:
    """A fresh engine (step 0) of the given backend for ``config``."""
    sparse, W, b = se.build_problem(config)
    state = se.TrainState.fresh(W, b)
    if backend == "numba":
        return _NumbaBackend(config, sparse, state)
    return _TorchBackend(config, sparse, state, torch.device("cpu"))


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


def checkpoint_costs(
    steps: int, every: int, snapshot_steps: list[int], record_every: int = 100
) -> list[tuple[float, int]]:
    """(seconds, bytes) of each checkpoint of a course-sweep run of ``steps`` steps that
    checkpoints every ``every`` steps, with the records and snapshots it holds at each."""
    config = se.SweepConfig(steps=steps, warmup_steps=min(2500, steps // 2))
    S, inst = len(config.sizes), config.n_instances
    _, W, b = se.build_problem(config)
    weights = (torch.stack(W), torch.stack(b))
    costs = []
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = _Cache(Path(cache_dir), config, tuple(snapshot_steps) or None)
        for step in range(every, steps, every):
            state = se.TrainState.fresh(W, b)
            state.step, state.history_steps = step, list(range(0, step, record_every))
            state.history = [torch.rand(S, inst) for _ in state.history_steps]
            state.snapshot_steps = [s for s in snapshot_steps if s < step]
            state.snapshots = [weights for _ in state.snapshot_steps]
            start = time.perf_counter()
            assert cache.save_checkpoint(state, state, "numba")
            costs.append((time.perf_counter() - start, cache.partial_path.stat().st_size))
    return costs


def report_checkpoints(steps: int, every: int) -> None:
    """Print the largest and total checkpoint cost (time, bytes) of a course-sweep run."""
    print(f"checkpoints every {every} of {steps} steps, the course's 17 sizes x 10 instances")
    print(f"{'':>14} {'count':>6} {'max ms':>8} {'total s':>8} {'last MB':>8} {'total MB':>9}")
    for name, snaps in (("no snapshots", []), ("20 snapshots", se.log_spaced_steps(steps))):
        costs = checkpoint_costs(steps, every, snaps)
        seconds, size = [c[0] for c in costs], [c[1] / 1e6 for c in costs]
        print(
            f"{name:>14} {len(costs):>6} {max(seconds) * 1e3:>8.1f} {sum(seconds):>8.2f}"
            f" {size[-1]:>8.2f} {sum(size):>9.2f}"
        )


def sweep_ms_per_step(cpu: str | None, seconds: float) -> float:
    """ms per step of the whole paper sweep's kernel, in a fresh process compiled for ``cpu``
    (None: the host CPU with all its features)."""
    code = (
        "import bench_engine as b, sweep_engine as se;"
        f"print(b.ms_per_step(se.SweepConfig(steps={FULL_STEPS}), 'numba', {seconds}))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    env |= {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'benchmarks'}"}
    if cpu is None:
        import llvmlite.binding as llvm

        env["NUMBA_CPU_NAME"] = llvm.get_host_cpu_name()
    else:
        env |= {"NUMBA_CPU_NAME": cpu, "NUMBA_CPU_FEATURES": ""}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip().splitlines()[-1])


def report_cpu_targets(seconds: float, repeats: int = 3) -> None:
    """Print the pinned target's ms/step against the host's, alternating fresh processes."""
    import llvmlite.binding as llvm

    host = llvm.get_host_cpu_name()
    print(f"whole sweep, numba kernel: pinned {se.NUMBA_CPU} against host {host} (all features)")
    print(f"{'run':>4} {'pinned ms/step':>15} {'host ms/step':>13} {'pinned / host':>14}")
    ratios = []
    for run in range(repeats):
        pinned, native = sweep_ms_per_step(se.NUMBA_CPU, seconds), sweep_ms_per_step(None, seconds)
        ratios.append(pinned / native)
        print(f"{run:>4} {pinned:>15.2f} {native:>13.2f} {ratios[-1]:>14.3f}")
    print(f"median pinned / host: {sorted(ratios)[len(ratios) // 2]:.3f}")


def kernel_ms_per_step(
    config: se.SweepConfig,
    state: se.TrainState,
    repeats: int,
    chunk: int,
    sparse: se.SparseData | None = None,
) -> dict[str, float]:
    """ms per step of each kernel training on from ``state`` (weights and AdamW moments) for
    ``chunk`` updates at the schedule's rates: the best of ``repeats`` interleaved runs, each
    kernel restarting from ``state``. Each chunk starts with a loss evaluation, as training does
    every LOSS_EVERY steps: use that chunk. The weights must move: on fixed weights (lr = 0) the
    bound kernel ran 1.2-1.8x faster than it trains (T = 3000; data-dependent branches that
    repeat from step to step are the likely cause, not established)."""
    sparse = sparse if sparse is not None else se.build_problem(config)[0]
    start = min(state.step, config.steps - chunk)
    lrs = learning_rates(config, start, chunk)
    best = dict.fromkeys(se.KERNELS, float("inf"))
    for _ in range(repeats):
        for name in se.KERNELS:
            eng = _NumbaBackend(replace(config, kernel=name), sparse, state)
            begin = time.perf_counter()
            eng.advance(start, chunk, lrs)
            best[name] = min(best[name], (time.perf_counter() - begin) / chunk * 1e3)
    return best


def exact_share(
    config: se.SweepConfig, W: torch.Tensor, b: torch.Tensor, sparse: se.SparseData
) -> tuple[float, list[float]]:
    """Share of pairs the bound kernel evaluates one by one for weights W, b (size, inst, ...):
    over all models (weighted by T; models below BOUND_MIN_T count as dense) and per size
    (instance mean)."""
    per_size, pairs, total = [], 0.0, 0.0
    for i, T in enumerate(config.sizes):
        share = se.bound_exact_share(W[i], b[i], sparse.dense(i)).mean().item()
        share = share if T >= se.BOUND_MIN_T else 1.0
        per_size.append(share)
        pairs += share * T
        total += T
    return pairs / total, per_size


def report_kernels(sizes: tuple[int, ...] | None, steps: int, repeats: int) -> None:
    """Print, over one run, ms/step of the dense and bound kernels and the exact-pair share."""
    config = se.SweepConfig(steps=steps, warmup_steps=min(2_500, steps // 20), kernel="bound")
    if sizes:
        config = replace(config, sizes=sizes)
    snaps = se.log_spaced_steps(steps, 12)
    print(f"CPU: {cpu_name()}; numba threads {numba.get_num_threads()}; sizes {config.sizes}")
    warm_up("bound")
    warm_up("dense")
    sparse, W0, b0 = se.build_problem(config)
    eng = _NumbaBackend(config, sparse, se.TrainState.fresh(W0, b0))
    lrs = learning_rates(config, 0, steps)
    print(f"{'step':>6} {'dense ms':>9} {'bound ms':>9} {'dense/bound':>12} {'exact share':>12}")
    rows, done, run_seconds = [], 0, 0.0
    for step in snaps:
        begin = time.perf_counter()
        eng.advance(done, step - done, lrs[done:step])
        run_seconds += time.perf_counter() - begin
        done = step
        ms = kernel_ms_per_step(config, eng.state(step), repeats, se.LOSS_EVERY, sparse)
        share, per_size = exact_share(config, *eng.weights(), sparse)
        rows.append((step, ms))
        print(f"{step:>6} {ms['dense']:>9.3f} {ms['bound']:>9.3f} "
              f"{ms['dense'] / ms['bound']:>11.2f}x {share:>12.3f}")  # fmt: skip
    print(f"training run, bound kernel, {steps} steps: {run_seconds:.1f} s wall (without timings)")
    big = [f"T={T}: {s:.2f}" for T, s in zip(config.sizes, per_size) if T >= 100]
    print("exact share per size at the end: " + ", ".join(big))
    totals = dict.fromkeys(se.KERNELS, 0.0)
    for (s0, a), (s1, c) in zip(rows, rows[1:]):
        for name in totals:
            totals[name] += (a[name] + c[name]) / 2 * (s1 - s0) / 1e3
    print("whole run integrated over the snapshots (trapezoid, kernel time only): "
          + ", ".join(f"{k} {v:.0f} s" for k, v in totals.items())
          + f"; dense / bound {totals['dense'] / totals['bound']:.2f}x")  # fmt: skip


def report_short_runs(
    base: se.SweepConfig, sizes: tuple[int, ...], steps: int, repeats: int
) -> None:
    """For each size alone: ``steps`` steps with the bound kernel (``base``'s schedule), then both
    kernels training on from that state, interleaved, and 50k-step extrapolations."""
    print(f"CPU: {cpu_name()}; numba threads {numba.get_num_threads()}; n = {base.n_features}, "
          f"p = {base.feature_probability}, {base.n_instances} instances")  # fmt: skip
    totals = dict.fromkeys(se.KERNELS, 0.0)
    for T in sizes:
        config = replace(base, sizes=(T,), kernel="bound")
        start = time.perf_counter()
        sparse, W0, b0 = se.build_problem(config)
        eng = _NumbaBackend(config, sparse, se.TrainState.fresh(W0, b0))
        eng.advance(0, steps, learning_rates(config, 0, steps))
        seconds = time.perf_counter() - start
        ms = kernel_ms_per_step(config, eng.state(steps), repeats, se.LOSS_EVERY, sparse)
        share = exact_share(config, *eng.weights(), sparse)[0]
        print(f"T = {T}: {steps} bound steps in {seconds:.0f} s (with set-up); at step {steps}: "
              f"dense {ms['dense']:.2f} ms/step, bound {ms['bound']:.2f} ms/step "
              f"({ms['dense'] / ms['bound']:.2f}x), exact share {share:.3f}")  # fmt: skip
        for name in totals:
            totals[name] += ms[name] * config.steps / 1e3
    print(f"{base.steps} steps of these sizes, extrapolated from there: "
          + ", ".join(f"{k} {v:.0f} s" for k, v in totals.items()))  # fmt: skip


def warm_up(kernel: str) -> None:
    """Compile (or load from numba's cache) the training kernel of ``kernel``: a tiny sweep."""
    tiny = se.SweepConfig(sizes=(3, 40), n_instances=1, n_features=20, steps=3, warmup_steps=1)
    se.run_sweep(replace(tiny, kernel=kernel), backend="numba", cache_dir=None, progress=False)


def float64_loss(result: se.SweepResult, i: int, data: torch.Tensor) -> torch.Tensor:
    """(inst,) float64 loss of size i's final weights on ``data`` (batch, inst, feats)."""
    W, b = result.W[i].double(), result.b[i].double()
    h = torch.einsum("ihf,bif->bih", W, data.double())
    out = torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)
    return (data.double() - out).square().sum(-1).mean(0)


def report_whole_sweep(
    steps: int, seconds: float, sizes: tuple[int, ...] | None, instances: int
) -> None:
    """Print the whole sweep's wall time with each kernel, the plain loop's, and the losses."""
    config = se.SweepConfig(
        steps=steps, warmup_steps=min(2_500, steps // 20), n_instances=instances
    )
    config = replace(config, sizes=sizes) if sizes else config
    print(f"CPU: {cpu_name()}; numba threads {numba.get_num_threads()}; {steps} steps; sizes "
          f"{config.sizes}, {instances} instances")  # fmt: skip
    results, walls = {}, {}
    for kernel in ("bound", "dense"):
        warm_up(kernel)
        start = time.perf_counter()
        results[kernel] = se.run_sweep(replace(config, kernel=kernel), backend="numba",
                                       cache_dir=None, progress=False)  # fmt: skip
        walls[kernel] = time.perf_counter() - start
        print(f"whole sweep, {kernel} kernel: {walls[kernel]:.0f} s wall (after JIT)")
    plain = {T: ms_per_step(replace(config, sizes=(T,), steps=FULL_STEPS), "torch", seconds)
             for T in (1000, 3000)}  # fmt: skip
    plain_sweep = (plain[1000] + plain[3000]) * steps / 1e3
    print(f"plain PyTorch loop: T = 1000 {plain[1000]:.0f} ms/step, T = 3000 {plain[3000]:.0f}"
          f" ms/step; T = 1000 + 3000 for {steps} steps: {plain_sweep:.0f} s")  # fmt: skip
    for kernel, wall in walls.items():
        ratio = plain_sweep / wall
        print(f"  {kernel}: {ratio:.0f}x the plain loop (its 2 sizes, {instances} instances)")
    print(f"dense / bound wall time: {walls['dense'] / walls['bound']:.2f}x")
    gen = torch.Generator().manual_seed(1234)
    test = se.generate_data(10_000, 1, config.n_features, config.feature_probability, gen)[:, 0]
    bound, dense = results["bound"], results["dense"]
    diff = (bound.train_loss - dense.train_loss).abs()
    rel_train = diff / dense.train_loss.clamp_min(1e-6)
    print(f"final train loss, bound vs dense: max |diff| {diff.max():.2e}, "
          f"max relative {rel_train.max():.2e} (losses floored at 1e-6)")  # fmt: skip
    test_diff, own = [], []
    for i in range(len(config.sizes)):
        tb = se.evaluate_loss(bound.W[i], bound.b[i], test)
        td = se.evaluate_loss(dense.W[i], dense.b[i], test)
        test_diff.append(((tb - td).abs() / td).max().item())
        for result in (bound, dense):
            ref = float64_loss(result, i, result.data(i))
            err = (result.train_loss[i].double() - ref).abs() / ref.clamp_min(1e-6)
            own.append(err.max().item())
    print(f"final test loss, bound vs dense: max relative diff {max(test_diff):.2e} "
          f"(per size: {', '.join(f'{d:.0e}' for d in test_diff)})")  # fmt: skip
    print(
        f"each kernel's train loss against its weights' float64 loss: max relative {max(own):.2e}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing budget per cell")
    parser.add_argument(
        "--checkpoints", action="store_true", help="only measure the checkpoint cost"
    )
    parser.add_argument(
        "--steps", type=int, default=FULL_STEPS, help="steps of the --checkpoints run"
    )
    parser.add_argument("--every", type=int, default=5000, help="checkpoint interval")
    parser.add_argument(
        "--cpu-targets", action="store_true", help="only compare the pinned and host CPU targets"
    )
    parser.add_argument(
        "--kernels", action="store_true", help="only compare the dense and bound kernels"
    )
    parser.add_argument("--sizes", type=int, nargs="*", help="sizes of the --kernels run")
    parser.add_argument(
        "--kernel-steps", type=int, default=FULL_STEPS, help="steps of the --kernels run"
    )
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timings (best kept)")
    parser.add_argument("--instances", type=int, default=10, help="instances (--whole-sweep)")
    parser.add_argument(
        "--paper-scale", action="store_true", help="only time both kernels at the paper's scale"
    )
    parser.add_argument("--paper-steps", type=int, default=300, help="steps before timing")
    parser.add_argument(
        "--short-runs", action="store_true", help="like --paper-scale, for course sizes"
    )
    parser.add_argument("--threads", type=int, default=0, help="numba threads (0: default)")
    parser.add_argument(
        "--whole-sweep", action="store_true", help="only run the whole sweep with both kernels"
    )
    args = parser.parse_args()
    if args.whole_sweep:
        sizes = tuple(args.sizes) if args.sizes else None
        report_whole_sweep(args.kernel_steps, args.seconds, sizes, args.instances)
        return
    if args.threads:
        numba.set_num_threads(args.threads)
    if args.paper_scale:
        paper = se.SweepConfig(n_features=10_000, feature_probability=0.001, n_instances=3)
        sizes = tuple(args.sizes) if args.sizes else (20_000, 40_000)
        report_short_runs(paper, sizes, args.paper_steps, args.repeats)
        return
    if args.short_runs:
        sizes = tuple(args.sizes) if args.sizes else (1000, 3000)
        report_short_runs(se.SweepConfig(), sizes, args.paper_steps, args.repeats)
        return
    if args.kernels:
        report_kernels(tuple(args.sizes) if args.sizes else None, args.kernel_steps, args.repeats)
        return
    if args.cpu_targets:
        report_cpu_targets(args.seconds)
        return
    if args.checkpoints:
        report_checkpoints(args.steps, args.every)
        return
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
