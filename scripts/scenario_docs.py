#!/usr/bin/env python3
"""Regenerates what is derived from the scenario models: the key tables of docs/scenarios.md and
docs/scenario.schema.json (:mod:`core.scenario.docs` renders them). A developer's tool, kept out
of core because it needs the lab's panel names (core never imports lab).

    .venv/bin/python scripts/scenario_docs.py --write   # rewrite both
    .venv/bin/python scripts/scenario_docs.py --check   # exit 1 when either is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.scenario import docs  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """``scripts/scenario_docs.py --write``: regenerates the docs key tables and the JSON Schema;
    ``--check`` exits 1 when either differs from what the models give."""
    import argparse
    import sys
    from pathlib import Path

    from core.files import atomic_write

    parser = argparse.ArgumentParser(prog="scripts/scenario_docs.py")
    parser.add_argument("--write", action="store_true", help="rewrite docs/scenarios.md's tables and the JSON Schema")
    parser.add_argument("--check", action="store_true", help="exit 1 if either is out of date")
    args = parser.parse_args(argv)
    import lab.panels.names  # noqa: F401  the lab's panel names, which the tables document

    root = Path(__file__).resolve().parents[1]
    md, js = root / "docs" / "scenarios.md", root / "docs" / "scenario.schema.json"
    want = {md: docs.render_docs(md.read_text(encoding="utf-8")), js: docs.render_json_schema()}
    stale = [p for p, text in want.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
    if args.write:
        for p in stale:
            atomic_write(p, want[p])
            print(f"wrote {p.relative_to(root)}")
        return 0
    for p in stale:
        print(f"{p.relative_to(root)} is out of date: run scripts/scenario_docs.py --write", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
