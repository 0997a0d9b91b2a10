"""The audit's attack payloads against the sandbox: nothing a model evaluates may build a huge value, run
long inside engine functions, or write unbounded output; ordinary code keeps working."""

from __future__ import annotations

import logging

import pytest

from engine.bpmn import sandbox
from engine.bpmn.guards import MAX_SEQUENCE_LENGTH, text_size
from engine.bpmn.sandbox import BudgetExceeded, ExpressionRejected, SandboxEnvironment, capture_output

GIGA = 10 ** 9


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment()


@pytest.mark.parametrize("text", [
    f"'x'.ljust({GIGA})", f"'x'.rjust({GIGA})", f"'x'.center({GIGA})", f"'1'.zfill({GIGA})",
    f"str.ljust('x', {GIGA})", f"b'x'.ljust({GIGA})", f"b'x'.center({GIGA}, b'y')",
    f"'%*d' % ({GIGA}, 1)", "'%1000000000d' % 1", "'%.1000000000f' % 1.5", f"b'%*d' % ({GIGA}, 1)",
    "''.join(['x' * 1000000] * 1000)", "''.join('x' * 1000000 for _ in range(1000))", "str.join('', ['ab'] * 999999)",
    f"(1).to_bytes({GIGA}, 'big')", f"int.to_bytes(1, {GIGA}, 'big')",
    "('x' * 1000000).replace('x', 'yy')", "('\\t' * 1000000).expandtabs(100)",
    "('a' * 1000000).translate({97: 'bbbb'})",
    "str(['x' * 1000000] * 1000)", "f\"{['x' * 1000000] * 1000}\"", "'%s' % (['x' * 1000000] * 1000,)",
    "'x' * 1000000 + 'y' * 1000000", "[0] * 1000000 + [1]",
    "bytes(10 ** 9)", "bytearray(10 ** 9)",
])
def test_expressions_that_would_build_a_gigabyte_are_refused(env: SandboxEnvironment, text: str) -> None:
    with pytest.raises((BudgetExceeded, NameError)) as caught:
        env.evaluate(text, {})
    if isinstance(caught.value, NameError):  # bytes / bytearray are not offered to models at all
        assert text.startswith(("bytes(", "bytearray("))


@pytest.mark.parametrize("script", [
    "s = 'x'\nfor _ in range(40):\n    s = s + s",
    "s = 'x'\nfor _ in range(40):\n    s += s",
    "l = [0]\nfor _ in range(40):\n    l += l",
    "l = [0]\nfor _ in range(40):\n    l.extend(l)",
    "l = [0]\nfor _ in range(40):\n    l.extend(zip(l))",
    "l = [0]\nfor _ in range(40):\n    l[:0] = l",
    "l = [0]\nfor _ in range(40):\n    l[len(l):] += l",
    "s = 'x'\nfor _ in range(40):\n    s = '%s%s' % (s, s)",
    "l = ['x' * 999999]\nfor i in range(100000):\n    l.append(l[0] + str(i))",
])
def test_growth_step_by_step_is_stopped(env: SandboxEnvironment, script: str) -> None:
    with pytest.raises(BudgetExceeded):
        env.execute(script, {})


def test_memory_over_the_limit_is_stopped_even_in_small_steps() -> None:
    env = SandboxEnvironment(max_memory=64 << 20)
    with pytest.raises(BudgetExceeded, match="MiB of memory"):
        env.execute("l = []\nfor i in range(1000000):\n    l.append('x' * 100000 + str(i))", {})


def test_slice_assignment_in_other_positions_is_refused_at_check_time(env: SandboxEnvironment) -> None:
    for script in ("a = l[:0] = l", "l[:0], b = l, 1", "for l[:0] in [[1]]:\n    pass"):
        with pytest.raises(ExpressionRejected, match="slice"):
            env.execute(script, {"l": [0]})


def test_ordinary_code_still_behaves_as_python(env: SandboxEnvironment) -> None:
    data: dict = {"names": ["甲", "乙"], "n": 3}
    env.execute("label = ', '.join(names).ljust(10, '.')\ncode = str(n).zfill(4)\n"
                "items = [1]\nitems += [2]\nitems.extend(x for x in (3, 4))\nitems[:0] = [0]\n"
                "text = '%-5s|%3d' % ('ab', 7) + f'{items}'\nok = isinstance(label, str)\n"
                "upper = list(map(str.upper, ['a']))\nsame = items\nsame += [5]", data)
    assert data["label"] == "甲, 乙......" and data["code"] == "0003"
    assert data["items"] == [0, 1, 2, 3, 4, 5], "+= on a list stays in place (same is items)"
    assert data["text"] == "ab   |  7[0, 1, 2, 3, 4]" and data["ok"] is True and data["upper"] == ["A"]


def test_text_size_estimates_the_text_of_nested_and_self_referencing_values() -> None:
    looped: list = []
    looped.append(looped)
    assert text_size(looped) < 100
    assert text_size(["x" * 10] * 3) >= 30
    assert text_size(["x" * 1000] * 10 ** 6) > MAX_SEQUENCE_LENGTH


def test_engine_functions_count_against_their_own_time_and_call_limits() -> None:
    calls = []
    env = SandboxEnvironment({"tick": lambda: calls.append(1)}, max_engine_calls=100)
    with pytest.raises(BudgetExceeded, match="more than 100 times"):
        env.execute("for _ in range(2000):\n    tick()", {})
    assert len(calls) == 100


def test_a_slow_engine_function_is_interrupted_inside(monkeypatch) -> None:
    """An engine function that loops in Python (calling helpers) is stopped at its engine time limit."""
    now = [0.0]

    def monotonic() -> float:
        now[0] += 0.5
        return now[0]

    def helper() -> None:
        pass

    def endless() -> None:
        while True:
            helper()

    monkeypatch.setattr(sandbox.time, "monotonic", monotonic)
    env = SandboxEnvironment({"endless": endless}, engine_time_limit=5.0)
    with pytest.raises(BudgetExceeded, match="inside engine functions"):
        env.evaluate("endless()", {})


def test_working_days_after_refuses_absurd_day_counts() -> None:
    from engine.services.functions import working_days_after

    with pytest.raises(ValueError, match="days"):
        working_days_after("2026-09-01T00:00:00+08:00", 10 ** 9)


def test_print_is_captured_bounded_and_never_written_raw(env: SandboxEnvironment, caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)
    with capture_output() as out:
        env.execute("for i in range(1000):\n    print('line', i, 'x' * 100000)", {})
    assert len(out.lines) == sandbox.MAX_OUTPUT_LINES and out.dropped == 1000 - sandbox.MAX_OUTPUT_LINES
    assert all(len(line) <= sandbox.MAX_OUTPUT_LINE + 1 for line in out.lines)
    assert out.lines[0].startswith("line 0 xxx")
    assert capsys.readouterr().out == "" and "xxxxxxxxxx" not in caplog.text
    with pytest.raises(BudgetExceeded):
        env.execute("print(['x' * 1000000] * 1000)", {})
