r"""Winograd's F(2x2, 5x5): its matrices and the stages that apply them to runs (private).

:mod:`minidl.functional._conv_winograd` runs the 5x5 stride-1 convs by it, on the same phase
planes as its F(2x2, 3x3). Each 2x2 tile of output comes from the 6x6 tile of padded input
``d`` under it and the 5x5 kernel ``g`` as

.. math:: Y = A^T \left[ (G g G^T) \odot (B^T d B) \right] A,

    B^T = \begin{pmatrix} 4 & 0 & -5 & 0 & 1 & 0 \\ 0 & -4 & -4 & 1 & 1 & 0 \\
          0 & 4 & -4 & -1 & 1 & 0 \\ 0 & -2 & -1 & 2 & 1 & 0 \\ 0 & 2 & -1 & -2 & 1 & 0 \\
          0 & 4 & 0 & -5 & 0 & 1 \end{pmatrix},\quad
    A^T = \begin{pmatrix} 1 & 1 & 1 & 1 & 1 & 0 \\ 0 & 1 & -1 & 2 & -2 & 1 \end{pmatrix}

and G below: the polynomial points 0, 1, -1, 2, -2 and infinity (Lavin & Gray 2016, the same
B^T as their F(4x4, 3x3)). 36 products per tile of four outputs where im2col makes 100: 2.78
times fewer multiply-adds, for transforms of 20 to 24 passes a stage where F(2x2, 3x3) makes 4.

Each stage works on the two phases of a run (the tile's element ``a`` is phase ``a % 2``,
shifted by ``a // 2`` plane rows or columns), written as sums of differences so that a stage
is 7 to 20 NumPy calls over whole runs. Float32 error: the transforms multiply by up to 5 and
G by 1/24, so the results differ from im2col's by about 5 times its rounding (3e-6 of the
largest output for 32 x 32 x 28 x 28 -> 64; ``tests/functional/test_conv_winograd.py``).
"""

import numpy as np

from minidl.functional import _scratch

B_T = np.array(
    [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
     [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], dtype=np.float64,
)  # fmt: skip
G = np.array(
    [[1 / 4, 0, 0, 0, 0], [-1 / 6, -1 / 6, -1 / 6, -1 / 6, -1 / 6],
     [-1 / 6, 1 / 6, -1 / 6, 1 / 6, -1 / 6], [1 / 24, 1 / 12, 1 / 6, 1 / 3, 2 / 3],
     [1 / 24, -1 / 12, 1 / 6, -1 / 3, 2 / 3], [0, 0, 0, 0, 1]], dtype=np.float64,
)  # fmt: skip
A_T = np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 1]], dtype=np.float64)


def stage(f, shift, out):
    """One stage of ``B^T d``: ``f`` (2, ..., size) the two phases of d's runs, ``out`` (6, ...,
    size or less) its rows: t0 = 4 (d0 - d2) + (d4 - d2), t1 = (d3 + d4) - 4 (d1 + d2),
    t2 = (d4 - d3) + 4 (d1 - d2), t3 = (d4 - d2) + 2 (d3 - d1), t4 = (d4 - d2) - 2 (d3 - d1),
    t5 = (d5 - d3) - 4 (d3 - d1), where d_a is phase ``a % 2`` shifted by ``(a // 2) shift``;
    the tails (no ``k + 2 shift``) zero."""
    n = min(out.shape[-1], f.shape[-1] - 2 * shift)
    d = [f[a % 2, ..., (a // 2) * shift : (a // 2) * shift + n] for a in range(6)]
    o = out[..., :n]
    e = _scratch.scratch("w5-e", o.shape[1:], f.dtype)
    c = _scratch.scratch("w5-c", o.shape[1:], f.dtype)
    np.subtract(d[4], d[2], out=e)
    np.subtract(d[3], d[1], out=c)
    np.subtract(d[0], d[2], out=o[0])
    o[0] *= 4
    o[0] += e
    np.multiply(c, 2, out=o[4])  # 2 (d3 - d1), for a moment
    np.add(e, o[4], out=o[3])
    np.subtract(e, o[4], out=o[4])
    np.subtract(d[5], d[3], out=o[5])
    c *= 4
    o[5] -= c
    np.add(d[1], d[2], out=c)
    c *= 4
    np.add(d[3], d[4], out=o[1])
    o[1] -= c
    np.subtract(d[1], d[2], out=c)
    c *= 4
    np.subtract(d[4], d[3], out=o[2])
    o[2] += c
    out[..., n:] = 0


def stage_output(mm, out):
    """One stage of ``A^T M``: ``mm`` (6, X, size), ``out`` (2, X, size): m0 + m1 + m2 + m3 +
    m4 and (m1 - m2) + 2 (m3 - m4) + m5."""
    t = _scratch.scratch("w5-e", mm.shape[1:], mm.dtype)
    np.add(mm[1], mm[2], out=out[0])
    out[0] += mm[3]
    out[0] += mm[4]
    out[0] += mm[0]
    np.subtract(mm[3], mm[4], out=t)
    t *= 2
    np.subtract(mm[1], mm[2], out=out[1])
    out[1] += t
    out[1] += mm[5]


def stage_grad(f, out):
    """One stage of ``A dY``: ``f`` (2, X, size), ``out`` (6, X, size): A's rows (1, 0), (1, 1),
    (1, -1), (1, 2), (1, -2), (0, 1)."""
    np.copyto(out[0], f[0])
    np.add(f[0], f[1], out=out[1])
    np.subtract(f[0], f[1], out=out[2])
    np.multiply(f[1], 2, out=out[4])
    np.add(f[0], out[4], out=out[3])
    np.subtract(f[0], out[4], out=out[4])
    np.copyto(out[5], f[1])


def stage_transposed(g, shift, out, tmp):
    """The transpose of :func:`stage`: given the gradients ``g`` (6, ..., n) of its six rows
    (n <= size - 2 shift), write those of its two phases into ``out`` (2, ..., size): d0 gets
    4 g0, d1 4 (g2 - g1) + 2 (g4 - g3) + 4 g5, d2 -(5 g0 + 4 (g1 + g2) + (g3 + g4)), d3
    -((g2 - g1) + 2 (g4 - g3) + 5 g5), d4 g0 + (g1 + g2) + (g3 + g4), d5 g5, each at its
    shift. ``tmp`` has the shape of one of g's rows."""
    n = min(g.shape[-1], out.shape[-1] - 2 * shift)
    g, t = g[..., :n], tmp[..., :n]
    a = _scratch.scratch("w5-e", g.shape[1:], g.dtype)
    b = _scratch.scratch("w5-c", g.shape[1:], g.dtype)
    u = _scratch.scratch("w5-f", g.shape[1:], g.dtype)
    one, two = slice(shift, shift + n), slice(2 * shift, 2 * shift + n)
    # the unshifted rows first (written, not added), then the tails' zeros, then the shifts
    np.multiply(g[0], 4, out=out[0, ..., :n])  # d0
    np.subtract(g[2], g[1], out=a)
    np.subtract(g[4], g[3], out=b)
    np.add(a, g[5], out=u)
    u *= 2
    u += b
    np.multiply(u, 2, out=out[1, ..., :n])  # d1 = 2 (2 (g2 - g1 + g5) + (g4 - g3))
    out[..., n:] = 0
    np.multiply(b, 2, out=t)
    t += a
    np.multiply(g[5], 5, out=u)
    t += u
    out[1, ..., one] -= t  # d3
    out[1, ..., two] += g[5]  # d5
    np.add(g[1], g[2], out=a)
    np.add(g[3], g[4], out=b)
    np.add(g[0], a, out=t)
    t += b
    out[0, ..., two] += t  # d4
    np.multiply(g[0], 5, out=t)
    a *= 4
    t += a
    t += b
    out[0, ..., one] -= t  # d2
