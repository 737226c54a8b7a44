"""Hessian spectra: exact, Lanczos (top, bottom, warm start), stochastic Lanczos quadrature, the
sharpness along a run (float64); one Lanczos loop and one tridiagonal solver under all of them."""

from dataclasses import dataclass

import numpy as np

import pytest
import torch
from torch import Tensor

from core.errors import LabError
from core.problems import make_problem
from core.problems.base import Problem
from core.engine import Group, run
from core.spectra import (DenseOperator, Krylov, LambdaOperator, exact_eigen, hessian_eigen, lanczos, sharpness, slq_density,
                          spectral_density, tridiagonal_eigh)

F64 = torch.float64


@dataclass(frozen=True, eq=False)  # problems are immutable values (core/problems/base.py)
class HalfSquares(Problem):
    """``0.5 ||X w||^2 / n`` through autograd only (no closed-form hvp): Lanczos must work on any Problem."""

    X: Tensor | None = None

    def loss(self, theta: Tensor, batch: Tensor | None = None) -> Tensor:
        r = theta @ self.X.T
        return 0.5 * (r * r).mean(dim=1)


def test_lanczos_top_k_matches_eigvalsh_on_d_2000():
    g = torch.Generator().manual_seed(0)
    n, d = 1000, 2000
    X = torch.randn(n, d, generator=g, dtype=F64)
    X[:, :6] *= torch.tensor([6.0, 5.5, 5.0, 4.5, 4.0, 3.5], dtype=F64)  # a few outliers, as in nets
    p = HalfSquares(dim=d, X=X)
    exact = torch.linalg.eigvalsh(X.T @ X / n).flip(0)[:6]
    r = hessian_eigen(p, torch.zeros(d, dtype=F64), k=6, method="lanczos", seed=3)
    assert r.converged and r.iterations < 200
    assert float(((r.eigenvalues - exact) / exact).abs().max()) < 1e-8
    assert float(r.residuals.max()) < 1e-6 * float(exact[0])
    # the vectors are eigenvectors: H v = lambda v through the problem's own hvp
    v = r.eigenvectors[:, 0]
    torch.testing.assert_close(p.hvp(torch.zeros(d, dtype=F64), v), r.eigenvalues[0] * v, rtol=1e-7, atol=1e-7)


def _spd(d=60, seed=0):
    g = torch.Generator().manual_seed(seed)
    q, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    lam = torch.logspace(-2, 2, d, dtype=F64)
    return (q * lam) @ q.T, lam


@pytest.mark.parametrize("which", ["top", "bottom", "both"])
def test_lanczos_ends_match_dense_eigh(which):
    A, lam = _spd()
    r = lanczos(A, k=3, which=which, tol=1e-10, seed=1)
    want = {"top": lam.flip(0)[:3], "bottom": lam[:3], "both": torch.cat([lam.flip(0)[:3], lam[:3]])}[which]
    torch.testing.assert_close(r.eigenvalues, want, rtol=1e-9, atol=1e-12)
    assert r.converged
    torch.testing.assert_close(r.residuals, (A @ r.eigenvectors - r.eigenvectors * r.eigenvalues).norm(dim=0))
    e = exact_eigen(A, k=3, which=which)
    torch.testing.assert_close(e.eigenvalues, want, rtol=1e-10, atol=1e-12)


def test_lanczos_is_seeded_and_accepts_any_operator():
    A, _ = _spd(40, seed=2)
    a = lanczos(A, k=2, seed=5, max_iter=8, tol=0.0)
    b = lanczos(LambdaOperator(lambda v: A @ v, 40), k=2, seed=5, max_iter=8, tol=0.0)
    c = lanczos(DenseOperator(A), k=2, seed=6, max_iter=8, tol=0.0)
    # DenseOperator's matvec and the lambda are the same call, A @ v, on the same tensors in one
    # process: the same BLAS kernel on the same layout, so the same bits (whatever that kernel is)
    assert torch.equal(a.eigenvalues, b.eigenvalues)
    assert not torch.equal(a.eigenvalues, c.eigenvalues)  # 8 steps are not enough to forget the start
    assert not a.converged and a.iterations == 8


def test_exact_and_lanczos_agree_on_a_toy_and_a_linear_problem():
    rb = make_problem("rosenbrock")
    theta = torch.tensor([0.3, -0.2], dtype=F64)
    ex = hessian_eigen(rb, theta, k=2, which="top", method="exact")
    torch.testing.assert_close(ex.eigenvalues, torch.linalg.eigvalsh(rb.hessian(theta)).flip(0))
    lin = make_problem("linear", {"n": 80, "d": 12, "condition": 10.0, "ridge": 0.1, "seed": 1})
    w = torch.zeros(12, dtype=F64)
    a = hessian_eigen(lin, w, k=4, which="both", method="exact")
    b = hessian_eigen(lin, w, k=4, which="both", method="lanczos")
    torch.testing.assert_close(a.eigenvalues, b.eigenvalues, rtol=1e-10, atol=1e-12)
    h = lin.hessian_eigenvalues()
    torch.testing.assert_close(a.eigenvalues, torch.cat([h[:4], h.flip(0)[:4]]))


def test_sharpness_warm_start_needs_fewer_steps():
    A, lam = _spd(300, seed=4)
    cold = lanczos(A, k=1, tol=1e-10, seed=0)
    warm = lanczos(A, k=1, tol=1e-10, v0=cold.eigenvectors[:, 0] + 1e-6)
    assert warm.iterations < cold.iterations
    torch.testing.assert_close(warm.eigenvalues, lam[-1:], rtol=1e-10, atol=0)
    lin = make_problem("linear", {"n": 50, "d": 6, "singular_values": [2.0, 1, 0.5, 0.4, 0.3, 0.2], "seed": 0})
    value, vec = sharpness(lin, torch.zeros(6, dtype=F64))
    assert value == pytest.approx(8.0, rel=1e-12)  # 2 sigma_max^2
    assert abs(float(vec @ lin.V[:, 0])) == pytest.approx(1.0, abs=1e-10)


@pytest.mark.parametrize("which,k", [("top", 1), ("top", 3), ("bottom", 2)])
def test_value_convergence_meets_the_eigenvalue_tolerance_with_fewer_products_and_honest_residuals(which, k):
    g = torch.Generator().manual_seed(5)
    d = 400
    ends = torch.tensor([9.0, 7.0, 6.0, 0.2, 0.1], dtype=F64)  # separated at both ends
    lam = torch.cat([ends, torch.rand(d - 5, generator=g, dtype=F64) * 4 + 0.5])
    Qm, _ = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=F64))
    A = (Qm * lam) @ Qm.T
    exact = torch.linalg.eigvalsh(A)
    want = exact.flip(0)[:k] if which == "top" else exact[:k]
    for tol in (1e-4, 1e-8):
        fast = lanczos(A, k=k, which=which, tol=tol, converge="value", seed=1)
        slow = lanczos(A, k=k, which=which, tol=tol, seed=1)
        assert fast.converged and fast.iterations < slow.iterations
        assert ((fast.eigenvalues - want).abs() <= tol * exact.abs().max()).all()  # relative to ||A||
        # residuals are the true ||A v - lambda v|| of the returned pairs, though no product was spent on them
        true = (A @ fast.eigenvectors - fast.eigenvectors * fast.eigenvalues).norm(dim=0)
        torch.testing.assert_close(fast.residuals, true, rtol=1e-6, atol=1e-13)
        # the value rule stops on r^2 / gap: the vectors are only as good as sqrt(tol)
        assert fast.residuals.max() > tol * exact.abs().max() or tol == 1e-8
    with pytest.raises(LabError, match="converge must be"):
        lanczos(A, converge="eigenvalue")


def test_slq_density_integrates_to_one_and_matches_moments():
    A, lam = _spd(200, seed=3)
    dens = slq_density(A, n_vectors=30, steps=40, seed=0)
    assert float(torch.trapezoid(dens.density, dens.grid)) == pytest.approx(1.0, abs=1e-3)
    torch.testing.assert_close(dens.weights.sum(dim=1), torch.ones(30, dtype=F64))
    # SLQ integrates polynomials of degree < 2 * steps exactly per vector: Hutchinson's estimate of
    # tr(A)/d; with 30 Rademacher vectors it is within a few percent
    est = float((dens.weights * dens.nodes).sum(dim=1).mean())
    assert est == pytest.approx(float(lam.mean()), rel=0.1)
    assert float(dens.nodes.min()) >= float(lam[0]) - 1e-9 and float(dens.nodes.max()) <= float(lam[-1]) + 1e-9
    # on a problem: the linear problem's Hessian, through hvp
    lin = make_problem("linear", {"n": 100, "d": 20, "condition": 10.0, "seed": 2})
    sd = spectral_density(lin, torch.zeros(20, dtype=F64), n_vectors=4, steps=20)
    torch.testing.assert_close(sd.nodes.max(), lin.hessian_eigenvalues().max(), rtol=1e-9, atol=0)


def test_lanczos_and_slq_share_one_loop_and_one_tridiagonal_solver():
    """SLQ's quadrature nodes from a start vector are exactly the Ritz values Lanczos computes
    from that vector (the same Krylov loop and solver: bit for bit, not within a tolerance)."""
    A, _ = _spd(120, seed=5)
    steps = 30
    dens = slq_density(A, n_vectors=1, steps=steps, seed=7)
    g = torch.Generator().manual_seed(7)  # slq_density's first Rademacher vector
    v = (torch.randint(0, 2, (120,), generator=g, dtype=torch.int64) * 2 - 1).to(F64)
    ritz = lanczos(A, k=steps, which="bottom", tol=0.0, max_iter=steps, v0=v)  # tol 0: all 30 steps
    assert ritz.iterations == steps
    assert torch.equal(dens.nodes[0], ritz.eigenvalues)
    # the loop by hand: T's eigenpairs from the one solver; Q orthonormal, Q A Q^T = T
    kr = Krylov(DenseOperator(A), v / v.norm(), steps)
    while kr.step():
        pass
    Q = kr.Q[: kr.m]
    T = np.diag(kr.alpha) + np.diag(kr.beta[: kr.m - 1], 1) + np.diag(kr.beta[: kr.m - 1], -1)
    torch.testing.assert_close(Q @ Q.T, torch.eye(steps, dtype=F64), rtol=0, atol=1e-13)
    torch.testing.assert_close(Q @ A @ Q.T, torch.from_numpy(T), rtol=0, atol=1e-11)
    torch.testing.assert_close(kr.W[: kr.m], Q @ A, rtol=0, atol=1e-12)
    w, S = kr.ritz()
    assert np.equal(w, dens.nodes[0].numpy()).all()
    np.testing.assert_allclose(w, np.linalg.eigvalsh(T), rtol=0, atol=1e-12)
    np.testing.assert_allclose(T @ S, S * w, rtol=0, atol=1e-12)


def test_tridiagonal_solver_matches_dense_eigh_and_handles_one_row():
    g = np.random.default_rng(3)
    a, b = g.normal(size=12), g.normal(size=11)
    w, S = tridiagonal_eigh(list(a), list(b))
    T = np.diag(a) + np.diag(b, 1) + np.diag(b, -1)
    np.testing.assert_allclose(w, np.linalg.eigvalsh(T), rtol=0, atol=1e-13)
    np.testing.assert_allclose(S.T @ S, np.eye(12), rtol=0, atol=1e-13)
    w1, S1 = tridiagonal_eigh([2.5], [])
    assert w1.tolist() == [2.5] and S1.tolist() == [[1.0]]


def test_krylov_stops_at_an_invariant_subspace():
    """A rank-3 operator: the basis breaks down after at most 4 vectors (3 + the start's null part)."""
    g = torch.Generator().manual_seed(1)
    L = torch.randn(50, 3, generator=g, dtype=F64)
    kr = Krylov(DenseOperator(L @ L.T), torch.ones(50, dtype=F64) / 50**0.5, 50, products=False)
    while kr.step():
        pass
    assert kr.broke and kr.m <= 4 and kr.W is None


def test_sharpness_tracked_along_a_run_matches_dense_eigenvalues_and_limits():
    from core.sharpness import as_result_dict, track_sharpness
    from core.stability import curvature_limit

    q = make_problem("quadratic", {"eigenvalues": [1.0, 4.0]})
    r = run(q, [Group("gd", "gd", [{"lr": 0.1}], torch.tensor([[1.0, 1.0]])),
                Group("hb", "momentum", [{"lr": 0.1, "momentum": 0.5}], torch.tensor([[1.0, 1.0]]))], 12)
    tr = track_sharpness(r, every=5)
    assert tr["gd"].steps == [0, 5, 10, 12] and tr["gd"].values == pytest.approx([4.0] * 4)
    assert tr["gd"].limit == pytest.approx(20.0) and tr["hb"].limit == pytest.approx(2 * 1.5 / 0.1)
    assert curvature_limit("adam", {"lr": 0.1}) is None
    assert as_result_dict(tr)["gd"][5] == pytest.approx(4.0)
    # a 513-parameter net takes the Lanczos path, warm-started; it must agree with the dense Hessian
    p = make_problem("heart_net")
    r = run(p, [Group("gd", "gd", [{"lr": 0.5}], p.initial_point(0)[None])], 6)
    tr = track_sharpness(r, every=3, tol=1e-10)["gd"]
    dense = [float(torch.linalg.eigvalsh(p.hessian(r.thetas[t, 0]))[-1]) for t in tr.steps]
    assert tr.values == pytest.approx(dense, rel=1e-8)


def test_bad_arguments_are_lab_errors():
    A, _ = _spd(10)
    with pytest.raises(LabError, match="which must be"):
        lanczos(A, which="middle")
    with pytest.raises(LabError, match="method must be"):
        hessian_eigen(make_problem("bowl"), torch.zeros(2, dtype=F64), method="power")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_lanczos_on_cuda_matches_cpu():
    lin = make_problem("linear", {"n": 300, "d": 500, "condition": 50.0, "seed": 4})
    w = torch.zeros(500, dtype=F64)
    cpu = hessian_eigen(lin, w, k=4, which="top", method="lanczos", seed=2)
    lin = lin.to("cuda", F64)
    gpu = hessian_eigen(lin, w.cuda(), k=4, which="top", method="lanczos", seed=2)
    assert gpu.eigenvectors.device.type == "cuda"
    torch.testing.assert_close(gpu.eigenvalues.cpu(), cpu.eigenvalues, rtol=1e-9, atol=1e-12)
