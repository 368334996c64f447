"""The "bound" kernel (``SweepConfig(kernel="bound")``): d_hidden = 2 gradients that skip the
(datapoint, feature) pairs whose output ReLU a norm bound already decides.

With h in 2-D, |W[:, f]·h_t| <= ||W[:, f]|| ||h_t||, so the output ReLU of every pair (t, f) with
||h_t|| ||W[:, f]|| < |b[f]| is decided by the sign of b[f] alone. With the points sorted by
radius once per step, the decided points of each feature are a prefix of that order: "off"
pairs (b ≤ 0) contribute nothing, "on" pairs (b > 0) contribute exactly through float64 prefix
sums of the moments (1, h, h hᵀ) of the points, and only the remaining suffix is evaluated
pair by pair, two features at a time. Its order of summation differs from the dense pass's, so
the last digits of the results do too: the same training up to float32 rounding, deterministic
under the same CPU pin; the default "dense" kernel made the stored results.

Like :mod:`double_descent.engine.kernels`, importing this module sets up numba's compiler: load it
through :func:`double_descent.engine.cpu.numba_module`.
"""

import math

import numpy as np
from numba import njit

from double_descent.engine.config import BOUND_MIN_T
from double_descent.engine.kernels import (
    _FAST,
    _hidden,
    _unit_grads,
)

BOUND_MARGIN: float = 1e-4
"""Relative safety margin of the ReLU bound: a pair counts as decided only when
``||h|| ||w|| (1 + margin) < |b|``, far outside float32 rounding of the preactivation."""


RADIX_BITS: int = 11
"""Bits of the squared radius that each pass of :func:`_radix_order` sorts by (6 passes)."""


@njit(cache=True)
def _bound_workspace(m, n, T):  # pragma: no cover - numba
    """Workspaces of :func:`_dense_pass_bound` for one model: point order, sorted radius rs,
    sorted h and dh, prefix and bucket moments (T + 1, 5), per-feature prefix lengths K,
    feature order, squared radii r2 (point order), a second point order and the counts of the
    two sorts."""
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
        np.empty(T, np.int64),
        np.empty(max(1 << RADIX_BITS, T + 1), np.int64),
    )


@njit(cache=True)
def _offsets(counts, size):  # pragma: no cover - numba
    """Turn counts[:size] into the first position of each value in a counting sort (exclusive
    prefix sums), in place."""
    total = 0
    for d in range(size):
        count = counts[d]
        counts[d] = total
        total += count


@njit(cache=True)
def _radix_order(key, order, spare, counts):  # pragma: no cover - numba
    """order = the permutation that sorts ``key`` (float64, finite, ≥ +0) by (key, index).

    A stable least-significant-digit radix sort of the keys' bit patterns (which order such
    floats as their values do), RADIX_BITS a pass, starting from the identity; passes where
    every key has the same digit are skipped. No branch depends on the data, unlike the insertion
    sort from last step's order that it replaced (in the training loop the two cost about the
    same). ``spare`` (T,) and ``counts`` (≥ 2^RADIX_BITS,): workspaces."""
    T = key.size
    bits = key.view(np.uint64)
    buckets = 1 << RADIX_BITS
    mask = np.uint64(buckets - 1)
    src, dst = order, spare
    for i in range(T):
        src[i] = i
    swapped = False
    for shift in range(0, 64, RADIX_BITS):
        s = np.uint64(shift)
        counts[:buckets] = 0
        for i in range(T):
            counts[(bits[i] >> s) & mask] += 1
        if T == 0 or counts[(bits[0] >> s) & mask] == T:
            continue
        _offsets(counts, buckets)
        for i in range(T):
            j = src[i]
            d = (bits[j] >> s) & mask
            dst[counts[d]] = j
            counts[d] += 1
        src, dst = dst, src
        swapped = not swapped
    if swapped:
        order[:] = spare


@njit(cache=True)
def _sort_points(h, ws):  # pragma: no cover - numba
    """Points by increasing radius (ties by index): writes order, radius rs, sorted h (hs) and
    the prefix sums P[k] = Σ_{i<k} (h0, h1, h0², h0h1, h1²) of the sorted points (float64)."""
    order, rs, hs, _, P, _, _, _, r2, spare, counts = ws
    T = h.shape[1]
    for t in range(T):
        x0, x1 = np.float64(h[0, t]), np.float64(h[1, t])
        r2[t] = x0 * x0 + x1 * x1
    _radix_order(r2, order, spare, counts)
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
def _decided_prefix(W, b, rs, K):  # pragma: no cover - numba
    """K[f] = number of sorted points whose ReLU at feature f the bound decides: of radii rs[i]
    (increasing) with rs[i] ||W[:, f]|| (1 + margin) < |b[f]| (a branch-free binary search)."""
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


@njit(cache=True)
def _order_features(W, b, ws):  # pragma: no cover - numba
    """After :func:`_sort_points`: each feature's decided prefix K, and the features by
    decreasing K, ties by index (a counting sort: stable, branch-free)."""
    _, rs, _, _, _, _, K, features, _, _, counts = ws
    T = rs.size
    _decided_prefix(W, b, rs, K)
    counts[: T + 1] = 0
    for f in range(K.size):
        counts[T - K[f]] += 1
    _offsets(counts, T + 1)
    for f in range(K.size):
        d = T - K[f]
        features[counts[d]] = f
        counts[d] += 1
    return features


@njit(cache=True)
def _bound_sums(W, b, features, K, P, D, gW, gb):  # pragma: no cover - numba
    """The decided prefixes, feature by feature in the order ``features``: each feature's sums
    into gb, gW (uncorrected, without the factor c) and, when the ReLU is on there (b > 0), its
    2x2 moments into the bucket D[k] (for dh; one row per k, so that each feature touches one
    cache line). A pair of features (``features[2i]``, ``features[2i + 1]``) shares the shorter
    of its two prefixes; an odd last feature keeps its own.

    One loop for all features, not a function called per feature: numba's per-call overhead
    (about 40 ns here) cost more than the arithmetic."""
    n = features.size
    for j in range(n):
        f = features[j]
        if n % 2 and j == n - 1:
            k = K[f]
        else:
            first = j - j % 2
            k = min(K[features[first]], K[features[first + 1]])
        w0, w1, bf = np.float64(W[0, f]), np.float64(W[1, f]), np.float64(b[f])
        if k == 0 or bf <= 0.0:
            gb[f], gW[0, f], gW[1, f] = 0.0, 0.0, 0.0
            continue
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
    a0 = a1 = a2 = a3 = a4 = 0.0
    for i in range(T - 1, -1, -1):
        a0 += D[i + 1, 0]
        a1 += D[i + 1, 1]
        a2 += D[i + 1, 2]
        a3 += D[i + 1, 3]
        a4 += D[i + 1, 4]
        y0, y1 = np.float64(hs[0, i]), np.float64(hs[1, i])
        dhs[0, i] = a0 * y0 + a1 * y1 + a3
        dhs[1, i] = a1 * y0 + a2 * y1 + a4


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
    order, _, hs, dhs, P, D, K, _, _, _, _ = ws
    n = W.shape[1]
    T = h.shape[1]
    _sort_points(h, ws)
    features = _order_features(W, b, ws)
    D[:, :] = 0.0
    _bound_sums(W, b, features, K, P, D, gW, gb)
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
