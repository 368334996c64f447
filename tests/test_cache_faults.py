"""Fault injection for the sweep cache: nothing finished is lost, every message names the file.

Faults: a cache directory that cannot be written, a full disk, truncated / empty / garbage
files, files from another config (cache, checkpoint), checkpoints whose records do not fit or of
an older format, configs with numpy scalars, a run that diverges, and runs killed or sharing a
cache. Each run is tiny (a second or less).
"""

import dataclasses
import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import sweep_engine as se
from double_descent.engine import train
from tests.test_sweep_engine import assert_results_equal

ROOT = Path(__file__).resolve().parents[1]
TINY = se.SweepConfig(sizes=(3, 20), n_instances=2, n_features=30, steps=120, warmup_steps=10)
OTHER = dataclasses.replace(TINY, sizes=(3, 20, 40))
SNAPS = [0, 50, 120]


def run(config: se.SweepConfig, cache_dir: Path | None, **kwargs: object) -> se.SweepResult:
    """A quiet numba run with snapshots and frequent checkpoints."""
    options = dict(
        backend="numba", progress=False, checkpoint_every=30, record_every=10, snapshot_steps=SNAPS
    )
    return se.run_sweep(config, cache_dir=cache_dir, **(options | kwargs))


@pytest.fixture(scope="module")
def reference() -> se.SweepResult:
    """TINY trained without any cache."""
    return run(TINY, None)


def names(directory: Path) -> set[str]:
    return {p.name for p in directory.iterdir()}


def result_path(directory: Path, config: se.SweepConfig = TINY) -> Path:
    return directory / f"{config.key()}.pt"


def partial_path(directory: Path, config: se.SweepConfig = TINY) -> Path:
    return directory / f"{config.key()}.partial.pt"


class Interrupted(Exception):
    """Raised right after a checkpoint, as a KeyboardInterrupt would be."""


def interrupted_run(directory: Path, monkeypatch: pytest.MonkeyPatch, config=TINY) -> None:
    """Leave a checkpoint at step 90 in ``directory``."""

    def interrupt(step: int) -> None:
        if step == 90:
            raise Interrupted

    monkeypatch.setattr(train, "_after_checkpoint", interrupt)
    with pytest.raises(Interrupted):
        run(config, directory)
    monkeypatch.undo()
    assert partial_path(directory, config).exists()


# ----------------------------------------------------------------------------- unwritable


def test_unwritable_cache_dir_warns_before_training_and_returns_result(
    tmp_path, monkeypatch, reference
) -> None:
    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o555)
    if os.access(directory, os.W_OK):  # root ignores the mode: refuse the probe write instead
        real = Path.write_bytes

        def refuse(self: Path, data: bytes) -> int:
            if self.parent == directory:
                raise PermissionError(errno.EACCES, "Permission denied", str(self))
            return real(self, data)

        monkeypatch.setattr(Path, "write_bytes", refuse)
    with pytest.warns(UserWarning, match=f"cache_dir {re.escape(str(directory))} cannot be"):
        result = run(TINY, directory)
    assert_results_equal(result, reference)
    directory.chmod(0o755)
    assert names(directory) == set()


def test_cache_dir_that_cannot_be_created(tmp_path, reference) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.warns(UserWarning, match=re.escape(str(blocker / "cache"))):
        result = run(TINY, blocker / "cache")
    assert_results_equal(result, reference)


def test_read_only_cache_dir_still_loads_a_finished_sweep(tmp_path, reference, capsys) -> None:
    run(TINY, tmp_path)
    tmp_path.chmod(0o555)
    try:
        assert_results_equal(run(TINY, tmp_path), reference)
    finally:
        tmp_path.chmod(0o755)
    assert "Loaded sweep from cache" in capsys.readouterr().out


# ----------------------------------------------------------------------------- full disk


def full_disk(monkeypatch: pytest.MonkeyPatch, fail: str = "") -> None:
    """torch.save writes a few bytes of files whose name contains ``fail``, then raises ENOSPC."""
    real = torch.save

    def save(obj: object, path: Path) -> None:
        if fail in Path(path).name:
            Path(path).write_bytes(b"PK\x03\x04 partial")
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(obj, path)

    monkeypatch.setattr(torch, "save", save)


def test_full_disk_keeps_the_result_and_leaves_no_temporary_files(
    tmp_path, monkeypatch, reference
) -> None:
    full_disk(monkeypatch)
    with pytest.warns(UserWarning) as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    messages = [str(w.message) for w in caught]
    assert any(str(result_path(tmp_path)) in m and "No space" in m for m in messages)
    assert sum("checkpoint" in m for m in messages) == 1  # warned once, then no more tries
    assert names(tmp_path) == set()


def test_full_disk_at_the_end_keeps_the_checkpoint(tmp_path, monkeypatch, reference) -> None:
    full_disk(monkeypatch, fail=f"{TINY.key()}.pt")
    with pytest.warns(UserWarning, match=re.escape(str(result_path(tmp_path)))):
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert partial_path(tmp_path).exists() and not result_path(tmp_path).exists()
    assert not [n for n in names(tmp_path) if ".tmp" in n]
    monkeypatch.undo()
    assert_results_equal(run(TINY, tmp_path), reference)  # resumes from the checkpoint
    assert names(tmp_path) == {result_path(tmp_path).name, snapshot_name(tmp_path)}


def snapshot_name(directory: Path) -> str:
    (path,) = directory.glob("*.snapshots-*.pt")
    return path.name


def test_orphaned_temporary_files_of_ended_processes_are_removed(tmp_path, reference) -> None:
    command = [sys.executable, "-c", "import os; print(os.getpid())"]
    ended = subprocess.run(command, check=True, capture_output=True, text=True)
    orphan = tmp_path / f"{TINY.key()}.pt.tmp{int(ended.stdout)}"
    mine = tmp_path / f"other.pt.tmp{os.getpid()}"
    orphan.write_bytes(b"half a file")
    mine.write_bytes(b"being written")
    assert_results_equal(run(TINY, tmp_path), reference)
    assert not orphan.exists() and mine.exists()


# ----------------------------------------------------------------------------- unreadable files

DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
    "garbage": lambda data: bytes(np.random.default_rng(0).integers(0, 256, 4096, np.uint8)),
    "not_a_dict": lambda data: b"",  # replaced by a valid torch file holding a list, below
}


def damage(path: Path, kind: str) -> None:
    if kind == "not_a_dict":
        torch.save([1, 2, 3], path)
    else:
        path.write_bytes(DAMAGE[kind](path.read_bytes()))


def assert_set_aside(path: Path, messages: list[str]) -> None:
    """A warning names ``path`` and it was moved to ``<name>.corrupt``; never advises
    weights_only=False."""
    assert any(str(path) in m and f"{path.name}.corrupt" in m for m in messages), messages
    assert not any("weights_only" in m for m in messages)
    assert path.with_name(path.name + ".corrupt").exists()


@pytest.mark.parametrize("kind", list(DAMAGE))
@pytest.mark.parametrize("which", ["result", "snapshots"])
def test_damaged_cache_file_is_set_aside_and_rebuilt(
    tmp_path, reference, kind: str, which: str
) -> None:
    run(TINY, tmp_path)
    path = result_path(tmp_path) if which == "result" else tmp_path / snapshot_name(tmp_path)
    damage(path, kind)
    with pytest.warns(UserWarning) as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(path, [str(w.message) for w in caught])
    assert_results_equal(run(TINY, tmp_path), reference)  # the rebuilt file loads


@pytest.mark.parametrize("kind", list(DAMAGE))
def test_damaged_checkpoint_is_set_aside_and_training_restarts(
    tmp_path, monkeypatch, reference, kind: str
) -> None:
    interrupted_run(tmp_path, monkeypatch)
    damage(partial_path(tmp_path), kind)
    with pytest.warns(UserWarning) as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])
    assert not partial_path(tmp_path).exists()


BAD_RECORDS = {
    "history of the wrong shape": ("history", lambda x: x[:, :1], "history has the wrong shapes"),
    "a record after the checkpoint": (
        "history_steps",
        lambda x: x + 90,
        "history_steps out of range",
    ),
    "a snapshot after the checkpoint": (
        "snapshot_steps",
        lambda x: x + 60,
        "snapshot_steps out of range",
    ),
}
"""The checkpoint's records (the loss history and snapshots it carries) damaged but readable:
(entry, how, the reason in the warning)."""


@pytest.mark.parametrize("fault", list(BAD_RECORDS))
def test_checkpoint_whose_records_do_not_fit_is_set_aside(
    tmp_path, monkeypatch, reference, fault: str
) -> None:
    interrupted_run(tmp_path, monkeypatch)
    name, change, reason = BAD_RECORDS[fault]
    saved = torch.load(partial_path(tmp_path), weights_only=True)
    saved[name] = change(saved[name])
    torch.save(saved, partial_path(tmp_path))
    with pytest.warns(UserWarning, match=reason) as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])


def test_segmented_checkpoint_of_the_older_engine_is_set_aside(
    tmp_path, monkeypatch, reference
) -> None:
    """The format that kept the records in a chain of segment files: not read, set aside."""
    interrupted_run(tmp_path, monkeypatch)
    saved = torch.load(partial_path(tmp_path), weights_only=True)
    for name in ("history", "history_steps", "W_snapshots", "b_snapshots", "snapshot_steps"):
        del saved[name]
    torch.save(saved | {"last_segment": f"{TINY.key()}.seg-0123abcd-90.pt"}, partial_path(tmp_path))
    with pytest.warns(UserWarning, match="older, segmented format") as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])


def test_checkpoint_resumes_bitwise_with_fewer_records(tmp_path, monkeypatch, capsys) -> None:
    interrupted_run(tmp_path, monkeypatch)
    whole = run(TINY, None, snapshot_steps=[50, 100], record_every=20)
    capsys.readouterr()
    resumed = run(TINY, tmp_path, snapshot_steps=[50, 100], record_every=20)
    assert "Resuming sweep from step 90" in capsys.readouterr().out
    assert_results_equal(whole, resumed)


def test_checkpoint_without_the_records_asked_for_restarts(tmp_path, monkeypatch, capsys) -> None:
    interrupted_run(tmp_path, monkeypatch)
    whole = run(TINY, None, snapshot_steps=[40, 120], record_every=7)
    capsys.readouterr()
    result = run(TINY, tmp_path, snapshot_steps=[40, 120], record_every=7)
    assert "starting over" in capsys.readouterr().out
    assert_results_equal(whole, result)


# ----------------------------------------------------------------------------- another config


def test_cache_file_of_another_config_is_not_loaded(tmp_path, reference) -> None:
    run(OTHER, tmp_path)
    os.replace(result_path(tmp_path, OTHER), result_path(tmp_path))
    with pytest.warns(UserWarning, match="another config") as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(result_path(tmp_path), [str(w.message) for w in caught])


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_checkpoint_of_another_config_never_reaches_the_kernel(
    tmp_path, monkeypatch, backend: str
) -> None:
    """A checkpoint with more sizes (out-of-bounds writes in the kernel) or other rates."""
    whole = run(TINY, None, backend=backend)
    for other in (OTHER, dataclasses.replace(TINY, lr=3e-3)):
        interrupted_run(tmp_path, monkeypatch, other)
        os.replace(partial_path(tmp_path, other), partial_path(tmp_path))
        with pytest.warns(UserWarning, match="another config") as caught:
            result = run(TINY, tmp_path, backend=backend)
        assert_results_equal(result, whole)
        assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])
        result_path(tmp_path).unlink()


def test_checkpoint_with_wrong_shapes_is_set_aside(tmp_path, monkeypatch, reference) -> None:
    interrupted_run(tmp_path, monkeypatch)
    saved = torch.load(partial_path(tmp_path), weights_only=True)
    saved["W"] = torch.zeros(3, 2, 2, 30)  # one size too many, config unchanged
    torch.save(saved, partial_path(tmp_path))
    with pytest.warns(UserWarning, match="W has the wrong shape") as caught:
        result = run(TINY, tmp_path)
    assert_results_equal(result, reference)
    assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])


def test_checkpoint_of_an_older_engine_is_set_aside(tmp_path, reference) -> None:
    """The format before configs were stored: resumed only if its config can be verified."""
    sparse, W, b = se.build_problem(TINY)
    old = dataclasses.asdict(se.TrainState.fresh(W, b)) | {"step": 60, "backend": "numba"}
    del old["snapshots"], old["snapshot_steps"]
    torch.save(old, partial_path(tmp_path))
    with pytest.warns(UserWarning, match="no valid config") as caught:
        assert_results_equal(run(TINY, tmp_path), reference)
    assert_set_aside(partial_path(tmp_path), [str(w.message) for w in caught])


# ----------------------------------------------------------------------------- configs


def test_numpy_scalar_config_is_plain_and_shares_the_cache(tmp_path, reference, capsys) -> None:
    numpy_config = se.SweepConfig(
        sizes=np.array([3, 20]),
        n_instances=np.int64(2),
        n_features=np.int32(30),
        feature_probability=np.float32(0.01),
        steps=np.int64(120),
        warmup_steps=np.int16(10),
        lr=np.float32(1e-3),
        weight_decay=np.float64(1e-2),
        seed=np.uint8(0),
    )
    assert numpy_config == TINY and numpy_config.key() == TINY.key()
    for item in dataclasses.fields(TINY):
        value = getattr(numpy_config, item.name)
        assert type(value) is type(getattr(TINY, item.name)), item.name
    assert all(type(size) is int for size in numpy_config.sizes)
    run(TINY, tmp_path)
    assert_results_equal(run(numpy_config, tmp_path), reference)
    assert "Loaded sweep from cache" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("seed", -1, "int >= 0"),
        ("sizes", (20, 3), r"increasing sizes such as \(3, 20\)"),
        ("sizes", (np.int64(3), 3.0), "integers"),
    ],
)
def test_config_rejects_clearly(name: str, value: object, expected: str) -> None:
    with pytest.raises(ValueError, match=f"{name}: got .*{expected}"):
        dataclasses.replace(TINY, **{name: value})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("record_every", 10.0),
        ("record_every", 0),
        ("checkpoint_every", 30.0),
        ("checkpoint_every", None),
    ],
)
def test_run_options_reject_clearly(tmp_path, name: str, value: object) -> None:
    with pytest.raises(ValueError, match=f"{name}: got {value!r}"):
        run(TINY, tmp_path, **{name: value})
    assert names(tmp_path) == set()


def test_divergence_stops_at_the_first_non_finite_loss(tmp_path) -> None:
    config = dataclasses.replace(TINY, lr=1e36)
    with pytest.raises(FloatingPointError, match=r"not finite at step \d+ for sizes \["):
        run(config, tmp_path)
    assert not result_path(tmp_path, config).exists()
    assert not list(tmp_path.glob("*.snapshots-*"))


# ----------------------------------------------------------------------------- processes

SCRIPT = textwrap.dedent(
    """
    import sys, time
    import sweep_engine as se
    from double_descent.engine import train
    config = se.SweepConfig(sizes=(3, 20, 60), n_instances=2, n_features=30, steps=3000,
                            warmup_steps=10)
    if sys.argv[2] == "slow":
        train._after_checkpoint = lambda step: time.sleep(0.05)
    se.run_sweep(config, backend="numba", cache_dir=sys.argv[1], progress=False,
                 checkpoint_every=50, snapshot_steps=[0, 1000, 3000])
    """
)
PROC = se.SweepConfig(sizes=(3, 20, 60), n_instances=2, n_features=30, steps=3000, warmup_steps=10)


def start(directory: Path, mode: str) -> subprocess.Popen:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, str(directory), mode], env=env)


def wait_for_checkpoint(directory: Path, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 120
    while not partial_path(directory, PROC).exists():
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint was written"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def proc_reference() -> se.SweepResult:
    return se.run_sweep(
        PROC, backend="numba", cache_dir=None, progress=False, snapshot_steps=[0, 1000, 3000]
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_run_resumes_bitwise(tmp_path, proc_reference, sig: signal.Signals) -> None:
    proc = start(tmp_path, "slow")
    wait_for_checkpoint(tmp_path, proc)
    proc.send_signal(sig)
    assert proc.wait(60) != 0
    assert partial_path(tmp_path, PROC).exists()
    resumed = se.run_sweep(
        PROC, backend="numba", cache_dir=tmp_path, progress=False, snapshot_steps=[0, 1000, 3000]
    )
    assert_results_equal(resumed, proc_reference)
    assert not [n for n in names(tmp_path) if ".tmp" in n or "partial" in n]


def test_two_runs_sharing_a_cache(tmp_path, proc_reference) -> None:
    procs = [start(tmp_path, "fast"), start(tmp_path, "fast")]
    assert [p.wait(300) for p in procs] == [0, 0]
    loaded = se.run_sweep(
        PROC, backend="numba", cache_dir=tmp_path, progress=False, snapshot_steps=[0, 1000, 3000]
    )
    assert_results_equal(loaded, proc_reference)
    assert not [n for n in names(tmp_path) if ".tmp" in n]
