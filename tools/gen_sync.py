"""Generate the sync twins of async classes: the sync facade and the threaded emulator.

Usage::

    python tools/gen_sync.py            # (re)write every twin
    python tools/gen_sync.py --check    # exit 1 if a committed twin is stale

Two twins (see :data:`TWINS`): ``descope_keys/_sync.py`` (``DescopeKeys``
and ``AccessKeys``, from ``AsyncDescopeKeys`` and ``AsyncAccessKeys``, on a
:class:`~descope_keys._portal.Portal`) and ``descope_keys/emulator/_threaded.py``
(``ThreadedEmulator``, from ``Emulator``, on a
:class:`~descope_keys._portal.LoopThread`).

The async classes are read with ``ast`` (``inspect`` would lose the ``*``
marker's exact spelling and evaluate annotations). Every public member gets
a sync twin with the same parameters, annotations, defaults, return type and
docstring: coroutine methods run on the portal's loop thread, properties are
forwarded, ``aclose``/``__aenter__``/``__aexit__`` become ``close``/
``__enter__``/``__exit__``, private members are skipped. A property returning
another async class becomes a property returning its sync wrapper; a plain
root method returning one (a factory) returns a new sync wrapper around the
object it makes, which is made again from the child's client after a fork.
Methods marked ``@sync_override(...)`` in ``descope_keys/_sync_overrides.py`` keep
their signature and delegate to the hand-written function instead.

Anything the rules do not cover (an unknown dunder, a decorator, a method
returning an async class) is an error, and so is a rename rule that was never
used: the classes can only drift by failing this script. The emulator's twin
runs its plain members on the loop thread too (the emulator's state lives
there), and copies ``name = keyword_form(Factory, method)`` attributes.
"""

from __future__ import annotations

import argparse
import ast
import builtins
import difflib
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "descope_keys"
OVERRIDES_MODULE = "_sync_overrides"
#: Arguments that carry a secret: a generated method wraps them in a Secret first.
SECRETS = frozenset({"access_key"})
#: Arguments that carry a bearer token on a hot path, left bare: a generated
#: method drops them, and the frames below it, from the errors it raises.
TOKENS = frozenset({"jwt"})
MARKER = "sync_override"
# A class attribute the twins may have: ``name = keyword_form(Factory, method)``.
FORWARDED_ATTRIBUTE = "keyword_form"


@dataclass(frozen=True)
class Twin:
    """What one generated file holds and how its members reach the async originals."""

    #: The generated file, relative to the package.
    output: str
    #: (module, async class), modules relative to the package; the first is
    #: the root, the others are reached through properties of the root.
    sources: tuple[tuple[str, str], ...]
    #: Identifier renames, applied to class names, member names, annotation
    #: names and whole words in docstrings. Each must be used at least once.
    renames: dict[str, str]
    #: The root's docstring: this introduction, then the async one's sections.
    intro: str
    module_doc: str
    #: The root's ``__init__`` body; ``{cls}`` and ``{name}`` are the async and
    #: sync class names, ``{args}`` the call arguments.
    init: tuple[str, ...]
    #: What the root forwards to, and how a coroutine runs.
    target: str
    run: str
    #: Lifecycle members of the root by sync name: (signature or None for the
    #: async one, body lines).
    lifecycle: dict[str, tuple[str | None, tuple[str, ...]]]
    #: How plain methods and properties are forwarded: ``"direct"`` in the
    #: caller's thread, or ``"loop"`` via ``self._runner.call``.
    plain: str
    #: Imports every output needs: (module, names); absolute modules are
    #: written as they are, the others relative to the package.
    imports: tuple[tuple[str, tuple[str, ...]], ...]
    #: Hand-written members by async name: (docstring, body lines).
    members: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    overrides: str | None = None


SYNC = Twin(
    output="_sync.py",
    sources=(
        ("_client", "AsyncDescopeKeys"),
        ("_access_keys", "AsyncAccessKeys"),
        ("_credentials", "AsyncAccessKeyCredentials"),
    ),
    renames={
        "AsyncDescopeKeys": "DescopeKeys",
        "AsyncAccessKeys": "AccessKeys",
        "AsyncAccessKeyCredentials": "AccessKeyCredentials",
        "aclose": "close",
        "__aenter__": "__enter__",
        "__aexit__": "__exit__",
    },
    # The sync root's docstring keeps the async one's sections (Args, Raises)
    # but not its introduction, which describes the asyncio lifecycle.
    intro="""\
The synchronous client for Descope access keys (generated from AsyncDescopeKeys).

    Every method blocks until done. The async client and its HTTP session live
    on one background event-loop thread, started on first use; calls from any
    thread hop onto it, so one instance is safe to share across threads.
    ``validate_token`` runs in the calling thread while the keys are warm.
    Close with ``client.close()`` or ``with``; after ``os.fork()`` the child
    gets a fresh loop and connection pool on first use. In async code, use
    AsyncDescopeKeys instead.
""",
    module_doc="The synchronous facade: {names} (generated by tools/gen_sync.py).",
    init=(
        "management_key = conceal(management_key)  # before anything can fail",
        "self._portal: Portal[{cls}] = Portal(",
        "    functools.partial({cls}, {args}),",
        '    name="{name}",',
        ")",
    ),
    target="self._portal.target",
    run="self._portal.run",
    lifecycle={
        "close": (None, ("self._portal.close()",)),
        "__enter__": (None, ("return self",)),
        "__exit__": (None, ("self.close()",)),
    },
    plain="direct",
    imports=(
        ("functools", ()),
        ("_portal", ("Portal", "rename_repr")),
        ("_secret", ("conceal",)),
        ("descope_keys.errors", ("DescopeError",)),
    ),
    overrides=OVERRIDES_MODULE,
)

EMULATOR = Twin(
    output="emulator/_threaded.py",
    sources=(("emulator/_server", "Emulator"),),
    renames={"Emulator": "ThreadedEmulator", "__aenter__": "__enter__", "__aexit__": "__exit__"},
    intro="""\
An :class:`Emulator` on its own event loop in a daemon thread, for sync code and tests.

    Generated from Emulator: the same arguments and hooks. ``with
    ThreadedEmulator() as emu:`` (or ``start()``/``stop()``, restartable).
    Every member may be called from any thread: it runs on the loop thread,
    where the emulator's state lives (directly while stopped).
""",
    module_doc="The emulator on its own event loop in a background thread: {names}.",
    init=(
        "self._emulator = {cls}({args})",
        'self._runner = LoopThread("descope-keys-emulator", call_timeout=START_TIMEOUT)',
    ),
    target="self._emulator",
    run="self._runner.run",
    lifecycle={
        "start": (
            "(self, timeout: float = START_TIMEOUT) -> ThreadedEmulator",
            ("self._runner.start(self._emulator.start, timeout)", "return self"),
        ),
        "stop": (
            "(self, timeout: float = START_TIMEOUT) -> None",
            ("self._runner.stop(self._emulator.stop, timeout)",),
        ),
        "__enter__": (None, ("return self.start()",)),
        "__exit__": (None, ("self.stop()",)),
    },
    plain="loop",
    imports=(
        ("collections", ("Counter",)),
        ("descope_keys._portal", ("LoopThread", "rename_repr")),
        ("descope_keys.emulator._server", ("START_TIMEOUT",)),
    ),
    members={
        # A copy, read on the loop thread: the live Counter changes under
        # a caller iterating it in another thread.
        "request_counts": (
            """A snapshot of how many requests each path has received (includes rejected ones).""",
            ("return self._runner.call(lambda: Counter(self._emulator.request_counts))",),
        ),
    },
)

TWINS = (SYNC, EMULATOR)
# The facade's, as the tests and callers of generate() know them.
RENAMES = SYNC.renames
OUTPUT = PACKAGE / SYNC.output

HEADER = """\
# Generated by tools/gen_sync.py from {sources}.
# Do not edit: change {edit} and run
# `python tools/gen_sync.py`. `python tools/gen_sync.py --check` fails when stale.
"""

# Dunders with a known meaning; any other public dunder is an error.
KNOWN_DUNDERS = {"__init__", "__repr__", "__aenter__", "__aexit__"}


class GenerationError(Exception):
    """The async source uses something the generator has no rule for."""


@dataclass
class _Source:
    module: str
    node: ast.ClassDef
    tree: ast.Module

    @property
    def name(self) -> str:
        return self.node.name


@dataclass
class _Context:
    """State of one generation run: rule usage, needed imports, targets."""

    renames: dict[str, str]
    twin: Twin = SYNC
    used: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)  # referenced by emitted signatures
    targets: dict[str, str] = field(default_factory=dict)  # async class -> target expression
    wrappers: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    factories: dict[str, str] = field(default_factory=dict)  # async class -> root method

    def rename(self, name: str) -> str:
        new = self.renames.get(name)
        if new is None:
            return name
        self.used.add(name)
        return new


class _RenameNames(ast.NodeTransformer):
    def __init__(self, ctx: _Context) -> None:
        self.ctx = ctx

    def visit_Name(self, node: ast.Name) -> ast.Name:
        new = self.ctx.rename(node.id)
        if new == node.id:
            self.ctx.names.add(node.id)
        return ast.copy_location(ast.Name(id=new, ctx=node.ctx), node)


def _renamed(node: ast.expr, ctx: _Context) -> ast.expr:
    copy = ast.parse(ast.unparse(node), mode="eval").body
    result = _RenameNames(ctx).visit(copy)
    assert isinstance(result, ast.expr)
    return result


def _docstring(node: ast.AST, ctx: _Context) -> str | None:
    """The raw docstring (original indentation kept), with renames applied to whole words."""
    if not isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return None
    raw = ast.get_docstring(node, clean=False)
    if raw is None:
        return None
    words = sorted(ctx.renames, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(" + "|".join(re.escape(w) for w in words) + r")\b")
    return pattern.sub(lambda m: ctx.rename(m.group(1)), raw)


def _quote_docstring(text: str, indent: str) -> str:
    if '"""' in text or text.endswith('"') or "\\" in text:
        raise GenerationError("docstrings with triple quotes or backslashes are not supported")
    return f'{indent}"""{text}"""\n'


def _signature(func: ast.FunctionDef | ast.AsyncFunctionDef, ctx: _Context) -> str:
    args = ast.parse(f"def f({ast.unparse(func.args)}): pass").body[0]
    assert isinstance(args, ast.FunctionDef)
    renamer = _RenameNames(ctx)
    renamer.visit(args.args)
    returns = "" if func.returns is None else f" -> {ast.unparse(_renamed(func.returns, ctx))}"
    return f"({ast.unparse(args.args)}){returns}"


def _call_arguments(args: ast.arguments) -> str:
    parts: list[str] = []
    for arg in [*args.posonlyargs, *args.args][1:]:  # without self
        parts.append(arg.arg)
    if args.vararg is not None:
        parts.append(f"*{args.vararg.arg}")
    parts.extend(f"{arg.arg}={arg.arg}" for arg in args.kwonlyargs)
    if args.kwarg is not None:
        parts.append(f"**{args.kwarg.arg}")
    return ", ".join(parts)


def _decorator_names(func: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    names = []
    for deco in func.decorator_list:
        if (
            isinstance(deco, ast.Attribute)
            and deco.attr == "setter"
            and isinstance(deco.value, ast.Name)
            and deco.value.id == func.name
        ):
            names.append("setter")  # @name.setter of a property
        elif isinstance(deco, ast.Name):
            names.append(deco.id)
        else:
            raise GenerationError(f"{func.name}: unsupported decorator {ast.unparse(deco)}")
    return names


def _annotation_class(func: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    return func.returns.id if isinstance(func.returns, ast.Name) else None


def _load_sources(twin: Twin) -> list[_Source]:
    sources = []
    for module, class_name in twin.sources:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
        node = next(
            (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name), None
        )
        if node is None:
            raise GenerationError(f"class {class_name} not found in descope_keys/{module}.py")
        if node.bases or node.keywords:
            # Inherited members are invisible to ast: they would silently go missing.
            raise GenerationError(f"{class_name}: base classes are not supported")
        sources.append(_Source(module, node, tree))
    return sources


def _members(
    source: _Source,
) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Assign]:
    """The public members, in order: methods, properties and forwarded attributes."""
    methods = {
        item.name
        for item in source.node.body
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    for item in source.node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = item.name
            is_dunder = name.startswith("__") and name.endswith("__")
            if name.startswith("_") and not is_dunder:
                continue  # private: not part of the surface
            if is_dunder and name not in KNOWN_DUNDERS:
                raise GenerationError(f"{source.name}.{name}: no sync rule for this dunder")
            yield item
        elif isinstance(item, (ast.Assign, ast.AnnAssign)):
            targets = item.targets if isinstance(item, ast.Assign) else [item.target]
            for target in targets:
                if isinstance(target, ast.Name) and not target.id.startswith("_"):
                    if isinstance(item, ast.Assign) and _forwarded(item, methods):
                        yield item
                    else:
                        raise GenerationError(f"{source.name}.{target.id}: public class attribute")
        elif not (isinstance(item, ast.Expr) and isinstance(item.value, ast.Constant)):
            raise GenerationError(f"{source.name}: unsupported class body statement")


def _forwarded(item: ast.Assign, methods: set[str]) -> bool:
    """``name = keyword_form(Factory, method)`` with ``method`` a member of the class."""
    call = item.value
    return (
        len(item.targets) == 1
        and isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == FORWARDED_ATTRIBUTE
        and not call.keywords
        and len(call.args) == 2
        and all(isinstance(arg, ast.Name) for arg in call.args)
        and isinstance(call.args[1], ast.Name)
        and call.args[1].id in methods
    )


def _functions(source: _Source) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for item in _members(source):
        if not isinstance(item, ast.Assign):
            yield item


def _resolve_targets(sources: Sequence[_Source], ctx: _Context) -> None:
    """Find each non-root class's target expression through the root's properties."""
    by_name = {s.name: s for s in sources}
    ctx.targets[sources[0].name] = ctx.twin.target
    pending = [sources[0]]
    while pending:
        source = pending.pop()
        wrappers = ctx.wrappers.setdefault(source.name, [])
        for func in _functions(source):
            returned = _annotation_class(func)
            if returned not in by_name or func.name == "__aenter__":
                continue
            is_property = "property" in _decorator_names(func)
            if not is_property and not (
                isinstance(func, ast.FunctionDef) and not func.decorator_list
            ):
                raise GenerationError(
                    f"{source.name}.{func.name} returns {returned}: only properties may"
                    " (or plain root methods, as factories)"
                )
            if not is_property and source is not sources[0]:
                raise GenerationError(
                    f"{source.name}.{func.name} returns {returned}: factories belong to the root"
                )
            if returned in ctx.targets:
                raise GenerationError(f"{returned} is reachable twice")
            if is_property:
                ctx.targets[returned] = f"{ctx.targets[source.name]}.{func.name}"
                wrappers.append((func.name, returned))
                pending.append(by_name[returned])
            else:
                # Made per call, around the object of this process: see _FACTORY_INIT.
                ctx.targets[returned] = "self._live"
                ctx.factories[returned] = func.name
    for source in sources:
        if source.name not in ctx.targets:
            raise GenerationError(f"{source.name} is not reachable from {sources[0].name}")


def _load_overrides(sources: Sequence[_Source], ctx: _Context) -> dict[str, ast.FunctionDef]:
    """Marked functions by "AsyncClass.method", checked against the async signature."""
    if ctx.twin.overrides is None:
        return {}
    path = PACKAGE / f"{ctx.twin.overrides}.py"
    if not path.exists():
        return {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    methods = {
        f"{s.name}.{f.name}": f
        for s in sources
        for f in s.node.body
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    overrides: dict[str, ast.FunctionDef] = {}
    for func in tree.body:
        if not isinstance(func, ast.FunctionDef):
            continue
        for deco in func.decorator_list:
            if not (
                isinstance(deco, ast.Call)
                and isinstance(deco.func, ast.Name)
                and deco.func.id == MARKER
            ):
                continue
            if len(deco.args) != 1 or not isinstance(deco.args[0], ast.Constant):
                raise GenerationError(f"{func.name}: @{MARKER} takes one string literal")
            key = deco.args[0].value
            if not isinstance(key, str) or key not in methods:
                raise GenerationError(f"@{MARKER}({key!r}): no such async method")
            if key in overrides:
                raise GenerationError(f"@{MARKER}({key!r}) appears twice")
            _check_override(func, methods[key], key, ctx)
            overrides[key] = func
    return overrides


def _check_override(
    func: ast.FunctionDef, original: ast.FunctionDef | ast.AsyncFunctionDef, key: str, ctx: _Context
) -> None:
    probe = _Context(dict(ctx.renames), ctx.twin)  # do not count the comparison as rule usage
    expected = _signature(original, probe)
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    sync_class = probe.rename(key.split(".")[0])
    first = positional[0] if positional else None
    if (
        first is None
        or first.arg != "self"
        or first.annotation is None
        or (ast.unparse(first.annotation) != sync_class)
    ):
        raise GenerationError(f"override of {key}: the first parameter must be self: {sync_class}")
    stripped = ast.parse(f"def f({ast.unparse(args)}): pass").body[0]
    assert isinstance(stripped, ast.FunctionDef)
    params = stripped.args.posonlyargs or stripped.args.args
    params[0].annotation = None
    returns = "" if func.returns is None else f" -> {ast.unparse(func.returns)}"
    actual = f"({ast.unparse(stripped.args)}){returns}"
    if actual != expected:
        raise GenerationError(
            f"override of {key} has signature {actual}, the async method has {expected}"
        )


# An ``import module`` statement, among the names of a (level, module) import.
_WHOLE = ""


def _imports(sources: Sequence[_Source], ctx: _Context) -> dict[tuple[int, str], set[str]]:
    """``(level, module) -> names`` for every name the emitted code uses."""
    available: dict[str, tuple[int, str]] = {}
    whole: set[str] = set()  # bound by `import x`
    for source in sources:
        for stmt in _import_statements(source.tree):
            for alias in stmt.names:
                bound = alias.asname or alias.name
                if alias.asname is not None:
                    raise GenerationError(f"aliased import {alias.name} as {alias.asname}")
                if isinstance(stmt, ast.Import):
                    available.setdefault(bound, (0, bound))
                    whole.add(bound)
                else:
                    available.setdefault(bound, (stmt.level, stmt.module or ""))
        for node in source.tree.body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                available.setdefault(node.name, _module_key(source.module))
    generated = set(ctx.renames.values())
    grouped: dict[tuple[int, str], set[str]] = {}
    for name in sorted(ctx.names - generated - set(dir(builtins))):
        origin = available.get(name)
        if origin is None:
            raise GenerationError(f"cannot find where {name!r} comes from")
        grouped.setdefault(origin, set()).add(_WHOLE if name in whole else name)
    for module, names in ctx.twin.imports:
        grouped.setdefault(_module_key(module), set()).update(names or {_WHOLE})
    return grouped


def _module_key(module: str) -> tuple[int, str]:
    """Modules named ``_x`` (or ``emulator/_x``) are the package's; the others absolute."""
    if module.startswith("_") or "/" in module:
        if "/" not in module:
            return 1, module
        return 0, "descope_keys." + module.replace("/", ".")
    return 0, module


def _import_statements(tree: ast.Module) -> Iterator[ast.ImportFrom | ast.Import]:
    for node in tree.body:
        if isinstance(node, ast.Import) or (
            isinstance(node, ast.ImportFrom) and node.module != "__future__"
        ):
            yield node
        elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` blocks
            yield from (n for n in node.body if isinstance(n, ast.ImportFrom))


def _import_lines(grouped: dict[tuple[int, str], set[str]]) -> list[str]:
    """isort's order: other packages, then ours; ``import x`` before ``from x import``."""

    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name

    def lines(keys: list[tuple[int, str]]) -> list[str]:
        whole = [f"import {module}" for level, module in keys if grouped[level, module] == {_WHOLE}]
        named = []
        for level, module in keys:
            names = grouped[level, module]
            if names != {_WHOLE}:
                named.append(
                    f"from {'.' * level}{module} import {', '.join(sorted(names, key=order))}"
                )
        return whole + named

    keys = sorted(grouped)
    ours = [k for k in keys if k[0] > 0 or k[1].startswith("descope_keys")]
    return [*lines([k for k in keys if k not in ours]), "", *lines(ours)]


# The constructor of a class a factory makes. The portal replaces its
# target in a fork child; the wrapper then makes its object again from the
# child's client, so that no state of the parent's (a cached token, a task of
# the parent's loop) is used in the child.
_FACTORY_INIT = """
    def __init__(
        self, portal: Portal[{root}], build: Callable[[{root}], {cls}]
    ) -> None:
        \"\"\"Built by {maker}(); not meant to be created directly.\"\"\"
        self._portal = portal
        self._build = build
        self._owner = portal.open_target()
        self._target = build(self._owner)

    @property
    def _live(self) -> {cls}:
        \"\"\"The {cls} of this process's client (made again after a fork).\"\"\"
        owner = self._portal.target
        if owner is not self._owner:
            self._target = self._build(owner)
            self._owner = owner
        return self._target
"""


def _emit_class(
    source: _Source,
    is_root: bool,
    overrides: dict[str, ast.FunctionDef],
    root_async: str,
    ctx: _Context,
) -> str:
    sync_name = ctx.rename(source.name)
    target = ctx.targets[source.name]
    out = [f"class {sync_name}:\n"]
    doc = _docstring(source.node, ctx)
    if doc is not None:
        if is_root:
            sections = re.search(r"\n\s*(Args|Attributes|Raises):", doc)
            doc = ctx.twin.intro + (doc[sections.start() + 1 :] if sections else "    ")
        out.append(_quote_docstring(doc, "    "))
    wrappers = ctx.wrappers.get(source.name, [])
    if source.name in ctx.factories:
        if wrappers:
            raise GenerationError(f"{source.name}: a factory-made class with properties of classes")
        maker = f"{ctx.rename(root_async)}.{ctx.factories[source.name]}"
        out.append(_FACTORY_INIT.format(root=root_async, cls=source.name, maker=maker))
    elif not is_root:
        out.append(
            f"\n    def __init__(self, portal: Portal[{root_async}]) -> None:\n"
            f'        """Built by {ctx.rename(root_async)}; not meant to be created directly."""\n'
            "        self._portal = portal\n"
        )
        out.extend(f"        self._{prop} = {ctx.rename(cls)}(portal)\n" for prop, cls in wrappers)
    for item in _members(source):
        if isinstance(item, ast.Assign):
            out.append(_emit_attribute(item, ctx))
        elif item.name == "__init__":
            if is_root:
                out.append(_emit_root_init(item, source, wrappers, ctx))
            # a wrapper's own __init__ replaces the async one
        else:
            out.append(_emit_member(item, source, target, is_root, overrides, ctx))
    return "".join(out)


def _emit_attribute(item: ast.Assign, ctx: _Context) -> str:
    """``name = keyword_form(Factory, method)``, as it is: ``method`` is the twin's."""
    call = item.value
    assert isinstance(call, ast.Call)
    assert isinstance(call.func, ast.Name)
    factory = call.args[0]
    assert isinstance(factory, ast.Name)
    ctx.names.update({call.func.id, factory.id})
    return f"\n    {ast.unparse(item)}\n"


def _emit_root_init(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    source: _Source,
    wrappers: list[tuple[str, str]],
    ctx: _Context,
) -> str:
    lines = [f"\n    def __init__{_signature(func, ctx)}:\n"]
    doc = _docstring(func, ctx)
    if doc is not None:
        lines.append(_quote_docstring(doc, "        "))
    values = {
        "cls": source.name,
        "name": ctx.rename(source.name),
        "args": _call_arguments(func.args),
    }
    lines.extend(f"        {line.format(**values)}\n" for line in ctx.twin.init)
    lines.extend(
        f"        self._{prop} = {ctx.rename(cls)}(self._portal)\n" for prop, cls in wrappers
    )
    return "".join(lines)


def _emit_member(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    source: _Source,
    target: str,
    is_root: bool,
    overrides: dict[str, ast.FunctionDef],
    ctx: _Context,
) -> str:
    decorators = _decorator_names(func)
    if decorators not in ([], ["property"], ["setter"]):
        raise GenerationError(f"{source.name}.{func.name}: unsupported decorators {decorators}")
    name = ctx.rename(func.name)
    heads = {"property": "\n    @property\n", "setter": f"\n    @{name}.setter\n"}
    head = heads[decorators[0]] if decorators else "\n"
    twin = ctx.twin
    key = f"{source.name}.{func.name}"
    lifecycle = twin.lifecycle.get(name) if is_root else None
    signature = _signature(func, ctx)
    if lifecycle is not None and lifecycle[0] is not None:
        signature = lifecycle[0]
    lines = [f"{head}    def {name}{signature}:\n"]
    doc = _docstring(func, ctx)
    if func.name in twin.members:
        doc = twin.members[func.name][0]
    if doc is not None:
        lines.append(_quote_docstring(doc, "        "))
    body = _body(func, key, target, lifecycle, overrides, ctx)
    # Wrapped first thing, so that no frame of the facade holds the bare
    # secret: error reporters record every frame's locals.
    names = [a.arg for a in (*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs)]
    concealed = [f"{n} = conceal({n})  # before anything can fail" for n in names if n in SECRETS]
    tokens = [n for n in names if n in TOKENS]
    if tokens:
        # Too hot to wrap: the error leaves without the frames that hold it.
        body = [
            "try:",
            *(f"    {line}" for line in body),
            "except DescopeError as exc:",
            "    error = exc",
            f"del {', '.join(tokens)}",
            "raise error.with_traceback(None)",
        ]
    lines.extend(f"        {line}\n" for line in [*concealed, *body])
    return "".join(lines)


def _body(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    key: str,
    target: str,
    lifecycle: tuple[str | None, tuple[str, ...]] | None,
    overrides: dict[str, ast.FunctionDef],
    ctx: _Context,
) -> Sequence[str]:
    twin = ctx.twin
    decorators = _decorator_names(func)
    returns = (
        "" if isinstance(func.returns, ast.Constant) and func.returns.value is None else "return "
    )
    arguments = _call_arguments(func.args)
    if key in overrides:
        passed = ", ".join(["self", *filter(None, [arguments])])
        return [f"return {twin.overrides}.{overrides[key].name}({passed})"]
    if func.name in twin.members:
        return twin.members[func.name][1]
    if lifecycle is not None:
        if not isinstance(func, ast.AsyncFunctionDef):
            raise GenerationError(f"{key}: lifecycle members belong to the root, as coroutines")
        return lifecycle[1]
    if func.name == "__repr__":
        return [f"return rename_repr(type(self).__name__, lambda: {target})"]
    if decorators and isinstance(func, ast.AsyncFunctionDef):
        raise GenerationError(f"{key}: async properties are not supported")
    if decorators == ["property"]:
        wrapped = _annotation_class(func)
        if wrapped in ctx.targets:
            return [f"return self._{func.name}"]
        if twin.plain == "loop":
            return [f"return self._runner.call(lambda: {target}.{func.name})"]
        return [f"return {target}.{func.name}"]
    if decorators == ["setter"]:
        value = func.args.args[1].arg
        if twin.plain == "loop":
            return [f'self._runner.call(setattr, {target}, "{func.name}", {value})']
        return [f"{target}.{func.name} = {value}"]
    made = _annotation_class(func)
    if made is not None and made in ctx.factories:
        build = f"{func.name}({arguments})"
        return [f"return {ctx.rename(made)}(self._portal, lambda client: client.{build})"]
    if isinstance(func, ast.AsyncFunctionDef):
        return [f"{returns}{twin.run}({target}.{func.name}({arguments}))"]
    if _returns_awaitable(func):
        # Forwarded as is, the sync caller would get a coroutine of the loop's client.
        raise GenerationError(f"{key}: a plain method returning an awaitable")
    if twin.plain == "loop":
        passed = ", ".join([f"{target}.{func.name}", *filter(None, [arguments])])
        return [f"{returns}self._runner.call({passed})"]
    return [f"{returns}{target}.{func.name}({arguments})"]


def _returns_awaitable(func: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    returns = func.returns
    if returns is None:
        return False
    text = ast.unparse(returns)
    return any(word in text for word in ("Awaitable", "Coroutine", "Future", "Task"))


def generate(renames: dict[str, str] | None = None, twin: Twin = SYNC) -> str:
    """The formatted text of ``twin``'s file (by default ``descope_keys/_sync.py``).

    Raises:
        GenerationError: the source needs a rule the generator lacks, or a
            rename rule went unused.
    """
    ctx = _Context(dict(twin.renames if renames is None else renames), twin)
    sources = _load_sources(twin)
    _resolve_targets(sources, ctx)
    overrides = _load_overrides(sources, ctx)
    root = sources[0]
    classes = [
        _emit_class(source, index == 0, overrides, root.name, ctx)
        for index, source in enumerate(sources)
    ]
    unused = sorted(set(ctx.renames) - ctx.used)
    if unused:
        raise GenerationError(f"rename rules never used: {', '.join(unused)}")
    names = sorted(ctx.rename(s.name) for s in sources)
    grouped = _imports(sources, ctx)
    grouped.setdefault(_module_key(root.module), set()).add(root.name)
    if overrides and twin.overrides is not None:
        grouped.setdefault((1, ""), set()).add(twin.overrides)
    if ctx.factories:
        grouped.setdefault(_module_key("collections.abc"), set()).add("Callable")
        for made in ctx.factories:
            module = next(s.module for s in sources if s.name == made)
            grouped.setdefault(_module_key(module), set()).add(made)
    modules = ", ".join(f"descope_keys/{s.module}.py" for s in sources)
    edit = "the async class" if len(sources) == 1 else "the async classes"
    if twin.overrides is not None:
        edit += f" (or descope_keys/{twin.overrides}.py)"
    text = (
        HEADER.format(sources=modules, edit=edit)
        + f'"""{twin.module_doc.format(names=", ".join(names))}"""\n\n'
        + "from __future__ import annotations\n\n"
        + "\n".join(_import_lines(grouped))
        + f"\n\n__all__ = {names!r}\n\n\n"
        + "\n\n".join(classes)
    )
    return _format(text, twin)


def _format(text: str, twin: Twin = SYNC) -> str:
    try:
        done = subprocess.run(  # noqa: S603 - this interpreter, arguments of ours
            [
                sys.executable,
                "-m",
                "ruff",
                "format",
                "--stdin-filename",
                f"descope_keys/{twin.output}",
                "-",
            ],
            input=text,
            capture_output=True,
            text=True,
            cwd=ROOT,
            check=False,
            timeout=60,
        )
    except FileNotFoundError as exc:  # pragma: no cover - no interpreter?
        raise GenerationError(f"cannot run ruff: {exc}") from None
    if done.returncode != 0:
        raise GenerationError(f"ruff format failed (is ruff installed?): {done.stderr.strip()}")
    return done.stdout


def _check(text: str, output: Path) -> bool:
    current = output.read_text(encoding="utf-8") if output.exists() else ""
    if current == text:
        return True
    diff = difflib.unified_diff(
        current.splitlines(keepends=True),
        text.splitlines(keepends=True),
        "committed",
        "generated",
    )
    sys.stderr.writelines(list(diff)[:80])
    print(f"gen_sync: {output.name} is stale: run `python tools/gen_sync.py`", file=sys.stderr)
    return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if an output is stale")
    # For tests: one twin's output elsewhere (the facade's when --twin is not given).
    parser.add_argument("--output", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--twin", choices=["sync", "emulator"], default=None, help=argparse.SUPPRESS
    )
    options = parser.parse_args(argv)
    chosen = {"sync": SYNC, "emulator": EMULATOR}
    twins = (
        TWINS
        if options.twin is None and options.output is None
        else (chosen[options.twin or "sync"],)
    )
    stale = False
    for twin in twins:
        try:
            text = generate(twin=twin)
        except GenerationError as exc:
            print(f"gen_sync: {exc}", file=sys.stderr)
            return 2
        output: Path = options.output or PACKAGE / twin.output
        if options.check:
            stale |= not _check(text, output)
        else:
            output.write_text(text, encoding="utf-8")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
