"""numpy kernel of ``SVD``, with MegEngine's CPU singular-vector signs.

A singular pair ``(u_j, v_j)`` is only defined up to a common sign, and which sign comes
out depends on the algorithm. MegEngine's CPU kernel (``dnn/src/naive/svd``) runs the
one-sided Golub-Kahan method in float32, so this kernel runs the same method, step for
step in the same arithmetic, and gets the same signs (LAPACK, which numpy and torch use,
differs in about half of the pairs):

1. Householder bidiagonalization of ``A`` (``m >= n``; a wide matrix is transposed):
   reflections ``I - h h^T`` with ``|h|^2 = 2`` and ``h_0 = -sqrt(1 + |x_0| / |x|)``
   zero the column below the diagonal, then the row right of the superdiagonal; the
   column reflections collect in ``U``, the row reflections in ``V`` (``A = U B V``).
2. Implicitly shifted QR sweeps on the unreduced blocks of ``B``: the shift is the
   eigenvalue of the trailing 2x2 of ``B^T B`` nearer its last diagonal entry; each sweep
   chases the bulge with Givens rotations (``c = a / r``, ``s = -b / r``, skipped when
   ``r < 1e-7``). Superdiagonal entries at most ``64 * 2^-24 * max(diag B)`` are zero.
3. ``s = |diag B|`` sorted descending (ties: the later index first); a negative diagonal
   entry flips its column of ``U``.

Example:
    >>> u, s, vt = svd(SVD(), np.array([[3.0, 0.0], [0.0, -2.0]], np.float32))
    >>> s
    array([3., 2.], dtype=float32)
"""

from __future__ import annotations

import numpy as np

from ..registry import NUMPY
from .svd import SVD

F32 = np.float32
#: MegEngine's tolerance: 64 float32 half-ulps of 1
EPS = F32(64.0 * 2.0 ** -24)
TINY = F32(1e-7)


def _reflector(x: np.ndarray) -> np.ndarray:
    """MegEngine's Householder vector for ``x`` (float32): ``I - h h^T`` maps x onto e_0."""
    squares = F32(np.dot(x, x))
    inv_norm = F32(1) / np.sqrt(squares) if squares > TINY else squares
    alpha = np.sqrt(F32(1) + abs(x[0]) * inv_norm)
    beta = inv_norm / alpha
    h = -beta * x
    if x[0] < 0:
        h = -h
    h[0] = F32(0) if abs(inv_norm) < TINY else -alpha
    return h


def _bidiagonalize(b: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    m, n = b.shape
    for i in range(n):
        h = _reflector(b[i:, i].copy())
        b[i:, i:] -= np.outer(h, h @ b[i:, i:])
        u[:, i:] -= np.outer(u[:, i:] @ h, h)
        if i < n - 1:
            h = _reflector(b[i, i + 1:].copy())
            b[i:, i + 1:] -= np.outer(b[i:, i + 1:] @ h, h)
            v[i + 1:, :] -= np.outer(h, h @ v[i + 1:, :])


def _rotation(a: F32, b: F32) -> tuple[F32, F32] | None:
    r = np.sqrt(a * a + b * b)
    return None if abs(r) < TINY else (a / r, -b / r)


def _rotate_rows(x: np.ndarray, k: int, cs: tuple[F32, F32] | None) -> None:
    if cs is not None:
        c, s = cs
        r0, r1 = x[k].copy(), x[k + 1].copy()
        x[k], x[k + 1] = c * r0 - s * r1, s * r0 + c * r1


def _rotate_cols(x: np.ndarray, k: int, cs: tuple[F32, F32] | None) -> None:
    if cs is not None:
        c, s = cs
        c0, c1 = x[:, k].copy(), x[:, k + 1].copy()
        x[:, k], x[:, k + 1] = c * c0 - s * c1, s * c0 + c * c1


def _shift(b: np.ndarray, k0: int, end: int) -> tuple[F32, F32]:
    """The first rotation's ``(alpha, beta)`` of a sweep over block ``[k0, end)``."""
    if end - k0 == 2 and abs(b[k0, k0]) < TINY and abs(b[k0 + 1, k0 + 1]) < TINY:
        return F32(0), F32(1)
    d0, e0, d1 = b[end - 2, end - 2], b[end - 2, end - 1], b[end - 1, end - 1]
    c00 = d0 * d0 + (b[end - 3, end - 2] ** 2 if end - k0 > 2 else F32(0))
    c01 = d0 * e0
    c11 = d1 * d1 + e0 * e0
    half = -(c00 + c11) / F32(2)
    det = c00 * c11 - c01 * c01
    disc = F32(0)
    if half * half - det > 0:
        disc = np.sqrt(half * half - det)
    else:
        half2, det2 = (c00 - c11) / F32(2), -c01 * c01
        if half2 * half2 - det2 > 0:
            disc = np.sqrt(half2 * half2 - det2)
    lam1, lam2 = -half + disc, -half - disc
    mu = lam1 if abs(lam1 - c11) < abs(lam2 - c11) else lam2
    return b[k0, k0] * b[k0, k0] - mu, b[k0, k0] * b[k0, k0 + 1]


def _diagonalize(op: SVD, b: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    m, n = b.shape
    k0, sweeps = 0, 0
    while k0 < n - 1:
        tol = EPS * max(F32(0), F32(np.max(np.diagonal(b))))
        while k0 < n - 1 and abs(b[k0, k0 + 1]) <= tol:
            k0 += 1
        if k0 == n - 1:
            break
        end = k0 + 2
        while end < n and abs(b[end - 1, end]) > tol:
            end += 1
        sweeps += 1
        if sweeps > 100 * n * n:
            raise ValueError(f"{op}: the QR iteration did not converge")
        alpha, beta = _shift(b, k0, end)
        for k in range(k0, end - 1):
            cs = _rotation(alpha, beta)
            _rotate_cols(b, k, cs)
            _rotate_rows(v, k, cs)
            cs = _rotation(b[k, k], b[k + 1, k])
            _rotate_rows(b, k, cs)
            _rotate_cols(u, k, cs)
            if k + 2 < n:
                alpha, beta = b[k, k + 1], b[k, k + 2]
        band = np.triu(np.tril(np.ones((m, n), bool), 1))
        b[k0:end - 1][~band[k0:end - 1]] = 0
        b[:, k0:end - 1][~band[:, k0:end - 1]] = 0
        sup = np.arange(n - 1)
        small = np.abs(b[sup, sup + 1]) <= tol
        b[sup[small], sup[small] + 1] = 0


def _one(op: SVD, a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    m, n = a.shape
    wide = m < n
    b = np.array(a.T if wide else a, dtype=F32)
    rows, cols = b.shape
    u, v = np.eye(rows, dtype=F32), np.eye(cols, dtype=F32)
    _bidiagonalize(b, u, v)
    _diagonalize(op, b, u, v)
    diag = np.diagonal(b)
    order = np.lexsort((np.arange(cols), np.abs(diag)))[::-1]
    s = np.abs(diag)[order]
    sign = np.where(diag[order] < 0, F32(-1), F32(1))
    if wide:  # a^T = u b v: a = v^T b^T u^T, the sign goes with v
        return v[order].T * sign, s, u[:, order].T
    return u[:, order] * sign, s, v[order]


@NUMPY.kernel(SVD)
def svd(op: SVD, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not np.isfinite(x).all():
        raise ValueError(f"{op}: the input holds NaN or Inf (the iteration would not end)")
    *batch, m, n = x.shape
    k = min(m, n)
    flat = x.reshape(-1, m, n)
    u = np.empty((flat.shape[0], m, k), F32)
    s = np.empty((flat.shape[0], k), F32)
    vt = np.empty((flat.shape[0], k, n), F32)
    for i, a in enumerate(flat):
        u[i], s[i], vt[i] = _one(op, a)
    if not op.compute_uv:
        empty = np.empty((0,), F32)
        return empty, s.reshape(*batch, k), empty
    return u.reshape(*batch, m, k), s.reshape(*batch, k), vt.reshape(*batch, k, n)
