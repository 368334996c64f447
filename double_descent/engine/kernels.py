"""The dense kernel: one model's arithmetic in numba (hidden vectors, loss, gradients, AdamW).

The data are ~99% zeros, so ``h = W x`` is a sparse gather; the dense pass over (feature,
datapoint) pairs is done as if ``x`` were 0 and then corrected at the nonzeros, with an analytic
backward and AdamW fused in. :mod:`double_descent.engine.parallel` runs these functions for every
model, each model start to finish on one thread in a fixed order of operations, so results are
bitwise deterministic and independent of the number of threads.

Importing this module creates numba dispatchers, which sets up numba's compiler for the process
(its CPU is fixed from then on): load it through :func:`double_descent.engine.cpu.numba_module`,
which pins the CPU first (see :mod:`double_descent.engine.cpu`).
"""

import math

import numpy as np
from numba import njit

_FAST = {"reassoc", "contract", "nsz"}
"""Fast-math flags of the dense pass: reassociation lets LLVM vectorise its reductions."""


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
