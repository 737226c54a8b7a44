"""THE list of the app's panels, Qt-free: what ``view.panels`` and a beat's ``panel`` may name.

The panels are the lab's, so their names live here; core's schema takes them from its registry
(:func:`core.scenario.registry.register_panel`), which this module fills when it is imported.
``main.py`` and ``tests/conftest.py`` import it; :class:`lab.panels.PanelArea` lays these out.
"""

from __future__ import annotations

from core.scenario.registry import register_panel

#: every panel and the widget class that draws it (``module:Class``, imported by
#: :class:`lab.panels.area.PanelArea` only when the window is built, so this module needs no Qt),
#: in the order the View menu lists them: the landscape on the left, the others stacked on the
#: right (:data:`RIGHT`). A new panel is its module plus one line here.
PANEL_CLASSES = {
    "landscape": "lab.panels.landscape:LandscapePanel",
    "convergence": "lab.panels.convergence:ConvergencePanel",
    "eigen": "lab.panels.eigen:EigenPanel",
    "model": "lab.panels.model:ModelPanel",
    "phase": "lab.panels.phase:PhasePanel",
}
PANEL_NAMES = tuple(PANEL_CLASSES)
#: the panels stacked in the right-hand column, top to bottom
RIGHT = ("convergence", "eigen", "model", "phase")

for _name in PANEL_NAMES:
    register_panel(_name)
