"""Sub-commands of ``main.py``; each module has ``register(subparsers)`` (see main.py)."""
