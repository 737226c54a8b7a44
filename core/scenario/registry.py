"""Names the schema validates but core does not own: the app's panels.

The panels are the lab's (``lab/panels/names.py`` registers them); core only checks that
``view.panels`` and a beat's ``panel`` name a registered one. ``main.py`` (every command) and
``tests/conftest.py`` import ``lab.panels.names``, so files run, checked or opened are checked.

Nothing registered means core is used without the lab (a Python script that imports only
``core.scenario``): there are no panels to show then, so a panel name is only required to be an
identifier (``"landscape"``, not ``"land scape"``) and is not checked against a list; the core
consumers of panel names (the landscape slice, the sharpness track) read them as plain strings.
"""

from __future__ import annotations

_PANELS: list[str] = []


def register_panel(name: str) -> None:
    """Makes ``name`` a panel a scenario may show (idempotent; the order of registration is the
    order names are listed in errors and in the docs)."""
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a panel name is an identifier, got {name!r}")
    if name not in _PANELS:
        _PANELS.append(name)


def panel_names() -> tuple[str, ...]:
    """The registered panel names, in registration order (empty when none is registered)."""
    return tuple(_PANELS)
