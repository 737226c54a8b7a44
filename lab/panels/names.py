"""THE list of the app's panels, Qt-free: what ``view.panels`` and a beat's ``panel`` may name.

The panels are the lab's, so their names live here; core's schema takes them from its registry
(:func:`core.scenario.registry.register_panel`), which this module fills when it is imported.
``main.py`` and ``tests/conftest.py`` import it; :class:`lab.panels.PanelArea` lays these out.
"""

from __future__ import annotations

from core.scenario.registry import register_panel

#: every panel, in the order the View menu lists them: the landscape on the left, the others
#: stacked on the right (:data:`RIGHT`)
PANEL_NAMES = ("landscape", "convergence", "eigen", "model")
#: the panels stacked in the right-hand column, top to bottom
RIGHT = ("convergence", "eigen", "model")

for _name in PANEL_NAMES:
    register_panel(_name)
