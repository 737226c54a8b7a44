"""Helpers shared by the benchmarks: best-of-N timing, and a net as the plain nn.Sequential a peer
library is handed."""

from __future__ import annotations

import time

import torch
from torch import nn


def best(fn, repeats: int) -> tuple[float, object]:
    out, times = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def module_of(problem, theta: torch.Tensor) -> nn.Module:
    """The same net as an ordinary nn.Sequential holding ``theta`` (what a peer is handed)."""
    sizes, layers = problem.sizes, []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        if k:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(a, b))
    model = nn.Sequential(*layers).to(theta.dtype)
    with torch.no_grad():
        torch.nn.utils.vector_to_parameters(theta, model.parameters())
    return model
