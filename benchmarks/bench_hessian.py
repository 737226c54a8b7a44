"""Top Hessian eigenvalue of nets: core.spectra (Lanczos on the problem's HVP) against PyHessian.

    bash benchmarks/setup_peers.sh          # once: benchmarks/.venv-peers with pyhessian 0.1
    benchmarks/.venv-peers/bin/python benchmarks/bench_hessian.py [--threads 1] [--repeats 3]

Two nets on the lecture's heart-disease data (242 training patients, full batch, float32), each at
its seeded initialization and at the point reached by 50 Adam steps from there:

- the heart net, 30 -> 16 -> 1 (513 parameters);
- a wider one, 30 -> 300 -> 300 -> 1 (99,901 parameters, about 10^5).

Ours: ``core.spectra.hessian_eigen(problem, theta, k=1, method="lanczos", tol=1e-4,
converge="value")`` (Lanczos with full reorthogonalization; stops when the Ritz value's a-posteriori
error bound ``min(r, r^2 / gap)`` is below ``1e-4 |lambda|``). Peer:
``pyhessian.hessian(model, BCEWithLogitsLoss(), data=(X, y), cuda=False).eigenvalues(tol=1e-4,
maxIter=1000)`` (power iteration; stops when two successive estimates differ by less than 1e-4
relative). Both timings include building the gradient graph; both sides' Hessian-vector products are
counted. Both answers are compared with a
float64 reference (dense ``eigvalsh`` for the small net, Lanczos at ``tol=1e-10`` for the large
one), so "same tolerance" is checked, not assumed. Best of ``--repeats``; ratios printed.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core.engine import Group, run  # noqa: E402
from core.problems import make_problem  # noqa: E402
from core.spectra import hessian_eigen  # noqa: E402

from _common import best, module_of  # noqa: E402




def case(name: str, kind: str, params: dict, repeats: int) -> None:
    import importlib

    ph = importlib.import_module("pyhessian.hessian")  # the module (the package re-exports the class under this name)

    calls = {"n": 0}
    hvp = ph.hessian_vector_product

    def counted(*a, **k):
        calls["n"] += 1
        return hvp(*a, **k)

    ph.hessian_vector_product = counted
    base = make_problem(kind, params)
    start = base.initial_point(0)
    r = run(base, [Group("adam", "adam", [{"lr": 0.01}], start[None])], 50, record_params=False)
    print(f"{name}: {base.dim} parameters")
    for where, theta64 in (("at the seeded initialization", start), ("after 50 Adam steps", r.final_theta[0])):
        p = make_problem(kind, params)
        if p.dim <= 2000:  # float64 reference
            ref = float(torch.linalg.eigvalsh(p.hessian(theta64))[-1])
        else:
            ref = float(hessian_eigen(p, theta64, k=1, method="lanczos", tol=1e-10).eigenvalues[0])
        p = p.to("cpu", torch.float32)
        theta = theta64.float()
        ours_hvp = {"n": 0}
        hvp_of = type(p).hvp

        def counted_hvp(theta_, v_):
            ours_hvp["n"] += 1
            return hvp_of(p, theta_, v_)

        object.__setattr__(p, "hvp", counted_hvp)  # a counting wrapper on this (frozen) problem only

        def ours():
            ours_hvp["n"] = 0
            p._hvp_cache.clear()  # the gradient graph is built inside the timing, as the peer's
            return hessian_eigen(p, theta, k=1, method="lanczos", tol=1e-4, converge="value")

        ours_t, res = best(ours, repeats)
        ours_v = float(res.eigenvalues[0])
        model = module_of(p, theta)
        X, y = p.X.float(), p.y.float()[:, None]

        def peer():
            torch.manual_seed(0)
            calls["n"] = 0
            h = ph.hessian(model, nn.BCEWithLogitsLoss(), data=(X, y), cuda=False)
            return h.eigenvalues(maxIter=1000, tol=1e-4, top_n=1)[0][0]

        peer_t, theirs = best(peer, repeats)
        print(f"  {where}: float64 reference lambda_max = {ref:.6g}")
        print(f"   ours  core.spectra Lanczos          {ours_t * 1e3:8.1f} ms  {ours_hvp['n']:4d} HVPs  "
              f"lambda {ours_v:.6g}  rel. error {abs(ours_v - ref) / abs(ref):.1e}  (residual {float(res.residuals[0]):.1e})")
        print(f"   peer  pyhessian power iteration {peer_t * 1e3:8.1f} ms  {calls['n']:4d} HVPs  "
              f"lambda {theirs:.6g}  rel. error {abs(theirs - ref) / abs(ref):.1e}")
        print(f"   ratio {peer_t / ours_t:.1f}x faster (target >= 3x)")
    ph.hessian_vector_product = hvp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")
    case("heart net", "heart_net", {}, args.repeats)
    case("wide net", "mlp", {"dataset": "heart", "hidden": [300, 300]}, args.repeats)


if __name__ == "__main__":
    main()
