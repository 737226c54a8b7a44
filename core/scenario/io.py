"""Reading and writing scenario files: ``load``/``loads`` (TOML -> validated :class:`Scenario`),
``dump``/``dumps``/``save`` (:class:`Scenario` -> TOML, keeping the comments and layout of the text
it was loaded from when given ``like``), and ``set_path``/``get_path`` for key-path edits (the one
key-path implementation of the tree).

Reading is parse + validate: the shape, types and ranges of every key and what the registries of
problems and optimizers say about their parameters, all declared by the models of
:mod:`core.scenario.schema`. Nothing is built here; what needs the problem (its dimension, the
trajectory labels, the beats played in order) is checked by :func:`core.scenario.build.build`.
Every mistake is a :class:`core.errors.LabError` that names the file, the dotted key path, the bad
value and what is allowed; unknown keys get a "did you mean".
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from core.errors import LabError
from core.scenario.schema import EXPECTATIONS, GridSpec, Scenario, Table, join
from core.values import show

#: the deepest nesting of arrays and tables a scenario may have (the schema itself needs about 8:
#: a beat replacing the optimizer list with a start grid box); deeper documents are refused as one
#: line before anything recurses into them
MAX_DEPTH = 32
#: the largest scenario file read (scenario files are a few KB; data files have their own limit)
MAX_SCENARIO_BYTES = 4 * 1024 * 1024


# --- reading -------------------------------------------------------------------------------------
def _loc_path(loc: tuple[Any, ...]) -> str:
    """Pydantic's error location as the file's key path (``expect[0].tol``); the tag pydantic adds
    for the member of the ``expect`` union is not a key of the file."""
    path = ""
    for i, part in enumerate(loc):
        if isinstance(part, str) and i >= 2 and loc[0] == "expect" and isinstance(loc[i - 1], int) and part in EXPECTATIONS:
            continue
        path = join(path, part)
    return path


def _error(exc: ValidationError) -> LabError:
    """The first of pydantic's errors as the one-line :class:`LabError` of the file's key path. The
    models raise LabErrors themselves (path relative to the key); anything pydantic finds on its own
    (the models leave little) is said in the same form."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    path = _loc_path(tuple(first["loc"]))
    error = (first.get("ctx") or {}).get("error")
    if isinstance(error, LabError):
        return error.at(path)
    message = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
    return LabError(f"{message[:1].lower()}{message[1:]}, got {show(first.get('input'))}", path)


def from_dict(data: Mapping[str, Any], file: str = "") -> Scenario:
    """A validated :class:`Scenario` from a parsed TOML document (see :func:`loads`): syntax, types
    and ranges only, nothing is built (:func:`core.scenario.build.build` checks the rest)."""
    try:
        _check_depth(data)
        if not isinstance(data, Mapping):
            raise LabError(f"expected a scenario table, got {show(data)}")
        try:
            scenario = Scenario.model_validate(dict(data))
        except ValidationError as exc:
            raise _error(exc) from None
        except RecursionError:
            raise LabError(f"nested too deeply to read (more than {MAX_DEPTH} levels)") from None
    except LabError as exc:
        raise LabError(exc.message, exc.path, exc.file or file) from None
    return scenario.model_copy(update={"source": file}) if file else scenario


def _check_depth(data: Any, limit: int = MAX_DEPTH) -> None:
    """Refuses a document nested deeper than ``limit`` (iteratively: a deep document must not be
    what overflows the stack)."""
    stack = [(data, 1, "")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list | tuple):
            if depth > limit:
                raise LabError(f"nested more than {limit} levels deep; a scenario needs far fewer", path)
            items = node.items() if isinstance(node, dict) else enumerate(node)
            stack.extend((v, depth + 1, join(path, k)) for k, v in items)


def _parse_toml(text: str, where: str) -> dict[str, Any]:
    if not isinstance(text, str):
        raise LabError(f"expected scenario text, got {show(text)}", "", where)
    if len(text) > MAX_SCENARIO_BYTES:
        raise LabError(f"is {len(text):,} characters; a scenario may be at most {MAX_SCENARIO_BYTES:,}", "", where)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LabError(f"TOML syntax error: {exc}", "", where) from None
    except RecursionError:
        raise LabError(f"TOML nested too deeply to read (more than {MAX_DEPTH} levels of arrays or tables "
                       "are never needed)", "", where) from None
    return data


def loads(text: str, file: str = "<string>") -> Scenario:
    """Parses and validates scenario TOML text; ``file`` names it in errors. Syntax errors, too deep
    nesting and oversized text are one-line :class:`LabError` s like every other mistake."""
    where = file if file != "<string>" else ""
    return from_dict(_parse_toml(text, where), where)


def read_text(path: str | Path) -> str:
    """The text of a scenario file through :func:`core.files.read_text_bounded` (a regular file of
    at most :data:`MAX_SCENARIO_BYTES`: a FIFO, a device such as ``/dev/zero``, a folder or a name
    too long is refused at once); what the app keeps to save the file ``like`` it was."""
    from core.files import read_text_bounded

    try:
        return read_text_bounded(path, MAX_SCENARIO_BYTES, "scenario file")
    except LabError as exc:
        if exc.message == "no such scenario file":  # the wording the CLI has always used
            raise LabError("scenario file not found", "", str(path)) from None
        raise


def load(path: str | Path) -> Scenario:
    """Reads and validates a scenario file (:func:`read_text`); every problem with it is a
    :class:`LabError` naming the file."""
    return loads(read_text(path), str(path))


# --- writing -------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """Tuples back to lists, ``None`` dropped: what TOML can hold (and what a document edited
    key by key, such as the lecture's, must hold)."""
    if isinstance(value, BaseModel):
        return _table_dict(value)
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if v is not None}
    return value


def _table_dict(m: BaseModel) -> dict[str, Any]:
    """One table of the document, from its model: every key that is set, in the model's order; the
    hidden mappings (a problem's parameters, an optimizer's hyperparameters) inline at their place;
    ``sparse`` keys only when they differ from their default."""
    cls = type(m)
    assert issubclass(cls, Table)
    out: dict[str, Any] = {}
    for name, f in cls.model_fields.items():
        value = getattr(m, name)
        if name in cls.hidden:
            if isinstance(value, dict):
                out.update(plain(value))
            continue
        if value is None or (name in cls.sparse and value == f.get_default(call_default_factory=True)):
            continue
        if cls is GridSpec and name == "n" and len(value) == 1:
            value = value[0]  # one count for every axis, as it is usually written
        out[name] = plain(value)
    return out


def to_dict(s: Scenario) -> dict[str, Any]:
    """The TOML document of a scenario (key order as in the models); inverse of :func:`from_dict`."""
    doc = _table_dict(s)
    for key in ("beats", "expect"):  # an empty timeline is not written
        if not doc.get(key):
            doc.pop(key, None)
    return doc


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _value(key)


def _value(v: Any) -> str:
    """One TOML value, inline (arrays on one line, tables as ``{ k = v }``); strings through tomli_w."""
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }" if v else "{}"
    text = tomli_w.dumps({"v": v}, multiline_strings=True)
    return text[len("v = "):].rstrip("\n")


def _lines(table: dict[str, Any]) -> list[str]:
    return [f"{_key(k)} = {_value(v)}" for k, v in table.items()]


def dump(s: Scenario) -> str:
    """TOML text of a scenario, laid out as a person would write it (tables in the documented order,
    values inline, the description as a multi-line string); ``loads(dump(s)) == s``."""
    doc = to_dict(s)
    out = _lines({k: v for k, v in doc.items() if not isinstance(v, dict | list)})
    for name in ("problem", "start", "view"):
        out += ["", f"[{name}]", *_lines(doc[name])]
        if name == "start":
            for o in doc["optimizers"]:
                out += ["", "[[optimizers]]", *_lines(o)]
    for name in ("beats", "expect"):
        for entry in doc.get(name, []):
            out += ["", f"[[{name}]]", *_lines(entry)]
    return "\n".join(out) + "\n"


def dumps(s: Scenario, like: str | None = None) -> str:
    """TOML text of ``s``. With ``like`` (the text ``s``'s file was loaded from), that text with
    only what differs changed: the values that differ between the scenario ``like`` describes and
    ``s`` are replaced, keys added or removed as needed, and every comment, key order and line
    elsewhere stays byte-identical (tomlkit). When ``like`` does not load, or the edited text would
    not load back as ``s``, the fresh :func:`dump` is written instead."""
    if like is None:
        return dump(s)
    import tomlkit

    try:
        before = to_dict(loads(like))
        doc = tomlkit.parse(like)
    except Exception:  # noqa: BLE001  (an unreadable ``like`` only means there is no layout to keep)
        return dump(s)
    after = to_dict(s)
    if _same(before, after):
        return like
    try:
        layout = _indents(doc)
        _apply(doc, before, after, root=True)
        for item, indent in layout:  # tomlkit puts a blank line before a table a key was inserted above
            item.trivia.indent = indent
        text = tomlkit.dumps(doc)
        if loads(text) == s:
            return text
    except Exception:  # noqa: BLE001  (a layout tomlkit cannot edit in place: write it afresh)
        pass
    return dump(s)


def _indents(doc: Any) -> list[tuple[Any, str]]:
    """Every table of the document with the whitespace before its header, as the file has it."""
    import tomlkit

    out = []
    for _, item in doc.body:
        for table in item.body if isinstance(item, tomlkit.items.AoT) else [item]:
            if isinstance(table, tomlkit.items.Table):
                out.append((table, table.trivia.indent))
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal as TOML values (``1 == 1.0``, but ``true`` is not ``1``)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict | list) or isinstance(b, dict | list):
        return False
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def _inline(value: Any) -> Any:
    """A TOML item for ``value`` written inline (tables as ``{ k = v }``, arrays on one line)."""
    import tomlkit

    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table[k] = _inline(v)
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(_inline(v))
        return array
    if isinstance(value, str) and "\n" in value:
        return tomlkit.string(value, multiline=True)
    return tomlkit.item(value)


def _table(value: dict[str, Any]) -> Any:
    import tomlkit

    table = tomlkit.table()
    for k, v in value.items():
        table[k] = _inline(v)
    return table


def _apply(table: Any, old: dict[str, Any], new: dict[str, Any], root: bool) -> None:
    """Edits the tomlkit ``table`` (whose values ``old`` describes, defaults included) to hold
    ``new``: only keys whose value differs are touched."""
    import tomlkit

    for key in [k for k in old if k not in new]:
        if key in table:
            del table[key]
    for key, value in new.items():
        was = old.get(key)
        if key in old and _same(was, value):
            continue
        if isinstance(value, dict) and isinstance(was, dict):
            if key not in table:  # the whole table took its defaults: write the keys that differ
                table[key] = tomlkit.table() if root else tomlkit.inline_table()
            _apply(table[key], was, value, root=False)
            continue
        tables = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if tables and isinstance(was, list) and key in table and isinstance(table[key], list):
            current = table[key]
            common = min(len(was), len(value))
            for i in range(common):
                _apply(current[i], was[i], value[i], root=False)
            for i in range(len(was) - 1, common - 1, -1):
                del current[i]
            for extra in value[common:]:
                current.append(_table(extra) if isinstance(current, tomlkit.items.AoT) else _inline(extra))
            continue
        if root and tables:
            aot = tomlkit.aot()
            for v in value:
                aot.append(_table(v))
            table[key] = aot
        elif root and isinstance(value, dict):
            table[key] = _table(value)
        else:
            table[key] = _inline(value)


def save(s: Scenario, path: str | Path, *, like: str | None = None) -> None:
    """Writes :func:`dumps` of ``s`` (keeping the comments and layout of ``like``, the text ``s`` was
    loaded from, when given) to ``path`` atomically (:func:`core.files.atomic_write`): the earlier
    file stays whole if anything fails; a failure (no permission, missing folder) is a one-line
    :class:`LabError` naming the file."""
    from core.files import atomic_write

    atomic_write(path, dumps(s, like))


# --- key paths -----------------------------------------------------------------------------------
def _walk(doc: Any, path: str) -> tuple[Any, str | int]:
    """The container holding ``path``'s last key, and that key."""
    parts: list[str | int] = []
    for piece in path.split("."):
        m = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)", piece)
        if not m:
            raise LabError(f"{path!r} is not a key path like 'optimizers[0].lr' or 'view.resolution'", path)
        parts.append(m.group(1))
        parts.extend(int(i) for i in re.findall(r"\[(\d+)\]", m.group(2)))
    node = doc
    for k in parts[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            raise LabError(f"{path!r} does not name a key of this scenario", path) from None
    return node, parts[-1]


def validate(s: Scenario) -> Scenario:
    """A scenario edited in code (``model_copy(update=...)``), checked like a file and normalized
    (lists to tuples, integers to floats where a float is meant): what ``load(save(s))`` gives."""
    return from_dict(to_dict(s), s.source)


def get_path(s: Scenario, path: str) -> Any:
    """The value at ``path`` (as written in the file, e.g. ``optimizers[0].lr``), as TOML holds it."""
    node, key = _walk(to_dict(s), path)
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        raise LabError(f"{path!r} does not name a key of this scenario", path) from None


def assign(doc: dict[str, Any], path: str, value: Any) -> None:
    """Sets the key at ``path`` of a scenario document (:func:`to_dict`'s shape) to ``value`` (as
    TOML holds it: tuples become lists); a path naming no key of it is a :class:`LabError`."""
    node, key = _walk(doc, path)
    if isinstance(key, int):
        if not isinstance(node, list) or not 0 <= key < len(node):
            raise LabError(f"{path!r} does not name a key of this scenario", path)
    elif not isinstance(node, dict):
        raise LabError(f"{path!r} does not name a key of this scenario", path)
    node[key] = plain(value)


def set_paths(s: Scenario, values: Mapping[str, Any]) -> Scenario:
    """A copy of ``s`` with every key path of ``values`` set at once (what a beat's ``set`` does:
    its keys are validated together, as the lecture applies them), validated like a loaded file."""
    doc = to_dict(s)
    for path, value in values.items():
        assign(doc, path, value)
    return from_dict(doc, s.source)


def set_path(s: Scenario, path: str, value: Any) -> Scenario:
    """A copy of ``s`` with the key at ``path`` (as written in the file, e.g. ``optimizers[0].lr``)
    set to ``value``, validated like a loaded file."""
    return set_paths(s, {path: value})
