"""The on-disk cache of finished sweeps and checkpoints, and the checks every file passes.

Files of one config (``key = config.key()``) in the cache directory::

    <key>.pt                    the finished sweep (config, weights, losses, history, data)
    <key>.snapshots-<h>.pt      its weight snapshots at the steps whose hash is <h>
    <key>.partial.pt            the latest checkpoint: config, step, backend, weights and
                                moments, and every loss record and snapshot taken before it

Each checkpoint rewrites the whole partial file, atomically. For the course sweep (17 sizes x 10
instances, records every 100 steps, a checkpoint every 5,000 of 50,000 steps) that costs at most
0.03 s a checkpoint without snapshots (6 MB) and 0.7 s with 20 snapshots (45 MB; 3.5 s over the
run, about 1% of the sweep's 6 minutes), measured by ``python benchmarks/bench_engine.py
--checkpoints``: too little to pay for a chain of files holding only each checkpoint's new
records.
Checkpoints of the earlier segmented format (a chain of ``<key>.seg-*.pt`` files) are not read:
such a checkpoint is set aside and the sweep starts from step 0.

Every file stores the config and is checked (config and shapes) before use; a file that fails is
moved aside to ``<name>.corrupt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from double_descent.engine.config import (
    _KEY_DEFAULTS,
    SparseData,
    SweepConfig,
    SweepResult,
    TrainState,
    _is_int,
)


class _Unusable(Exception):
    """A cache file that cannot be used; the message says why."""


def _stored_config(saved: object) -> SweepConfig | None:
    """The config stored in a loaded file (None if missing or invalid)."""
    stored = saved.get("config") if isinstance(saved, dict) else None
    if not isinstance(stored, dict):
        return None
    try:
        return SweepConfig(**(_KEY_DEFAULTS | stored))
    except (TypeError, ValueError):
        return None


def _read(path: Path, config: SweepConfig) -> dict:
    """A file's dict, loaded with ``weights_only=True``; raises _Unusable when it is unreadable
    or stores another config."""
    try:
        saved = torch.load(path, weights_only=True)
    except Exception as error:  # noqa: BLE001 - torch raises many types for damaged files
        raise _Unusable(f"unreadable ({type(error).__name__})") from None
    stored = _stored_config(saved)
    if stored is None:
        raise _Unusable("stores no valid config (damaged, or written by an older engine)")
    if stored != config:
        differ = [
            f.name
            for f in dataclasses.fields(config)
            if getattr(stored, f.name) != getattr(config, f.name)
        ]
        raise _Unusable(f"written for another config (differs in {', '.join(differ)})")
    return saved


def _require(ok: bool, reason: str) -> None:
    if not ok:
        raise _Unusable(reason)


def _is_tensor(value: object, shape: Sequence[int], dtype: torch.dtype = torch.float32) -> bool:
    return isinstance(value, Tensor) and value.dtype == dtype and tuple(value.shape) == tuple(shape)


def _require_list(saved: dict, name: str, n: int, shape: Sequence[int]) -> None:
    """saved[name] is a list of n float32 tensors of ``shape``."""
    value = saved.get(name)
    ok = isinstance(value, list | tuple) and len(value) == n
    _require(ok and all(_is_tensor(t, shape) for t in value), f"{name} has the wrong shapes")


def _require_records(values: object, steps: object, shape: Sequence[int], name: str) -> None:
    """``values`` (k, *shape) float32 records at the int64 ``steps`` (k,)."""
    ok = isinstance(steps, Tensor) and steps.dtype == torch.int64 and steps.dim() == 1
    _require(ok and _is_tensor(values, (len(steps), *shape)), f"{name} has the wrong shapes")


def _check_result_file(saved: dict, config: SweepConfig) -> None:
    """Shapes of a finished sweep's file, against ``config``."""
    S, inst, m, n = len(config.sizes), config.n_instances, config.d_hidden, config.n_features
    _require_list(saved, "W", S, (inst, m, n))
    _require_list(saved, "b", S, (inst, n))
    _require(_is_tensor(saved.get("train_loss"), (S, inst)), "train_loss has the wrong shape")
    if saved.get("loss_history") is not None:
        _require_records(saved["loss_history"], saved.get("history_steps"), (S, inst), "history")
    data = saved.get("sparse_data")
    _require(
        isinstance(data, dict) and set(data) == {f.name for f in dataclasses.fields(SparseData)},
        "sparse_data is missing",
    )
    rows = np.concatenate([[0], np.cumsum(np.asarray(config.sizes) * inst)])
    offsets = data["row_offsets"]
    ok = isinstance(offsets, Tensor) and offsets.tolist() == rows.tolist()
    ok = ok and (data["n_instances"], data["n_features"]) == (inst, n)
    ok = ok and isinstance(data["row_ptr"], Tensor) and data["row_ptr"].shape == (rows[-1] + 1,)
    nnz = int(data["row_ptr"][-1]) if ok else -1
    ok = ok and _is_tensor(data["feat"], (nnz,), torch.int32) and _is_tensor(data["val"], (nnz,))
    _require(ok, "sparse_data has the wrong shapes")


def _check_snapshot_file(saved: dict, config: SweepConfig, snaps: tuple[int, ...]) -> None:
    """Shapes and steps of a snapshot file, against ``config`` and the requested steps."""
    S, inst, m, n = len(config.sizes), config.n_instances, config.d_hidden, config.n_features
    steps = saved.get("snapshot_steps")
    _require(isinstance(steps, Tensor) and steps.tolist() == list(snaps), "other snapshot steps")
    _require_list(saved, "W_snapshots", S, (len(snaps), inst, m, n))
    _require_list(saved, "b_snapshots", S, (len(snaps), inst, n))


def _check_checkpoint(saved: dict, config: SweepConfig) -> None:
    """Step, backend, shapes and records of a checkpoint, against ``config``."""
    S, inst, m, n = len(config.sizes), config.n_instances, config.d_hidden, config.n_features
    step = saved.get("step")
    _require(_is_int(step) and 0 < step < config.steps, f"step {step!r} is out of range")
    for name in ("W", "mW", "vW"):
        _require(_is_tensor(saved.get(name), (S, inst, m, n)), f"{name} has the wrong shape")
    for name in ("b", "mb", "vb"):
        _require(_is_tensor(saved.get(name), (S, inst, n)), f"{name} has the wrong shape")
    _require(isinstance(saved.get("backend"), str), "backend is missing")
    _require("last_segment" not in saved, "a checkpoint of the older, segmented format")
    _require_records(saved.get("history"), saved.get("history_steps"), (S, inst), "history")
    _require_records(
        saved.get("W_snapshots"), saved.get("snapshot_steps"), (S, inst, m, n), "W_snapshots"
    )
    _require_records(saved.get("b_snapshots"), saved.get("snapshot_steps"), (S, inst, n), "b")
    for name in ("history_steps", "snapshot_steps"):
        _require(all(0 <= s < step for s in saved[name].tolist()), f"{name} out of range")


def _dead_tmp(path: Path) -> bool:
    """Whether ``path`` is a temporary file (``*.tmp<pid>``) of a process that has ended."""
    match = re.fullmatch(r".*\.tmp(\d+)", path.name)
    if match is None:
        return False
    try:
        os.kill(int(match.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):  # another user's process, or not a pid
        pass
    return False


def _save_atomic(obj: object, path: Path) -> None:
    """torch.save to a temporary file beside ``path``, then rename it into place; the temporary
    file is removed if anything fails."""
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class _Cache:
    """The cache files of one config in one directory (see the module docstring)."""

    def __init__(self, directory: Path, config: SweepConfig, snaps: tuple[int, ...] | None) -> None:
        self.dir, self.config, self.snaps = directory, config, snaps
        key = config.key()
        self.result_path = directory / f"{key}.pt"
        self.partial_path = directory / f"{key}.partial.pt"
        digest = hashlib.sha256(json.dumps(list(snaps or ())).encode()).hexdigest()[:12]
        self.snapshot_path = directory / f"{key}.snapshots-{digest}.pt"
        self.checkpoints_failed = False

    # ---- reading

    def _set_aside(self, path: Path, reason: str, then: str) -> None:
        """Warn that ``path`` cannot be used and move it to ``<name>.corrupt``."""
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            moved = f"moved aside to {aside.name}"
        except OSError as error:
            moved = f"could not be moved aside ({error.strerror})"
        warnings.warn(f"{path}: {reason}; {moved}; {then}", stacklevel=4)

    def load_result(self) -> SweepResult | None:
        """The cached sweep (with the requested snapshots), or None if it must be trained."""
        if not self.result_path.exists():
            return None
        start = time.perf_counter()
        try:
            saved = _read(self.result_path, self.config)
            _check_result_file(saved, self.config)
        except _Unusable as error:
            self._set_aside(self.result_path, str(error), "training the sweep again")
            return None
        snapshots = self._load_snapshots()
        if self.snaps is not None and snapshots is None:
            return None
        print(f"Loaded sweep from cache in {time.perf_counter() - start:.2f} s: {self.result_path}")
        extra = {} if snapshots is None else snapshots
        return SweepResult(
            config=self.config,
            W=saved["W"],
            b=saved["b"],
            train_loss=saved["train_loss"],
            loss_history=saved["loss_history"],
            history_steps=saved["history_steps"],
            sparse_data=SparseData(**saved["sparse_data"]),
            **extra,
        )

    def _load_snapshots(self) -> dict | None:
        """The requested snapshots from their file, or None (none asked for, or not usable)."""
        if self.snaps is None:
            return None
        if not self.snapshot_path.exists():
            print(f"No cached snapshots at these steps ({self.snapshot_path.name}): training again")
            return None
        try:
            saved = _read(self.snapshot_path, self.config)
            _check_snapshot_file(saved, self.config, self.snaps)
        except _Unusable as error:
            self._set_aside(self.snapshot_path, str(error), "training the sweep again")
            return None
        names = ("snapshot_steps", "W_snapshots", "b_snapshots")
        return {name: saved[name] for name in names}

    def load_checkpoint(self, backend: str, record_every: int | None) -> TrainState | None:
        """The checkpoint's state with its records, or None (start from step 0)."""
        if not self.partial_path.exists():
            return None
        try:
            saved = _read(self.partial_path, self.config)
            _check_checkpoint(saved, self.config)
        except _Unusable as error:
            self._set_aside(self.partial_path, str(error), "starting from step 0")
            return None
        if saved["backend"] != backend:
            print(
                f"{self.partial_path} was written by the {saved['backend']} backend: starting over"
            )
            return None
        state = TrainState(
            saved["step"],
            *(list(saved[k].unbind(0)) for k in ("W", "b", "mW", "vW", "mb", "vb")),
            [],
            [],
        )
        if not self._restore_records(state, saved, record_every):
            print(
                f"{self.partial_path} lacks records for this record_every / snapshot_steps: "
                "starting over"
            )
            return None
        print(f"Resuming sweep from step {state.step}: {self.partial_path}")
        return state

    def _restore_records(self, state: TrainState, saved: dict, record_every: int | None) -> bool:
        """Fill ``state``'s history and snapshots with the ones this run records before its
        step, from the checkpoint ``saved``; False if some are missing."""
        losses = dict(zip(saved["history_steps"].tolist(), saved["history"]))
        pairs = zip(saved["W_snapshots"], saved["b_snapshots"])
        weights = dict(zip(saved["snapshot_steps"].tolist(), pairs))
        wanted = list(range(0, state.step, record_every)) if record_every else []
        snaps = [s for s in self.snaps or () if s < state.step]
        if not (set(wanted) <= set(losses) and set(snaps) <= set(weights)):
            return False
        state.history, state.history_steps = [losses[s] for s in wanted], wanted
        state.snapshots, state.snapshot_steps = [weights[s] for s in snaps], snaps
        return True

    # ---- writing

    def prepare_for_writing(self) -> bool:
        """Check that the directory can be written (warn and return False if not), and remove
        temporary files left by processes that have ended."""
        probe = self.dir / f".write-test.tmp{os.getpid()}"
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as error:
            warnings.warn(
                f"cache_dir {self.dir} cannot be written ({error.strerror}): training without "
                "checkpoints, and the result will not be cached",
                stacklevel=3,
            )
            return False
        for path in self.dir.glob("*.tmp*"):
            if _dead_tmp(path):
                path.unlink(missing_ok=True)
        return True

    def _save(self, obj: dict, path: Path, what: str) -> bool:
        """Save ``obj`` atomically to ``path``; on failure warn (naming the file) and return
        False."""
        try:
            _save_atomic(obj | {"config": dataclasses.asdict(self.config)}, path)
        except (OSError, RuntimeError) as error:
            warnings.warn(f"could not write {what} {path}: {error}", stacklevel=4)
            return False
        return True

    def save_checkpoint(self, snapshot: TrainState, state: TrainState, backend: str) -> bool:
        """Write the weights and moments in ``snapshot`` with every record taken so far (in
        ``state``); after a failure, warn once and write no more checkpoints."""
        if self.checkpoints_failed:
            return False
        payload = {
            "step": snapshot.step,
            "backend": backend,
            **{k: torch.stack(getattr(snapshot, k)) for k in ("W", "b", "mW", "vW", "mb", "vb")},
            **_records(state),
        }
        if not self._save(payload, self.partial_path, "checkpoint"):
            self.checkpoints_failed = True
            return False
        return True

    def save_result(self, result: SweepResult, record_every: int | None) -> None:
        """Cache the finished sweep (and its snapshots), then remove the checkpoint files; on a
        failed save, warn and keep the checkpoint."""
        ok = self._save(_result_dict(result, record_every), self.result_path, "sweep cache")
        if ok and result.snapshot_steps is not None:
            snapshots = {
                "snapshot_steps": result.snapshot_steps,
                "W_snapshots": result.W_snapshots,
                "b_snapshots": result.b_snapshots,
            }
            ok = self._save(snapshots, self.snapshot_path, "snapshot cache")
        if ok:
            self.partial_path.unlink(missing_ok=True)


def _records(state: TrainState) -> dict:
    """The loss records and weight snapshots of ``state``, stacked (empty tensors if none)."""
    S, (inst, m, n) = len(state.W), state.W[0].shape
    W_snaps = [W for W, _ in state.snapshots]
    b_snaps = [b for _, b in state.snapshots]
    stack = lambda ts, *shape: torch.stack(ts) if ts else torch.zeros(0, *shape)  # noqa: E731
    return {
        "history": stack(state.history, S, inst),
        "history_steps": torch.tensor(state.history_steps, dtype=torch.int64),
        "W_snapshots": stack(W_snaps, S, inst, m, n),
        "b_snapshots": stack(b_snaps, S, inst, n),
        "snapshot_steps": torch.tensor(state.snapshot_steps, dtype=torch.int64),
    }


def _result_dict(result: SweepResult, record_every: int | None) -> dict:
    return {
        "W": result.W,
        "b": result.b,
        "train_loss": result.train_loss,
        "loss_history": result.loss_history,
        "history_steps": result.history_steps,
        "record_every": record_every,
        "sparse_data": result.sparse_data.to_dict(),
    }
