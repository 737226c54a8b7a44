"""Loss-landscape grids: core.landscape against loss_landscapes.random_plane, and against the CPU's
own matrix-multiply speed.

    bash benchmarks/setup_peers.sh          # once: benchmarks/.venv-peers with loss-landscapes 3.0.6
    benchmarks/.venv-peers/bin/python benchmarks/bench_landscape.py [--threads 1] [--repeats 3]

1. A 101 x 101 filter-normalized plane of the lecture's heart net (30 -> 16 -> 1, 513 parameters,
   the full training set of 242 patients, float32) through a seeded point: ``compute_surface``
   (directions + grid, with and without the accuracy surface) against
   ``loss_landscapes.random_plane(model, Loss(...), steps=101, normalization="filter")`` (loss only)
   on the same model, data and number of grid points. Target >= 20x.
2. A deeper MLP where matrix products dominate (2 -> 256 -> 256 -> 1, ReLU, 4000 samples of the
   moons, float32), 51 x 51 grid: achieved GFLOP/s of ``evaluate_plane`` (counting the forward
   matmul FLOPs a plain evaluation would do per point, ``2 n sum(in * out)``) against a plain
   dense matmul measured in the same run, both on the layer's own shape ([4000, 256] x [256, 256])
   and on a large square one (2048^3). Target >= 50 %.

Each timing is the best of ``--repeats`` runs, ours and the peer alike (the machine is shared), except the deep grid
(about a minute, run once). Ratios are printed.
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

from core.landscape import compute_surface, evaluate_plane, random_directions  # noqa: E402
from core.problems import make_problem  # noqa: E402

from _common import best, module_of  # noqa: E402




def heart_plane(repeats: int) -> None:
    import loss_landscapes
    import loss_landscapes.metrics

    p = make_problem("heart_net").to("cpu", torch.float32)
    theta = p.initial_point(0).float()
    ours_t, surf = best(lambda: compute_surface(p, directions="random", center=theta, resolution=101, seed=0), repeats)
    lean_t, _ = best(lambda: compute_surface(p, directions="random", center=theta, resolution=101, seed=0,
                                             accuracy=False), repeats)
    model = module_of(p, theta)
    X, y = p.X.float(), p.y.float()[:, None]
    metric = loss_landscapes.metrics.Loss(nn.BCEWithLogitsLoss(), X, y)
    peer_t, grid = best(lambda: loss_landscapes.random_plane(model, metric, distance=1, steps=101,
                                                            normalization="filter", deepcopy_model=True), repeats)
    centre = float(p.loss(theta[None])[0])
    print("1. heart net (513 parameters, 242 samples, float32), 101 x 101 filter-normalized plane")
    print(f"   ours  core.landscape.compute_surface      {ours_t * 1e3:9.1f} ms  "
          f"(centre loss {float(surf.values[50, 50]):.6f}, direct {centre:.6f})")
    print(f"   peer  loss_landscapes.random_plane        {peer_t * 1e3:9.1f} ms  (grid {tuple(grid.shape)})")
    print(f"   ours  the same, loss only (as the peer)   {lean_t * 1e3:9.1f} ms")
    print(f"   ratio {peer_t / ours_t:.1f}x faster with accuracy, {peer_t / lean_t:.1f}x loss only (target >= 20x)")


def deep_mlp(repeats: int) -> None:
    p = make_problem("mlp", {"dataset": "moons", "hidden": [256, 256], "n": 5000, "test_fraction": 0.2}).to("cpu", torch.float32)
    theta = p.initial_point(0).float()
    d1, d2 = random_directions(p, theta.double(), seed=0)
    na = nb = 51
    alphas = torch.linspace(-1, 1, na, dtype=torch.float64)
    betas = torch.linspace(-1, 1, nb, dtype=torch.float64)
    evaluate_plane(p, theta, d1, d2, alphas[:3], betas[:3])  # warm-up
    t, _ = best(lambda: evaluate_plane(p, theta, d1, d2, alphas, betas), 1)  # ~1 min; once
    n, sizes = p.n_samples, p.sizes
    flops = 2.0 * n * sum(a * b for a, b in zip(sizes[:-1], sizes[1:])) * na * nb
    ours = flops / t / 1e9
    A = torch.randn(n, 256)
    W = torch.randn(256, 256)
    reps = 20
    t_layer, _ = best(lambda: [A @ W for _ in range(reps)], repeats)
    layer = 2.0 * n * 256 * 256 * reps / t_layer / 1e9
    S = torch.randn(2048, 2048)
    t_sq, _ = best(lambda: S @ S, repeats)
    square = 2.0 * 2048**3 / t_sq / 1e9
    print(f"2. MLP 2 -> 256 -> 256 -> 1 ({p.dim} parameters, {n} samples, float32), {na} x {nb} grid")
    print(f"   ours  evaluate_plane                     {t:7.2f} s   {ours:7.1f} GFLOP/s")
    print(f"   dense matmul [{n},256] x [256,256]        {layer:7.1f} GFLOP/s  -> ours at {100 * ours / layer:.0f} %")
    print(f"   dense matmul 2048 x 2048 x 2048          {square:7.1f} GFLOP/s  -> ours at {100 * ours / square:.0f} % (target >= 50 %)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=0, help="torch threads for both sides (0: torch's default)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", choices=["heart", "deep"], default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), device cpu")
    if args.only in (None, "heart"):
        heart_plane(args.repeats)
    if args.only in (None, "deep"):
        deep_mlp(args.repeats)


if __name__ == "__main__":
    main()
