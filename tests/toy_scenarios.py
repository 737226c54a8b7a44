"""The small scenario the GUI and output tests open: GD and heavy ball on a rotated quadratic
(eigenvalues 1 and 10, 30 degrees), from (2, 1.5). One definition, so a change of the format is
made once; each test module adds its own beats or view keys."""

from __future__ import annotations

PANELS_2 = '["landscape", "convergence"]'
PANELS_3 = '["landscape", "convergence", "eigen"]'


def two_optimizers(*, steps: int = 30, gd_lr: float = 0.15, colors: bool = True, panels: str = PANELS_2,
                   resolution: int = 60, tail: str = "") -> str:
    """The TOML text; ``tail`` (e.g. ``[[beats]]`` tables) is appended after ``[view]``."""
    gd_color = 'color = "#1f77b4"\n' if colors else ""
    hb_color = 'color = "#d62728"\n' if colors else ""
    return (
        "\nformat = 1\n"
        'title = "two optimizers on a rotated quadratic"\n'
        f"steps = {steps}\n"
        "[problem]\n"
        'kind = "quadratic"\n'
        "eigenvalues = [1.0, 10.0]\n"
        "angle = 30.0\n"
        "[start]\n"
        "points = [[2.0, 1.5]]\n"
        "[[optimizers]]\n"
        'kind = "gd"\n'
        'label = "GD"\n'
        f"{gd_color}lr = {gd_lr}\n"
        "[[optimizers]]\n"
        'kind = "momentum"\n'
        'label = "HB"\n'
        f"{hb_color}lr = 0.05\n"
        "momentum = 0.7\n"
        "[view]\n"
        f"panels = {panels}\n"
        f"resolution = {resolution}\n"
        f"{tail}"
    )
