"""The two backends that train a sweep chunk by chunk, and the numba kernels' Python entry points.

* ``"numba"`` (:class:`_NumbaBackend`): one fused CPU kernel for all models
  (:mod:`double_descent.engine.parallel`), compiled for the pinned CPU
  (:mod:`double_descent.engine.cpu`). ``SweepConfig(kernel="bound")`` selects the ReLU-bound
  gradients (:mod:`double_descent.engine.bound`) for d_hidden = 2.
* ``"torch"`` (:class:`_TorchBackend`): the straightforward model (autograd,
  ``torch.optim.AdamW`` + ``LambdaLR``), one model per size with an instance dimension. It runs
  on CUDA when available and is the benchmark's baseline.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from jaxtyping import Float
from torch import Tensor

from double_descent.engine.config import (
    BETAS,
    EPS,
    KERNELS,
    UNIT_OVERHEAD,
    SparseData,
    SweepConfig,
    TrainState,
    _check,
    lr_multiplier,
)
from double_descent.engine.cpu import numba_module


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
    run = numba_module("parallel")._loss_and_grads
    run(W32, b32, row_start, n_rows, csr, csc, kernel == "bound", loss, gW, gb)
    return torch.from_numpy(loss), torch.from_numpy(gW), torch.from_numpy(gb)


def _kernel_data(
    sparse: SparseData, n_rows: np.ndarray, n_features: int
) -> tuple[np.ndarray, tuple, tuple]:
    """The kernel's view of the data: row_start (U,), csr and csc tuples (see
    :func:`double_descent.engine.kernels._unit_loss`).

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
    bound = numba_module("bound")
    pairs = [
        bound._exact_pairs(W32[i], b32[i], h[i], bound._bound_workspace(2, n, T))
        for i in range(inst)
    ]
    return torch.tensor(pairs, dtype=torch.float64) / (T * n)


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
        self.train_chunk = numba_module("parallel")._train_chunk
        self.bound = config.kernel == "bound"

    def advance(self, step0: int, n_steps: int, lrs: np.ndarray) -> Tensor:
        bins = balanced_bins(self.costs, numba.get_num_threads())
        self.train_chunk(
            self.W, self.b, self.mW, self.vW, self.mb, self.vb, self.row_start, self.n_rows,
            self.csr, self.csc, bins, step0, lrs, self.hyper, self.bound, self.loss,
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
