"""Fast, exact training of the whole double-descent sweep (Henighan et al. 2023, toy model).

Every (dataset size T, instance) pair is an independent model

    h = W x,   out = ReLU(Wᵀ h + b),   W: (d_hidden, n_features),   b: (n_features,)

trained full-batch on ONE fixed dataset of T points with the loss
``mean over datapoints of Σ_f (x_f − out_f)²`` (an all-zero output scores 1.0 on unit-norm data),
``torch.optim.AdamW`` (betas (0.9, 0.999), eps 1e-8, decoupled weight decay on W and b) and the
paper's schedule: linear warmup, then half-cosine decay to 0 (see :func:`lr_multiplier`).

Two backends run exactly that training:

* ``"numba"``: one fused CPU kernel for all models. The data are ~99% zeros, so ``h = W x`` is a
  sparse gather; the dense pass over (feature, datapoint) pairs is done as if ``x`` were 0 and
  then corrected at the nonzeros, with an analytic backward and AdamW fused in. Each model is
  trained by exactly one thread in a fixed order of operations, so results are bitwise
  deterministic and independent of the number of threads; the kernel is compiled for one fixed
  CPU level (:data:`NUMBA_CPU`), so the m = 2 kernel's are also the same on every x86-64-v3 CPU
  (with the same numba and torch versions). ``SweepConfig(kernel="bound")`` selects a second
  kernel for d_hidden = 2 that skips the (datapoint, feature) pairs whose output ReLU a norm
  bound already decides (see :func:`_dense_pass_bound`): the same training up to float32
  rounding, deterministic under the same pin; the default "dense" kernel made the stored results.
* ``"torch"``: the straightforward model (autograd, ``torch.optim.AdamW`` + ``LambdaLR``), one
  model per size with an instance dimension. It runs on CUDA when available and is the
  benchmark's baseline.

Schedule semantics: like ``LambdaLR`` wrapped round ``AdamW``, update ``s`` (``s = 0 .. steps-1``)
uses ``lr · lr_multiplier(s)``; the first update therefore has learning rate 0, but it still
advances Adam's moments and its bias-correction step count.

Seeding: the data and init of size T come from their own ``torch.Generator`` seeded from
``(config.seed, T)`` (data first, then init), so they do not change when other sizes are added or
removed, nor when lr, weight decay, steps or warmup change: ablations share their datasets.

Precision: weights, Adam moments and gradients are float32, as in the PyTorch model; losses are
accumulated in float64 (they are evaluated every ``LOSS_EVERY`` steps only).
"""

from __future__ import annotations

import bisect
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import llvmlite.binding as llvm
import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor
from tqdm.auto import tqdm

X86_64_V3 = ("avx", "avx2", "bmi", "bmi2", "f16c", "fma", "lzcnt", "movbe", "xsave")
"""CPU features of the x86-64-v3 level (AVX2 + FMA: x86 CPUs since 2013-2015)."""


def _numba_cpu() -> str | None:
    """The one CPU that the numba kernel is compiled for, whatever the host's SIMD width.

    With fast-math, LLVM vectorises the kernel's reductions as wide as the CPU allows, so an
    AVX-512 CPU and an AVX2 CPU add the same numbers in a different order: after 50,000 steps the
    sweep's peak moved by about 1% (193.915 against 192.361). Compiling for one fixed level
    (x86-64-v3, without the host's extra features) gives the m = 2 kernel bitwise the same
    weights on every x86-64 CPU that has it, so the notebook's stored tables hold on any such
    machine with the same numba and torch. ``None`` (the host CPU) elsewhere:
    other x86 CPUs get the baseline level and ARM its own code, so their last digits may differ.
    An explicit ``NUMBA_CPU_NAME`` in the environment wins.
    """
    if "NUMBA_CPU_NAME" in os.environ:
        return os.environ["NUMBA_CPU_NAME"]
    if llvm.get_process_triple().split("-")[0] not in ("x86_64", "amd64"):
        return None
    features = llvm.get_host_cpu_features()
    return "x86-64-v3" if all(features.get(f, False) for f in X86_64_V3) else "x86-64"


NUMBA_CPU: str | None = _numba_cpu()
if NUMBA_CPU is not None and "NUMBA_CPU_NAME" not in os.environ:
    os.environ["NUMBA_CPU_NAME"] = NUMBA_CPU
    os.environ["NUMBA_CPU_FEATURES"] = ""  # the level's own features, none of the host's

import numba  # noqa: E402  (reads NUMBA_CPU_NAME when first imported)
from numba import njit, prange  # noqa: E402

if NUMBA_CPU is not None and numba.config.CPU_NAME != NUMBA_CPU:  # numba was imported earlier
    numba.config.CPU_NAME, numba.config.CPU_FEATURES = NUMBA_CPU, ""

# fmt: off
PAPER_SIZES: tuple[int, ...] = (
    3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 200, 300, 500, 1000, 2000, 3000,
)
# fmt: on
BETAS: tuple[float, float] = (0.9, 0.999)
EPS: float = 1e-8
LOSS_EVERY: int = 100
"""The kernel runs at most this many steps per call; the progress bar is updated in between."""
UNIT_OVERHEAD: int = 20
"""Fixed cost of one model, in datapoints, for balancing models across threads."""
ENGINE_VERSION: str = "2"
"""Part of every cache key: bump it when the training semantics change."""

KERNELS: tuple[str, ...] = ("dense", "bound")
"""The numba backend's gradient kernels (see :attr:`SweepConfig.kernel`)."""

_FAST = {"reassoc", "contract", "nsz"}
"""Fast-math flags of the dense pass: reassociation lets LLVM vectorise its reductions."""


@dataclass(frozen=True)
class SweepConfig:
    """One sweep: ``n_instances`` models for each dataset size in ``sizes``, trained alike."""

    sizes: tuple[int, ...] = PAPER_SIZES
    n_instances: int = 10
    n_features: int = 1000
    d_hidden: int = 2
    feature_probability: float = 0.01
    steps: int = 50_000
    warmup_steps: int = 2_500
    lr: float = 1e-3
    weight_decay: float = 1e-2
    seed: int = 0
    warmup_start: float = 0.0
    """Multiplier the warmup starts from (0 in the paper; 0.1 in the published replication)."""
    kernel: str = "dense"
    """The numba backend's gradient kernel: "dense" (every (datapoint, feature) pair; the stored
    results were made with it) or "bound" (d_hidden = 2: pairs whose output ReLU the bound
    ``||h|| ||W_f|| < |b_f|`` decides are summed through moments, see :func:`_dense_pass_bound`;
    the same training up to float32 rounding, several times faster). The torch backend ignores it.
    """

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            object.__setattr__(self, item.name, _plain(getattr(self, item.name)))
        sizes = tuple(_plain(size) for size in self.sizes)
        object.__setattr__(self, "sizes", sizes)
        if not sizes:
            raise ValueError("sizes: got (), expected at least one dataset size")
        for size in sizes:
            if not _is_int(size) or size < 1:
                raise ValueError(f"sizes: got {sizes!r}, expected integers >= 1")
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"sizes: got {sizes!r}, expected no duplicates")
        if list(sizes) != sorted(sizes):
            raise ValueError(
                f"sizes: got {sizes!r}, expected increasing sizes such as {tuple(sorted(sizes))!r}"
                " (results are indexed like sizes)"
            )
        _check(
            _is_int(self.n_instances) and self.n_instances >= 1,
            "n_instances",
            self.n_instances,
            "an int >= 1",
        )
        _check(
            _is_int(self.n_features) and self.n_features >= 1,
            "n_features",
            self.n_features,
            "an int >= 1",
        )
        _check(
            _is_int(self.d_hidden) and self.d_hidden >= 1, "d_hidden", self.d_hidden, "an int >= 1"
        )
        p = self.feature_probability
        _check(_is_real(p) and 0 < p <= 1, "feature_probability", p, "a number in (0, 1]")
        _check(_is_int(self.steps) and self.steps >= 1, "steps", self.steps, "an int >= 1")
        _check(
            _is_int(self.warmup_steps) and 0 <= self.warmup_steps < self.steps,
            "warmup_steps",
            self.warmup_steps,
            f"an int with 0 <= warmup_steps < steps ({self.steps})",
        )
        _check(_is_real(self.lr) and self.lr > 0, "lr", self.lr, "a number > 0")
        _check(
            _is_real(self.weight_decay) and self.weight_decay >= 0,
            "weight_decay",
            self.weight_decay,
            "a number >= 0",
        )
        _check(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "an int >= 0")
        _check(self.kernel in KERNELS, "kernel", self.kernel, f"one of {KERNELS}")
        _check(
            _is_real(self.warmup_start) and 0 <= self.warmup_start <= 1,
            "warmup_start",
            self.warmup_start,
            "a number in [0, 1]",
        )

    def key(self) -> str:
        """Stable short hash of every field (and the engine version), for cache file names."""
        fields = dataclasses.asdict(self) | {"engine": ENGINE_VERSION}
        for name, default in _KEY_DEFAULTS.items():
            if fields[name] == default:
                del fields[name]
        text = json.dumps(fields, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


_KEY_DEFAULTS: dict[str, object] = {"warmup_start": 0.0, "kernel": "dense"}
"""Fields added after caches existed: left out of ``key()`` at their default, so old keys hold."""


def _plain(value: object) -> object:
    """numpy scalars as Python numbers: integers exactly, floats as the shortest decimal that
    reads back as the same numpy value (``np.float32(1e-3)`` becomes ``1e-3``)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(str(value))
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float | np.floating) and math.isfinite(value))


def _check(ok: bool, name: str, value: object, expected: str) -> None:
    if not ok:
        raise ValueError(f"{name}: got {value!r}, expected {expected}")


@dataclass
class SparseData:
    """Training data of all (size, instance) models in CSR form.

    Row ``r`` is one datapoint; the rows of size ``i`` are ``row_offsets[i] .. row_offsets[i+1]``,
    instance-major (row ``row_offsets[i] + j * T + t`` is point ``t`` of instance ``j``).
    """

    row_offsets: Int[Tensor, " n_sizes_plus_1"]
    row_ptr: Int[Tensor, " n_rows_plus_1"]
    feat: Int[Tensor, " nnz"]
    val: Float[Tensor, " nnz"]
    n_instances: int
    n_features: int

    def dense(self, size_index: int) -> Float[Tensor, "batch inst feats"]:
        """Dense data of one size, exactly as :func:`generate_data` produced it."""
        r0, r1 = int(self.row_offsets[size_index]), int(self.row_offsets[size_index + 1])
        z0, z1 = int(self.row_ptr[r0]), int(self.row_ptr[r1])
        counts = self.row_ptr[r0 + 1 : r1 + 1] - self.row_ptr[r0:r1]
        rows = torch.repeat_interleave(torch.arange(r1 - r0), counts)
        out = torch.zeros(r1 - r0, self.n_features)
        out[rows, self.feat[z0:z1].long()] = self.val[z0:z1]
        return out.view(self.n_instances, -1, self.n_features).permute(1, 0, 2).contiguous()

    @classmethod
    def from_dense(cls, datasets: list[Float[Tensor, "batch inst feats"]]) -> SparseData:
        """CSR of a list of dense (batch, inst, feats) datasets."""
        row_offsets, row_ptrs, feats, vals, total = (
            [0],
            [torch.zeros(1, dtype=torch.int64)],
            [],
            [],
            0,
        )
        for data in datasets:
            rows = data.permute(1, 0, 2).reshape(-1, data.shape[-1])
            r, f = rows.nonzero(as_tuple=True)
            counts = torch.bincount(r, minlength=rows.shape[0])
            row_ptrs.append(total + counts.cumsum(0))
            total += int(r.numel())
            feats.append(f.to(torch.int32))
            vals.append(rows[r, f])
            row_offsets.append(row_offsets[-1] + rows.shape[0])
        return cls(
            row_offsets=torch.tensor(row_offsets),
            row_ptr=torch.cat(row_ptrs),
            feat=torch.cat(feats),
            val=torch.cat(vals),
            n_instances=datasets[0].shape[1],
            n_features=datasets[0].shape[2],
        )

    def to_dict(self) -> dict:
        """Plain dict for ``torch.save``."""
        return dataclasses.asdict(self)


@dataclass
class SweepResult:
    """Trained weights and losses of a sweep; lists are indexed like ``config.sizes``."""

    config: SweepConfig
    W: list[Float[Tensor, "inst d_hidden feats"]]
    b: list[Float[Tensor, "inst feats"]]
    train_loss: Float[Tensor, "size inst"]
    loss_history: Float[Tensor, "record size inst"] | None
    history_steps: Int[Tensor, " record"] | None
    sparse_data: SparseData = field(repr=False)
    snapshot_steps: Int[Tensor, " snap"] | None = None
    """Steps of the weight snapshots: the snapshot at step s holds the weights before update s
    (s = config.steps: the final weights); None when no snapshots were asked for."""
    W_snapshots: list[Float[Tensor, "snap inst d_hidden feats"]] | None = field(
        default=None, repr=False
    )
    b_snapshots: list[Float[Tensor, "snap inst feats"]] | None = field(default=None, repr=False)

    def data(self, size_index: int) -> Float[Tensor, "batch inst feats"]:
        """Dense training data of size ``config.sizes[size_index]``."""
        return self.sparse_data.dense(size_index)

    def best_instance(self) -> Int[Tensor, " size"]:
        """Index of the instance with the lowest final train loss, per size."""
        return self.train_loss.argmin(dim=1)


# ----------------------------------------------------------------------------- schedule and data


def lr_multiplier(step: int, steps: int, warmup_steps: int, warmup_start: float = 0.0) -> float:
    """Learning-rate multiplier of update ``step``: linear warmup from ``warmup_start`` to 1 over
    ``warmup_steps`` (like ``LinearLR(start_factor=warmup_start)``), then half-cosine to 0."""
    if step < warmup_steps:
        return warmup_start + (1.0 - warmup_start) * step / warmup_steps
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / (steps - warmup_steps)))


def log_spaced_steps(steps: int, count: int = 20) -> list[int]:
    """``count`` distinct, increasing steps from 0 to ``steps`` (both included), log-spaced in
    between (as far as distinct integers allow): snapshot steps for :func:`run_sweep`."""
    _check(_is_int(steps) and steps >= 1, "steps", steps, "an int >= 1")
    _check(
        _is_int(count) and 2 <= count <= steps + 1, "count", count, f"an int in [2, {steps + 1}]"
    )
    chosen = [0]
    targets = np.geomspace(1, steps, count - 1)
    for j, target in enumerate(targets):
        low, high = chosen[-1] + 1, steps - (count - 2 - j)
        chosen.append(min(max(round(float(target)), low), high))
    return chosen


def generate_data(
    n_points: int,
    n_instances: int,
    n_features: int,
    feature_probability: float,
    generator: torch.Generator,
) -> Float[Tensor, "batch inst feats"]:
    """Sparse datapoints scaled to unit L2 norm (all-zero points stay zero), float32.

    Draws presence (``rand < p``) first, then values ``U[0, 1)``, each of shape
    (n_points, n_instances, n_features), from ``generator``.
    """
    shape = (n_points, n_instances, n_features)
    data = torch.rand(shape, generator=generator).lt_(feature_probability)
    data.mul_(torch.rand(shape, generator=generator))
    norm = data.norm(dim=-1, keepdim=True)
    return data.div_(torch.where(norm > 0, norm, torch.ones_like(norm)))


def size_generator(seed: int, size: int) -> torch.Generator:
    """The generator of size ``size``'s data and init: depends on ``(seed, size)`` only."""
    state = np.random.SeedSequence([seed, size]).generate_state(2, np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


def init_weights(
    n_instances: int, d_hidden: int, n_features: int, generator: torch.Generator
) -> tuple[Float[Tensor, "inst d_hidden feats"], Float[Tensor, "inst feats"]]:
    """Xavier-normal W per instance (std ``sqrt(2 / (d_hidden + n_features))``) and b = 0."""
    std = math.sqrt(2.0 / (d_hidden + n_features))
    W = torch.randn(n_instances, d_hidden, n_features, generator=generator) * std
    return W, torch.zeros(n_instances, n_features)


def build_problem(config: SweepConfig) -> tuple[SparseData, list[Tensor], list[Tensor]]:
    """Data (sparse) and initial (W, b) of every size, each from its own generator."""
    datasets, Ws, bs = [], [], []
    for size in config.sizes:
        gen = size_generator(config.seed, size)
        data = generate_data(
            size, config.n_instances, config.n_features, config.feature_probability, gen
        )
        datasets.append(SparseData.from_dense([data]))
        W, b = init_weights(config.n_instances, config.d_hidden, config.n_features, gen)
        Ws.append(W)
        bs.append(b)
    return _concat_sparse(datasets), Ws, bs


def _concat_sparse(parts: list[SparseData]) -> SparseData:
    """One CSR of several single-size CSRs, sizes in order."""
    row_offsets, row_ptrs, nnz = [0], [torch.zeros(1, dtype=torch.int64)], 0
    for part in parts:
        row_offsets.append(row_offsets[-1] + int(part.row_offsets[1]))
        row_ptrs.append(part.row_ptr[1:] + nnz)
        nnz += int(part.row_ptr[-1])
    return SparseData(
        row_offsets=torch.tensor(row_offsets),
        row_ptr=torch.cat(row_ptrs),
        feat=torch.cat([p.feat for p in parts]),
        val=torch.cat([p.val for p in parts]),
        n_instances=parts[0].n_instances,
        n_features=parts[0].n_features,
    )


def evaluate_loss(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch feats"] | Float[Tensor, "batch inst feats"],
    chunk_size: int = 2048,
) -> Float[Tensor, " inst"]:
    """Loss (mean over datapoints of Σ_f (x − out)²) of every instance on ``data``, chunked.

    ``data`` is either shared by all instances (batch, feats) or per instance (batch, inst, feats).
    Sums are accumulated in float64; the result is float32.
    """
    W, b = W.detach().float(), b.detach().float()
    total = torch.zeros(W.shape[0], dtype=torch.float64)
    for start in range(0, data.shape[0], chunk_size):
        x = data[start : start + chunk_size].float()
        if x.dim() == 2:
            h = torch.einsum("ihf,bf->bih", W, x)
            x = x[:, None, :]
        else:
            h = torch.einsum("ihf,bif->bih", W, x)
        out = torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)
        total += (x - out).square().sum(dim=-1).sum(dim=0, dtype=torch.float64)
    return (total / data.shape[0]).float()


# ----------------------------------------------------------------------------- numba kernel


@njit(fastmath=_FAST, cache=True)
def _hidden(W, row0, n_rows, row_ptr, feat, val, h):  # pragma: no cover - numba
    """h[:, t] = W x_t for the rows ``row0 .. row0 + n_rows``: a sparse gather. h: (m, T)."""
    m = W.shape[0]
    if m == 2:
        for t in range(n_rows):
            a0 = np.float32(0.0)
            a1 = np.float32(0.0)
            for q in range(row_ptr[row0 + t], row_ptr[row0 + t + 1]):
                a0 += W[0, feat[q]] * val[q]
                a1 += W[1, feat[q]] * val[q]
            h[0, t] = a0
            h[1, t] = a1
        return
    for t in range(n_rows):
        for k in range(m):
            h[k, t] = 0.0
        for q in range(row_ptr[row0 + t], row_ptr[row0 + t + 1]):
            for k in range(m):
                h[k, t] += W[k, feat[q]] * val[q]


@njit(fastmath=_FAST, cache=True)
def _dense_pass_m2(W, b, h, dh, gW, gb, c):  # pragma: no cover - numba
    """Backward of the dense pass as if x = 0, for d_hidden = 2 (fused, two features at a time).

    dpre[t, f] = c · ReLU(pre[t, f]) with pre = W[:, f]·h[:, t] + b[f]; writes gb, the decoder part
    of gW, and dh[:, t] = Σ_f dpre[t, f] W[:, f]. Shapes: W (2, n), b (n,), h, dh (2, T).
    The factor c is applied once per feature to the sums, and folded into W for dh.
    """
    n = W.shape[1]
    T = h.shape[1]
    zero = np.float32(0.0)
    h0 = h[0]
    h1 = h[1]
    dh0 = dh[0]
    dh1 = dh[1]
    for t in range(T):
        dh0[t] = zero
        dh1[t] = zero
    for fa in range(0, n - 1, 2):
        fb = fa + 1
        wa0, wa1, ba = W[0, fa], W[1, fa], b[fa]
        wb0, wb1, bb = W[0, fb], W[1, fb], b[fb]
        ca0, ca1, cb0, cb1 = c * wa0, c * wa1, c * wb0, c * wb1
        sa = zero
        sa0 = zero
        sa1 = zero
        sb = zero
        sb0 = zero
        sb1 = zero
        for t in range(T):
            x0 = h0[t]
            x1 = h1[t]
            ra = max(wa0 * x0 + wa1 * x1 + ba, zero)
            rb = max(wb0 * x0 + wb1 * x1 + bb, zero)
            sa += ra
            sa0 += ra * x0
            sa1 += ra * x1
            sb += rb
            sb0 += rb * x0
            sb1 += rb * x1
            dh0[t] += ra * ca0 + rb * cb0
            dh1[t] += ra * ca1 + rb * cb1
        gb[fa], gW[0, fa], gW[1, fa] = c * sa, c * sa0, c * sa1
        gb[fb], gW[0, fb], gW[1, fb] = c * sb, c * sb0, c * sb1
    if n % 2:
        f = n - 1
        w0, w1, bf = W[0, f], W[1, f], b[f]
        cw0, cw1 = c * w0, c * w1
        s = zero
        s0 = zero
        s1 = zero
        for t in range(T):
            r = max(w0 * h0[t] + w1 * h1[t] + bf, zero)
            s += r
            s0 += r * h0[t]
            s1 += r * h1[t]
            dh0[t] += r * cw0
            dh1[t] += r * cw1
        gb[f], gW[0, f], gW[1, f] = c * s, c * s0, c * s1


@njit(fastmath=_FAST, cache=True)
def _dense_pass_general(W, b, h, dh, gW, gb, c, d):  # pragma: no cover - numba
    """:func:`_dense_pass_m2` for any d_hidden m. W (m, n), h, dh (m, T), d (T,) workspace."""
    m, n = W.shape
    T = h.shape[1]
    zero = np.float32(0.0)
    for k in range(m):
        for t in range(T):
            dh[k, t] = zero
    for f in range(n):
        _preactivation(W, b, h, f, d)
        s = zero
        for t in range(T):
            d[t] = max(d[t], zero)
            s += d[t]
        gb[f] = c * s
        for k in range(m):
            w = c * W[k, f]
            s = zero
            for t in range(T):
                s += d[t] * h[k, t]
                dh[k, t] += d[t] * w
            gW[k, f] = c * s


@njit(fastmath=_FAST, cache=True)
def _preactivation(W, b, h, f, pre):  # pragma: no cover - numba
    """pre[t] = b[f] + Σ_k W[k, f] h[k, t] for every datapoint t. pre: (T,)."""
    T = h.shape[1]
    for t in range(T):
        pre[t] = b[f]
    for k in range(W.shape[0]):
        w = W[k, f]
        for t in range(T):
            pre[t] += w * h[k, t]


@njit(fastmath=_FAST, cache=True)
def _sparse_pass(W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val):  # pragma: no cover
    """Corrections at the nonzeros of the data, then the encoder gradient (m = d_hidden).

    At a nonzero x of point t and feature f with pre > 0 the residual gains −x, so dpre gains
    −c·x, which adds to gb[f], gW[:, f] (decoder) and dh[:, t]; then, with dh[:, t] complete,
    gW[:, f] += dh[:, t]·x (encoder). Shapes: W, gW (m, n), h, dh (m, T).
    """
    m = W.shape[0]
    zero = np.float32(0.0)
    for t in range(n_rows):
        q0, q1 = row_ptr[row0 + t], row_ptr[row0 + t + 1]
        for q in range(q0, q1):
            f = feat[q]
            pre = b[f]
            for k in range(m):
                pre += W[k, f] * h[k, t]
            dc = -c * val[q] if pre > zero else zero
            gb[f] += dc
            for k in range(m):
                gW[k, f] += dc * h[k, t]
                dh[k, t] += dc * W[k, f]
        for q in range(q0, q1):
            for k in range(m):
                gW[k, feat[q]] += dh[k, t] * val[q]


@njit(fastmath=_FAST, cache=True)
def _sparse_pass_m2(W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val):  # pragma: no cover
    """:func:`_sparse_pass` for d_hidden = 2, with the point's h and dh in registers.

    A first sweep over the point's nonzeros finds the corrections (kept in ``dcs``) and completes
    dh; a second adds decoder correction and encoder gradient to gW in one go.
    """
    zero = np.float32(0.0)
    dcs = np.empty(64, np.float32)
    for t in range(n_rows):
        q0, q1 = row_ptr[row0 + t], row_ptr[row0 + t + 1]
        if q1 - q0 > dcs.size:
            dcs = np.empty(q1 - q0, np.float32)
        h0, h1, d0, d1 = h[0, t], h[1, t], dh[0, t], dh[1, t]
        for q in range(q0, q1):
            f = feat[q]
            w0, w1 = W[0, f], W[1, f]
            dc = -c * val[q] if w0 * h0 + w1 * h1 + b[f] > zero else zero
            dcs[q - q0] = dc
            d0 += dc * w0
            d1 += dc * w1
        for q in range(q0, q1):
            f = feat[q]
            x = val[q]
            dc = dcs[q - q0]
            gb[f] += dc
            gW[0, f] += dc * h0 + d0 * x
            gW[1, f] += dc * h1 + d1 * x


@njit(fastmath=_FAST, cache=True)
def _unit_grads(W, b, row0, n_rows, row_ptr, feat, val, h, dh, gW, gb, d):  # pragma: no cover
    """Gradients (gW, gb) of one model's loss on its T = n_rows datapoints.

    W, gW: (m, n); b, gb: (n,); workspaces h, dh: (m, T), d: (T,). The dense pass treats x
    as 0 (dpre = c·ReLU(pre), c = 2/T); :func:`_sparse_pass` then corrects it at the nonzeros.
    """
    c = np.float32(2.0 / n_rows)
    _hidden(W, row0, n_rows, row_ptr, feat, val, h)
    if W.shape[0] == 2:
        _dense_pass_m2(W, b, h, dh, gW, gb, c)
        _sparse_pass_m2(W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val)
    else:
        _dense_pass_general(W, b, h, dh, gW, gb, c, d)
        _sparse_pass(W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val)


# ----------------------------------------------------------------------------- ReLU-bound kernel
#
# With h in 2-D, |W[:, f]·h_t| <= ||W[:, f]|| ||h_t||, so the output ReLU of every pair (t, f) with
# ||h_t|| ||W[:, f]|| < |b[f]| is decided by the sign of b[f] alone. With the points sorted by
# radius once per step, the decided points of each feature are a prefix of that order: "off"
# pairs (b ≤ 0) contribute nothing, "on" pairs (b > 0) contribute exactly through float64 prefix
# sums of the moments (1, h, h hᵀ) of the points, and only the remaining suffix is evaluated
# pair by pair, two features at a time. Its order of summation differs from the dense pass's, so
# the last digits of the results do too.

BOUND_MARGIN: float = 1e-4
"""Relative safety margin of the ReLU bound: a pair counts as decided only when
``||h|| ||w|| (1 + margin) < |b|``, far outside float32 rounding of the preactivation."""
BOUND_MIN_T: int = 400
"""Models with fewer datapoints use the dense pass: the bound's per-step set-up (sorting, a
binary search per feature) costs about what it saves below T of a few hundred (measured with
n = 1000 on an AMD EPYC: bound/dense 1.04x at T = 200, 0.97x at 300, 1.38x at 500)."""


@njit(cache=True)
def _bound_workspace(m, n, T):  # pragma: no cover - numba
    """Workspaces of :func:`_dense_pass_bound` for one model, kept from step to step:
    order, sorted radius rs, sorted h and dh, prefix and bucket moments (T + 1, 5), per-feature
    prefix lengths K, feature order, squared radii r2 (point order) and ``valid`` (1,): whether
    ``order`` and the feature order hold the previous step's (then they are only re-sorted)."""
    valid = np.zeros(1, np.int64)
    return (
        np.empty(T, np.int64),
        np.empty(T, np.float64),
        np.empty((m, T), np.float32),
        np.empty((m, T), np.float32),
        np.empty((T + 1, 5), np.float64),
        np.empty((T + 1, 5), np.float64),
        np.empty(n, np.int64),
        np.empty(n, np.int64),
        np.empty(T, np.float64),
        valid,
    )


@njit(cache=True)
def _sort_by_key(key, order, resort):  # pragma: no cover - numba
    """Sort the permutation ``order`` by (key, index): a total order, so the result does not
    depend on where it starts. ``resort``: ``order`` is nearly sorted (the previous step's), so
    insertion sort, abandoned for a merge sort when it has moved more than 8 entries per item."""
    if resort:
        budget = 8 * order.size
        for i in range(1, order.size):
            j = order[i]
            kj = key[j]
            p = i - 1
            while p >= 0 and (key[order[p]] > kj or (key[order[p]] == kj and order[p] > j)):
                order[p + 1] = order[p]
                p -= 1
            order[p + 1] = j
            budget -= i - 1 - p
            if budget < 0:
                break
        if budget >= 0:
            return
    order[:] = np.argsort(key, kind="mergesort")


@njit(cache=True)
def _sort_points(h, ws):  # pragma: no cover - numba
    """Points by increasing radius (ties by index): writes order, radius rs, sorted h (hs) and
    the prefix sums P[k] = Σ_{i<k} (h0, h1, h0², h0h1, h1²) of the sorted points (float64)."""
    order, rs, hs, _, P, _, _, _, r2, valid = ws
    T = h.shape[1]
    for t in range(T):
        x0, x1 = np.float64(h[0, t]), np.float64(h[1, t])
        r2[t] = x0 * x0 + x1 * x1
    _sort_by_key(r2, order, valid[0] != 0)
    a0 = a1 = a00 = a01 = a11 = 0.0
    P[0, :] = 0.0
    for i in range(T):
        t = order[i]
        x0, x1 = h[0, t], h[1, t]
        hs[0, i], hs[1, i] = x0, x1
        rs[i] = math.sqrt(r2[t])
        y0, y1 = np.float64(x0), np.float64(x1)
        a0 += y0
        a1 += y1
        a00 += y0 * y0
        a01 += y0 * y1
        a11 += y1 * y1
        P[i + 1, 0], P[i + 1, 1], P[i + 1, 2], P[i + 1, 3], P[i + 1, 4] = a0, a1, a00, a01, a11


@njit(cache=True)
def _decided_prefix(W, b, rs, K, key):  # pragma: no cover - numba
    """K[f] = number of sorted points whose ReLU at feature f the bound decides (binary search
    on the radii rs); key[f] = −K[f], to take features by decreasing K."""
    n = W.shape[1]
    T = rs.size
    scale = 1.0 + BOUND_MARGIN
    for f in range(n):
        w0, w1 = np.float64(W[0, f]), np.float64(W[1, f])
        norm = math.sqrt(w0 * w0 + w1 * w1) * scale
        limit = abs(np.float64(b[f]))
        lo, size = 0, T  # branch-free: the answer lies in lo .. lo + size
        while size > 0:
            half = size // 2
            inside = rs[lo + half] * norm < limit
            lo += (half + 1) * inside
            size = half if not inside else size - half - 1
        K[f] = lo
        key[f] = -lo


@njit(cache=True)
def _order_features(W, b, ws):  # pragma: no cover - numba
    """Sort points (:func:`_sort_points`), find each feature's decided prefix and return the
    features by decreasing prefix (ties by index); marks the orders as reusable next step."""
    _, rs, _, _, _, _, K, features, _, valid = ws
    key = np.empty(K.size, np.int64)
    _decided_prefix(W, b, rs, K, key)
    _sort_by_key(key, features, valid[0] != 0)
    valid[0] = 1
    return features


@njit(cache=True, inline="always")
def _bound_sums(W, b, f, k, P, D, gW, gb):  # pragma: no cover - numba
    """The decided prefix (k sorted points) of feature f: its sums into gb, gW (uncorrected,
    without the factor c) and, when the ReLU is on there (b > 0), its 2x2 moments into the
    bucket D[k] (for dh; one row per k, so that each feature touches one cache line)."""
    w0, w1, bf = np.float64(W[0, f]), np.float64(W[1, f]), np.float64(b[f])
    if k == 0 or bf <= 0.0:
        gb[f], gW[0, f], gW[1, f] = 0.0, 0.0, 0.0
        return
    p0, p1 = P[k, 0], P[k, 1]
    gb[f] = w0 * p0 + w1 * p1 + bf * k
    gW[0, f] = w0 * P[k, 2] + w1 * P[k, 3] + bf * p0
    gW[1, f] = w0 * P[k, 3] + w1 * P[k, 4] + bf * p1
    D[k, 0] += w0 * w0
    D[k, 1] += w0 * w1
    D[k, 2] += w1 * w1
    D[k, 3] += bf * w0
    D[k, 4] += bf * w1


@njit(cache=True)
def _bound_dh(hs, dhs, D):  # pragma: no cover - numba
    """dhs[:, i] = Σ over the on-by-bound features decided at sorted point i (those whose prefix
    is longer than i) of ReLU(pre)·W[:, f], from the bucket moments D (suffix sums)."""
    T = hs.shape[1]
    a = np.zeros(5)
    for i in range(T - 1, -1, -1):
        for k in range(5):
            a[k] += D[i + 1, k]
        y0, y1 = np.float64(hs[0, i]), np.float64(hs[1, i])
        dhs[0, i] = a[0] * y0 + a[1] * y1 + a[3]
        dhs[1, i] = a[1] * y0 + a[2] * y1 + a[4]


@njit(fastmath=_FAST, cache=True)
def _exact_pairs_pass(W, b, features, K, hs, dhs, gW, gb):  # pragma: no cover - numba
    """Features in the order ``features``, two at a time, on the sorted points from the shorter
    of their two decided prefixes (K) on, pair by pair as in the dense pass: adds
    Σ ReLU(pre)·(1, h) to gb, gW and Σ_f ReLU(pre)·W[:, f] to dhs (all without the factor c).
    One function for all pairs (no call per pair); an odd last feature is left to the caller."""
    zero = np.float32(0.0)
    for j in range(0, features.size - 1, 2):
        fa, fb = features[j], features[j + 1]
        i0 = min(K[fa], K[fb])
        # Views from i0, so that indices start at 0: LLVM then drops numba's negative-index
        # wraparound and vectorises the loop.
        h0, h1, dh0, dh1 = hs[0, i0:], hs[1, i0:], dhs[0, i0:], dhs[1, i0:]
        wa0, wa1, ba = W[0, fa], W[1, fa], b[fa]
        wb0, wb1, bb = W[0, fb], W[1, fb], b[fb]
        sa = sa0 = sa1 = sb = sb0 = sb1 = zero
        for i in range(h0.size):
            x0 = h0[i]
            x1 = h1[i]
            ra = max(wa0 * x0 + wa1 * x1 + ba, zero)
            rb = max(wb0 * x0 + wb1 * x1 + bb, zero)
            sa += ra
            sa0 += ra * x0
            sa1 += ra * x1
            sb += rb
            sb0 += rb * x0
            sb1 += rb * x1
            dh0[i] += ra * wa0 + rb * wb0
            dh1[i] += ra * wa1 + rb * wb1
        gb[fa] += sa
        gW[0, fa] += sa0
        gW[1, fa] += sa1
        gb[fb] += sb
        gW[0, fb] += sb0
        gW[1, fb] += sb1


@njit(fastmath=_FAST, cache=True)
def _exact_single(W, b, f, i0, hs, dhs, gW, gb):  # pragma: no cover - numba
    """:func:`_exact_pairs_pass` for one feature f from sorted point i0 on (an odd last one)."""
    zero = np.float32(0.0)
    h0, h1, dh0, dh1 = hs[0, i0:], hs[1, i0:], dhs[0, i0:], dhs[1, i0:]
    w0, w1, bf = W[0, f], W[1, f], b[f]
    s = s0 = s1 = zero
    for i in range(h0.size):
        r = max(w0 * h0[i] + w1 * h1[i] + bf, zero)
        s += r
        s0 += r * h0[i]
        s1 += r * h1[i]
        dh0[i] += r * w0
        dh1[i] += r * w1
    gb[f] += s
    gW[0, f] += s0
    gW[1, f] += s1


@njit(cache=True)
def _dense_pass_bound(W, b, h, dh, gW, gb, c, ws):  # pragma: no cover - numba
    """:func:`_dense_pass_m2` with the ReLU bound: the same gb, gW (decoder part) and dh, up to
    rounding, evaluating pair by pair only the pairs that the bound leaves open.

    Features are taken in order of decreasing decided prefix, two at a time, each pair with the
    shorter of its two prefixes (a prefix of a decided prefix is decided). ``ws``: see
    :func:`_bound_workspace`.
    """
    order, _, hs, dhs, P, D, K, _, _, _ = ws
    n = W.shape[1]
    T = h.shape[1]
    _sort_points(h, ws)
    features = _order_features(W, b, ws)
    D[:, :] = 0.0
    for j in range(0, n - 1, 2):
        fa, fb = features[j], features[j + 1]
        k = min(K[fa], K[fb])
        _bound_sums(W, b, fa, k, P, D, gW, gb)
        _bound_sums(W, b, fb, k, P, D, gW, gb)
    if n % 2:
        f = features[n - 1]
        _bound_sums(W, b, f, K[f], P, D, gW, gb)
    _bound_dh(hs, dhs, D)
    _exact_pairs_pass(W, b, features, K, hs, dhs, gW, gb)
    if n % 2:
        f = features[n - 1]
        _exact_single(W, b, f, K[f], hs, dhs, gW, gb)
    for f in range(n):
        gb[f] *= c
        gW[0, f] *= c
        gW[1, f] *= c
    for i in range(T):
        t = order[i]
        dh[0, t] = c * dhs[0, i]
        dh[1, t] = c * dhs[1, i]


@njit(fastmath=_FAST, cache=True)
def _sparse_pass_bound(
    W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val
):  # pragma: no cover
    """:func:`_sparse_pass_m2` for the bound kernel: the same sums, without a branch on the sign
    of the preactivation (a 0/1 factor instead; the branch is mispredicted about half the time)
    and with each point's nonzeros as views from 0 (no negative-index wraparound)."""
    zero = np.float32(0.0)
    dcs = np.empty(64, np.float32)
    for t in range(n_rows):
        q0, q1 = row_ptr[row0 + t], row_ptr[row0 + t + 1]
        if q1 - q0 > dcs.size:
            dcs = np.empty(q1 - q0, np.float32)
        fs, xs = feat[q0:q1], val[q0:q1]
        h0, h1, d0, d1 = h[0, t], h[1, t], dh[0, t], dh[1, t]
        for q in range(fs.size):
            f = np.uint32(fs[q])
            w0, w1 = W[0, f], W[1, f]
            on = np.float32(w0 * h0 + w1 * h1 + b[f] > zero)
            dc = -c * xs[q] * on
            dcs[q] = dc
            d0 += dc * w0
            d1 += dc * w1
        for q in range(fs.size):
            f = np.uint32(fs[q])
            x = xs[q]
            dc = dcs[q]
            gb[f] += dc
            gW[0, f] += dc * h0 + d0 * x
            gW[1, f] += dc * h1 + d1 * x


@njit(cache=True)
def _unit_grads_bound(
    W, b, row0, n_rows, row_ptr, feat, val, h, dh, gW, gb, d, ws
):  # pragma: no cover
    """:func:`_unit_grads` with the ReLU-bound dense pass for d_hidden = 2 and T >= BOUND_MIN_T
    (the dense pass otherwise). ``ws``: see :func:`_bound_workspace`."""
    if W.shape[0] != 2 or n_rows < BOUND_MIN_T:
        _unit_grads(W, b, row0, n_rows, row_ptr, feat, val, h, dh, gW, gb, d)
        return
    c = np.float32(2.0 / n_rows)
    _hidden(W, row0, n_rows, row_ptr, feat, val, h)
    _dense_pass_bound(W, b, h, dh, gW, gb, c, ws)
    _sparse_pass_bound(W, b, h, dh, gW, gb, c, row0, n_rows, row_ptr, feat, val)


@njit(cache=True)
def _exact_pairs(W, b, h, ws):  # pragma: no cover - numba
    """Number of (datapoint, feature) pairs that :func:`_dense_pass_bound` evaluates one by one
    for one model with hidden vectors h (the rest the bound decides)."""
    n, T = W.shape[1], h.shape[1]
    _sort_points(h, ws)
    features = _order_features(W, b, ws)
    K = ws[6]
    total = 0
    for j in range(0, n - 1, 2):
        total += 2 * (T - min(K[features[j]], K[features[j + 1]]))
    if n % 2:
        total += T - K[features[n - 1]]
    return total


def bound_exact_share(
    W: Float[Tensor, "inst 2 feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch inst feats"],
) -> Float[Tensor, " inst"]:
    """Share of the (datapoint, feature) pairs that the "bound" kernel evaluates pair by pair
    for these weights (d_hidden = 2, models of at least ``BOUND_MIN_T`` points), per instance."""
    W32 = W.detach().float().contiguous().numpy()
    b32 = b.detach().float().contiguous().numpy()
    T, inst, n = data.shape
    h = torch.einsum("ihf,bif->ihb", W.detach().float(), data.float()).contiguous().numpy()
    pairs = [_exact_pairs(W32[i], b32[i], h[i], _bound_workspace(2, n, T)) for i in range(inst)]
    return torch.tensor(pairs, dtype=torch.float64) / (T * n)


@njit(fastmath=_FAST, cache=True)
def _unit_loss(W, b, u, row0, n_rows, csr, csc, h, res):  # pragma: no cover - numba
    """Loss of model u on its T = n_rows datapoints: float32 residuals, float64 sum.

    csr = (row_ptr, feat, val); csc = (col_ptr, point, value), the same nonzeros by (model,
    feature): those of feature f of model u are ``col_ptr[u·n + f] .. col_ptr[u·n + f + 1]``.
    Workspaces h: (m, T), res: (T,).
    """
    n = W.shape[1]
    zero = np.float32(0.0)
    col_ptr, point, value = csc
    _hidden(W, row0, n_rows, csr[0], csr[1], csr[2], h)
    total = 0.0
    for f in range(n):
        _preactivation(W, b, h, f, res)
        for t in range(n_rows):
            res[t] = max(res[t], zero)
        for j in range(col_ptr[u * n + f], col_ptr[u * n + f + 1]):
            res[point[j]] -= value[j]
        for t in range(n_rows):
            r = np.float64(res[t])
            total += r * r
    return total / n_rows


@njit(cache=True, error_model="numpy")
def _adamw(p, g, m, v, lr, step, beta1, beta2, eps, weight_decay):  # pragma: no cover - numba
    """One ``torch.optim.AdamW`` update (single-tensor path, float32) of the 1-D arrays p, m, v.

    IEEE arithmetic without fast-math; ``error_model="numpy"`` drops Python's zero-division
    check (the denominator is ≥ eps > 0 anyway), which lets LLVM vectorise the loop.
    """
    bias1 = 1.0 - beta1**step
    bias2_sqrt = math.sqrt(1.0 - beta2**step)
    decay = np.float32(1.0 - lr * weight_decay)
    neg_step = np.float32(-(lr / bias1))
    b2s = np.float32(bias2_sqrt)
    w1 = np.float32(1.0 - beta1)
    b2 = np.float32(beta2)
    w2 = np.float32(1.0 - beta2)
    e = np.float32(eps)
    for i in range(p.size):
        gi = g[i]
        mi = m[i] + w1 * (gi - m[i])
        vi = v[i] * b2 + w2 * gi * gi
        m[i] = mi
        v[i] = vi
        p[i] = p[i] * decay + neg_step * mi / (np.sqrt(vi) / b2s + e)


@njit(parallel=True, cache=True)
def _train_chunk(
    W, b, mW, vW, mb, vb, row_start, n_rows, csr, csc, bins, step0, lrs, hyper, loss_out
):  # pragma: no cover - numba
    """Train every model for ``lrs.size`` updates, starting at update ``step0``.

    W, mW, vW: (U, m, n); b, mb, vb: (U, n); model u owns rows ``row_start[u] ..`` (n_rows[u])
    of the data (see :func:`_unit_loss` for csr and csc). ``bins`` (n_bins, k): the models of
    each thread, padded with −1; ``hyper`` = (beta1, beta2, eps, weight_decay). Writes the loss
    of the weights at entry to ``loss_out[u]``. Each model is trained start to finish by one
    thread, so the results do not depend on ``bins``.
    """
    U, m, n = W.shape
    flat = m * n
    row_ptr, feat, val = csr
    beta1, beta2, eps, wd = hyper[0], hyper[1], hyper[2], hyper[3]
    for i in prange(bins.shape[0]):
        gW = np.empty((m, n), np.float32)
        gb = np.empty(n, np.float32)
        for j in range(bins.shape[1]):
            u = bins[i, j]
            if u < 0:
                break
            T = n_rows[u]
            h = np.empty((m, T), np.float32)
            dh = np.empty((m, T), np.float32)
            d = np.empty(T, np.float32)
            Wu = W[u]
            bu = b[u]
            loss_out[u] = _unit_loss(Wu, bu, u, row_start[u], T, csr, csc, h, d)
            for s in range(lrs.size):
                _unit_grads(Wu, bu, row_start[u], T, row_ptr, feat, val, h, dh, gW, gb, d)
                lr, step = lrs[s], step0 + s + 1
                mWu, vWu = mW[u].reshape(flat), vW[u].reshape(flat)
                _adamw(
                    Wu.reshape(flat), gW.reshape(flat), mWu, vWu, lr, step, beta1, beta2, eps, wd
                )
                _adamw(bu, gb, mb[u], vb[u], lr, step, beta1, beta2, eps, wd)


@njit(parallel=True, cache=True)
def _train_chunk_bound(
    W, b, mW, vW, mb, vb, row_start, n_rows, csr, csc, bins, step0, lrs, hyper, loss_out
):  # pragma: no cover - numba
    """:func:`_train_chunk` with the ReLU-bound gradients (:func:`_unit_grads_bound`)."""
    U, m, n = W.shape
    flat = m * n
    row_ptr, feat, val = csr
    beta1, beta2, eps, wd = hyper[0], hyper[1], hyper[2], hyper[3]
    for i in prange(bins.shape[0]):
        gW = np.empty((m, n), np.float32)
        gb = np.empty(n, np.float32)
        for j in range(bins.shape[1]):
            u = bins[i, j]
            if u < 0:
                break
            T = n_rows[u]
            h = np.empty((m, T), np.float32)
            dh = np.empty((m, T), np.float32)
            d = np.empty(T, np.float32)
            ws = _bound_workspace(m, n, T)
            Wu = W[u]
            bu = b[u]
            loss_out[u] = _unit_loss(Wu, bu, u, row_start[u], T, csr, csc, h, d)
            for s in range(lrs.size):
                _unit_grads_bound(Wu, bu, row_start[u], T, row_ptr, feat, val, h, dh, gW, gb, d, ws)
                lr, step = lrs[s], step0 + s + 1
                mWu, vWu = mW[u].reshape(flat), vW[u].reshape(flat)
                _adamw(
                    Wu.reshape(flat), gW.reshape(flat), mWu, vWu, lr, step, beta1, beta2, eps, wd
                )
                _adamw(bu, gb, mb[u], vb[u], lr, step, beta1, beta2, eps, wd)


def balanced_bins(costs: np.ndarray, n_bins: int) -> np.ndarray:
    """Deterministic greedy partition (largest first, to the least-loaded bin) of model indices.

    Returns (n_bins, k) int64, each row one bin's models in order, padded with −1.
    """
    loads = np.zeros(n_bins)
    members: list[list[int]] = [[] for _ in range(n_bins)]
    for u in np.argsort(-costs, kind="stable"):
        i = int(np.argmin(loads))
        members[i].append(int(u))
        loads[i] += costs[u]
    bins = np.full((n_bins, max(len(x) for x in members)), -1, np.int64)
    for i, x in enumerate(members):
        bins[i, : len(x)] = x
    return bins


@njit(parallel=True, cache=True)
def _loss_and_grads(
    W, b, row_start, n_rows, csr, csc, loss_out, gW_out, gb_out
):  # pragma: no cover
    """Loss and gradients of every model u, without updating anything (for tests)."""
    U, m, n = W.shape
    row_ptr, feat, val = csr
    for u in prange(U):
        T = n_rows[u]
        h = np.empty((m, T), np.float32)
        dh = np.empty((m, T), np.float32)
        d = np.empty(T, np.float32)
        loss_out[u] = _unit_loss(W[u], b[u], u, row_start[u], T, csr, csc, h, d)
        _unit_grads(W[u], b[u], row_start[u], T, row_ptr, feat, val, h, dh, gW_out[u], gb_out[u], d)


@njit(parallel=True, cache=True)
def _loss_and_grads_bound(
    W, b, row_start, n_rows, csr, csc, loss_out, gW_out, gb_out
):  # pragma: no cover
    """:func:`_loss_and_grads` with the ReLU-bound gradients (:func:`_unit_grads_bound`)."""
    U, m, n = W.shape
    row_ptr, feat, val = csr
    for u in prange(U):
        T = n_rows[u]
        h = np.empty((m, T), np.float32)
        dh = np.empty((m, T), np.float32)
        d = np.empty(T, np.float32)
        ws = _bound_workspace(m, n, T)
        loss_out[u] = _unit_loss(W[u], b[u], u, row_start[u], T, csr, csc, h, d)
        _unit_grads_bound(
            W[u], b[u], row_start[u], T, row_ptr, feat, val, h, dh, gW_out[u], gb_out[u], d, ws
        )


def fused_loss_and_grads(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch inst feats"],
    kernel: str = "dense",
) -> tuple[
    Float[Tensor, " inst"], Float[Tensor, "inst d_hidden feats"], Float[Tensor, "inst feats"]
]:
    """The numba kernel's loss (float64) and gradients (float32) of one size's models on ``data``.

    The same code the training kernel runs each step (before its AdamW update); exposed so that
    tests can compare it with autograd. ``kernel``: see :attr:`SweepConfig.kernel`.
    """
    _check(kernel in KERNELS, "kernel", kernel, f"one of {KERNELS}")
    sparse = SparseData.from_dense([data.float()])
    inst, m, n = W.shape
    W32 = W.detach().float().contiguous().numpy().copy()
    b32 = b.detach().float().contiguous().numpy().copy()
    T = data.shape[0]
    loss = np.empty(inst)
    gW = np.empty((inst, m, n), np.float32)
    gb = np.empty((inst, n), np.float32)
    n_rows = np.full(inst, T, np.int64)
    row_start, csr, csc = _kernel_data(sparse, n_rows, n)
    run = _loss_and_grads_bound if kernel == "bound" else _loss_and_grads
    run(W32, b32, row_start, n_rows, csr, csc, loss, gW, gb)
    return torch.from_numpy(loss), torch.from_numpy(gW), torch.from_numpy(gb)


def _kernel_data(
    sparse: SparseData, n_rows: np.ndarray, n_features: int
) -> tuple[np.ndarray, tuple, tuple]:
    """The kernel's view of the data: row_start (U,), csr and csc tuples (see :func:`_unit_loss`).

    ``n_rows`` (U,): datapoints of each model, whose rows follow each other in ``sparse``.
    """
    row_ptr = sparse.row_ptr.numpy().astype(np.int64)
    feat = sparse.feat.numpy().astype(np.int32)
    val = sparse.val.numpy().astype(np.float32)
    row_start = np.concatenate([[0], np.cumsum(n_rows)[:-1]]).astype(np.int64)
    rows = np.repeat(np.arange(row_ptr.size - 1), np.diff(row_ptr))
    unit = np.repeat(np.arange(n_rows.size), n_rows)[rows]
    key = unit * n_features + feat
    order = np.argsort(key, kind="stable")
    col_ptr = np.zeros(n_rows.size * n_features + 1, np.int64)
    col_ptr[1:] = np.cumsum(np.bincount(key, minlength=n_rows.size * n_features))
    point = (rows - row_start[unit])[order].astype(np.int32)
    return row_start, (row_ptr, feat, val), (col_ptr, point, val[order])


# ----------------------------------------------------------------------------- training state


@dataclass
class TrainState:
    """Weights and AdamW moments of every size (lists like ``config.sizes``) after ``step``.

    ``history``: (size, inst) train losses recorded at ``history_steps``; ``snapshots``: weights
    W (size, inst, d_hidden, feats) and b (size, inst, feats) taken at ``snapshot_steps``.
    """

    step: int
    W: list[Tensor]
    b: list[Tensor]
    mW: list[Tensor]
    vW: list[Tensor]
    mb: list[Tensor]
    vb: list[Tensor]
    history: list[Tensor]
    history_steps: list[int]
    snapshots: list[tuple[Tensor, Tensor]] = field(default_factory=list)
    snapshot_steps: list[int] = field(default_factory=list)

    @classmethod
    def fresh(cls, W: list[Tensor], b: list[Tensor]) -> TrainState:
        """Step 0: the given init, zero moments, no history."""
        zeros = lambda ts: [torch.zeros_like(t) for t in ts]  # noqa: E731
        return cls(
            0,
            [w.clone() for w in W],
            [x.clone() for x in b],
            zeros(W),
            zeros(W),
            zeros(b),
            zeros(b),
            [],
            [],
        )


class _Backend:
    """Trains a sweep chunk by chunk; subclasses hold their own working copy of the state."""

    def advance(self, step0: int, n_steps: int, lrs: np.ndarray) -> Tensor:
        """Run updates step0 .. step0+n_steps-1; return the (size, inst) loss at entry."""
        raise NotImplementedError

    def state(self, step: int) -> TrainState:
        """Snapshot of the current weights and moments (history left empty)."""
        raise NotImplementedError

    def weights(
        self,
    ) -> tuple[Float[Tensor, "size inst d_hidden feats"], Float[Tensor, "size inst feats"]]:
        """A CPU copy of the current W and b of every model."""
        raise NotImplementedError

    def final_loss(self) -> Tensor:
        """(size, inst) loss of the current weights."""
        raise NotImplementedError


class _NumbaBackend(_Backend):
    """All models in flat (units, ...) float32 arrays, unit u = size_index · inst + instance."""

    def __init__(self, config: SweepConfig, sparse: SparseData, state: TrainState) -> None:
        self.shape = (len(config.sizes), config.n_instances)
        cat = lambda ts: torch.cat(ts).numpy().copy()  # noqa: E731
        self.W, self.b = cat(state.W), cat(state.b)
        self.mW, self.vW, self.mb, self.vb = (
            cat(state.mW),
            cat(state.vW),
            cat(state.mb),
            cat(state.vb),
        )
        sizes = np.repeat(np.asarray(config.sizes, np.int64), config.n_instances)
        self.n_rows = sizes
        self.row_start, self.csr, self.csc = _kernel_data(sparse, sizes, config.n_features)
        self.costs = sizes + UNIT_OVERHEAD
        self.hyper = np.array([BETAS[0], BETAS[1], EPS, config.weight_decay])
        self.loss = np.empty(sizes.size)
        self.train_chunk = _train_chunk_bound if config.kernel == "bound" else _train_chunk

    def advance(self, step0: int, n_steps: int, lrs: np.ndarray) -> Tensor:
        bins = balanced_bins(self.costs, numba.get_num_threads())
        self.train_chunk(
            self.W, self.b, self.mW, self.vW, self.mb, self.vb, self.row_start, self.n_rows,
            self.csr, self.csc, bins, step0, lrs, self.hyper, self.loss,
        )  # fmt: skip
        return torch.from_numpy(self.loss.reshape(self.shape)).float()

    def final_loss(self) -> Tensor:
        return self.advance(0, 0, np.zeros(0))

    def weights(self) -> tuple[Tensor, Tensor]:
        W = torch.from_numpy(self.W.copy())
        b = torch.from_numpy(self.b.copy())
        return W.view(*self.shape, *W.shape[1:]), b.view(*self.shape, -1)

    def state(self, step: int) -> TrainState:
        split = lambda a: list(torch.from_numpy(a.copy()).split(self.shape[1]))  # noqa: E731
        return TrainState(
            step,
            split(self.W),
            split(self.b),
            split(self.mW),
            split(self.vW),
            split(self.mb),
            split(self.vb),
            [],
            [],
        )


class _TorchBackend(_Backend):
    """The straightforward model: autograd, ``torch.optim.AdamW``, ``LambdaLR``; one per size."""

    def __init__(
        self, config: SweepConfig, sparse: SparseData, state: TrainState, device: torch.device
    ) -> None:
        self.config = config
        self.data = [sparse.dense(i).to(device) for i in range(len(config.sizes))]
        self.W = [torch.nn.Parameter(w.clone().to(device)) for w in state.W]
        self.b = [torch.nn.Parameter(x.clone().to(device)) for x in state.b]
        params = [p for pair in zip(self.W, self.b) for p in pair]
        self.opt = torch.optim.AdamW(
            params, lr=config.lr, betas=BETAS, eps=EPS, weight_decay=config.weight_decay
        )
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt,
            lambda s: lr_multiplier(s, config.steps, config.warmup_steps, config.warmup_start),
        )
        if state.step > 0:
            moments = [
                t for pair in zip(zip(state.mW, state.vW), zip(state.mb, state.vb)) for t in pair
            ]
            saved = self.opt.state_dict()
            saved["state"] = {
                i: {
                    "step": torch.tensor(float(state.step)),
                    "exp_avg": m.clone(),
                    "exp_avg_sq": v.clone(),
                }
                for i, (m, v) in enumerate(moments)
            }
            self.opt.load_state_dict(saved)
            self.sched.last_epoch = state.step
            for group in self.opt.param_groups:
                group["lr"] = config.lr * lr_multiplier(
                    state.step, config.steps, config.warmup_steps, config.warmup_start
                )

    def _losses(self) -> list[Tensor]:
        """Per-size (inst,) losses of the current weights, with autograd graph."""
        return [torch_model_loss(W, b, x) for W, b, x in zip(self.W, self.b, self.data)]

    def advance(self, step0: int, n_steps: int, lrs: np.ndarray) -> Tensor:
        first = None
        for _ in range(n_steps):
            losses = self._losses()
            if first is None:
                first = torch.stack([loss.detach() for loss in losses])
            self.opt.zero_grad(set_to_none=True)
            torch.stack([loss.sum() for loss in losses]).sum().backward()
            self.opt.step()
            self.sched.step()
        return (first if first is not None else self.final_loss()).cpu().float()

    def final_loss(self) -> Tensor:
        with torch.no_grad():
            return torch.stack(self._losses()).cpu().float()

    def weights(self) -> tuple[Tensor, Tensor]:
        stack = lambda ps: torch.stack([p.detach() for p in ps]).cpu()  # noqa: E731
        return stack(self.W), stack(self.b)

    def state(self, step: int) -> TrainState:
        get = lambda ts: [t.detach().cpu().clone() for t in ts]  # noqa: E731
        moment = lambda ps, key: [self.opt.state[p][key].cpu().clone() for p in ps]  # noqa: E731
        if step == 0:
            return TrainState.fresh(get(self.W), get(self.b))
        return TrainState(
            step, get(self.W), get(self.b), moment(self.W, "exp_avg"), moment(self.W, "exp_avg_sq"),
            moment(self.b, "exp_avg"), moment(self.b, "exp_avg_sq"), [], [],
        )  # fmt: skip


def torch_model_loss(
    W: Float[Tensor, "inst d_hidden feats"],
    b: Float[Tensor, "inst feats"],
    data: Float[Tensor, "batch inst feats"],
) -> Float[Tensor, " inst"]:
    """The plain PyTorch model's training loss per instance (differentiable)."""
    h = torch.einsum("ihf,bif->bih", W, data)
    out = torch.relu(torch.einsum("bih,ihf->bif", h, W) + b)
    return (data - out).square().sum(dim=-1).mean(dim=0)


# ----------------------------------------------------------------------------- driver


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
    lrs = np.array(
        [
            config.lr * lr_multiplier(s, config.steps, config.warmup_steps, config.warmup_start)
            for s in range(config.steps)
        ]
    )
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


# ----------------------------------------------------------------------------- cache files
#
# <key>.pt                    the finished sweep (config, weights, losses, history, data)
# <key>.snapshots-<h>.pt      its weight snapshots at the steps whose hash is <h>
# <key>.partial.pt            the latest checkpoint: config, step, weights and moments, and the
#                             name of the newest segment
# <key>.seg-<run>-<step>.pt   the loss records and snapshots taken since the previous checkpoint
#                             of run <run>, and the name of the previous segment
#
# A checkpoint writes its state and only the records that are new, so its cost does not grow
# with the step. Every file stores the config and is checked (config and shapes) before use.


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
    """Step, backend and shapes of a checkpoint, against ``config``."""
    S, inst, m, n = len(config.sizes), config.n_instances, config.d_hidden, config.n_features
    step = saved.get("step")
    _require(_is_int(step) and 0 < step < config.steps, f"step {step!r} is out of range")
    for name in ("W", "mW", "vW"):
        _require(_is_tensor(saved.get(name), (S, inst, m, n)), f"{name} has the wrong shape")
    for name in ("b", "mb", "vb"):
        _require(_is_tensor(saved.get(name), (S, inst, n)), f"{name} has the wrong shape")
    _require(isinstance(saved.get("backend"), str), "backend is missing")


def _check_segment(saved: dict, config: SweepConfig, limit: int) -> None:
    """Shapes and steps of a segment that should end at or before step ``limit``."""
    S, inst, m, n = len(config.sizes), config.n_instances, config.d_hidden, config.n_features
    start, end = saved.get("start"), saved.get("end")
    ok = _is_int(start) and _is_int(end) and 0 <= start < end <= limit
    _require(ok, "its steps do not fit the checkpoint")
    _require_records(saved.get("history"), saved.get("history_steps"), (S, inst), "history")
    _require_records(
        saved.get("W_snapshots"), saved.get("snapshot_steps"), (S, inst, m, n), "W_snapshots"
    )
    _require_records(saved.get("b_snapshots"), saved.get("snapshot_steps"), (S, inst, n), "b")
    for name in ("history_steps", "snapshot_steps"):
        _require(all(start <= s < end for s in saved[name].tolist()), f"{name} out of range")


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
    """The cache files of one config in one directory (see the layout above)."""

    def __init__(self, directory: Path, config: SweepConfig, snaps: tuple[int, ...] | None) -> None:
        self.dir, self.config, self.snaps = directory, config, snaps
        key = config.key()
        self.key = key
        self.result_path = directory / f"{key}.pt"
        self.partial_path = directory / f"{key}.partial.pt"
        digest = hashlib.sha256(json.dumps(list(snaps or ())).encode()).hexdigest()[:12]
        self.snapshot_path = directory / f"{key}.snapshots-{digest}.pt"
        self.run = uuid.uuid4().hex[:8]
        self.last_segment: str | None = None
        self.saved_records = (0, 0)
        self.segment_end = 0
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
            segments = self._read_segments(saved.get("last_segment"), saved["step"])
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
        if not self._restore_records(state, segments, record_every):
            print(
                f"{self.partial_path} lacks records for this record_every / snapshot_steps: "
                "starting over"
            )
            return None
        self.last_segment = saved.get("last_segment")
        print(f"Resuming sweep from step {state.step}: {self.partial_path}")
        return state

    def _read_segments(self, name: object, step: int) -> list[dict]:
        """The chain of segments ending at ``step``, oldest first; raises _Unusable naming the
        bad segment (which is moved aside)."""
        segments, end = [], step
        pattern = rf"{self.key}\.seg-[0-9a-f]+-\d+\.pt"
        while name is not None:  # terminates: each segment must end before the next one starts
            _require(isinstance(name, str) and re.fullmatch(pattern, name), "bad segment name")
            path = self.dir / name
            _require(path.exists(), f"its segment {name} is missing")
            try:
                saved = _read(path, self.config)
                _check_segment(saved, self.config, end)
            except _Unusable as error:
                self._set_aside(path, str(error), "its checkpoint cannot be used")
                raise _Unusable(f"its segment {name} is unusable") from None
            segments.append(saved)
            name, end = saved.get("previous"), saved["start"]
        _require(end == 0, "its segments do not reach back to step 0")
        return segments[::-1]

    def _restore_records(
        self, state: TrainState, segments: list[dict], record_every: int | None
    ) -> bool:
        """Fill ``state``'s history and snapshots with the ones this run records before its
        step, from ``segments``; False if some are missing."""
        losses, weights = {}, {}
        for seg in segments:
            losses.update(zip(seg["history_steps"].tolist(), seg["history"]))
            pairs = zip(seg["W_snapshots"], seg["b_snapshots"])
            weights.update(zip(seg["snapshot_steps"].tolist(), pairs))
        wanted = list(range(0, state.step, record_every)) if record_every else []
        snaps = [s for s in self.snaps or () if s < state.step]
        if not (set(wanted) <= set(losses) and set(snaps) <= set(weights)):
            return False
        state.history, state.history_steps = [losses[s] for s in wanted], wanted
        state.snapshots, state.snapshot_steps = [weights[s] for s in snaps], snaps
        self.saved_records = (len(wanted), len(snaps))
        self.segment_end = segments[-1]["end"] if segments else 0
        return True

    # ---- writing

    def prepare_for_writing(self) -> bool:
        """Check that the directory can be written (warn and return False if not), and remove
        temporary files left by processes that have ended."""
        probe = self.dir / f".write-test-{self.run}.tmp{os.getpid()}"
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
        """Write the records taken since the last checkpoint as a segment, then the weights and
        moments in ``snapshot``; after a failure, warn once and write no more checkpoints."""
        if self.checkpoints_failed:
            return False
        n_hist, n_snap = self.saved_records
        if len(state.history) > n_hist or len(state.snapshots) > n_snap:
            name = f"{self.key}.seg-{self.run}-{snapshot.step}.pt"
            steps = (self.segment_end, snapshot.step)
            segment = _segment(state, n_hist, n_snap, steps, self.last_segment)
            if not self._save(segment, self.dir / name, "checkpoint segment"):
                self.checkpoints_failed = True
                return False
            self.last_segment, self.segment_end = name, snapshot.step
            self.saved_records = (len(state.history), len(state.snapshots))
        stack = lambda ts: torch.stack(ts)  # noqa: E731
        payload = {
            "step": snapshot.step,
            "backend": backend,
            "last_segment": self.last_segment,
            **{k: stack(getattr(snapshot, k)) for k in ("W", "b", "mW", "vW", "mb", "vb")},
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
            for path in self.dir.glob(f"{self.key}.seg-*.pt"):
                path.unlink(missing_ok=True)


def _segment(
    state: TrainState, n_hist: int, n_snap: int, steps: tuple[int, int], previous: str | None
) -> dict:
    """The records of ``state`` from index n_hist (history) and n_snap (snapshots) on, taken at
    steps ``steps[0] <= s < steps[1]``; ``previous`` names the segment before it."""
    S, (inst, m, n) = len(state.W), state.W[0].shape
    W_snaps = [W for W, _ in state.snapshots[n_snap:]]
    b_snaps = [b for _, b in state.snapshots[n_snap:]]
    stack = lambda ts, *shape: torch.stack(ts) if ts else torch.zeros(0, *shape)  # noqa: E731
    return {
        "start": steps[0],
        "end": steps[1],
        "previous": previous,
        "history": stack(state.history[n_hist:], S, inst),
        "history_steps": torch.tensor(state.history_steps[n_hist:], dtype=torch.int64),
        "W_snapshots": stack(W_snaps, S, inst, m, n),
        "b_snapshots": stack(b_snaps, S, inst, n),
        "snapshot_steps": torch.tensor(state.snapshot_steps[n_snap:], dtype=torch.int64),
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
