"""``gongai modeller-prepare``: comments become bpmn:documentation, loop variables become process properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree
from typer.testing import CliRunner

from engine.bpmn.modeller import prepare_for_modeller
from engine.bpmn.validation import validate_models
from engine.cli import app

NS = {"bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL"}
BPMN_DIR = Path(__file__).resolve().parents[1] / "bpmn"
BUNDLED = sorted(BPMN_DIR.glob("*.bpmn")) + sorted((BPMN_DIR / "variants").glob("*.bpmn"))

MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D" targetNamespace="t">
  <!--
    \xe6\xb5\x8b\xe8\xaf\x95\xe6\xb5\x81\xe7\xa8\x8b: what the process does.
      an indented detail & a <tag>
  -->
  <bpmn:process id="p" name="p" isExecutable="true">
    <bpmn:ioSpecification id="io">
      <bpmn:dataInput id="items_in" name="items_in"/>
      <bpmn:inputSet id="is"><bpmn:dataInputRefs>items_in</bpmn:dataInputRefs></bpmn:inputSet>
      <bpmn:outputSet id="os"/>
    </bpmn:ioSpecification>
    <bpmn:startEvent id="s"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="prep"><bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>items = [1, 2]</bpmn:script></bpmn:scriptTask>
    <bpmn:task id="each"><bpmn:documentation>Existing text.</bpmn:documentation>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>
      <bpmn:multiInstanceLoopCharacteristics>
        <bpmn:loopDataInputRef>items</bpmn:loopDataInputRef>
        <bpmn:loopDataOutputRef>results</bpmn:loopDataOutputRef>
        <bpmn:inputDataItem id="item" name="item"/>
        <bpmn:outputDataItem id="result" name="result"/>
      </bpmn:multiInstanceLoopCharacteristics>
      <!-- one per item -->
    </bpmn:task>
    <bpmn:endEvent id="e"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="s" targetRef="prep"/>
    <bpmn:sequenceFlow id="f2" sourceRef="prep" targetRef="each"/>
    <bpmn:sequenceFlow id="f3" sourceRef="each" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_comments_become_documentation_of_what_they_describe() -> None:
    out, changes = prepare_for_modeller(MODEL)
    root = etree.fromstring(out)
    assert not list(root.iter(etree.Comment))
    process = root.find("bpmn:process", NS)
    assert process[0].tag.endswith("documentation")  # BPMN: documentation is the first child
    assert process[0].text == "测试流程: what the process does.\n  an indented detail & a <tag>"
    # a comment with nothing after it documents its parent, after what the element already said
    assert root.findtext(".//bpmn:task/bpmn:documentation", namespaces=NS) == "Existing text.\n\none per item"
    assert changes.documented == ["p", "each"]


def test_undeclared_loop_variables_become_process_properties_after_the_io_specification() -> None:
    out, changes = prepare_for_modeller(MODEL)
    process = etree.fromstring(out).find("bpmn:process", NS)
    tags = [etree.QName(c).localname for c in process]
    assert tags[:4] == ["documentation", "ioSpecification", "property", "property"]
    assert [(p.get("id"), p.get("name")) for p in process.iterfind("bpmn:property", NS)] == \
        [("items", "items"), ("results", "results")]
    assert changes.declared == ["items", "results"]


def test_prepared_model_is_valid_and_preparing_again_changes_nothing() -> None:
    out, _ = prepare_for_modeller(MODEL)
    report = validate_models([("m.bpmn", out)])
    assert [p for p in report.problems if p.is_error] == []
    again, changes = prepare_for_modeller(out)
    assert again == out and not changes.changed


def test_a_loop_reference_to_a_declared_element_is_left_alone() -> None:
    model = MODEL.replace(b"<bpmn:loopDataInputRef>items<", b"<bpmn:loopDataInputRef>items_in<")
    _, changes = prepare_for_modeller(model)
    assert changes.declared == ["results"]


def test_cli_check_reports_and_rewrite_fixes(tmp_path: Path) -> None:
    path = tmp_path / "m.bpmn"
    path.write_bytes(MODEL)
    runner = CliRunner()
    check = runner.invoke(app, ["modeller-prepare", "--check", str(path)])
    assert check.exit_code == 1 and "needs preparing" in check.output and "items, results" in check.output
    assert path.read_bytes() == MODEL
    fix = runner.invoke(app, ["modeller-prepare", str(path)])
    assert fix.exit_code == 0 and b"<bpmn:property" in path.read_bytes()
    assert runner.invoke(app, ["modeller-prepare", "--check", str(path)]).exit_code == 0


@pytest.mark.parametrize("path", BUNDLED, ids=lambda p: str(p.relative_to(BPMN_DIR)))
def test_the_bundled_models_need_no_preparation(path: Path) -> None:
    """No XML comment (a modeller drops them) and no loop variable a modeller cannot resolve."""
    _, changes = prepare_for_modeller(path.read_bytes())
    assert not changes.changed and not changes.kept_comments, (
        f"{path.name} would lose {changes.documented or ''} {changes.declared or ''} in a modeller: run "
        f"`gongai modeller-prepare bpmn/*.bpmn bpmn/variants/*.bpmn`, then `gongai layout` on the same files")
