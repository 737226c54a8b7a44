"""core.randomness: Philox4x32-10 against its reference, the uniforms, normals and permutations
it yields (statistical bounds), and the properties the engine relies on (a row's stream is a
function of its seed, step and index alone).

The statistical bounds are 4 standard errors wide on fixed seeds: the draws are deterministic, so
each test either always passes or always fails on every machine (integer hashing is exact and the
floating-point part uses only correctly rounded IEEE operations, see the module doc); 4 SE is
where a correct generator fails with probability ~6e-5 per bound, a broken one almost surely."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from core.randomness import (NOISE, PERMUTATION, RowStreams, bits, normals, permutations, philox4x32, row_keys,
                             uniforms)

ROOT = Path(__file__).resolve().parents[1]

# Random123's known-answer vectors for Philox4x32-10 (tests/kat_vectors of the reference code)
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize("ctr,key,expected", KAT)
def test_philox_matches_the_reference_known_answers(ctr, key, expected):
    """Exact integers: no tolerance. The all-ones vector exercises the largest 32 x 32 products
    (the 16-bit split must never overflow int64)."""
    out = philox4x32(ctr, key)
    assert [int(o) for o in out] == list(expected)


def test_philox_is_elementwise_over_a_batch():
    """The same counters inside a tensor give the same words as one at a time (exact integers)."""
    ctr = torch.tensor([0, 0xFFFFFFFF, 0x243F6A88])
    c1 = torch.tensor([0, 0xFFFFFFFF, 0x85A308D3])
    c2 = torch.tensor([0, 0xFFFFFFFF, 0x13198A2E])
    c3 = torch.tensor([0, 0xFFFFFFFF, 0x03707344])
    k0 = torch.tensor([0, 0xFFFFFFFF, 0xA4093822])
    k1 = torch.tensor([0, 0xFFFFFFFF, 0x299F31D0])
    out = torch.stack(philox4x32((ctr, c1, c2, c3), (k0, k1)), dim=1)
    assert out.tolist() == [list(e) for _, _, e in KAT]


def test_uniforms_are_uniform_in_the_open_interval():
    """200,000 uniforms: mean 1/2 and variance 1/12 within 4 SE; the largest gap between the
    empirical CDF and u (Kolmogorov-Smirnov D) below 1.95 / sqrt(N) (the 0.1 % critical value)."""
    u = uniforms(row_keys(range(100)), 5, 2000).flatten()
    n = u.numel()
    assert float(u.min()) > 0.0 and float(u.max()) < 1.0
    se_mean = math.sqrt(1 / 12 / n)
    assert abs(float(u.mean()) - 0.5) < 4 * se_mean
    se_var = math.sqrt((1 / 80 - 1 / 144) / n)  # Var((u - 1/2)^2) = 1/80 - 1/144
    assert abs(float(u.var()) - 1 / 12) < 4 * se_var
    s, _ = torch.sort(u)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    d = torch.maximum(i / n - s, s - (i - 1) / n).max()
    assert float(d) < 1.95 / math.sqrt(n)


def test_normals_have_mean_zero_variance_one_and_normal_tails():
    """200,000 normals: mean within 4 SE (1/sqrt N), variance within 4 SE (sqrt(2/N)), the
    fraction beyond 2 sigma (0.0455) within 4 SE, and a KS bound against Phi."""
    z = normals(row_keys(range(1000)), 0, 20, 10).flatten()
    n = z.numel()
    assert abs(float(z.mean())) < 4 / math.sqrt(n)
    assert abs(float(z.var()) - 1.0) < 4 * math.sqrt(2 / n)
    p2 = math.erfc(2 / math.sqrt(2))
    assert abs(float((z.abs() > 2).double().mean()) - p2) < 4 * math.sqrt(p2 * (1 - p2) / n)
    s, _ = torch.sort(z)
    cdf = 0.5 * torch.erfc(-s / math.sqrt(2))
    i = torch.arange(1, n + 1, dtype=torch.float64)
    assert float(torch.maximum(i / n - cdf, cdf - (i - 1) / n).max()) < 1.95 / math.sqrt(n)


def _corr(a, b):
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()))


def test_normals_are_uncorrelated_across_rows_steps_and_coordinates():
    """Neighbouring rows (seeds differing by 1), consecutive steps and the two coordinates of a
    pair (the cos and sin of one Box-Muller draw): sample correlations within 4 SE (1/sqrt N)."""
    z = normals(row_keys(range(2000)), 0, 50, 2)  # [rows, steps, 2]
    n_rows = z[:-1].numel()
    assert abs(_corr(z[:-1].flatten(), z[1:].flatten())) < 4 / math.sqrt(n_rows)
    n_steps = z[:, :-1].numel()
    assert abs(_corr(z[:, :-1].flatten(), z[:, 1:].flatten())) < 4 / math.sqrt(n_steps)
    assert abs(_corr(z[..., 0].flatten(), z[..., 1].flatten())) < 4 / math.sqrt(z[..., 0].numel())
    # the squares too: Box-Muller pairs are independent, not just uncorrelated
    assert abs(_corr(z[..., 0].flatten() ** 2, z[..., 1].flatten() ** 2)) < 4 / math.sqrt(z[..., 0].numel())


def test_a_rows_draws_depend_only_on_its_seed_step_and_index():
    """Bit for bit: a row alone, inside a batch, drawn one step at a time or many steps at once
    (counter-based: nothing depends on the layout; every operation is exact or correctly rounded)."""
    seeds = [7, 10**15 + 3, 2**40, 0, 123456789]
    batch = normals(row_keys(seeds), 3, 40, 3)
    for i, s in enumerate(seeds):
        alone = normals(row_keys([s]), 3, 40, 3)[0]
        assert torch.equal(alone, batch[i])
        for t in (3, 17, 42):
            assert torch.equal(normals(row_keys([s]), t, 1, 3)[0, 0], batch[i, t - 3])
    assert torch.equal(bits(row_keys(seeds), 4, 300, PERMUTATION)[2], bits(row_keys([2**40]), 4, 300, PERMUTATION)[0])
    # streams differ between seeds and between noise and permutations
    assert not torch.equal(batch[0], batch[3])
    assert not torch.equal(bits(row_keys([5]), 0, 16, NOISE), bits(row_keys([5]), 0, 16, PERMUTATION))


def test_row_streams_in_blocks_equal_single_steps():
    """RowStreams draws noise many steps ahead; step t's noise equals normals() of step t alone."""
    rs = RowStreams([11, 12, 13])
    rs.BUDGET = 12  # 2 steps ahead for 3 rows x 2 coordinates: exercises the refill
    for t in range(7):
        assert torch.equal(rs.noise(range(3), t, 2), normals(row_keys([11, 12, 13]), t, 1, 2)[:, 0])


def test_permutations_are_permutations_and_epochs_differ():
    """Each row of each epoch sorts to 0..n-1; different rows and epochs differ; every sample's
    position is uniform: the mean position over 2000 rows is (n - 1)/2 within 4 SE."""
    n = 37
    keys = row_keys(range(2000))
    p0, p1 = permutations(keys, 0, n), permutations(keys, 1, n)
    ref = torch.arange(n).expand(2000, n)
    assert torch.equal(torch.sort(p0, dim=1).values, ref)
    assert torch.equal(torch.sort(p1, dim=1).values, ref)
    assert not (p0 == p1).all(dim=1).any()  # every row's two epochs differ
    assert len({tuple(r) for r in p0.tolist()}) == 2000
    pos = torch.argsort(p0, dim=1).double()  # position of each sample
    se = math.sqrt((n * n - 1) / 12 / 2000)
    assert float((pos.mean(dim=0) - (n - 1) / 2).abs().max()) < 4 * se


def test_minibatches_cover_each_sample_once_per_epoch():
    """n = 23, m = 5: 4 batches per epoch (3 samples dropped, as drop_last does); within an epoch
    no sample repeats, across two epochs the dropped samples differ."""
    rs = RowStreams([3, 4])
    n, m = 23, 5
    epochs = [torch.cat([rs.minibatch([0, 1], n, m, t) for t in range(e * 4, e * 4 + 4)], dim=1) for e in range(3)]
    for e in epochs:
        assert e.shape == (2, 20)
        for row in e.tolist():
            assert len(set(row)) == 20 and all(0 <= j < n for j in row)
    assert torch.equal(epochs[0], permutations(row_keys([3, 4]), 0, n)[:, :20])
    assert not torch.equal(epochs[0], epochs[1])


def test_seeds_out_of_range_are_refused():
    with pytest.raises(ValueError, match="seeds must be in"):
        row_keys([-1])


def test_normals_are_the_same_bits_without_vector_instructions():
    """ATEN_CPU_CAPABILITY=default (scalar kernels) in a fresh process gives the same bits as this
    process's vectorised kernels: the log/cos/sin are polynomials of correctly rounded operations."""
    code = ("import torch, sys; sys.path.insert(0, %r); from core.randomness import normals, row_keys; "
            "z = normals(row_keys(range(300)), 5, 4, 3); "
            "sys.stdout.write(z.numpy().tobytes().hex())") % str(ROOT)
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, check=True).stdout
    here = normals(row_keys(range(300)), 5, 4, 3)
    assert out == here.numpy().tobytes().hex()


def test_least_squares_shares_the_forward_pass_of_minibatch_rows():
    """``loss_and_batch_grad`` (the engine's path for minibatch rows) gives the full-batch loss and
    the minibatch gradient of the two-pass evaluation it replaces. Float64, n = 30, d = 3: the two
    differ only in the order of a few roundings (gathered full residuals vs residuals recomputed
    on the batch), so 1e-12 relative holds on any x86 CPU."""
    from core.problems.linear import synthetic

    p = synthetic(n=30, d=3, singular_values=[1.0, 0.5, 0.2], noise=0.3, ridge=0.05, seed=4)
    g = torch.Generator().manual_seed(0)
    theta = torch.randn(6, 3, generator=g, dtype=torch.float64)
    batch = permutations(row_keys(range(6)), 0, 30)[:, :7]
    loss, grad = p.loss_and_batch_grad(theta, batch)
    torch.testing.assert_close(loss, p.loss(theta), rtol=1e-12, atol=0)
    torch.testing.assert_close(grad, p.loss_and_grad(theta, batch)[1], rtol=1e-12, atol=1e-14)
    # and autograd of the minibatch loss agrees (the closed form is the gradient of (1/m) sum r^2)
    t = theta.clone().requires_grad_(True)
    (auto,) = torch.autograd.grad(p.loss(t, batch).sum(), t)
    torch.testing.assert_close(grad, auto, rtol=1e-12, atol=1e-14)


def test_engine_minibatch_rows_batched_equal_alone():
    """Minibatch SGD on least squares: each row's indices depend on its seed alone, so a row run
    alone follows the batched trajectory. Compared to 1e-12: the BLAS residual of a 4-row and a
    1-row batch may round differently (d = 2, n = 40), the sample indices are identical."""
    from core.engine import Group, run
    from core.problems.linear import synthetic

    p = synthetic(n=40, d=2, singular_values=[1.0, 0.5], noise=0.5, seed=1)
    starts = torch.tensor([[1.0, -1.0], [0.5, 0.5], [1.0, -1.0], [-2.0, 0.0]], dtype=torch.float64)
    batched = run(p, [Group("SGD", "sgd", [{"lr": 0.1}], starts, batch_size=6)], 30, seed=5)
    for i in range(4):
        alone = run(p, [Group("SGD", "sgd", [{"lr": 0.1}], starts[i:i + 1], batch_size=6)], 30, seeds=[batched.seeds[i]])
        torch.testing.assert_close(alone.thetas[:, 0], batched.thetas[:, i], rtol=1e-12, atol=1e-13)
        torch.testing.assert_close(alone.loss[:, 0], batched.loss[:, i], rtol=1e-12, atol=1e-13)
    assert not torch.allclose(batched.thetas[:, 0], batched.thetas[:, 2])  # same start, other seed
