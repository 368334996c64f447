"""The parallel numba kernels: every model of a sweep at once, one thread per model.

``_train_chunk`` trains all models for a chunk of steps (gradients, then AdamW);
``_loss_and_grads`` evaluates them without an update (for tests). Both take ``bound``: whether to
use the ReLU-bound gradients (``SweepConfig(kernel="bound")``) rather than the dense ones, a
branch taken once per model and step. Models are handed to threads in bins
(:func:`double_descent.engine.backends.balanced_bins`); each model is trained start to finish by
one thread, so the results do not depend on the bins or the number of threads.

Importing this module sets up numba's compiler: load it through
:func:`double_descent.engine.cpu.numba_module`.
"""

import numpy as np
from numba import njit, prange

from double_descent.engine.bound import _bound_workspace, _unit_grads_bound
from double_descent.engine.kernels import _adamw, _unit_grads, _unit_loss


@njit(cache=True)
def _model_grads(
    W, b, row0, T, row_ptr, feat, val, h, dh, gW, gb, d, ws, bound
):  # pragma: no cover
    """Gradients of one model: :func:`_unit_grads_bound` (workspace ``ws``) if ``bound``, else
    :func:`_unit_grads` (``ws`` unused)."""
    if bound:
        _unit_grads_bound(W, b, row0, T, row_ptr, feat, val, h, dh, gW, gb, d, ws)
    else:
        _unit_grads(W, b, row0, T, row_ptr, feat, val, h, dh, gW, gb, d)


@njit(parallel=True, cache=True)
def _train_chunk(
    W, b, mW, vW, mb, vb, row_start, n_rows, csr, csc, bins, step0, lrs, hyper, bound, loss_out
):  # pragma: no cover - numba
    """Train every model for ``lrs.size`` updates, starting at update ``step0``.

    W, mW, vW: (U, m, n); b, mb, vb: (U, n); model u owns rows ``row_start[u] ..`` (n_rows[u])
    of the data (see :func:`_unit_loss` for csr and csc). ``bins`` (n_bins, k): the models of
    each thread, padded with −1; ``hyper`` = (beta1, beta2, eps, weight_decay); ``bound``: see
    :func:`_model_grads`. Writes the loss of the weights at entry to ``loss_out[u]``. Each model
    is trained start to finish by one thread, so the results do not depend on ``bins``.
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
            ws = _bound_workspace(m, n, T if bound else 0)
            Wu = W[u]
            bu = b[u]
            loss_out[u] = _unit_loss(Wu, bu, u, row_start[u], T, csr, csc, h, d)
            for s in range(lrs.size):
                _model_grads(
                    Wu, bu, row_start[u], T, row_ptr, feat, val, h, dh, gW, gb, d, ws, bound
                )
                lr, step = lrs[s], step0 + s + 1
                mWu, vWu = mW[u].reshape(flat), vW[u].reshape(flat)
                _adamw(
                    Wu.reshape(flat), gW.reshape(flat), mWu, vWu, lr, step, beta1, beta2, eps, wd
                )
                _adamw(bu, gb, mb[u], vb[u], lr, step, beta1, beta2, eps, wd)


@njit(parallel=True, cache=True)
def _loss_and_grads(
    W, b, row_start, n_rows, csr, csc, bound, loss_out, gW_out, gb_out
):  # pragma: no cover
    """Loss and gradients of every model u, without updating anything (for tests); ``bound``:
    see :func:`_model_grads`."""
    U, m, n = W.shape
    row_ptr, feat, val = csr
    for u in prange(U):
        T = n_rows[u]
        h = np.empty((m, T), np.float32)
        dh = np.empty((m, T), np.float32)
        d = np.empty(T, np.float32)
        ws = _bound_workspace(m, n, T if bound else 0)
        loss_out[u] = _unit_loss(W[u], b[u], u, row_start[u], T, csr, csc, h, d)
        _model_grads(
            W[u],
            b[u],
            row_start[u],
            T,
            row_ptr,
            feat,
            val,
            h,
            dh,
            gW_out[u],
            gb_out[u],
            d,
            ws,
            bound,
        )
