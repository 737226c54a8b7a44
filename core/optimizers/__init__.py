"""Optimizers as composable, batched gradient transformations (the shape of optax, the arithmetic
of torch.optim): :mod:`core.optimizers.transforms` holds the transforms and :func:`chain`,
:mod:`core.optimizers.rules` the public rules built from them and their registry."""

from core.optimizers.rules import (
    OPTIMIZERS, Hyper, HyperSpec, Rule, adagrad, adam, adamw, gd, get_rule, lion, make_hyper, momentum,
    momentum_lowpass, nesterov, register, rmsprop, sgd,
)
from core.optimizers.transforms import (
    GradientTransformation, Schedule, Updates, add_decayed_weights, apply_updates, chain, constant_schedule, ema,
    inverse_time_decay, scale, scale_by_adam, scale_by_learning_rate, scale_by_lion, scale_by_rms, scale_by_rss,
    scale_by_schedule, trace,
)

__all__ = [
    "OPTIMIZERS", "GradientTransformation", "Hyper", "HyperSpec", "Rule", "Schedule", "Updates", "adagrad",
    "adam", "adamw", "add_decayed_weights", "apply_updates", "chain", "constant_schedule", "ema", "gd", "get_rule",
    "inverse_time_decay", "lion", "make_hyper", "momentum", "momentum_lowpass", "nesterov", "register", "rmsprop",
    "scale", "scale_by_adam", "scale_by_learning_rate", "scale_by_lion", "scale_by_rms", "scale_by_rss",
    "scale_by_schedule", "sgd", "trace",
]
