"""A loss typed by the user, e.g. ``"(1 - x)**2 + 100*(y - x**2)**2"``.

Parsed with :mod:`ast` and compiled to torch operations by walking an allow-list of node types:
numbers, the declared variables, ``+ - * / **``, unary minus and a fixed table of functions. Nothing
is ever passed to ``eval``; attribute access, subscripts, lambdas, comprehensions and unknown names
are refused with a message that says what is allowed. Gradients come from autograd.
"""

from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable

import torch
from torch import Tensor

from core.errors import LabError

FUNCTIONS: dict[str, Callable[..., Tensor]] = {
    "sin": torch.sin, "cos": torch.cos, "tan": torch.tan, "exp": torch.exp, "log": torch.log,
    "sqrt": torch.sqrt, "tanh": torch.tanh, "sinh": torch.sinh, "cosh": torch.cosh,
    "arctan": torch.atan, "atan": torch.atan, "abs": torch.abs, "sigmoid": torch.sigmoid,
    "relu": torch.relu, "softplus": torch.nn.functional.softplus, "square": torch.square,
    "max": torch.maximum, "min": torch.minimum,
}
CONSTANTS = {"pi": math.pi, "e": math.e}
_BINOPS: dict[type, Callable[[Tensor, Tensor], Tensor]] = {
    ast.Add: torch.add, ast.Sub: torch.sub, ast.Mult: torch.mul, ast.Div: torch.div, ast.Pow: torch.pow,
}
_ORDER = ("w", "x", "y", "z")


def infer_variables(expr: str) -> list[str]:
    """Variables of an expression in a canonical order: ``w, x, y, z`` first, then ``x0, x1, ...``-style
    names sorted by their number. Function names and constants are not variables."""
    tree = _parse(expr)
    called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in called} - set(CONSTANTS)

    def key(name: str) -> tuple[int, str, int]:
        m = re.fullmatch(r"([A-Za-z_]+)(\d+)", name)
        if name in _ORDER:
            return (0, str(_ORDER.index(name)), 0)
        return (1, m.group(1), int(m.group(2))) if m else (2, name, 0)

    return sorted(names, key=key)


def _parse(expr: str) -> ast.Expression:
    if not isinstance(expr, str) or not expr.strip():
        raise LabError("formula is empty; write an expression such as 'x**2 + 3*y**2'", "expr")
    try:
        return ast.parse(expr.strip(), mode="eval")
    except SyntaxError as exc:
        col = (exc.offset or 1)
        raise LabError(f"formula {expr!r} does not parse at column {col}: {exc.msg}", "expr") from None


def compile_formula(expr: str, variables: list[str]) -> Callable[[Tensor], Tensor]:
    """Returns ``f(theta[B, d]) -> [B]`` for ``expr`` over ``variables`` (column i of theta is
    ``variables[i]``). Raises :class:`LabError` naming the offending piece."""
    tree = _parse(expr)
    index = {name: i for i, name in enumerate(variables)}
    allowed = f"variables {', '.join(variables) or '(none)'}, numbers, + - * / **, functions {', '.join(sorted(FUNCTIONS))}, constants pi, e"

    def build(node: ast.AST) -> Callable[[Tensor], Tensor | float]:
        if isinstance(node, ast.Expression):
            return build(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            value = float(node.value)
            return lambda t: value
        if isinstance(node, ast.Name):
            if node.id in index:
                i = index[node.id]
                return lambda t: t[:, i]
            if node.id in CONSTANTS:
                value = CONSTANTS[node.id]
                return lambda t: value
            raise LabError(f"formula {expr!r}: unknown name {node.id!r}; allowed: {allowed}", "expr")
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            op, left, right = _BINOPS[type(node.op)], build(node.left), build(node.right)
            return lambda t: op(_as_tensor(left(t), t), right(t))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            inner = build(node.operand)
            sign = -1.0 if isinstance(node.op, ast.USub) else 1.0
            return lambda t: sign * inner(t)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            fn = FUNCTIONS.get(node.func.id)
            if fn is None:
                raise LabError(f"formula {expr!r}: unknown function {node.func.id!r}; allowed: {', '.join(sorted(FUNCTIONS))}", "expr")
            arity = 2 if node.func.id in ("max", "min") else 1
            if len(node.args) != arity:
                raise LabError(f"formula {expr!r}: {node.func.id}() takes {arity} argument(s), got {len(node.args)}", "expr")
            args = [build(a) for a in node.args]
            return lambda t: fn(*[_as_tensor(a(t), t) for a in args])
        piece = ast.get_source_segment(expr.strip(), node) or type(node).__name__
        raise LabError(f"formula {expr!r}: {piece!r} is not allowed; allowed: {allowed}", "expr")

    body = build(tree)

    def f(theta: Tensor) -> Tensor:
        out = body(theta)
        return _as_tensor(out, theta).expand(theta.shape[0])

    return f


def _as_tensor(value: Tensor | float, like: Tensor) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return torch.full((like.shape[0],), value, dtype=like.dtype, device=like.device)
