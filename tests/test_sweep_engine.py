"""Tests of sweep_engine: the fused numba kernel against autograd, backends, cache and resume."""

import dataclasses
import hashlib
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import numba
import numpy as np
import pytest
import torch
from jaxtyping import Float
from torch import Tensor

import sweep_engine as se
from double_descent.engine import train

ROOT = Path(__file__).resolve().parents[1]
SMALL = se.SweepConfig(
    sizes=(3, 50, 1000), n_instances=3, n_features=200, steps=300, warmup_steps=50
)


def reference_loss(
    W: Float[Tensor, "inst hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch inst feats"],
) -> Float[Tensor, " inst"]:
    """The plain model written out independently: tied weights, ReLU, paper-scale loss."""
    hidden = torch.einsum("ihf,bif->bih", W, data)
    out = torch.relu(torch.einsum("bih,ihf->bif", hidden, W) + b)
    return ((data - out) ** 2).sum(-1).mean(0)


def reference_grads(
    W: Tensor, b: Tensor, data: Tensor
) -> tuple[Float[Tensor, " inst"], Float[Tensor, "inst hidden feats"], Float[Tensor, "inst feats"]]:
    """float64 autograd loss and gradients, per instance."""
    W = W.double().requires_grad_()
    b = b.double().requires_grad_()
    loss = reference_loss(W, b, data.double())
    loss.sum().backward()
    return loss.detach(), W.grad, b.grad


def assert_grads_match(W: Tensor, b: Tensor, data: Tensor) -> None:
    loss, gW, gb = se.fused_loss_and_grads(W, b, data)
    ref_loss, ref_gW, ref_gb = reference_grads(W, b, data)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-7)
    scale = max(ref_gW.abs().max().item(), ref_gb.abs().max().item())
    torch.testing.assert_close(gW.double(), ref_gW, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-4, atol=1e-5 * scale)


@pytest.fixture(scope="module")
def trained_by_hidden() -> dict[int, se.SweepResult]:
    """Small sweeps (numba) for d_hidden = 1, 2, 3, trained 200 steps."""
    return {
        m: se.run_sweep(
            dataclasses.replace(SMALL, d_hidden=m, steps=200),
            backend="numba",
            cache_dir=None,
            progress=False,
        )
        for m in (1, 2, 3)
    }


@pytest.mark.parametrize("m", [1, 2, 3])
def test_loss_and_grads_match_autograd_at_init(m: int) -> None:
    config = dataclasses.replace(SMALL, d_hidden=m)
    sparse, W, b = se.build_problem(config)
    for i in range(len(config.sizes)):
        assert_grads_match(W[i], b[i], sparse.dense(i))


@pytest.mark.parametrize("m", [1, 2, 3])
def test_loss_and_grads_match_autograd_after_training(
    trained_by_hidden: dict[int, se.SweepResult], m: int
) -> None:
    result = trained_by_hidden[m]
    for i in range(len(SMALL.sizes)):
        assert_grads_match(result.W[i], result.b[i], result.data(i))
        ref = reference_loss(result.W[i].double(), result.b[i].double(), result.data(i).double())
        torch.testing.assert_close(result.train_loss[i].double(), ref, rtol=1e-5, atol=1e-7)


def test_training_reduces_loss(trained_by_hidden: dict[int, se.SweepResult]) -> None:
    result = trained_by_hidden[2]
    assert result.loss_history is not None and result.history_steps is not None
    assert result.history_steps.tolist() == [0, 100]
    assert (result.train_loss < result.loss_history[0]).all()


@pytest.fixture(scope="module")
def numba_and_torch() -> tuple[se.SweepResult, se.SweepResult]:
    run = lambda backend: se.run_sweep(SMALL, backend=backend, cache_dir=None, progress=False)  # noqa: E731
    return run("numba"), run("torch")


def test_numba_matches_torch_backend(
    numba_and_torch: tuple[se.SweepResult, se.SweepResult],
) -> None:
    fused, plain = numba_and_torch
    torch.testing.assert_close(fused.train_loss, plain.train_loss, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(fused.loss_history, plain.loss_history, rtol=2e-5, atol=1e-6)
    for i, size in enumerate(SMALL.sizes):
        # At T = 3 a few features sit on the ReLU boundary, where Adam turns float32 rounding
        # differences (of any two float32 implementations) into O(lr) steps: looser there.
        atol = 5e-3 if size < 10 else 2e-5
        torch.testing.assert_close(fused.W[i], plain.W[i], rtol=0, atol=atol)
        torch.testing.assert_close(fused.b[i], plain.b[i], rtol=0, atol=atol)


def test_same_data_and_init_in_both_backends(
    numba_and_torch: tuple[se.SweepResult, se.SweepResult],
) -> None:
    fused, plain = numba_and_torch
    for i in range(len(SMALL.sizes)):
        assert torch.equal(fused.data(i), plain.data(i))


def test_all_zero_datapoints_are_finite() -> None:
    config = dataclasses.replace(
        SMALL, sizes=(5, 40), n_features=30, feature_probability=0.01, steps=120
    )
    result = se.run_sweep(config, backend="numba", cache_dir=None, progress=False)
    zero_rows = sum(int((result.data(i).abs().sum(-1) == 0).sum()) for i in range(2))
    assert zero_rows > 0
    assert torch.isfinite(result.train_loss).all()
    assert all(torch.isfinite(w).all() for w in result.W)
    data = result.data(1)
    data[:, 0] = 0.0
    assert_grads_match(result.W[1], result.b[1], data)


def test_perfect_fit_has_zero_loss() -> None:
    sparse, W, b = se.build_problem(dataclasses.replace(SMALL, sizes=(3,), d_hidden=3))
    data = sparse.dense(0)
    W = data.permute(1, 0, 2).clone()  # inst, hidden = T, feats: each datapoint its own direction
    loss, _, _ = se.fused_loss_and_grads(W, torch.zeros_like(b[0]), data)
    ref = reference_loss(W.double(), torch.zeros_like(b[0]).double(), data.double())
    assert (loss >= 0).all()
    torch.testing.assert_close(loss, ref, rtol=1e-5, atol=1e-9)


def test_zero_model_has_unit_loss() -> None:
    sparse, W, b = se.build_problem(SMALL)
    data = sparse.dense(2)
    loss, _, _ = se.fused_loss_and_grads(torch.zeros_like(W[2]), b[2], data)
    nonzero_rows = (data.abs().sum(-1) > 0).double().mean(0)
    torch.testing.assert_close(loss, nonzero_rows, rtol=1e-6, atol=0)


def test_cache_loads_same_tensors(tmp_path, capsys) -> None:
    config = dataclasses.replace(SMALL, steps=60, warmup_steps=10)
    first = se.run_sweep(config, backend="numba", cache_dir=tmp_path, progress=False)
    start = time.perf_counter()
    second = se.run_sweep(config, backend="numba", cache_dir=tmp_path, progress=False)
    assert time.perf_counter() - start < 1.0
    assert "Loaded sweep from cache" in capsys.readouterr().out
    assert_results_equal(first, second)
    assert not list(tmp_path.glob("*.partial.pt"))
    assert [p.name for p in tmp_path.iterdir()] == [f"{config.key()}.pt"]


def assert_results_equal(a: se.SweepResult, b: se.SweepResult) -> None:
    """Bitwise equality of weights, losses, history, snapshots and data."""
    assert a.config == b.config
    assert (a.snapshot_steps is None) == (b.snapshot_steps is None)
    if a.snapshot_steps is not None:
        assert torch.equal(a.snapshot_steps, b.snapshot_steps)
        for i in range(len(a.config.sizes)):
            assert torch.equal(a.W_snapshots[i], b.W_snapshots[i])
            assert torch.equal(a.b_snapshots[i], b.b_snapshots[i])
    assert torch.equal(a.train_loss, b.train_loss)
    assert torch.equal(a.loss_history, b.loss_history)
    assert torch.equal(a.history_steps, b.history_steps)
    for i in range(len(a.config.sizes)):
        assert torch.equal(a.W[i], b.W[i])
        assert torch.equal(a.b[i], b.b[i])
        assert torch.equal(a.data(i), b.data(i))


class Interrupted(Exception):
    """Raised by the test hook right after a checkpoint, as a KeyboardInterrupt would be."""


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_resume_is_bitwise_equal(tmp_path, monkeypatch, backend: str) -> None:
    config = dataclasses.replace(SMALL, sizes=(3, 50, 300), steps=250)
    snaps = dict(snapshot_steps=[0, 40, 100, 130, 250])
    whole = se.run_sweep(
        config, backend=backend, cache_dir=None, progress=False, record_every=30, **snaps
    )

    def interrupt(step: int) -> None:
        if step == 100:
            raise Interrupted

    monkeypatch.setattr(train, "_after_checkpoint", interrupt)
    kwargs = dict(backend=backend, cache_dir=tmp_path, progress=False, record_every=30, **snaps)
    with pytest.raises(Interrupted):
        se.run_sweep(config, checkpoint_every=50, **kwargs)
    partial = tmp_path / f"{config.key()}.partial.pt"
    assert torch.load(partial, weights_only=True)["step"] == 100
    monkeypatch.undo()
    resumed = se.run_sweep(config, checkpoint_every=50, **kwargs)
    assert_results_equal(whole, resumed)
    assert not partial.exists()


def test_deterministic_and_seeded() -> None:
    config = dataclasses.replace(SMALL, steps=80, warmup_steps=10)
    run = lambda c: se.run_sweep(c, backend="numba", cache_dir=None, progress=False)  # noqa: E731
    assert_results_equal(run(config), run(config))
    other = run(dataclasses.replace(config, seed=1))
    assert not torch.equal(other.W[0], run(config).W[0])


def test_independent_of_thread_count() -> None:
    config = dataclasses.replace(SMALL, steps=80, warmup_steps=10)
    run = lambda: se.run_sweep(config, backend="numba", cache_dir=None, progress=False)  # noqa: E731
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run()
    finally:
        numba.set_num_threads(threads)
    assert_results_equal(one, two)


def test_data_and_init_depend_only_on_seed_and_size() -> None:
    a_sparse, a_W, _ = se.build_problem(SMALL)
    other = dataclasses.replace(SMALL, sizes=(3, 7, 1000), lr=3e-3, weight_decay=0.1, steps=100)
    b_sparse, b_W, _ = se.build_problem(other)
    assert torch.equal(a_sparse.dense(0), b_sparse.dense(0))
    assert torch.equal(a_W[2], b_W[2])
    assert torch.equal(a_sparse.dense(2), b_sparse.dense(2))
    assert not torch.equal(a_W[0][0, :, :5], a_W[0][1, :, :5])


def test_init_std_is_xavier_per_instance() -> None:
    config = dataclasses.replace(SMALL, sizes=(3,), n_instances=50)
    _, W, b = se.build_problem(config)
    std = math.sqrt(2 / (config.d_hidden + config.n_features))
    assert abs(W[0].std().item() / std - 1) < 0.05
    assert torch.equal(b[0], torch.zeros_like(b[0]))


def test_generate_data() -> None:
    gen = torch.Generator().manual_seed(0)
    data = se.generate_data(4000, 3, 100, 0.02, gen)
    assert data.shape == (4000, 3, 100) and data.dtype == torch.float32
    norms = data.norm(dim=-1)
    zero = norms == 0
    assert zero.any() and (~zero).any()
    torch.testing.assert_close(norms[~zero], torch.ones_like(norms[~zero]))
    assert (data[zero] == 0).all()
    assert abs((data > 0).float().mean().item() - 0.02) < 0.002
    assert (data >= 0).all()


def test_lr_multiplier_matches_lambda_lr() -> None:
    steps, warmup = 40, 8
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.AdamW([param], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: se.lr_multiplier(s, steps, warmup))
    used = []
    for _ in range(steps):
        used.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert used == [1e-3 * se.lr_multiplier(s, steps, warmup) for s in range(steps)]
    assert used[0] == 0.0 and used[warmup] == 1e-3
    assert se.lr_multiplier(4, steps, warmup) == 0.5
    assert se.lr_multiplier(steps, steps, warmup) == pytest.approx(0.0, abs=1e-15)


def test_evaluate_loss_matches_train_loss(
    numba_and_torch: tuple[se.SweepResult, se.SweepResult],
) -> None:
    result = numba_and_torch[0]
    for i in range(len(SMALL.sizes)):
        loss = se.evaluate_loss(result.W[i], result.b[i], result.data(i), chunk_size=7)
        torch.testing.assert_close(loss, result.train_loss[i], rtol=1e-5, atol=1e-7)
    shared = result.data(1)[:, 0]
    per_instance = shared[:, None].expand(-1, SMALL.n_instances, -1)
    torch.testing.assert_close(
        se.evaluate_loss(result.W[1], result.b[1], shared),
        se.evaluate_loss(result.W[1], result.b[1], per_instance),
    )


def test_best_instance(numba_and_torch: tuple[se.SweepResult, se.SweepResult]) -> None:
    result = numba_and_torch[0]
    best = result.best_instance()
    assert best.shape == (len(SMALL.sizes),)
    for i in range(len(SMALL.sizes)):
        assert result.train_loss[i, best[i]] == result.train_loss[i].min()


def test_key_is_stable_and_distinguishes_fields() -> None:
    assert SMALL.key() == dataclasses.replace(SMALL).key()
    assert SMALL.key() != dataclasses.replace(SMALL, weight_decay=0.1).key()
    assert len(SMALL.key()) == 16


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("sizes", ()),
        ("sizes", (3, 0)),
        ("sizes", (3, 3)),
        ("sizes", (3, 4.5)),
        ("n_instances", 0),
        ("n_features", 0),
        ("d_hidden", 0),
        ("feature_probability", 0.0),
        ("feature_probability", 1.5),
        ("steps", 0),
        ("warmup_steps", -1),
        ("warmup_steps", 300),
        ("lr", 0.0),
        ("lr", -1e-3),
        ("weight_decay", -0.1),
        ("seed", 1.5),
    ],
)
def test_config_validation(name: str, value: object) -> None:
    with pytest.raises(ValueError, match=name):
        dataclasses.replace(SMALL, **{name: value})


def test_bad_backend_raises() -> None:
    with pytest.raises(ValueError, match="backend"):
        se.run_sweep(SMALL, backend="jax", cache_dir=None)


def test_warmup_start_matches_linear_lr_and_keeps_old_keys() -> None:
    steps, warmup = 40, 10
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = torch.optim.lr_scheduler.LinearLR(opt, start_factor=0.1, total_iters=warmup)
    for s in range(warmup):
        assert se.lr_multiplier(s, steps, warmup, 0.1) == pytest.approx(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    assert se.lr_multiplier(warmup, steps, warmup, 0.1) == 1.0
    # The field is left out of the cache key at its default: caches made before it still load.
    assert se.SweepConfig().key() == "827ff0ada61adf0f"
    assert se.SweepConfig(warmup_start=0.1).key() != se.SweepConfig().key()


SNAP = dataclasses.replace(SMALL, sizes=(3, 50), n_features=60, steps=200, warmup_steps=20)
SNAP_STEPS = [0, 1, 37, 100, 150, 200]


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_snapshots_are_the_weights_at_those_steps(tmp_path, monkeypatch, backend: str) -> None:
    """Snapshot s = init (s = 0), the weights an interrupted run checkpoints at s, the final W."""
    at_checkpoint = {}

    def keep(step: int) -> None:
        saved = torch.load(tmp_path / f"{SNAP.key()}.partial.pt", weights_only=True)
        at_checkpoint[step] = (saved["W"], saved["b"])

    monkeypatch.setattr(train, "_after_checkpoint", keep)
    result = se.run_sweep(
        SNAP, backend=backend, cache_dir=tmp_path, progress=False, checkpoint_every=50,
        snapshot_steps=SNAP_STEPS,
    )  # fmt: skip
    assert result.snapshot_steps.tolist() == SNAP_STEPS
    _, W0, b0 = se.build_problem(SNAP)
    for i in range(len(SNAP.sizes)):
        assert result.W_snapshots[i].shape == (len(SNAP_STEPS), SNAP.n_instances, 2, 60)
        assert result.b_snapshots[i].shape == (len(SNAP_STEPS), SNAP.n_instances, 60)
        assert torch.equal(result.W_snapshots[i][0], W0[i])
        assert torch.equal(result.b_snapshots[i][0], b0[i])
        assert torch.equal(result.W_snapshots[i][-1], result.W[i])
        assert torch.equal(result.b_snapshots[i][-1], result.b[i])
        for step in (100, 150):
            k = SNAP_STEPS.index(step)
            assert torch.equal(result.W_snapshots[i][k], at_checkpoint[step][0][i])
            assert torch.equal(result.b_snapshots[i][k], at_checkpoint[step][1][i])
        assert not torch.equal(result.W_snapshots[i][1], result.W_snapshots[i][2])


def test_snapshots_agree_between_backends() -> None:
    run = lambda backend: se.run_sweep(  # noqa: E731
        SNAP, backend=backend, cache_dir=None, progress=False, snapshot_steps=SNAP_STEPS
    )
    fused, plain = run("numba"), run("torch")
    assert torch.equal(fused.snapshot_steps, plain.snapshot_steps)
    for i, size in enumerate(SNAP.sizes):
        atol = 5e-3 if size < 10 else 2e-5
        torch.testing.assert_close(fused.W_snapshots[i], plain.W_snapshots[i], rtol=0, atol=atol)
        torch.testing.assert_close(fused.b_snapshots[i], plain.b_snapshots[i], rtol=0, atol=atol)


def test_cached_sweep_without_snapshots_is_trained_again(tmp_path, capsys) -> None:
    config = dataclasses.replace(SNAP, steps=60, warmup_steps=10)
    kwargs = dict(backend="numba", cache_dir=tmp_path, progress=False)
    plain = se.run_sweep(config, **kwargs)
    assert plain.snapshot_steps is None and plain.W_snapshots is None
    capsys.readouterr()
    first = se.run_sweep(config, snapshot_steps=[0, 30, 60], **kwargs)
    assert "No cached snapshots" in capsys.readouterr().out
    assert first.snapshot_steps.tolist() == [0, 30, 60]
    again = se.run_sweep(config, snapshot_steps=[0, 30, 60], **kwargs)
    assert "Loaded sweep from cache" in capsys.readouterr().out
    assert_results_equal(first, again)
    other = se.run_sweep(config, snapshot_steps=[0, 60], **kwargs)
    assert "No cached snapshots" in capsys.readouterr().out
    assert torch.equal(other.W_snapshots[1][1], first.W_snapshots[1][2])
    assert se.run_sweep(config, **kwargs).snapshot_steps is None


@pytest.mark.parametrize(
    "steps", [[], [0, 0], [50, 10], [-1, 5], [0, 201], [0, 2.5], (s for s in [1.0])]
)
def test_bad_snapshot_steps_raise(steps: object) -> None:
    with pytest.raises(ValueError, match="snapshot_steps"):
        se.run_sweep(SNAP, cache_dir=None, progress=False, snapshot_steps=steps)


@pytest.mark.parametrize(("steps", "count"), [(50_000, 20), (100, 20), (19, 20), (1, 2), (7, 3)])
def test_log_spaced_steps(steps: int, count: int) -> None:
    chosen = se.log_spaced_steps(steps, count)
    assert len(chosen) == count and chosen[0] == 0 and chosen[-1] == steps
    assert all(a < b for a, b in zip(chosen, chosen[1:]))
    assert all(isinstance(s, int) for s in chosen)
    if steps == 50_000:
        ratios = [b / a for a, b in zip(chosen[6:], chosen[7:])]
        assert max(ratios) / min(ratios) < 1.05


@pytest.mark.parametrize(("steps", "count"), [(10, 12), (10, 1), (0, 2), (10, 2.0)])
def test_log_spaced_steps_rejects(steps: object, count: object) -> None:
    with pytest.raises(ValueError, match="count|steps"):
        se.log_spaced_steps(steps, count)


def test_numba_matches_torch_backend_at_d_hidden_3() -> None:
    """The kernel's general-m path (d_hidden != 2) against the plain PyTorch model."""
    config = dataclasses.replace(SMALL, sizes=(5, 50, 300), d_hidden=3, steps=200)
    run = lambda backend: se.run_sweep(  # noqa: E731
        config, backend=backend, cache_dir=None, progress=False, record_every=50
    )
    fused, plain = run("numba"), run("torch")
    torch.testing.assert_close(fused.train_loss, plain.train_loss, rtol=2e-5, atol=1e-6)
    torch.testing.assert_close(fused.loss_history, plain.loss_history, rtol=2e-5, atol=1e-6)
    assert (fused.train_loss < fused.loss_history[0]).all()
    for i, size in enumerate(config.sizes):
        atol = 5e-3 if size < 10 else 2e-5
        torch.testing.assert_close(fused.W[i], plain.W[i], rtol=0, atol=atol)
        torch.testing.assert_close(fused.b[i], plain.b[i], rtol=0, atol=atol)


GOLDEN_DIGEST = "8fa768ee33d344eb"
"""`weights_digest` of the d_hidden = 2 run below, with numba 0.68.1 and torch 2.13.0, on an AMD
EPYC (znver4, AVX-512) host; compiled for that host instead, the same run gives 7460d325c4fe108b.
Only the course's m = 2 kernel is pinned this way: the general-m kernel (m = 3 here) gives
fe77e5c7cf6a8dfb when numba loads it from its on-disk cache and b9e1b12f66903e0f when it has just
compiled it, on the same machine (measured), so its last bits are not part of the promise."""
PINNED = se.NUMBA_CPU == "x86-64-v3"
"""An x86 host with AVX2 and no NUMBA_CPU_NAME of the user's: the pin must hold here."""
NOT_PINNED = f"the kernel is compiled for {se.NUMBA_CPU!r} here, not the pinned x86-64-v3"


def weights_digest(result: se.SweepResult) -> str:
    """sha256 (first 16 hex digits) of every final W and b, in order."""
    digest = hashlib.sha256()
    for tensor in (*result.W, *result.b):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def test_numba_kernel_is_compiled_for_the_pinned_cpu() -> None:
    if not PINNED:
        pytest.skip(NOT_PINNED)
    from numba.core.registry import cpu_target

    se.fused_loss_and_grads(torch.ones(1, 2, 3), torch.zeros(1, 3), torch.ones(2, 1, 3))
    _, cpu, features = cpu_target.target_context.codegen().magic_tuple()
    assert (cpu, features) == ("x86-64-v3", "")


def test_numba_weights_are_bitwise_those_of_the_stored_outputs() -> None:
    """The notebook's stored tables were made with this exact arithmetic (m = 2): if this digest
    changes (another numba/LLVM, torch RNG or kernel), `pytest solutions/` will fail on the sweep
    too."""
    if not PINNED:
        pytest.skip(NOT_PINNED)
    config = dataclasses.replace(SMALL, steps=400, warmup_steps=40)
    result = se.run_sweep(config, backend="numba", cache_dir=None, progress=False)
    digest = weights_digest(result)
    assert digest == GOLDEN_DIGEST, (
        f"the kernel's arithmetic changed ({digest}): a numba, llvmlite or torch version, or the "
        "kernel itself. Re-execute the solutions notebook so that its stored tables match, then "
        "update GOLDEN_DIGEST."
    )


def numba_target(code: str, **env: str) -> str:
    """Run ``code`` in a fresh process (no NUMBA_CPU_* of ours, plus ``env``), then print the CPU
    and features that numba's compiler was set up for, as "cpu|features"."""
    probe = (
        "; from numba.core.registry import cpu_target; "
        "print(*cpu_target.target_context.codegen().magic_tuple()[1:], sep='|')"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_CPU")}
    out = subprocess.run(
        [sys.executable, "-c", code + probe],
        env=clean | env | {"PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


FIRST_KERNEL = (
    "import torch; "
    "sweep_engine.fused_loss_and_grads(torch.ones(1, 2, 3), torch.zeros(1, 3), torch.ones(2, 1, 3))"
)
"""The engine's first use of its numba kernels (which pins numba's CPU)."""


@pytest.mark.parametrize("imports", ["numba, sweep_engine", "sweep_engine, numba"])
def test_pin_holds_whichever_is_imported_first(imports: str) -> None:
    """In a fresh process: importing changes neither numba's config nor the environment; the
    engine's first kernel pins numba before its compiler is set up (the features are those the
    target machine was created with, so a pin that came too late would show the host's)."""
    if not PINNED:
        pytest.skip(NOT_PINNED)
    untouched = (
        "import os; assert numba.config.CPU_NAME is None and 'NUMBA_CPU_NAME' not in os.environ; "
    )
    assert numba_target(f"import {imports}; {untouched}{FIRST_KERNEL}") == "x86-64-v3|"


def test_the_users_numba_cpu_name_wins() -> None:
    if not PINNED:
        pytest.skip(NOT_PINNED)
    code = f"import sweep_engine; {FIRST_KERNEL}"
    assert numba_target(code, NUMBA_CPU_NAME="x86-64", NUMBA_CPU_FEATURES="") == "x86-64|"


def test_a_pin_that_comes_too_late_warns_and_leaves_numba_truthful() -> None:
    """numba set up for the host before the engine's first kernel: the kernels are compiled for
    the host, numba's cache index says so (not x86-64-v3), and the user is told."""
    if not PINNED:
        pytest.skip(NOT_PINNED)
    code = (
        "import warnings, numba, sweep_engine\n"
        "numba.njit(lambda: 0)\n"
        "with warnings.catch_warnings(record=True) as caught:\n"
        "    warnings.simplefilter('always')\n"
        f"    {FIRST_KERNEL}\n"
        "assert any('before the sweep engine' in str(w.message) for w in caught), caught\n"
        "assert numba.config.CPU_NAME is None"
    )
    import llvmlite.binding as llvm

    assert numba_target(code).split("|")[0] == llvm.get_host_cpu_name() != "x86-64-v3"


@pytest.mark.skipif(
    (os.cpu_count() or 1) < 2, reason="one core: numba has no thread count to reset"
)
def test_numba_run_leaves_torch_thread_count_as_the_student_set_it() -> None:
    """numba's OpenMP layer resets torch's threads to the core count; run_sweep restores them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = se.SweepConfig(sizes=(5,), n_instances=2, n_features=20, steps=20, warmup_steps=2)
        se.run_sweep(config, backend="numba", cache_dir=None, progress=False)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


# ----------------------------------------------------------------------------- the bound kernel

BOUND = dataclasses.replace(SMALL, sizes=(3, 50, 1000), n_features=201, kernel="bound")
"""An odd n (the last feature alone) and sizes below BOUND_MIN_T (the dense pass)."""


@pytest.fixture(scope="module")
def bound_and_dense() -> tuple[se.SweepResult, se.SweepResult]:
    """The same sweep trained 600 steps with the bound and the dense kernel."""
    config = dataclasses.replace(BOUND, steps=600, warmup_steps=60)
    run = lambda c: se.run_sweep(c, backend="numba", cache_dir=None, progress=False)  # noqa: E731
    return run(config), run(dataclasses.replace(config, kernel="dense"))


def assert_bound_grads_match(W: Tensor, b: Tensor, data: Tensor) -> None:
    """The bound kernel's loss and gradients against float64 autograd and the dense kernel."""
    loss, gW, gb = se.fused_loss_and_grads(W, b, data, kernel="bound")
    ref_loss, ref_gW, ref_gb = reference_grads(W, b, data)
    torch.testing.assert_close(loss, ref_loss, rtol=1e-5, atol=1e-7)
    scale = max(ref_gW.abs().max().item(), ref_gb.abs().max().item())
    torch.testing.assert_close(gW.double(), ref_gW, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(gb.double(), ref_gb, rtol=1e-4, atol=1e-5 * scale)
    _, dense_gW, dense_gb = se.fused_loss_and_grads(W, b, data)
    torch.testing.assert_close(gW, dense_gW, rtol=1e-4, atol=1e-5 * scale)
    torch.testing.assert_close(gb, dense_gb, rtol=1e-4, atol=1e-5 * scale)


def test_bound_kernel_grads_match_autograd_at_init() -> None:
    sparse, W, b = se.build_problem(BOUND)
    for i in range(len(BOUND.sizes)):
        assert_bound_grads_match(W[i], b[i], sparse.dense(i))


def test_bound_kernel_grads_match_autograd_after_training(
    bound_and_dense: tuple[se.SweepResult, se.SweepResult],
) -> None:
    bound, _ = bound_and_dense
    for i, size in enumerate(BOUND.sizes):
        W, b, data = bound.W[i], bound.b[i], bound.data(i)
        if size >= se.BOUND_MIN_T:  # the bound must be doing something here
            assert se.bound_exact_share(W, b, data).max() < 0.9
        assert_bound_grads_match(W, b, data)
        # With b shifted, most pairs are decided: "on" (b > 0) and "off" (b < 0) both.
        for shift in (-0.5, 0.5):
            shifted = b + shift * b.abs().max()
            assert se.bound_exact_share(W, shifted, data).max() < 0.5 or size < se.BOUND_MIN_T
            assert_bound_grads_match(W, shifted, data)


def test_bound_kernel_trains_like_the_dense_one(
    bound_and_dense: tuple[se.SweepResult, se.SweepResult],
) -> None:
    bound, dense = bound_and_dense
    torch.testing.assert_close(bound.loss_history, dense.loss_history, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(bound.train_loss, dense.train_loss, rtol=1e-5, atol=1e-7)
    for i, size in enumerate(BOUND.sizes):
        ref = reference_loss(bound.W[i].double(), bound.b[i].double(), bound.data(i).double())
        torch.testing.assert_close(bound.train_loss[i].double(), ref, rtol=2e-6, atol=1e-8)
        if size < se.BOUND_MIN_T:  # the dense pass, bitwise
            assert torch.equal(bound.W[i], dense.W[i])


def test_bound_kernel_is_independent_of_thread_count_and_resumes_bitwise(
    tmp_path, monkeypatch
) -> None:
    config = dataclasses.replace(BOUND, sizes=(3, 50, 600), steps=250, warmup_steps=25)
    kwargs = dict(backend="numba", progress=False, record_every=30, snapshot_steps=[0, 100, 250])
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = se.run_sweep(config, cache_dir=None, **kwargs)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = se.run_sweep(config, cache_dir=None, **kwargs)
    finally:
        numba.set_num_threads(threads)
    assert_results_equal(one, two)

    def interrupt(step: int) -> None:
        if step == 100:
            raise Interrupted

    monkeypatch.setattr(train, "_after_checkpoint", interrupt)
    with pytest.raises(Interrupted):
        se.run_sweep(config, cache_dir=tmp_path, checkpoint_every=50, **kwargs)
    monkeypatch.undo()
    resumed = se.run_sweep(config, cache_dir=tmp_path, checkpoint_every=50, **kwargs)
    assert_results_equal(one, resumed)


def test_kernel_option_keeps_the_default_keys() -> None:
    assert se.SweepConfig().key() == "827ff0ada61adf0f"
    assert SMALL.key() == dataclasses.replace(SMALL, kernel="dense").key()
    assert SMALL.key() != dataclasses.replace(SMALL, kernel="bound").key()
    with pytest.raises(ValueError, match="kernel"):
        dataclasses.replace(SMALL, kernel="sparse")
    with pytest.raises(ValueError, match="kernel"):
        se.fused_loss_and_grads(*se.build_problem(SMALL)[1:], torch.zeros(3, 3, 200), "x")


def _squared_radii(case: str) -> np.ndarray:
    """Keys of the point sort: float64 squared radii with ties, zeros and a wide spread."""
    gen = np.random.default_rng(3)
    keys = {
        "random": gen.random(3001) * 10.0,
        "wide spread": gen.random(500) * 10.0 ** gen.integers(-30, 30, 500),
        "ties and zeros": gen.integers(0, 5, 700).astype(np.float64) / 4.0,
        "one value": np.full(64, 0.25),
        "one point": np.array([2.0]),
        "reversed": np.arange(1000, 0, -1, dtype=np.float64),
    }
    return keys[case]


@pytest.mark.parametrize(
    "case", ["random", "wide spread", "ties and zeros", "one value", "one point", "reversed"]
)
def test_radix_order_sorts_by_key_then_index(case: str) -> None:
    from double_descent.engine.cpu import numba_module

    bound = numba_module("bound")
    key = _squared_radii(case)
    order, spare = np.full(key.size, -1, np.int64), np.empty(key.size, np.int64)
    bound._radix_order(key, order, spare, np.empty(1 << bound.RADIX_BITS, np.int64))
    np.testing.assert_array_equal(order, np.lexsort((np.arange(key.size), key)))


@pytest.mark.parametrize("T", [1, 7, 400])
def test_features_are_ordered_by_decreasing_prefix_then_index(T: int) -> None:
    from double_descent.engine.cpu import numba_module

    bound = numba_module("bound")
    gen = torch.Generator().manual_seed(T)
    n = 301
    W = torch.randn(2, n, generator=gen).numpy()
    b = torch.randn(n, generator=gen).numpy()
    W[:, :5] = 0.0  # prefix T
    b[5:10] = 0.0  # prefix 0
    ws = bound._bound_workspace(2, n, T)
    bound._sort_points(torch.randn(2, T, generator=gen).numpy(), ws)
    features = bound._order_features(W, b, ws)
    K, rs = ws[6], ws[1]
    norm = np.hypot(W[0].astype(np.float64), W[1].astype(np.float64)) * (1 + bound.BOUND_MARGIN)
    expected = (rs[None, :] * norm[:, None] < np.abs(b.astype(np.float64))[:, None]).sum(1)
    np.testing.assert_array_equal(K, expected)
    assert K.min() == 0 and K.max() == T
    np.testing.assert_array_equal(features, np.lexsort((np.arange(n), -K)))


BOUND_DIGEST = "493852a696c00ab5"
"""`weights_digest` of the bound kernel's run below (numba 0.68.1, torch 2.13.0, x86-64-v3 pin,
measured on an AMD EPYC znver4 host)."""


def test_bound_kernel_weights_digest() -> None:
    """The bound kernel is deterministic under the pin too: pin its arithmetic."""
    if not PINNED:
        pytest.skip(NOT_PINNED)
    config = dataclasses.replace(SMALL, steps=400, warmup_steps=40, kernel="bound")
    result = se.run_sweep(config, backend="numba", cache_dir=None, progress=False)
    assert weights_digest(result) == BOUND_DIGEST, weights_digest(result)
