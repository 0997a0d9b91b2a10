"""The restricted environment in which model conditions, timer expressions and scripts run.

SpiffWorkflow evaluates every expression in a model (sequence-flow conditions, timer definitions,
multi-instance cardinalities, loop conditions, message correlation paths) and every script task with plain
``eval``/``exec`` over the task data, so a model can run anything: ``__import__("os").system(...)`` works.
Models here are drawn by people outside the team, so this module puts a fence around that code:

1. **Static check** (:func:`check_expression`, also used by the validator at deploy time): no ``import``, no
   names or attributes starting with ``_`` (which is how every known escape reaches ``__class__``,
   ``__globals__`` or ``__builtins__``; a lone ``_`` is allowed as a throw-away name), no frame/code
   attributes (``gi_frame``, ``f_globals`` ...) that reach interpreter internals without underscores, no
   ``str.format`` (it can read attributes by name at run time), no classes, ``with``, ``finally`` or bare
   ``except`` (the last two could swallow the stop signal of the run-time budget), and none of
   ``exec/eval/open/compile/globals/locals/vars/getattr/setattr/delattr/__import__/breakpoint/input``.
2. **Safe builtins**: code runs with ``__builtins__`` replaced by :data:`SAFE_BUILTINS`; anything else is a
   ``NameError``.
3. **Bounded run time and memory**: a per-thread ``sys.settrace`` hook counts the bytecode operations of the
   model's code, checks a wall-clock deadline, gives the engine functions the model calls their own time
   budget and a maximum number of calls, and watches the process's resident memory, so ``while True: pass``
   or a list of a million copies stops with :class:`BudgetExceeded`. Because one builtin call on a huge
   value runs in C where no hook can interrupt it, every operation that can build a large value in one step
   (``+ * ** << %``, growing ``str``/``bytes``/``int``/``list`` methods, ``str()`` and f-strings of
   containers, slice assignment) is rewritten to a checked version (:mod:`engine.bpmn.guards`), ``range`` is
   capped, and computed f-string widths are refused.
   ``print`` is captured per engine operation (:func:`capture_output`), bounded, for the caller to attribute.
4. **Compiled once**: each distinct expression text is checked and compiled once and cached.

Models may also call *engine functions* (for example working-day arithmetic): the engine registers them with
:func:`register_function` (or passes them to :func:`make_script_engine`), the validator accepts calls to them,
and ``docs/authoring-models.md`` documents them. A call to any other unknown function is refused when the
model is validated, not when the branch is first taken months later.

Script and expression failures surface as SpiffWorkflow's ``WorkflowTaskException`` naming the task, the
exception and the offending line.
"""

from __future__ import annotations

import ast
import contextvars
import functools
import importlib
import logging
import os
import sys
import textwrap
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import CodeType, FrameType, MappingProxyType
from typing import Any, Literal

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine.python_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.bpmn import guards
from engine.bpmn.guards import (
    GUARD_FUNCTIONS,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_SEQUENCE_LENGTH,
    BudgetExceeded,
    SafeStr,
    SandboxError,
)

__all__ = [
    "DEFAULT_ENGINE_TIME_LIMIT",
    "DEFAULT_MAX_ENGINE_CALLS",
    "DEFAULT_MAX_MEMORY",
    "DEFAULT_MAX_OPERATIONS",
    "DEFAULT_TIME_LIMIT",
    "ModelOutput",
    "FORBIDDEN_ATTRIBUTES",
    "FORBIDDEN_NAMES",
    "SAFE_BUILTINS",
    "BudgetExceeded",
    "ExpressionRejected",
    "SandboxEnvironment",
    "SandboxError",
    "SandboxedScriptEngine",
    "capture_output",
    "check_expression",
    "compile_expression",
    "make_script_engine",
    "register_function",
    "registered_functions",
]

Mode = Literal["eval", "exec"]

DEFAULT_MAX_OPERATIONS = 1_000_000
"""Bytecode operations of the model's own code one evaluation may execute (about a second)."""
DEFAULT_TIME_LIMIT = 3.0
"""Wall-clock seconds one evaluation may take, not counting the time spent inside engine functions (the
operation budget normally stops a runaway first; this is the backstop on a loaded machine)."""
DEFAULT_ENGINE_TIME_LIMIT = 5.0
"""Wall-clock seconds one evaluation may spend inside engine functions, all calls together."""
DEFAULT_MAX_ENGINE_CALLS = 500
"""Calls to engine functions one evaluation may make (a model calls a handful; 2,000 ``working_days_after``
calls in a loop once held a request for 47 s)."""
DEFAULT_MAX_MEMORY = 256 << 20
"""Bytes the process's resident memory may grow by during one evaluation."""
MAX_OUTPUT_LINES = 20
"""Lines of ``print`` output kept per engine operation (the rest are counted, not kept)."""
MAX_OUTPUT_LINE = 500
"""Characters kept of one line of ``print`` output."""
_MEMORY_CHECK_EVERY = 32  # operations between two reads of the resident memory; guards bound each one

_FILENAME = "<string>"  # SpiffWorkflow's PythonScriptEngine looks for this name to report script lines
_log = logging.getLogger("gongai.bpmn.script")


class ExpressionRejected(SandboxError):
    """The text is not valid Python, or uses something the sandbox does not allow."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class _Abort(BaseException):
    """Raised from the trace hook; a ``BaseException`` so that ``except Exception`` in a script cannot catch it."""


@dataclass
class ModelOutput:
    """What models printed during one engine operation: at most :data:`MAX_OUTPUT_LINES` lines of at most
    :data:`MAX_OUTPUT_LINE` characters; the rest is counted in ``dropped``."""

    lines: list[str] = field(default_factory=list)
    dropped: int = 0

    def add(self, text: str) -> None:
        if len(self.lines) >= MAX_OUTPUT_LINES:
            self.dropped += 1
            return
        self.lines.append(text if len(text) <= MAX_OUTPUT_LINE else text[:MAX_OUTPUT_LINE] + "…")


_output: contextvars.ContextVar[ModelOutput | None] = contextvars.ContextVar("gongai_model_output", default=None)


@contextmanager
def capture_output() -> Iterator[ModelOutput]:
    """Collect what models ``print`` while the block runs; the caller attributes it (to a project)."""
    buffer = ModelOutput()
    token = _output.set(buffer)
    try:
        yield buffer
    finally:
        _output.reset(token)


def _print(*values: object, sep: str | None = " ", end: str | None = "\n") -> None:
    """``print`` for models: captured (bounded) for the running operation, never written to stdout or raw to
    the log. Outside an operation (``gongai run``), a bounded, escaped copy goes to the debug log."""
    text = SafeStr(" " if sep is None else sep).join(SafeStr(v) for v in values)
    buffer = _output.get()
    if buffer is None:
        _log.debug("model output: %r", text[:MAX_OUTPUT_LINE])
    else:
        buffer.add(text)


def _range(*args: int) -> range:
    """``range`` capped at :data:`MAX_SEQUENCE_LENGTH` items."""
    result = range(*args)
    if len(result) > MAX_SEQUENCE_LENGTH:
        raise BudgetExceeded(f"range of {len(result):,} items is over the limit of {MAX_SEQUENCE_LENGTH:,}")
    return result


SAFE_BUILTINS: Mapping[str, object] = MappingProxyType({
    # constants
    "True": True, "False": False, "None": None,
    # numbers
    "abs": abs, "bool": bool, "divmod": divmod, "float": float, "int": int, "max": max, "min": min,
    "round": round, "sum": sum,
    # text (``str`` refuses to render a value whose text would be too long)
    "chr": chr, "ord": ord, "str": SafeStr,
    # collections and iteration
    "all": all, "any": any, "dict": dict, "enumerate": enumerate, "filter": filter, "frozenset": frozenset,
    "len": len, "list": list, "map": map, "range": _range, "reversed": reversed, "set": set,
    "sorted": sorted, "tuple": tuple, "zip": zip,
    # types
    "isinstance": isinstance,
    # dates and durations (``datetime.now()`` is the server's clock; engine functions use the injected one)
    "date": date, "datetime": datetime, "timedelta": timedelta,
    # exceptions a script may catch or raise
    "Exception": Exception, "ArithmeticError": ArithmeticError, "IndexError": IndexError,
    "KeyError": KeyError, "LookupError": LookupError, "TypeError": TypeError, "ValueError": ValueError,
    "ZeroDivisionError": ZeroDivisionError,
    # output is captured for the running operation
    "print": _print,
})
"""Every name a model can use without defining it, other than engine functions and task data."""

FORBIDDEN_NAMES: frozenset[str] = frozenset({
    "exec", "eval", "open", "compile", "globals", "locals", "vars", "getattr", "setattr", "delattr",
    "__import__", "breakpoint", "input",
})
"""Builtins refused by name at check time (even as variable names), for a clear message up front. Other
builtins outside :data:`SAFE_BUILTINS` (``type``, ``id`` ...) are simply undefined, so task data may use
those names as variables."""

FORBIDDEN_ATTRIBUTES: frozenset[str] = frozenset({
    "format", "format_map", "mro",
    "gi_frame", "gi_code", "gi_yieldfrom", "gi_running", "gi_suspended",
    "cr_frame", "cr_code", "cr_await", "ag_frame", "ag_code", "ag_await",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "f_trace", "f_lasti",
    "tb_frame", "tb_next", "func_globals", "func_code",
})
"""Attributes refused even though they do not start with ``_`` (they reach frames, code or globals)."""

_FORBIDDEN_ATTRIBUTE_PREFIXES = ("co_", "f_", "gi_", "cr_", "ag_", "tb_", "func_")

MODEL_FUNCTIONS_PROVIDER = "engine.services.functions:MODEL_FUNCTIONS"
"""Where the engine's table of model functions lives (``module:attribute``), found lazily so that this layer
does not import the service layer; the validator and :func:`make_script_engine` both offer what it holds."""

_registered: dict[str, Callable[..., Any]] = {}


def register_function(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """Offer ``function`` to every model under ``name``, besides the provider's table (tests, extensions).

    Registered names are accepted by the validator and injected by :func:`make_script_engine`. Returns the
    function, so it can be used as ``register_function("working_days_after", working_days_after)``.
    """
    _check_function_name(name)
    _registered[name] = function
    return function


def registered_functions() -> Mapping[str, Callable[..., Any]]:
    """Every engine function models may call: the provider's table plus the registered ones (read-only)."""
    return MappingProxyType({**_provided_functions(), **_registered})


@functools.lru_cache(maxsize=1)
def _provided_functions() -> dict[str, Callable[..., Any]]:
    module_name, _, attribute = MODEL_FUNCTIONS_PROVIDER.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return {}
    table = getattr(module, attribute, None)
    if not isinstance(table, Mapping):
        return {}
    provided = {}
    for name, function in table.items():
        _check_function_name(name)
        provided[name] = function
    return provided


def _check_function_name(name: str) -> None:
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(f"engine function name {name!r} must be an identifier not starting with '_'")
    if name in SAFE_BUILTINS or name in FORBIDDEN_NAMES:
        raise ValueError(f"engine function name {name!r} would shadow a builtin")


# --------------------------------------------------------------------------------------------------------------
# Static check and compilation
# --------------------------------------------------------------------------------------------------------------

def _normalise(text: str | None, mode: Mode) -> str:
    """Strip the indentation XML pretty-printing adds (``exec`` of an indented script is an IndentationError)."""
    text = text or ""
    return text.strip() if mode == "eval" else textwrap.dedent(text).strip("\n")


class _Checker(ast.NodeVisitor):
    """Collects the first violation (line, message) of the sandbox rules."""

    def __init__(self) -> None:
        self.violation: tuple[int | None, str] | None = None
        self._plain_slice_targets: set[int] = set()

    def _fail(self, node: ast.AST, message: str) -> None:
        if self.violation is None:
            self.violation = (getattr(node, "lineno", None), message)

    def generic_visit(self, node: ast.AST) -> None:
        if self.violation is None:
            super().generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        self._fail(node, f"import of {', '.join(a.name for a in node.names)!s} is not allowed: "
                         f"models cannot import modules")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self._fail(node, f"import from {node.module or '.'!s} is not allowed: models cannot import modules")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._fail(node, f"class definition {node.name!r} is not allowed")

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._fail(node, "async functions are not allowed")

    def visit_With(self, node: ast.With) -> None:
        self._fail(node, "'with' statements are not allowed")

    def visit_AsyncWith(self, node: ast.AsyncWith) -> None:
        self._fail(node, "'async with' statements are not allowed")

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._fail(node, "'async for' loops are not allowed")

    def visit_Await(self, node: ast.Await) -> None:
        self._fail(node, "'await' is not allowed")

    def visit_Try(self, node: ast.Try) -> None:
        if node.finalbody:
            self._fail(node, "'try ... finally' is not allowed in model scripts")
        for handler in node.handlers:
            if handler.type is None:
                self._fail(handler, "bare 'except:' is not allowed: name the exception (e.g. 'except ValueError:')")
        self.generic_visit(node)

    def visit_TryStar(self, node: ast.AST) -> None:  # Python 3.11+
        self._fail(node, "'except*' is not allowed")

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1:
            self._plain_slice_targets.add(id(node.targets[0]))
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._plain_slice_targets.add(id(node.target))
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if (isinstance(node.ctx, ast.Store) and isinstance(node.slice, ast.Slice)
                and id(node) not in self._plain_slice_targets):
            self._fail(node, "assigning to a slice is allowed only as the single target of an assignment "
                             "('items[a:b] = values')")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id.startswith("_") and node.id != "_":
            self._fail(node, f"name {node.id!r} is not allowed: names starting with '_' are reserved")
        elif node.id in FORBIDDEN_NAMES:
            self._fail(node, f"{node.id!r} is not allowed in model expressions")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr.startswith("_"):
            self._fail(node, f"attribute {node.attr!r} is not allowed: attributes starting with '_' are reserved")
        elif node.attr in FORBIDDEN_ATTRIBUTES or node.attr.startswith(_FORBIDDEN_ATTRIBUTE_PREFIXES):
            hint = " (use an f-string)" if node.attr in ("format", "format_map") else ""
            self._fail(node, f"attribute {node.attr!r} is not allowed{hint}")
        self.generic_visit(node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> None:
        spec = node.format_spec
        if spec is not None:
            parts = spec.values if isinstance(spec, ast.JoinedStr) else [spec]
            if not all(isinstance(p, ast.Constant) for p in parts):
                self._fail(node, "computed f-string format specifications are not allowed")
            else:
                text = "".join(str(p.value) for p in parts if isinstance(p, ast.Constant))
                widths = [int(w) for w in "".join(c if c.isdigit() else " " for c in text).split()]
                if any(w > MAX_FORMAT_WIDTH for w in widths):
                    self._fail(node, f"f-string field width over {MAX_FORMAT_WIDTH} is not allowed")
        self.generic_visit(node)


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a piece of code defines itself (assignments, defs, parameters, loop and comprehension targets)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchAs) and node.name:
            names.add(node.name)
    return names


def _parse(text: str, mode: Mode) -> ast.AST:
    """Parse and check; raises :class:`ExpressionRejected` with a message for people."""
    if mode not in ("eval", "exec"):
        raise ValueError(f"mode must be 'eval' or 'exec', not {mode!r}")
    if not text.strip():
        raise ExpressionRejected("expression is empty" if mode == "eval" else "script is empty")
    try:
        tree = ast.parse(text, filename=_FILENAME, mode=mode)
    except SyntaxError as exc:
        where = f" at line {exc.lineno}, column {exc.offset}" if exc.lineno else ""
        kind = "Python expression" if mode == "eval" else "Python script"
        raise ExpressionRejected(f"not a valid {kind}: {exc.msg}{where}", exc.lineno) from None
    except (ValueError, MemoryError, RecursionError) as exc:  # NUL bytes, absurd nesting
        raise ExpressionRejected(f"cannot be parsed: {exc}") from None
    checker = _Checker()
    checker.visit(tree)
    if checker.violation is not None:
        line, message = checker.violation
        prefix = f"line {line}: " if line is not None and (mode == "exec" or "\n" in text) else ""
        raise ExpressionRejected(prefix + message, line)
    return tree


def check_expression(text: str | None, mode: Mode = "eval", *, functions: Collection[str] | None = None) -> str | None:
    """Return why ``text`` may not run in the sandbox, or ``None`` when it may.

    Besides syntax and the sandbox rules, calls to a function that is neither a safe builtin, an engine
    function (``functions``; by default :func:`registered_functions`) nor defined by the code itself are refused:
    task data cannot hold functions, so such a call can only fail at run time.
    """
    source = _normalise(text, mode)
    try:
        tree = _parse(source, mode)
    except ExpressionRejected as exc:
        return str(exc)
    known = set(SAFE_BUILTINS) | set(registered_functions() if functions is None else functions) | _bound_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id not in known:
            prefix = f"line {node.lineno}: " if mode == "exec" or "\n" in source else ""
            return (f"{prefix}calls {node.func.id!r}, which is neither a safe builtin nor an engine function "
                    f"(see docs/authoring-models.md for the functions models may call)")
    return None


_BINARY_GUARDS: dict[type[ast.operator], str] = {
    ast.Pow: "__sandbox_pow__",
    ast.Mult: "__sandbox_mul__",
    ast.LShift: "__sandbox_lshift__",
    ast.Add: "__sandbox_add__",
    ast.Mod: "__sandbox_mod__",
}
_AUGMENTED_GUARDS: dict[type[ast.operator], str] = {
    **_BINARY_GUARDS,
    ast.Mult: "__sandbox_imul__",
    ast.Add: "__sandbox_iadd__",
    ast.Mod: "__sandbox_imod__",
}


def _call(guard: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=guard, ctx=ast.Load()), args=list(args), keywords=[])


class _GuardOperators(ast.NodeTransformer):
    """Rewrite every operation that can build a large value in one step into a size-checked call
    (:mod:`engine.bpmn.guards`): ``+ * ** << %`` and their augmented forms, f-string values, attribute reads
    (growing methods come back wrapped) and slice assignment.

    The guard names start with ``__``, which model code cannot mention, so it cannot replace them.
    """

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        guard = _BINARY_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return ast.copy_location(_call(guard, node.left, node.right), node)

    def visit_AugAssign(self, node: ast.AugAssign) -> ast.AST:
        self.generic_visit(node)
        guard = _AUGMENTED_GUARDS.get(type(node.op))
        if guard is None:
            return node
        current = self.visit(_as_load(node.target))
        return _assign(node.target, _call(guard, current, node.value), node)

    def visit_FormattedValue(self, node: ast.FormattedValue) -> ast.AST:
        self.generic_visit(node)
        node.value = ast.copy_location(_call("__sandbox_fmt__", node.value), node.value)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.ctx, ast.Load):
            return node
        return ast.copy_location(_call("__sandbox_attr__", node.value, ast.Constant(node.attr)), node)

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        self.generic_visit(node)
        if len(node.targets) == 1:
            return _assign(node.targets[0], node.value, node)
        return node


def _assign(target: ast.expr, value: ast.expr, where: ast.AST) -> ast.stmt:
    """``target = value``; a slice target (``l[a:b] = v``, which can double a list) goes through its guard.
    The checker allows slice targets only as the single target of an assignment."""
    if isinstance(target, ast.Subscript) and isinstance(target.slice, ast.Slice):
        bounds = [b if b is not None else ast.Constant(None)
                  for b in (target.slice.lower, target.slice.upper, target.slice.step)]
        index = _call("__sandbox_slice__", *bounds)
        return ast.copy_location(ast.Expr(_call("__sandbox_setitem__", target.value, index, value)), where)
    return ast.copy_location(ast.Assign(targets=[target], value=value), where)


def _as_load(target: ast.expr) -> ast.expr:
    clone = ast.parse(ast.unparse(target), mode="eval").body
    return ast.copy_location(clone, target)


@functools.lru_cache(maxsize=4096)
def _compile_cached(text: str, mode: Mode) -> tuple[CodeType | None, str | None, int | None]:
    try:
        tree = _parse(text, mode)
    except ExpressionRejected as exc:
        return None, str(exc), exc.line
    tree = ast.fix_missing_locations(_GuardOperators().visit(tree))
    return compile(tree, _FILENAME, mode), None, None


def compile_expression(text: str | None, mode: Mode = "eval") -> CodeType:
    """Check and compile ``text`` for the sandbox (cached per text); raises :class:`ExpressionRejected`."""
    code, message, line = _compile_cached(_normalise(text, mode), mode)
    if code is None:
        raise ExpressionRejected(message or "rejected", line)
    return code


# --------------------------------------------------------------------------------------------------------------
# Running under a budget
# --------------------------------------------------------------------------------------------------------------

_OWN_FILES = frozenset({guards.__file__, __file__})  # the guards' and the safe builtins' frames: the model's time
_statm: tuple[int, int] | None = None  # (pid, descriptor of /proc/self/statm), reopened after a fork
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int:
    """The process's resident memory now (Linux ``/proc/self/statm``; elsewhere the peak, which only grows)."""
    global _statm
    try:
        if _statm is None or _statm[0] != os.getpid():
            _statm = (os.getpid(), os.open("/proc/self/statm", os.O_RDONLY))
        return int(os.pread(_statm[1], 64, 0).split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Budget:
    """Trace hook that counts the model's own operations and watches the clock and the memory.

    Only sandboxed frames are traced (per opcode). A call from them into engine code (a registered function)
    is not traced line by line: its time is not charged to the model's ``time_limit`` (a slow look-up must
    not make the model's script time out) but to ``engine_time_limit``, checked at every call the engine code
    makes, and the number of such calls is capped. The size guards' own frames are neither: their time is
    the model's (so are the sandbox's own builtins, ``range`` and ``print``). Every :data:`_MEMORY_CHECK_EVERY` operations the resident memory is compared with what it
    was at the start.
    """

    __slots__ = ("remaining", "limit", "deadline", "time_limit", "engine_left", "engine_limit", "engine_calls",
                 "max_engine_calls", "memory_limit", "memory_start", "_engine_deadline", "_trusted", "_entered")

    def __init__(self, max_operations: int, time_limit: float, *, engine_time_limit: float = DEFAULT_ENGINE_TIME_LIMIT,
                 max_engine_calls: int = DEFAULT_MAX_ENGINE_CALLS, max_memory: int = DEFAULT_MAX_MEMORY) -> None:
        self.limit = max_operations
        self.remaining = max_operations
        self.time_limit = time_limit
        self.deadline = time.monotonic() + time_limit
        self.engine_limit = engine_time_limit
        self.engine_left = engine_time_limit
        self.engine_calls = 0
        self.max_engine_calls = max_engine_calls
        self.memory_limit = max_memory
        self.memory_start = _resident_bytes()
        self._engine_deadline = 0.0
        self._trusted: FrameType | None = None
        self._entered = 0.0

    def on_call(self, frame: FrameType, event: str, arg: Any) -> Any:
        filename = frame.f_code.co_filename
        if filename == _FILENAME:
            self._tick()
            frame.f_trace_opcodes = True
            return self.on_event
        if self._trusted is not None:  # engine code calling further: not traced, but its time is watched
            if time.monotonic() > self._engine_deadline:
                raise _Abort(f"spent longer than its limit of {self.engine_limit:g} s inside engine functions")
            return None
        if filename in _OWN_FILES:
            return None
        caller = frame.f_back
        if caller is None or caller.f_code.co_filename != _FILENAME:
            return None  # not called by the model: a garbage-collector callback, a finaliser ... runs untouched
        self.engine_calls += 1
        if self.engine_calls > self.max_engine_calls:
            raise _Abort(f"called engine functions more than {self.max_engine_calls:,} times")
        self._trusted = frame
        self._entered = time.monotonic()
        self._engine_deadline = self._entered + self.engine_left
        frame.f_trace_lines = False
        return self.on_trusted_event

    def on_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        self._tick()
        return self.on_event

    def on_trusted_event(self, frame: FrameType, event: str, arg: Any) -> Any:
        if event == "return" and frame is self._trusted:
            spent = time.monotonic() - self._entered
            self.deadline += spent
            self.engine_left -= spent
            self._trusted = None
            if self.engine_left <= 0:
                raise _Abort(f"spent longer than its limit of {self.engine_limit:g} s inside engine functions")
        return self.on_trusted_event

    def _tick(self) -> None:
        self.remaining -= 1
        if self.remaining <= 0:
            raise _Abort(f"exceeded its budget of {self.limit:,} operations (is there an endless loop?)")
        if not self.remaining % _MEMORY_CHECK_EVERY and self._trusted is None:
            grown = _resident_bytes() - self.memory_start
            if grown > self.memory_limit:
                raise _Abort(f"used more than its limit of {self.memory_limit >> 20} MiB of memory")
            if not self.remaining & 0x3FF and time.monotonic() > self.deadline:
                raise _Abort(f"ran for longer than its limit of {self.time_limit:g} s")


def _run(code: CodeType, scope: dict[str, Any], max_operations: int, time_limit: float, **limits: Any) -> Any:
    budget = _Budget(max_operations, time_limit, **limits)
    previous = sys.gettrace()
    sys.settrace(budget.on_call)
    try:
        return eval(code, scope)  # noqa: S307 - checked, compiled code with restricted builtins under a budget
    except _Abort as abort:
        raise BudgetExceeded(f"code {abort}") from None
    finally:
        sys.settrace(previous)


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment with TaskDataEnvironment's semantics, run inside the sandbox.

    ``evaluate`` sees the task data (and the engine functions) as variables; ``execute`` runs a script whose
    assignments become task data, after which functions, builtins and engine functions are removed from the
    data again, exactly as SpiffWorkflow's ``TaskDataEnvironment`` does.
    """

    def __init__(
        self,
        environment_globals: Mapping[str, Any] | None = None,
        *,
        max_operations: int = DEFAULT_MAX_OPERATIONS,
        time_limit: float = DEFAULT_TIME_LIMIT,
        engine_time_limit: float = DEFAULT_ENGINE_TIME_LIMIT,
        max_engine_calls: int = DEFAULT_MAX_ENGINE_CALLS,
        max_memory: int = DEFAULT_MAX_MEMORY,
    ) -> None:
        super().__init__(dict(environment_globals or {}))
        self.max_operations = max_operations
        self.time_limit = time_limit
        self._limits = {"engine_time_limit": engine_time_limit, "max_engine_calls": max_engine_calls,
                        "max_memory": max_memory}
        self._builtins: dict[str, Any] = {**SAFE_BUILTINS, **GUARD_FUNCTIONS, "__sandbox_slice__": slice}

    def evaluate(self, expression: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None) -> Any:
        code = compile_expression(expression, "eval")
        scope: dict[str, Any] = dict(self.globals)
        scope.update(external_context or {})
        scope.update(context)
        scope["__builtins__"] = self._builtins
        return _run(code, scope, self.max_operations, self.time_limit, **self._limits)

    def execute(self, script: str, context: dict[str, Any], external_context: Mapping[str, Any] | None = None) -> bool:
        external = dict(external_context or {})
        self.check_for_overwrite(context, external)
        code = compile_expression(script, "exec")
        context.update(self.globals)
        context.update(external)
        context["__builtins__"] = self._builtins
        try:
            _run(code, context, self.max_operations, self.time_limit, **self._limits)
        finally:
            self._remove_globals_and_functions_from_context(context, external)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        raise NotImplementedError("the engine does not call external services from service tasks")

    def check_for_overwrite(self, context: Mapping[str, Any], external_context: Mapping[str, Any]) -> None:
        """Fail fast when task data would hide an engine function (else the call fails obscurely later)."""
        clashes = (set(self.globals) | set(external_context)) & set(context)
        if clashes:
            raise ValueError(f"task data {sorted(clashes)} would overwrite engine function(s) of the same name; "
                             f"rename the variable(s)")

    def _remove_globals_and_functions_from_context(
        self, context: dict[str, Any], external_context: Mapping[str, Any] | None = None
    ) -> None:
        for key in list(context):
            if (key == "__builtins__" or callable(context[key]) or key in self.globals
                    or (external_context and key in external_context)):
                context.pop(key)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if len(text) > 300:
        text = text[:300] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class SandboxedScriptEngine(PythonScriptEngine):
    """PythonScriptEngine whose errors say what failed: the exception and the line, not just "error"."""

    environment: SandboxEnvironment

    def __init__(self, environment: SandboxEnvironment | None = None) -> None:
        super().__init__(environment=environment or SandboxEnvironment())

    def validate(self, expression: str) -> None:
        compile_expression(expression, "eval")

    def evaluate(self, task: Any, expression: str, external_context: Mapping[str, Any] | None = None) -> Any:
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression {expression!r}")
            raise
        except Exception as exc:
            wte = WorkflowTaskException(
                f"Error evaluating expression {expression!r} in {_task_label(task)}: {_describe(exc)}",
                task=task, exception=exc)
            if isinstance(exc, SandboxError):
                wte.add_note("model expressions run in a restricted environment (docs/authoring-models.md)")
            raise wte from exc

    def execute(self, task: Any, script: str, external_context: Mapping[str, Any] | None = None) -> bool:
        try:
            return self.environment.execute(script, task.data, external_context or {})
        except Exception as exc:
            raise self.create_task_exec_exception(task, script, exc) from exc

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        raise WorkflowTaskException(f"{_task_label(task)} is a service task: the engine does not call external "
                                    f"services", task=task)

    def create_task_exec_exception(self, task: Any, script: str, err: Exception) -> WorkflowTaskException:
        if isinstance(err, ExpressionRejected):
            line_number = err.line or 0
        elif isinstance(err, SyntaxError):
            line_number = err.lineno or 0
        else:
            line_number, _ = self.get_error_line_number_and_content(script, err)
        lines = _normalise(script, "exec").splitlines()
        error_line = lines[line_number - 1] if 0 < line_number <= len(lines) else ""
        if isinstance(err, SpiffWorkflowException):
            err.add_note(f"Python script error on line {line_number}: {error_line.strip()!r}")
            return err  # type: ignore[return-value]
        wte = WorkflowTaskException(f"Script of {_task_label(task)} failed: {_describe(err)}", task=task,
                                    exception=err, line_number=line_number, error_line=error_line)
        if line_number:
            wte.add_note(f"line {line_number}: {error_line.strip()!r}")
        if isinstance(err, SandboxError):
            wte.add_note("model scripts run in a restricted environment (docs/authoring-models.md)")
        return wte

    def get_error_line_number_and_content(self, script: str, err: BaseException) -> tuple[int, str]:
        """Line of the sandboxed frame where ``err`` was raised (SpiffWorkflow's version needs ``sys.exc_info``)."""
        line_number = 0
        tb = err.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == _FILENAME:
                line_number = tb.tb_lineno
            tb = tb.tb_next
        lines = script.splitlines()
        return line_number, (lines[line_number - 1] if 0 < line_number <= len(lines) else "")


def _task_label(task: Any) -> str:
    spec = getattr(task, "task_spec", None)
    bpmn_id = getattr(spec, "bpmn_id", None) or getattr(spec, "name", "?")
    name = getattr(spec, "bpmn_name", None)
    return f"task {bpmn_id!r}" + (f" ({name})" if name else "")


def make_script_engine(
    functions: Mapping[str, Callable[..., Any]] | None = None,
    *,
    max_operations: int = DEFAULT_MAX_OPERATIONS,
    time_limit: float = DEFAULT_TIME_LIMIT,
) -> SandboxedScriptEngine:
    """A SpiffWorkflow script engine running everything in the sandbox.

    ``functions`` are offered to models by name in addition to the engine functions (the provider's table
    and :func:`register_function`); they are the only callables besides :data:`SAFE_BUILTINS` a model can
    reach.
    """
    offered: dict[str, Callable[..., Any]] = dict(registered_functions())
    for name, function in (functions or {}).items():
        _check_function_name(name)
        offered[name] = function
    environment = SandboxEnvironment(offered, max_operations=max_operations, time_limit=time_limit)
    return SandboxedScriptEngine(environment)
