"""The architecture as a contract (DESIGN.md, "Target architecture"): read from the source, so it
fails the moment someone adds an import cycle, an upward import or maths in lab/.

* core/ never imports Qt (or lab/): checked by importing every core module with Qt blocked.
* Layers: every first-party module has a rank (:data:`LAYERS`); a module may import only modules
  of its own rank or lower, and the import graph of the whole tree (core, lab, commands, main)
  has no cycle at all (strongly connected components of size one). A new module must be given a
  rank here, which is the moment to decide where it belongs.
* lab/ holds no maths: no lab module imports torch's differentiation or linear algebra, NumPy's or
  SciPy's linear algebra, or core's eigensolvers, and none calls them by attribute.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: (module-name prefix, rank): the longest matching prefix decides; arrows point down only.
LAYERS: tuple[tuple[str, int], ...] = (
    ("core.errors", 0), ("scenarios", 0),  # scenarios: the lesson library's location, no imports
    ("core.values", 1), ("core.files", 1), ("core.crash", 1), ("core.device", 1), ("core.randomness", 1),
    ("core.datasets", 2),
    ("core.problems", 3), ("core.optimizers", 3),
    ("core.engine", 4), ("core.spectra", 4), ("core.stability", 4), ("core.metrics", 4),
    ("core.theory", 5), ("core.landscape", 5), ("core.sharpness", 5), ("core.distributed", 6),
    ("core.scenario.registry", 7), ("core.scenario.schema", 7),
    ("core.scenario.io", 8),
    ("core.scenario.build", 9),
    ("core.budget", 10),
    ("core.scenario.runner", 11),
    ("core.scenario.expectations", 12), ("core.captions", 12),  # captions address trajectories as expectations do
    ("core.scenario", 13),  # the package's __init__: the public face of the layer above
    ("core.analysis", 14),
    ("core", 15),  # the package __init__ (imports nothing)
    ("lab.panels.names", 16), ("lab.style", 16),
    ("lab", 17),
    ("commands", 18),
    ("main", 19),
)

#: imports a lab module may not make: differentiation, linear algebra, core's eigensolvers and
#: iteration-matrix theory (a panel draws the arrays core.analysis computed in the worker; the
#: scalar stability limits of core.stability are allowed)
FORBIDDEN_IN_LAB = ("torch.func", "torch.autograd", "torch.linalg", "numpy.linalg", "scipy.linalg", "scipy.sparse",
                    "core.spectra", "core.theory", "functorch")
#: attributes a lab module may not call on torch / numpy / scipy (``torch.autograd.grad``,
#: ``np.linalg.eigvalsh``, ``x.backward()``, ``torch.func.hessian`` ...)
FORBIDDEN_ATTRS = {"autograd", "func", "linalg", "backward", "hessian", "jacrev", "jacfwd", "vmap", "eigvalsh",
                   "eigh", "eigvals", "eig", "svd", "lstsq"}


def rank(module: str) -> int:
    best = None
    for prefix, r in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, r)
    if best is None:
        raise AssertionError(f"{module} has no layer: give it a rank in tests/test_architecture.py LAYERS")
    return best[1]


def first_party() -> dict[str, Path]:
    files = [*ROOT.glob("core/**/*.py"), *ROOT.glob("lab/**/*.py"), *ROOT.glob("commands/**/*.py"),
             *ROOT.glob("scenarios/*.py"), ROOT / "main.py"]
    out = {}
    for p in files:
        name = ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        out[name] = p
    return out


def imports_of(name: str, path: Path, known: set[str]) -> set[str]:
    """First-party modules ``name`` imports anywhere in its file (function-level imports count:
    a lazy import is still a dependency)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    deps: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            deps.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                deps.add(sub if sub in known else base)
    out = set()
    for d in deps:
        while d and d not in known:  # "core.problems.linear.X" -> the module that defines X
            d = d.rpartition(".")[0]
        if d and d != name:
            out.add(d)
    return out


def graph() -> dict[str, set[str]]:
    mods = first_party()
    known = set(mods)
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                    advanced = True
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_core_imports_without_qt():
    modules = sorted(m for m in first_party() if m.split(".")[0] == "core")
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('PyQt6', 'pyqtgraph', 'lab', 'PySide6'):\n"
        "            raise ImportError('core must not import ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        f"import importlib\nfor m in {modules!r}: importlib.import_module(m)\n"
        "print('ok', len(sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")


def test_no_import_cycle_anywhere():
    found = cycles(graph())
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_imports_point_down_the_layers():
    g = graph()
    upward = sorted(f"{a} (rank {rank(a)}) imports {b} (rank {rank(b)})"
                    for a, deps in g.items() for b in deps if rank(b) > rank(a))
    assert not upward, "upward imports:\n" + "\n".join(upward)


def _attribute_chain(node: ast.AST) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def maths_in(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            if any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_LAB):
                bad.append(f"line {node.lineno}: imports {n}")
        if isinstance(node, ast.Attribute):
            chain = _attribute_chain(node)
            if chain and chain[0] in ("torch", "np", "numpy", "scipy", "sp") and FORBIDDEN_ATTRS & set(chain[1:]):
                bad.append(f"line {node.lineno}: uses {'.'.join(chain)}")
            elif node.attr == "backward":
                bad.append(f"line {node.lineno}: calls .backward()")
    return sorted(set(bad))


def test_lab_computes_no_maths():
    found = {str(p.relative_to(ROOT)): maths_in(p) for p in ROOT.glob("lab/**/*.py")}
    found = {k: v for k, v in found.items() if v}
    assert not found, "maths in lab/ (compute it in core, inside the worker):\n" + "\n".join(
        f"{k}: {', '.join(v)}" for k, v in sorted(found.items()))


# --- the contract's own checks: each rule fails on the violation it exists for ------------------
def test_cycle_finder_finds_a_cycle():
    g = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(g) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_reader_resolves_names_to_modules(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from core.scenario import runner\nfrom core.errors import LabError\nimport core.files as f\n"
                   "def lazy():\n    from core.problems.linear import LinearProblem\n")
    known = {"core.scenario", "core.scenario.runner", "core.errors", "core.files", "core.problems",
             "core.problems.linear", "x.m"}
    assert imports_of("x.m", src, known) == {"core.scenario.runner", "core.errors", "core.files",
                                             "core.problems.linear"}


def test_maths_detector_sees_autograd_and_eigensolvers(tmp_path):
    src = tmp_path / "panel.py"
    src.write_text("import torch\nimport numpy as np\nfrom core.spectra import lanczos\n"
                   "def f(x):\n    g = torch.autograd.grad(x, x)\n    return np.linalg.eigvalsh(x)\n")
    found = maths_in(src)
    assert any("core.spectra" in b for b in found)
    assert any("torch.autograd.grad" in b for b in found)
    assert any("np.linalg.eigvalsh" in b for b in found)
    assert maths_in(ROOT / "lab" / "style.py") == []


def test_every_module_has_a_rank():
    for name in first_party():
        rank(name)


@pytest.mark.parametrize("module,expected", [("core.scenario.io", 8), ("core.problems.linear", 3), ("lab.window", 17)])
def test_rank_takes_the_longest_prefix(module, expected):
    assert rank(module) == expected


def dynamic_imports(path: Path) -> list[str]:
    """Modules named as strings to ``importlib.import_module`` / ``__import__`` (the AST import
    graph cannot see these, so core may not use them to reach upward)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                found.append(node.args[0].value)
    return found


def test_core_names_no_upper_module_by_string():
    bad = {str(p.relative_to(ROOT)): [m for m in dynamic_imports(p)
                                      if m.split(".")[0] in ("lab", "commands", "main", "PyQt6", "pyqtgraph")]
           for p in ROOT.glob("core/**/*.py")}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"core imports upward by name: {bad}"


def test_dynamic_import_detector(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("import importlib\ndef f():\n    importlib.import_module('lab.panels.names')\n    __import__('x')\n")
    assert dynamic_imports(src) == ["lab.panels.names", "x"]
