"""Every refusal the services raise is shown in the pages in Chinese, next to the field it concerns.

The walk reads the source: every ``raise`` of a service error (engine/services, api), the domain errors the
services pass on (the timing ledger, the case questionnaire, the plan, 行政区划代码, the task payloads and their
validators, the 容缺 reasons), the refusal texts of engine/domain/authorisation.py and the details of
api/problems.py. Each message is rebuilt with sample values in its placeholders, raised as the service error it
is, and run through ``api.pages.common.refusal`` — what every page shows. The page must say it in Chinese: a
Chinese sentence from ``api.pages.refusals``, with no English sentence left. A new refusal without its Chinese
wording fails here (its file and line are named).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import api.app  # noqa: F401 - imports every module that defines a service error
from api.pages import common, refusals
from engine.domain.tasks import PAYLOADS, PayloadError, parse_payload
from engine.services.errors import Invalid, ServiceError
from tests.test_api_support import Harness, make_harness
from tests.test_pages import sign_in

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = "7"
#: Inside a message that passes another on (``case: {exc}``), a domain message that is itself walked below.
INNER = "matter S1/x is not running"
TASK_NAME = "审查：建设用地规划许可"
#: Raises whose message is a variable: each is the pass-through of a message walked in its own right.
PASSED_ON = {"str(exc)", "refusal", "problems", "message",
             "'; '.join((_describe(err) for err in exc.errors()))"}  # pydantic's words: the payload test below
#: Samples for placeholders whose value has a shape (a field name, an id kind, an optional tail).
NAMED = {"field": "stage", "name": "stage", "what": "matter", "where": "", "scope": " for project type social_small",
         "hint": " (known: a, b)"}
CJK = re.compile(r"[\u4e00-\u9fff]")
ENGLISH = re.compile(r"[A-Za-z]{2,}(?:[ ,'()-]+[A-Za-z]{2,}){2,}")  # three English words in a row: a sentence


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


SERVICE_ERRORS = {"ServiceError", *(c.__name__ for c in _subclasses(ServiceError))}
DOMAIN_ERRORS = {"LedgerError", "PlanConflict", "DivisionError", "PayloadError", "ProjectCodeError"}


def _text(node: ast.AST) -> str | None:
    """The message an expression builds, with sample values in its placeholders (None: not a message)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = ""
        for part in node.values:
            if isinstance(part, ast.Constant):
                out += str(part.value)
                continue
            assert isinstance(part, ast.FormattedValue)
            source = ast.unparse(part.value)
            value = INNER if source in ("exc", "str(exc)") else TASK_NAME if "name']" in source else \
                NAMED.get(source, SAMPLE)
            out += repr(value) if part.conversion == ord("r") else value
        return out
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return (left if left is not None else SAMPLE) + (right if right is not None else SAMPLE)
    return None


def _sources(*folders: str) -> Iterator[tuple[Path, ast.AST]]:
    for folder in folders:
        base = ROOT / folder
        for path in [base] if base.is_file() else sorted(base.rglob("*.py")):
            yield path, ast.parse(path.read_text(encoding="utf-8"))


def _raised(names: set[str], *folders: str) -> Iterator[tuple[str, str, str]]:
    """(where, error class, message) of every ``raise Name(message)`` of the named classes, except in the
    functions that load configuration (``load_*``: a deployment's fault, not a request's)."""
    for path, tree in _sources(*folders):
        loaders = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name.startswith("load")
                   for n in ast.walk(f)}
        for node in ast.walk(tree):
            if id(node) in loaders:
                continue
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            func = node.exc.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in names or not node.exc.args:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            text = _text(node.exc.args[0])
            if text is None:
                assert ast.unparse(node.exc.args[0]) in PASSED_ON, f"{where}: a refusal whose words this walk cannot see"
                continue
            yield where, name, text


def refusals_in_the_code() -> list[tuple[str, int, str]]:
    """(where, HTTP status, message) of every refusal a page may have to show."""
    status = {"Invalid": 422, "NotFound": 404, "Forbidden": 403, "Conflict": 409, "ModelFailure": 422,
              "Unauthenticated": 401, "TooManyFailures": 429, "ServiceError": 400}
    out = [(where, status.get(name, 400), text) for where, name, text in _raised(SERVICE_ERRORS, "engine/services", "api")]
    # the domain errors the services pass on (as a conflict or an invalid request)
    out += [(where, 409 if name == "LedgerError" else 422, text)
            for where, name, text in _raised(DOMAIN_ERRORS, "engine/domain")]
    # the validators of the task payloads and of the filing (pydantic value errors, after the task's name)
    out += [(where, 422, f"{TASK_NAME}: {text}") for where, _, text in _raised({"ValueError"}, "engine/domain/tasks.py")]
    out += [(where, 422, f"unit_works: {text}") for where, _, text in _raised({"ValueError"}, "engine/domain/project.py")]
    for path, tree in _sources("engine/domain"):
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            # who may act on a task, read a credit standing, release a claim: the refusal texts
            if isinstance(node, ast.FunctionDef) and node.name.endswith("_refusal"):
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and ret.value is not None and _text(ret.value) is not None:
                        out.append((f"{path.relative_to(ROOT)}:{ret.lineno}", 403, _text(ret.value)))
            # the case questionnaire's problems (CaseError: ``case.<question>: <problem>（<label>）``)
            if isinstance(node, ast.FunctionDef) and node.name == "_problem" and path.name == "case.py":
                for ret in ast.walk(node):
                    if isinstance(ret, ast.Return) and ret.value is not None and _text(ret.value) is not None:
                        out.append((f"{path.relative_to(ROOT)}:{ret.lineno}", 422,
                                    f"case.floor_area_m2: {_text(ret.value)}（总建筑面积）"))
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.args
                    and isinstance(node.func.value, ast.Name)):
                # CaseError problems appended as (question, message); 容缺 reasons appended as messages
                arg = node.args[0]
                if node.func.value.id == "problems" and isinstance(arg, ast.Tuple) and path.name == "case.py":
                    text = _text(arg.elts[1])
                    if text is not None and "{problem}" not in ast.unparse(arg.elts[1]):
                        out.append((where, 422, f"case.floor_area_m2: {text}"))
                if node.func.value.id == "reasons" and path.name == "catalogue.py" and _text(arg) is not None:
                    out.append((where, 422, "容缺受理 is not allowed: " + _text(arg)))
    # the problem details of api/problems.py
    for path, tree in _sources("api"):
        for node in ast.walk(tree):
            if (path.name == "problems.py" and isinstance(node, ast.Call) and getattr(node.func, "id", None) == "problem"
                    and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)):
                text = _text(node.args[1])
                if text is not None:
                    out.append((f"{path.relative_to(ROOT)}:{node.lineno}", node.args[0].value, text))
    return out


REFUSALS = refusals_in_the_code()


def test_the_walk_finds_the_refusals() -> None:
    """The walk itself must see the refusals (a walk that finds nothing would pass everything)."""
    assert len(REFUSALS) > 130
    texts = " | ".join(text for _, _, text in REFUSALS)
    for known in ("容缺受理 is not allowed", "is not ready: it is", "unknown project type", "already ended",
                  "a refusal (不予许可) needs a 'reason'", "only '7' (or an administrator)", "is below the minimum",
                  "the database is unavailable", "is not a 6-digit 行政区划代码", "Authorization: send"):
        assert known in texts, known


def _shown(status: int, text: str, fields: tuple[str, ...] = ()) -> dict[str, str]:
    exc = ServiceError(text)
    exc.status = status
    return common.refusal(exc, fields)[1]


@pytest.mark.parametrize("where, status, text", REFUSALS, ids=[f"{w}" for w, _, _ in REFUSALS])
def test_every_refusal_is_shown_in_chinese(where: str, status: int, text: str) -> None:
    pairs = refusals.explain(text)
    unexplained = [message for _, message in pairs if message == refusals._unexplained(message[6:-1])]
    assert not unexplained, f"{where}: no Chinese wording for {text!r} (add it to api/pages/refusals.py)"
    for shown in _shown(status, text).values():
        assert CJK.search(shown), (where, shown)
        left = ENGLISH.findall(shown.replace(INNER, "").replace(SAMPLE, ""))
        assert not left, f"{where}: English left in {shown!r}: {left}"


def test_a_refusal_naming_a_field_is_shown_beside_it() -> None:
    errors = _shown(422, "project_type: unknown project type 'castle' (known: a, b)", ("name", "project_type"))
    assert set(errors) == {"project_type"} and "未知的项目类型“castle”" in errors["project_type"]
    # not on the form: at the top, its field named in Chinese
    assert _shown(422, "division: '36' is not a 6-digit 行政区划代码") == {"_": "行政区划代码：'36' 不是 6 位行政区划代码"}
    # a refusal whose message is about a field it does not start with (a task payload's rule)
    errors = _shown(422, f"{TASK_NAME}: a refusal (不予许可) needs a 'reason'", ("reason", "items"))
    assert errors == {"reason": "不予许可须填写理由"}
    # every problem of a questionnaire beside its question
    errors = _shown(422, "case.floor_area_m2: -5 is below the minimum 0（总建筑面积）; case.land_supply: required: 供地方式",
                    ("name", "case."))
    assert errors == {"case.floor_area_m2": "-5 小于最小值 0（总建筑面积）", "case.land_supply": "必填：供地方式"}


@pytest.mark.parametrize("spec_id", sorted(PAYLOADS))
def test_every_payload_problem_pydantic_words_is_chinese(spec_id: str) -> None:
    """The payload models' own field rules (missing, wrong choice, empty, too long, extra), as pydantic words them."""
    model = PAYLOADS[spec_id]
    bad: dict[str, object] = {"zzz": 1}
    for name, info in model.model_fields.items():
        bad[name] = "" if info.annotation is not bool else "maybe"
    for payload in ({}, bad, {name: ["x" * 6000] * 300 for name in model.model_fields},
                    {name: "x" * 6000 for name in model.model_fields}):
        try:
            parse_payload(spec_id, payload)
        except PayloadError as exc:
            text = f"{TASK_NAME}: {exc}"
            for _, message in refusals.explain(text):
                assert CJK.search(message) and not message.startswith("操作未执行（"), (spec_id, text, message)


# -- through the pages ----------------------------------------------------------------------------------------------
@pytest.fixture()
def hz(tmp_path: Path) -> Harness:
    return make_harness(tmp_path)


def test_pages_show_the_refusal_in_chinese(hz: Harness) -> None:
    sign_in(hz, "officer-zjj")
    page = hz.client.get("/ui/tasks/T-no-such-task")
    assert page.status_code == 404 and "任务 T-no-such-task 不存在" in page.text
    sign_in(hz, "admin")
    csrf = re.search(r'name="csrf" value="([^"]+)"', hz.client.get("/ui/admin").text).group(1)
    bad = hz.client.post("/ui/admin/users", data={"csrf": csrf, "name": "x1", "role": "agency", "department": "nowhere"})
    assert bad.status_code == 422
    error = re.search(r'<p class="field-error" id="err-department" role="alert">(.*?)</p>', bad.text)
    assert error and error.group(1).startswith("未知部门“nowhere”"), bad.text[:2000]
    assert not ENGLISH.search(error.group(1).split("（可选")[0])
