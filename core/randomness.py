"""Counter-based randomness for stochastic gradients: every draw is a pure function of
``(row seed, step, index)``, computed for all rows in one tensor operation.

**Generator.** Philox4x32-10 (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy
as 1, 2, 3"; the generator of cuRAND and of PyTorch on CUDA): a keyed bijection of a 128-bit
counter, ten rounds of two 32 x 32 -> 64-bit multiplies and xors. Key = the row's seed (its low
and high 32 bits); counter = ``(block, step or epoch, stream, 0)`` where ``block`` is the index of
four consecutive 32-bit outputs and ``stream`` separates gradient noise (0) from minibatch
permutations (1). A row's draws depend on its seed only, never on which other rows are in the
batch or how many steps are drawn at once: a batched run equals its rows run one by one, bit for
bit, and a run is reproducible across runs and machines. Known-answer vectors of the reference
implementation (Random123) are checked in tests/test_randomness.py.

**Integer arithmetic is exact and well-defined.** The 32-bit words live in int64 tensors, and no
operation ever exceeds 2^63: the 32 x 32-bit product is formed from the constant's two 16-bit
halves (each partial product < 2^48), sums are masked with ``& 0xFFFFFFFF``. No signed overflow
(undefined in C++, hence in ATen's kernels) is ever relied on.

**Uniforms** are ``(x + 1/2) / 2^32`` for a 32-bit output ``x``: in (0, 1), never 0 or 1.

**Normals** by Box-Muller, ``z = sqrt(-2 ln u1) (cos 2 pi u2, sin 2 pi u2)`` (Box & Muller 1958):
each Philox block gives two pairs, hence four normals. Radii are bounded by
``sqrt(-2 ln 2^-33) = 6.76``: tails beyond 6.76 sigma (probability 1.4e-11) are never drawn.
``ln``, ``cos`` and ``sin`` are *not* ``torch.log``/``cos``/``sin``: ATen evaluates those with
SLEEF in its vectorised loop and with libm in the scalar tail, which can differ in the last bit,
so a row's value would depend on where it sits in the batch (and on the CPU's vector width). Here
they are fixed polynomials evaluated with one IEEE operation (``+ - * /``, ``sqrt``: correctly
rounded everywhere, no fused multiply-add across separate torch calls) per torch call, after an
exact range reduction (``frexp`` for the logarithm, the top three bits of ``u2`` for the octant).
The result is the same double on every x86 CPU (any ``ATEN_CPU_CAPABILITY``) and in any batch
layout; its error against the true functions is ~1e-15 relative, far below any statistical
effect.

**Permutations** (minibatch epochs): ``argsort`` of the row's 32-bit keys for
``(epoch, sample j)``, stable (ties, probability ~n^2 / 2^33, fall back to sample order, still a
function of the seed alone): a uniformly random permutation up to ties, one ``[rows, n]`` sort per
epoch for all rows.

This replaced (issue 15) one ``torch.Generator`` per trajectory, drawn in Python loops over rows:
the random streams differ from the runs made before it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

MASK32 = 0xFFFFFFFF
_M0, _M1 = 0xD2511F53, 0xCD9E8D57  # Philox multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85  # Weyl key increments
ROUNDS = 10
CHUNK = 1 << 13  # Philox blocks per elementwise pass on the CPU
NOISE, PERMUTATION, DROPOUT = 0, 1, 2  # the counter's stream word


def row_keys(seeds: Sequence[int], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
    """The Philox key ``(low 32 bits, high 32 bits)`` of each seed, two int64 tensors ``[R]``."""
    bad = [s for s in seeds if not 0 <= int(s) < 1 << 64]
    if bad:
        raise ValueError(f"seeds must be in [0, 2^64), got {bad[0]}")
    k = [int(s) for s in seeds]
    lo = torch.tensor([s & MASK32 for s in k], dtype=torch.int64, device=device)
    hi = torch.tensor([s >> 32 for s in k], dtype=torch.int64, device=device)
    return lo, hi


def _mulhilo(a: Tensor, m: int) -> tuple[Tensor, Tensor]:
    """``(high, low)`` 32-bit words of ``a * m`` for 32-bit ``a`` and the constant ``m``, with every
    intermediate below 2^49 (no int64 overflow)."""
    t = a * (m >> 16)  # < 2^48
    lo = torch.bitwise_left_shift(t & 0xFFFF, 16).add_(a * (m & 0xFFFF))  # < 2^49
    hi = torch.bitwise_right_shift(t, 16).add_(torch.bitwise_right_shift(lo, 32))
    return hi, lo.bitwise_and_(MASK32)


def philox4x32(counter: Sequence[Tensor | int], key: Sequence[Tensor | int], rounds: int = ROUNDS) -> list[Tensor]:
    """Philox4x32-``rounds`` of a counter ``(c0, c1, c2, c3)`` under key ``(k0, k1)``; every word
    an int64 tensor (or int) holding 32 bits, all broadcast together. Returns four int64 tensors."""
    c0, c1, c2, c3 = (torch.as_tensor(c, dtype=torch.int64) for c in counter)
    k0, k1 = (torch.as_tensor(k, dtype=torch.int64) for k in key)
    shape = torch.broadcast_shapes(c0.shape, c1.shape, c2.shape, c3.shape, k0.shape, k1.shape)
    c0, c1, c2, c3 = (c.expand(shape) for c in (c0, c1, c2, c3))
    for r in range(rounds):
        if r:
            k0 = (k0 + _W0) & MASK32
            k1 = (k1 + _W1) & MASK32
        hi0, lo0 = _mulhilo(c0, _M0)
        hi1, lo1 = _mulhilo(c2, _M1)
        c0, c1, c2, c3 = hi1.bitwise_xor_(c1).bitwise_xor_(k0), lo1, hi0.bitwise_xor_(c3).bitwise_xor_(k1), lo0
    return [c0, c1, c2, c3]


def _counter_words(keys: tuple[Tensor, Tensor], first: int, count: int, stream: int) -> Tensor:
    """32-bit outputs ``first .. first + count - 1`` of each row's stream, int64 ``[R, count]``:
    output ``g`` is word ``g % 4`` of the block with counter ``(g // 4 low, g // 4 high, stream, 0)``."""
    dev = keys[0].device
    b0, b1 = first // 4, (first + count + 3) // 4
    blocks = torch.arange(b0, b1, dtype=torch.int64, device=dev)
    c0, c1 = blocks & MASK32, torch.bitwise_right_shift(blocks, 32)
    R = keys[0].shape[0]
    flat = torch.empty(R, b1 - b0, 4, dtype=torch.int64, device=dev)
    # in row chunks of ~CHUNK blocks: each of Philox's ~220 elementwise passes then stays in cache
    # and on one thread (a cache-sized loop, not a loop over rows: a chunk holds many rows)
    step = max(1, CHUNK // max(1, b1 - b0)) if dev.type == "cpu" else R
    for i in range(0, R, step):
        out = philox4x32((c0, c1, stream, 0), (keys[0][i:i + step, None], keys[1][i:i + step, None]))
        torch.stack(out, dim=-1, out=flat[i:i + step])
    return flat.view(R, -1)[:, first - 4 * b0:first - 4 * b0 + count]


def bits(keys: tuple[Tensor, Tensor], counter: int, count: int, stream: int) -> Tensor:
    """``count`` 32-bit outputs per row for one counter value (a step or an epoch), int64
    ``[R, count]``: outputs ``counter * count ..`` of the row's stream ``stream``, so index ``j`` of
    counter ``c`` is output ``c count + j``, a function of ``(seed, c, j)`` alone."""
    return _counter_words(keys, int(counter) * count, count, stream)


def uniforms(keys: tuple[Tensor, Tensor], counter: int, count: int, stream: int = NOISE) -> Tensor:
    """Float64 uniforms in (0, 1), ``[R, count]``: ``(x + 1/2) / 2^32`` of :func:`bits`."""
    return to_uniform(bits(keys, counter, count, stream))


def to_uniform(x: Tensor) -> Tensor:
    return (x.to(torch.float64) + 0.5) * 2.0**-32


# ln on [sqrt(1/2), sqrt(2)): 2 atanh(s), s = (m - 1) / (m + 1), |s| <= 0.1716, s^2 <= 0.0295:
# the series 2 s sum s^(2k) / (2k + 1) to k = 11 leaves < 1.2e-18 relative.
_LOG_COEF = [1.0 / (2 * k + 1) for k in range(12)]
_LN2 = math.log(2.0)
_SQRT_HALF = math.sqrt(0.5)
# sin and cos on [0, pi/4]: Taylor to a^17 and a^16 (remainders < 5e-17, 2e-18)
_SIN_COEF = [(-1.0) ** k / math.factorial(2 * k + 1) for k in range(9)]
_COS_COEF = [(-1.0) ** k / math.factorial(2 * k) for k in range(9)]


def _horner(x: Tensor, coef: list[float]) -> Tensor:
    """``sum_k coef[k] x^k``, one IEEE multiply and one add per torch call (never fused)."""
    p = torch.full_like(x, coef[-1])
    for c in reversed(coef[:-1]):
        p = p.mul_(x).add_(c)
    return p


def _log_of_bits(x: Tensor) -> Tensor:
    """``ln((x + 1/2) / 2^32)`` for 32-bit ``x``: exact range reduction by ``frexp``, then a fixed
    polynomial (see the module doc for why not ``torch.log``)."""
    v = x.to(torch.float64) + 0.5  # exact: < 2^33
    m, e = torch.frexp(v)  # v = m 2^e, m in [1/2, 1): exact
    low = m < _SQRT_HALF
    m = torch.where(low, m * 2.0, m)  # exact
    e = (e - low.to(e.dtype) - 32).to(torch.float64)
    s = (m - 1.0) / (m + 1.0)
    return (s * 2.0).mul_(_horner(s * s, _LOG_COEF)).add_(e * _LN2)


def _cos_sin_of_bits(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(cos, sin)`` of ``2 pi (x + 1/2) / 2^32``: the top three bits pick the octant, the
    rest (mirrored in odd octants, exactly, in integers) an angle in (0, pi/4)."""
    octant = torch.bitwise_right_shift(x, 29)
    frac = x & ((1 << 29) - 1)
    odd = (octant & 1).bool()
    a = torch.where(odd, ((1 << 29) - 1) - frac, frac).to(torch.float64).add_(0.5).mul_(math.pi / 4 * 2.0**-29)
    a2 = a * a
    s = _horner(a2, _SIN_COEF).mul_(a)
    c = _horner(a2, _COS_COEF)
    s = torch.where(odd, -s, s)  # theta = q pi/2 + a (even octant) or (q + 1) pi/2 - a (odd)
    q = torch.bitwise_right_shift(octant + 1, 1) & 3  # quarter turns
    cos = torch.where(q == 0, c, torch.where(q == 1, -s, torch.where(q == 2, -c, s)))
    sin = torch.where(q == 0, s, torch.where(q == 1, c, torch.where(q == 2, -s, -c)))
    return cos, sin


def box_muller(x1: Tensor, x2: Tensor) -> tuple[Tensor, Tensor]:
    """Two independent N(0, 1) float64 tensors from two tensors of 32-bit outputs."""
    r = _log_of_bits(x1).mul_(-2.0).sqrt_()
    cos, sin = _cos_sin_of_bits(x2)
    return r * cos, r.mul_(sin)


def normals(keys: tuple[Tensor, Tensor], first_step: int, steps: int, dim: int, stream: int = NOISE) -> Tensor:
    """N(0, 1) float64 ``[R, steps, dim]`` for ``keys [R]``, steps ``first_step ..``: normal ``j``
    of step ``t`` is number ``g = t dim' + j`` of the row's stream (``dim'`` = dim rounded up to
    even), Box-Muller of outputs ``(g, g + 1)`` for even ``g`` (cos) and ``(g - 1, g)`` for odd
    (sin). Depends on ``(seed, t, j)`` alone, not on how many steps are drawn at once."""
    dim2 = dim + (dim & 1)
    R = keys[0].shape[0]
    out = torch.empty(R, steps * dim2 // 2, 2, dtype=torch.float64, device=keys[0].device)
    # row chunks of ~4 CHUNK numbers: every elementwise pass stays in cache and on one thread
    step = max(1, 4 * CHUNK // (steps * dim2)) if keys[0].device.type == "cpu" else R
    for i in range(0, R, step):
        x = _counter_words((keys[0][i:i + step], keys[1][i:i + step]), first_step * dim2, steps * dim2, stream)
        x = x.view(-1, steps * dim2 // 2, 2)
        z0, z1 = box_muller(x[..., 0], x[..., 1])
        torch.stack([z0, z1], dim=-1, out=out[i:i + step])
    return out.view(R, steps, dim2)[..., :dim]


def permutations(keys: tuple[Tensor, Tensor], epoch: int, n: int) -> Tensor:
    """One uniformly random permutation of ``range(n)`` per row, ``[R, n]`` (int64): the stable
    argsort of the row's keys for ``(epoch, j)``."""
    return torch.argsort(bits(keys, epoch, n, PERMUTATION), dim=1, stable=True)


class RowStreams:
    """The random draws of a run's stochastic rows, made for all rows of a group at once.

    ``noise(rows, t, d)`` is ``xi [R, d]`` of step ``t``, computed ``block`` steps ahead (up to
    ~2^20 numbers) since it depends on nothing but the key and the step; ``minibatch(rows, n, m,
    t)`` the sample indices of step ``t`` for minibatch size ``m``: epoch ``t // (n // m)`` is a
    permutation cut into ``n // m`` batches, the remainder dropped (``drop_last``)."""

    BUDGET = 1 << 20  # numbers drawn ahead per refill (8 MB); computed in cache-sized row chunks

    def __init__(self, seeds: Sequence[int]) -> None:
        self.seeds = list(seeds)
        self._keys: dict[tuple[int, ...], tuple[Tensor, Tensor]] = {}
        self._noise: dict[tuple[int, ...] | range, tuple[int, Tensor]] = {}
        self._perm: dict[tuple[tuple[int, ...], int], tuple[int, Tensor]] = {}
        self._index: dict[tuple[int, ...], Tensor] = {}

    @staticmethod
    def _id(rows: Sequence[int]) -> tuple[int, ...] | range:
        return rows if isinstance(rows, range) else tuple(rows)

    def keys(self, rows: Sequence[int], device: torch.device | str = "cpu") -> tuple[Tensor, Tensor]:
        """The Philox keys of ``rows`` (made once per run)."""
        rows = self._id(rows)
        if rows not in self._keys:
            self._keys[rows] = row_keys([self.seeds[r] for r in rows], device)
        return self._keys[rows]

    def index(self, rows: Sequence[int], device: torch.device | str = "cpu") -> Tensor:
        """``rows`` as an index tensor (made once per run)."""
        rows = self._id(rows)
        if rows not in self._index:
            self._index[rows] = torch.tensor(list(rows), dtype=torch.int64, device=device)
        return self._index[rows]

    def noise(self, rows: Sequence[int], step: int, dim: int, device: torch.device | str = "cpu") -> Tensor:
        """``xi [len(rows), dim]`` of this step (float64)."""
        rows = self._id(rows)
        first, block = self._noise.get(rows, (None, None))
        if first is None or not first <= step < first + block.shape[1]:
            ahead = max(1, self.BUDGET // max(1, len(rows) * dim))
            block = normals(self.keys(rows, device), step, ahead, dim)
            self._noise[rows] = first, block = step, block
        return block[:, step - first]

    def uniforms(self, rows: Sequence[int], step: int, count: int, device: torch.device | str = "cpu") -> Tensor:
        """``[len(rows), count]`` uniforms of this step on the dropout stream (a net's masks:
        index ``j`` of step ``t`` is a function of ``(seed, t, j)`` alone)."""
        return uniforms(self.keys(rows, device), step, count, DROPOUT)

    def minibatch(self, rows: Sequence[int], n: int, m: int, step: int, device: torch.device | str = "cpu") -> Tensor:
        """Sample indices ``[len(rows), m]`` of this step."""
        per_epoch = n // m
        epoch, k = divmod(step, per_epoch)
        key = (self._id(rows), m)
        cached, perm = self._perm.get(key, (None, None))
        if cached != epoch:
            perm = permutations(self.keys(rows, device), epoch, n)
            self._perm[key] = (epoch, perm)
        return perm[:, k * m:(k + 1) * m]
