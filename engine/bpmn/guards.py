"""Size guards for model code: every operation that can build a large value in one step is checked first.

The sandbox's trace hook counts the model's operations, but one operation can run in C for as long as it
likes: ``"x".ljust(10**9)``, ``"%*d" % (10**9, 1)``, ``"".join([s] * 10**6)``, ``(1).to_bytes(10**9, "big")``,
``s + s`` doubled thirty times, ``l[:0] = l`` or ``l.extend(zip(l))`` each build a gigabyte in a handful of
operations. The sandbox therefore rewrites model code so that these go through the functions here
(:data:`GUARD_FUNCTIONS`, under names starting with ``__`` that model code cannot mention):

- binary ``+ * ** << %`` and their augmented forms (in place where Python does it in place);
- f-string values and ``str()`` / ``print()`` of containers (their text can be far larger than they are);
- attribute reads (``x.name``): a growing method of ``str``/``bytes``/``int``/``list`` (:data:`_METHOD_GUARDS`)
  comes back wrapped in a check of the size it will produce;
- slice assignment (``l[a:b] = v``).

Each guard refuses (:class:`BudgetExceeded`) a result over :data:`MAX_SEQUENCE_LENGTH` items or characters
before building it. What many small steps add up to is bounded by the trace hook's memory check
(``sandbox._Budget``), which the per-step bound keeps cheap: no step can overshoot by much.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["GUARD_FUNCTIONS", "MAX_FORMAT_WIDTH", "MAX_INT_BITS", "MAX_SEQUENCE_LENGTH", "BudgetExceeded",
           "SafeStr", "SandboxError", "text_size"]

MAX_SEQUENCE_LENGTH = 1_000_000
"""Longest string, bytes, list or ``range`` (items or characters) one model operation may build."""
MAX_INT_BITS = 100_000
"""Largest integer (in bits, about 30,000 digits) that ``*``, ``**`` and ``<<`` may produce."""
MAX_FORMAT_WIDTH = 1_000
"""Widest field (or precision) an f-string or ``%`` format may ask for."""


class SandboxError(Exception):
    """Base class of sandbox refusals."""


class BudgetExceeded(SandboxError):
    """The code ran too long, or tried to build a value too large to build safely."""


def _refuse(what: str, size: int) -> None:
    raise BudgetExceeded(f"{what} would build {size:,} items or characters, over the limit of "
                         f"{MAX_SEQUENCE_LENGTH:,}")


def text_size(value: Any, limit: int = MAX_SEQUENCE_LENGTH) -> int:
    """An upper-bound estimate of ``len(str(value))``, walking containers; stops as soon as it passes ``limit``."""
    total = 0
    stack = [value]
    seen: set[int] = set()
    while stack:
        item = stack.pop()
        if isinstance(item, (str, bytes, bytearray)):
            total += len(item) * (4 if isinstance(item, (bytes, bytearray)) else 1) + 3
        elif isinstance(item, bool) or item is None:
            total += 5
        elif isinstance(item, int):
            total += item.bit_length() // 3 + 2
        elif isinstance(item, (list, tuple, set, frozenset, dict)):
            if id(item) in seen:
                total += 5
                continue
            seen.add(id(item))
            total += 4 * len(item) + 2
            if total <= limit:
                stack.extend(item.items() if isinstance(item, dict) else item)
        else:
            total += 80  # numbers, dates, ranges ... have short texts
        if total > limit:
            return total
    return total


def _check_text(value: Any, what: str) -> Any:
    size = text_size(value)
    if size > MAX_SEQUENCE_LENGTH:
        _refuse(what, size)
    return value


def _length(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, bytearray, list, tuple)) else None


# -- operators --------------------------------------------------------------------------------------------------
def _check_pow(base: Any, exponent: Any, modulo: Any = None) -> None:
    if modulo is None and isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent * base.bit_length() > MAX_INT_BITS:
            raise BudgetExceeded(f"{base} ** {exponent} would be an integer too large to compute safely")


def guarded_pow(base: Any, exponent: Any, modulo: Any = None) -> Any:
    _check_pow(base, exponent, modulo)
    return pow(base, exponent) if modulo is None else pow(base, exponent, modulo)


def _check_mul(left: Any, right: Any) -> None:
    for seq, times in ((left, right), (right, left)):
        length = _length(seq)
        if length is not None and isinstance(times, int) and length * times > MAX_SEQUENCE_LENGTH:
            _refuse("repeating a sequence", length * times)
    if isinstance(left, int) and isinstance(right, int) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded("multiplication would produce an integer too large to compute safely")


def guarded_mul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    return left * right


def guarded_imul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    left *= right
    return left


def _check_lshift(left: Any, right: Any) -> None:
    if isinstance(left, int) and isinstance(right, int) and left and right + left.bit_length() > MAX_INT_BITS:
        raise BudgetExceeded(f"{left} << {right} would be an integer too large to compute safely")


def guarded_lshift(left: Any, right: Any) -> Any:
    _check_lshift(left, right)
    return left << right


_SEQUENCES = (str, bytes, bytearray, list, tuple)


def guarded_add(left: Any, right: Any) -> Any:
    if (isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES)
            and len(left) + len(right) > MAX_SEQUENCE_LENGTH):
        _refuse("concatenating", len(left) + len(right))
    return left + right


def guarded_iadd(left: Any, right: Any) -> Any:
    """``left += right`` (in place for lists, as Python does), refused if the result is too long."""
    if isinstance(left, _SEQUENCES):
        if isinstance(left, list) and not isinstance(right, _SEQUENCES):
            right = _bounded_list(right, len(left), "extending a list")
        if isinstance(right, _SEQUENCES) and len(left) + len(right) > MAX_SEQUENCE_LENGTH:
            _refuse("concatenating", len(left) + len(right))
    left += right
    return left


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0 +\-]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?([a-zA-Z%])")


def _check_percent(template: Any, args: Any) -> None:
    text = template.decode("latin-1") if isinstance(template, (bytes, bytearray)) else template
    for width, precision, _ in _PERCENT_SPEC.findall(text):
        for number in (width, precision):
            if number == "*":
                raise BudgetExceeded("'*' widths in % formatting are not allowed: write the width in the format")
            if number and int(number) > MAX_FORMAT_WIDTH:
                raise BudgetExceeded(f"a % format width or precision over {MAX_FORMAT_WIDTH} is not allowed")
    size = len(text) + text_size(args)
    if size > MAX_SEQUENCE_LENGTH:
        _refuse("% formatting", size)


def guarded_mod(left: Any, right: Any) -> Any:
    if isinstance(left, (str, bytes, bytearray)):
        _check_percent(left, right)
    return left % right


def guarded_imod(left: Any, right: Any) -> Any:
    return guarded_mod(left, right)


def guarded_format_value(value: Any) -> Any:
    """An f-string's value: refused if its text would be too long (a list holding a long string many times)."""
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        _check_text(value, "formatting a value")
    return value


class _StrType(type):
    """Makes :class:`SafeStr` stand in for ``str`` in ``isinstance`` and for its unbound methods."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, str)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, str)

    def __getattr__(cls, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(str, name)


class SafeStr(metaclass=_StrType):
    """The ``str`` models see: ``str(value)`` is refused when the text would be too long (a list holding a
    long string a million times), everything else behaves as ``str`` (``isinstance(x, str)``, ``str.upper``)."""

    def __new__(cls, *args: Any, **kwargs: Any) -> str:  # type: ignore[misc]
        if len(args) == 1 and not kwargs:
            _check_text(args[0], "str()")
        return str(*args, **kwargs)


def guarded_setitem(target: Any, index: Any, value: Any) -> None:
    """``target[a:b] = value``: refused if the list would grow past the limit."""
    if isinstance(target, list) and isinstance(index, slice):
        if not isinstance(value, (list, tuple, str, bytes)):
            value = _bounded_list(value, len(target), "slice assignment")
        if len(target) + len(value) > MAX_SEQUENCE_LENGTH:
            _refuse("slice assignment", len(target) + len(value))
    target[index] = value


# -- methods ----------------------------------------------------------------------------------------------------
def _bounded_list(items: Iterable[Any], already: int, what: str) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.append(item)
        if already + len(out) > MAX_SEQUENCE_LENGTH:
            _refuse(what, already + len(out))
    return out


def _width(self: Any, width: Any, *rest: Any) -> None:
    if isinstance(width, int) and width > MAX_SEQUENCE_LENGTH:
        _refuse("padding", width)


def _join(self: Any, iterable: Iterable[Any]) -> tuple[Any, ...]:
    items = []
    total = 0
    for item in iterable:
        items.append(item)
        total += (len(item) if isinstance(item, (str, bytes, bytearray)) else 0) + len(self)
        if total > MAX_SEQUENCE_LENGTH:
            _refuse("join", total)
    return (items,)


def _replace(self: Any, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)) and len(new) > len(old):
        found = self.count(old) if old else len(self) + 1
        if isinstance(count, int) and count >= 0:
            found = min(found, count)
        size = len(self) + found * (len(new) - len(old))
        if size > MAX_SEQUENCE_LENGTH:
            _refuse("replace", size)


def _expandtabs(self: Any, tabsize: Any = 8) -> None:
    tab = "\t" if isinstance(self, str) else b"\t"
    if isinstance(tabsize, int) and len(self) + self.count(tab) * max(tabsize, 0) > MAX_SEQUENCE_LENGTH:
        _refuse("expandtabs", len(self) + self.count(tab) * tabsize)


def _translate(self: Any, table: Any, *rest: Any) -> None:
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, str)), default=1)
        if len(self) * longest > MAX_SEQUENCE_LENGTH:
            _refuse("translate", len(self) * longest)


def _to_bytes(self: Any, length: Any = 1, *rest: Any, **kwargs: Any) -> None:
    if isinstance(length, int) and length > MAX_SEQUENCE_LENGTH:
        _refuse("int.to_bytes", length)


def _extend(self: Any, iterable: Any) -> tuple[Any, ...]:
    if isinstance(iterable, (list, tuple, str, bytes)):
        if len(self) + len(iterable) > MAX_SEQUENCE_LENGTH:
            _refuse("extending a list", len(self) + len(iterable))
        return (iterable,)
    return (_bounded_list(iterable, len(self), "extending a list"),)


_Check = Callable[..., Any]
_TEXT_METHODS: dict[str, _Check] = {
    "ljust": _width, "rjust": _width, "center": _width, "zfill": _width, "join": _join, "replace": _replace,
    "expandtabs": _expandtabs,
}
_METHOD_GUARDS: dict[type, dict[str, _Check]] = {
    str: {**_TEXT_METHODS, "translate": _translate},
    bytes: dict(_TEXT_METHODS),
    bytearray: {**_TEXT_METHODS, "extend": _extend},
    int: {"to_bytes": _to_bytes},
    bool: {"to_bytes": _to_bytes},
    list: {"extend": _extend},
}
"""Methods that can build a value much larger than their inputs, with the check each call goes through. A
check returns ``None`` (call with the arguments as given) or the arguments to call with instead (``join`` and
``extend`` consume an iterator once, while counting)."""


def guarded_attribute(obj: Any, name: str) -> Any:
    """``obj.name`` for model code: growing methods come back wrapped in their size check, bound
    (``s.ljust``) or unbound (``str.ljust``)."""
    value = getattr(obj, name)
    if isinstance(obj, type):
        checks = _METHOD_GUARDS.get(str if obj is SafeStr else obj)
        check = checks.get(name) if checks else None
        if check is None:
            return value

        def unbound(self: Any, *args: Any, **kwargs: Any) -> Any:
            replaced = check(self, *args, **kwargs)
            return value(self, *replaced) if replaced is not None else value(self, *args, **kwargs)

        return unbound
    checks = _METHOD_GUARDS.get(type(obj))
    check = checks.get(name) if checks else None
    if check is None:
        return value

    def guarded(*args: Any, **kwargs: Any) -> Any:
        replaced = check(obj, *args, **kwargs)
        return value(*replaced) if replaced is not None else value(*args, **kwargs)

    return guarded


GUARD_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "__sandbox_pow__": guarded_pow,
    "__sandbox_mul__": guarded_mul,
    "__sandbox_imul__": guarded_imul,
    "__sandbox_lshift__": guarded_lshift,
    "__sandbox_add__": guarded_add,
    "__sandbox_iadd__": guarded_iadd,
    "__sandbox_mod__": guarded_mod,
    "__sandbox_imod__": guarded_imod,
    "__sandbox_fmt__": guarded_format_value,
    "__sandbox_attr__": guarded_attribute,
    "__sandbox_setitem__": guarded_setitem,
}
"""The functions the rewritten code calls, by the names the rewriter uses."""
