"""Loss Landscape Lab: ``python main.py`` (installed: ``landscape-lab``) opens the app on the
default scenario (``scenarios.DEFAULT``, a shipped lesson found from any folder); sub-commands run
headless (``run``, ``check``, ``export``, ``surface``, ``screenshots``; ``--help`` lists them all).

This file only parses arguments: each sub-command lives in ``commands/<name>.py`` with a
``register(subparsers)`` that adds its parser and handler. Torch and Qt are imported lazily there,
so ``--help`` is instant. A :class:`core.errors.LabError` is printed as one line (exit 2); any other
exception as one line naming a log file with its traceback (exit 3, see :mod:`core.crash`).
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("commands.gui", "commands.run", "commands.surface", "commands.screenshots")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Loss Landscape Lab: watch optimizers move across loss landscapes.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv or ["open"])
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    from core.errors import LabError

    import lab.panels.names  # noqa: F401  (registers the panel names a scenario's view may show)

    import signal
    import threading

    if args.command != "open" and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM = Ctrl-C: outputs cleaned up (docs/outputs.md)
    try:
        return int(args.handler(args) or 0)
    except LabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, MemoryError, RecursionError: one line, the traceback in a log (core.crash)
        from core.crash import INTERNAL_EXIT, report

        print(report(exc, " ".join(["main.py", *argv])[:500]), file=sys.stderr)
        return INTERNAL_EXIT


if __name__ == "__main__":
    sys.exit(main())
