"""The training loop: :func:`run_sweep` trains (or loads) a sweep, chunk by chunk.

Between chunks it records the train loss, takes weight snapshots, checks that the loss is finite,
updates the progress bar and writes checkpoints (:mod:`double_descent.engine.cache`).
"""

from __future__ import annotations

import bisect
import contextlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import torch
from jaxtyping import Float
from torch import Tensor
from tqdm.auto import tqdm

from double_descent.engine.backends import _Backend, _NumbaBackend, _TorchBackend
from double_descent.engine.cache import _Cache
from double_descent.engine.config import (
    LOSS_EVERY,
    SparseData,
    SweepConfig,
    SweepResult,
    TrainState,
    _check,
    _is_int,
    _plain,
    build_problem,
    learning_rates,
)


def _after_checkpoint(step: int) -> None:
    """Called after every checkpoint is written (a hook for tests that simulate interruption)."""


def _choose_backend(backend: str) -> tuple[str, torch.device]:
    if backend == "auto":
        backend = "torch" if torch.cuda.is_available() else "numba"
    if backend == "numba":
        return backend, torch.device("cpu")
    if backend == "torch":
        return backend, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    raise ValueError(f"backend: got {backend!r}, expected 'auto', 'numba' or 'torch'")


def _chunk_end(step: int, steps: int, every: list[int], stops: Sequence[int] = ()) -> int:
    """The next step after ``step`` that is a multiple of any of ``every`` or one of the sorted
    ``stops``, capped at ``steps``."""
    following = stops[bisect.bisect_right(stops, step) :][:1]
    return min([steps, *following] + [(step // e + 1) * e for e in every])


def _check_options(
    record_every: object, checkpoint_every: object, snapshot_steps: object, steps: int
) -> tuple[int, ...] | None:
    """Validate run_sweep's options; return the snapshot steps as a tuple (or None)."""
    _check(
        record_every is None or (_is_int(record_every) and record_every >= 1),
        "record_every",
        record_every,
        "None or an int >= 1",
    )
    _check(
        _is_int(checkpoint_every) and checkpoint_every >= 1,
        "checkpoint_every",
        checkpoint_every,
        "an int >= 1",
    )
    if snapshot_steps is None:
        return None
    snaps = tuple(_plain(s) for s in snapshot_steps)
    ok = bool(snaps) and all(_is_int(s) and 0 <= s <= steps for s in snaps)
    _check(
        ok and all(a < b for a, b in zip(snaps, snaps[1:])),
        "snapshot_steps",
        snapshot_steps,
        f"increasing ints in [0, steps = {steps}], such as log_spaced_steps({steps})",
    )
    return snaps


@contextlib.contextmanager
def _torch_threads_kept() -> Iterator[None]:
    """Restores torch's intra-op thread count after training.

    numba's OpenMP threading layer and torch share one OpenMP runtime, so numba's parallel loops
    reset torch's thread count to the number of cores: a student who chose
    `torch.set_num_threads(1)` for their own loops would silently get every core back.
    """
    threads = torch.get_num_threads()
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def run_sweep(
    config: SweepConfig,
    *,
    backend: str = "auto",
    cache_dir: str | Path | None = ".sweep_cache",
    progress: bool = True,
    record_every: int | None = 100,
    checkpoint_every: int = 5000,
    snapshot_steps: Sequence[int] | None = None,
) -> SweepResult:
    """Train (or load from ``cache_dir``) every (size, instance) model of ``config``.

    ``backend``: "numba" (fused CPU kernel), "torch" (plain PyTorch, CUDA when available) or
    "auto" (torch on CUDA, else numba). Records the train loss every ``record_every`` steps
    (loss of the weights before that step's update), checkpoints to
    ``cache_dir/<key>.partial.pt`` every ``checkpoint_every`` steps and resumes from it.
    ``snapshot_steps`` (increasing, in [0, steps]; see :func:`log_spaced_steps`): also keep W and
    b before each of these updates (``steps``: the final weights), in ``result.W_snapshots`` and
    ``result.b_snapshots``; they are cached in a file of their own, ``<key>.snapshots-<hash of
    the steps>.pt``, and a cached sweep without that file is trained again to get them.

    Faults: an unreadable cache or checkpoint file, or one written for another config, is
    reported by name, moved aside to ``<name>.corrupt`` and rebuilt; a cache directory that cannot
    be written, or a failed save, gives a warning and the result is still returned. Training
    stops with ``FloatingPointError`` at the first non-finite train loss (nothing is cached).
    """
    name, device = _choose_backend(backend)
    snaps = _check_options(record_every, checkpoint_every, snapshot_steps, config.steps)
    cache = None if cache_dir is None else _Cache(Path(cache_dir), config, snaps)
    if cache is not None:
        cached = cache.load_result()
        if cached is not None:
            return cached
        if not cache.prepare_for_writing():
            cache = None
    sparse, W0, b0 = build_problem(config)
    state = cache.load_checkpoint(name, record_every) if cache is not None else None
    state = state or TrainState.fresh(W0, b0)
    engine: _Backend = (
        _NumbaBackend(config, sparse, state)
        if name == "numba"
        else _TorchBackend(config, sparse, state, device)
    )
    on_chunk = _checkpointer(config, engine, state, cache, checkpoint_every, name)
    with _torch_threads_kept():
        history, history_steps = _train(
            config, engine, state, progress, record_every, snaps, checkpoint_every, on_chunk
        )
    result = _result(config, engine, state, sparse, history, history_steps)
    if cache is not None:
        cache.save_result(result, record_every)
    return result


def _result(
    config: SweepConfig,
    engine: _Backend,
    state: TrainState,
    sparse: SparseData,
    history: Tensor | None,
    history_steps: Tensor | None,
) -> SweepResult:
    """The finished sweep: final weights and loss, history and snapshots (if any)."""
    final = engine.state(config.steps)
    train_loss = engine.final_loss()
    _check_finite(train_loss, config.steps, config)
    snapshot_steps = W_snapshots = b_snapshots = None
    if state.snapshot_steps:
        snapshot_steps = torch.tensor(state.snapshot_steps)
        W_all = torch.stack([W for W, _ in state.snapshots], dim=1)
        b_all = torch.stack([b for _, b in state.snapshots], dim=1)
        W_snapshots, b_snapshots = list(W_all.unbind(0)), list(b_all.unbind(0))
    return SweepResult(
        config=config,
        W=final.W,
        b=final.b,
        train_loss=train_loss,
        loss_history=history,
        history_steps=history_steps,
        sparse_data=sparse,
        snapshot_steps=snapshot_steps,
        W_snapshots=W_snapshots,
        b_snapshots=b_snapshots,
    )


def _check_finite(loss: Float[Tensor, "size inst"], step: int, config: SweepConfig) -> None:
    """Stop training at the first non-finite train loss, naming the step and sizes."""
    bad = ~torch.isfinite(loss).all(dim=1)
    if bad.any():
        sizes = [size for size, b in zip(config.sizes, bad.tolist()) if b]
        raise FloatingPointError(
            f"train loss is not finite at step {step} for sizes {sizes}: training diverged "
            f"(lr = {config.lr}, weight_decay = {config.weight_decay}); nothing was cached"
        )


def _checkpointer(
    config: SweepConfig,
    engine: _Backend,
    state: TrainState,
    cache: _Cache | None,
    every: int,
    backend: str,
) -> Callable[[int], None]:
    """on_chunk(step): writes a checkpoint when ``step`` is a multiple of ``every``."""

    def on_chunk(step: int) -> None:
        if cache is None or step % every or step >= config.steps:
            return
        if cache.save_checkpoint(engine.state(step), state, backend):
            _after_checkpoint(step)

    return on_chunk


def _train(
    config: SweepConfig,
    engine: _Backend,
    state: TrainState,
    progress: bool,
    record_every: int | None,
    snapshot_steps: tuple[int, ...] | None,
    checkpoint_every: int,
    on_chunk: Callable[[int], None],
) -> tuple[Tensor | None, Tensor | None]:
    """Chunked training loop with progress bar, loss records, snapshots and checkpoints."""
    lrs = learning_rates(config)
    every = [LOSS_EVERY, checkpoint_every] + ([record_every] if record_every else [])
    snaps = snapshot_steps or ()
    step = state.step
    with tqdm(
        total=config.steps, initial=step, disable=not progress, unit="step", desc="sweep"
    ) as bar:
        while step < config.steps:
            if step in snaps:
                state.snapshots.append(engine.weights())
                state.snapshot_steps.append(step)
            end = _chunk_end(step, config.steps, every, snaps)
            loss = engine.advance(step, end - step, lrs[step:end])
            _check_finite(loss, step, config)
            if record_every and step % record_every == 0:
                state.history.append(loss)
                state.history_steps.append(step)
            bar.set_postfix(loss=f"{loss.mean().item():.4f}", refresh=False)
            bar.update(end - step)
            step = end
            on_chunk(step)
    if config.steps in snaps:
        state.snapshots.append(engine.weights())
        state.snapshot_steps.append(config.steps)
    if not record_every:
        return None, None
    return torch.stack(state.history), torch.tensor(state.history_steps)
