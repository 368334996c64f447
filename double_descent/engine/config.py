"""What a sweep is: its configuration, schedule, data, initial weights and training records.

Every (dataset size T, instance) pair is an independent model (see :mod:`double_descent.engine`)
trained full-batch on ONE fixed dataset of T points.

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

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, field

import numpy as np
import torch
from jaxtyping import Float, Int
from torch import Tensor

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
BOUND_MIN_T: int = 400
"""Models with fewer datapoints use the dense pass: the bound's per-step set-up (sorting, a
binary search per feature) costs about what it saves below T of a few hundred (measured with
n = 1000 on an AMD EPYC: bound/dense 1.04x at T = 200, 0.97x at 300, 1.38x at 500, on fixed
weights, which flatter the bound kernel). Part of the bound kernel's arithmetic: changing it
changes that kernel's results at the sizes it moves."""


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
    ``||h|| ||W_f|| < |b_f|`` decides are summed through moments, see
    :mod:`double_descent.engine.bound`; the same training up to float32 rounding, several times
    faster). The torch backend ignores it.
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


def lr_multiplier(step: int, steps: int, warmup_steps: int, warmup_start: float = 0.0) -> float:
    """Learning-rate multiplier of update ``step``: linear warmup from ``warmup_start`` to 1 over
    ``warmup_steps`` (like ``LinearLR(start_factor=warmup_start)``), then half-cosine to 0."""
    if step < warmup_steps:
        return warmup_start + (1.0 - warmup_start) * step / warmup_steps
    return 0.5 * (1.0 + math.cos(math.pi * (step - warmup_steps) / (steps - warmup_steps)))


def learning_rates(config: SweepConfig, start: int = 0, count: int | None = None) -> np.ndarray:
    """Learning rates (float64) of updates ``start .. start + count - 1`` of ``config``'s
    schedule (``count``: to the last update): ``config.lr · lr_multiplier(step)``."""
    stop = config.steps if count is None else start + count
    return np.array(
        [
            config.lr * lr_multiplier(s, config.steps, config.warmup_steps, config.warmup_start)
            for s in range(start, stop)
        ]
    )


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
