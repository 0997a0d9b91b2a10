"""Parse untrusted model files into lxml trees without letting the file reach outside itself.

Models arrive from administrators who drew them in Camunda Modeler, bpmn.io, Signavio or Bizagi, and some
will be broken or hostile. lxml's defaults are reasonably safe, but "reasonably" is not a policy, so this
module states one:

* a size limit before anything is parsed (a 2 GiB upload is refused, not read into a tree);
* no DOCTYPE at all: a document type declaration is the only way to declare entities, which is how both
  XXE (``<!ENTITY x SYSTEM "file:///etc/passwd">``) and billion-laughs expansion work, and no modeller
  writes one, so it is refused outright rather than parsed and neutralised;
* the lxml parser is still configured defensively (no entity resolution, no DTD loading, no network,
  no "huge tree" relaxation of libxml2's depth and size limits) in case the text check is ever bypassed;
* common encodings only (UTF-8, UTF-16 with a byte-order mark, the ISO-8859 and Windows code pages some
  modellers still write, GB2312/GBK/GB18030 and the other CJK standards), and the bytes must be valid in
  the declared encoding: a mis-saved file is refused with the line and byte that do not decode, instead of
  being read as mojibake; exotic encodings (UTF-7, EBCDIC, UTF-32) are refused outright;
* binary files and plain text are recognised and named, so the message says "this is a PNG image", not
  "Start tag expected, '<' not found".

Every refusal is a :class:`~engine.bpmn.problems.BpmnLoadError` carrying one
:class:`~engine.bpmn.problems.Problem` with a stable code (``xml-too-large``, ``xml-binary``, ``xml-encoding``,
``xml-not-xml``, ``xml-doctype``, ``xml-malformed``, ``xml-empty``).
"""

from __future__ import annotations

import codecs
import re
from typing import NoReturn

from lxml import etree

from engine.bpmn.problems import BpmnLoadError, error

__all__ = ["DEFAULT_MAX_BYTES", "BpmnLoadError", "parse_xml"]

DEFAULT_MAX_BYTES = 5 * 1024 * 1024
"""Largest model file accepted. Real approval models are tens of kilobytes; 5 MiB leaves ample room."""

# Magic numbers of the binary formats most likely to be uploaded by mistake (a diagram export instead of
# the model, an office document, an archive).
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"BZh", "a bzip2 archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office document"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "an executable (Windows)"),
)

_ENCODINGS = frozenset(
    ["utf-8", "ascii", "iso8859-1", "cp1252", "gb2312", "gbk", "gb18030", "big5", "big5hkscs", "shift_jis",
     "cp932", "euc_jp", "euc_kr"]
    + [f"iso8859-{n}" for n in range(2, 17)]
    + [f"cp{n}" for n in range(1250, 1259)]
)
"""Encodings (Python codec names) a model may declare; others (UTF-7, EBCDIC ...) are refused."""
_DECLARED_ENCODING = re.compile(rb"""\A<\?xml\s[^>]*?\bencoding\s*=\s*(["'])([A-Za-z0-9._:-]+)\1""")
_ENTITY_DECL = re.compile(r"<!ENTITY\s+%?\s*([^\s>]+)")
_LXML_POSITION_SUFFIX = re.compile(r",\s*line \d+, column \d+\s*$")


def parse_xml(data: bytes, *, source: str, max_bytes: int = DEFAULT_MAX_BYTES) -> etree._Element:
    """Parse ``data`` (the bytes of the file called ``source``) and return the root element.

    Raises :class:`BpmnLoadError` with a specific message for every way the bytes can fail to be a safe,
    well-formed XML document; never raises anything else for bad input.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"parse_xml needs bytes, not {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        _refuse(source, "xml-too-large",
                f"file is {_human_size(len(data))}, over the {_human_size(max_bytes)} limit for a model file")
    if not data.strip():
        _refuse(source, "xml-empty", "file is empty")
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            _refuse(source, "xml-binary", f"this is {kind}, not a BPMN XML document")

    text = _decode(data, source)
    body = text.lstrip("\ufeff \t\r\n")
    if not body.startswith("<"):
        snippet = body[:40].splitlines()[0] if body else ""
        _refuse(source, "xml-not-xml", f"not an XML document: it begins with {snippet!r} instead of '<'")
    _refuse_doctype(text, source)

    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        message = _LXML_POSITION_SUFFIX.sub("", exc.msg or str(exc)).strip()
        line, column = exc.position if exc.position else (exc.lineno, None)
        where = f" (line {line}, column {column})" if column else ""
        _refuse(source, "xml-malformed", f"malformed XML: {message}{where}", line or None)
    if root is None:  # pragma: no cover - lxml returns None only for recover=True parsers
        _refuse(source, "xml-malformed", "malformed XML: no root element")
    docinfo = root.getroottree().docinfo
    if docinfo.doctype or docinfo.internalDTD is not None:  # pragma: no cover - defence in depth
        _refuse(source, "xml-doctype", "document type declarations (<!DOCTYPE>) are not allowed")
    return root


def _decode(data: bytes, source: str) -> str:
    """Return the text of ``data``; refuse unsupported encodings and bytes that are invalid in their encoding."""
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        _refuse(source, "xml-encoding", "file is encoded as UTF-32, which is not supported; save the model as UTF-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            _refuse(source, "xml-encoding", f"file has a UTF-16 byte-order mark but is not valid UTF-16 ({exc.reason} "
                                            f"at byte {exc.start}); save the model as UTF-8")
    if b"\x00" in data:
        offset = data.index(b"\x00")
        _refuse(source, "xml-binary", f"binary data, not a BPMN XML document (NUL byte at offset {offset})")

    declared_match = _DECLARED_ENCODING.match(data.removeprefix(codecs.BOM_UTF8))
    declared = declared_match.group(2).decode("ascii") if declared_match else None
    codec = "utf-8"
    if declared is not None:
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            _refuse(source, "xml-encoding", f"declared encoding {declared!r} is unknown; save the model as UTF-8", 1)
        if codec.startswith("utf-16"):
            _refuse(source, "xml-encoding", f"declared encoding {declared!r} but the file has no UTF-16 byte-order "
                                            f"mark; save the model as UTF-8", 1)
        if codec not in _ENCODINGS:
            _refuse(source, "xml-encoding", f"declared encoding {declared!r} is not supported; save the model as UTF-8 "
                                            f"(or another common encoding such as GB18030 or ISO-8859-1)", 1)
        if data.startswith(codecs.BOM_UTF8) and codec != "utf-8":
            _refuse(source, "xml-encoding", f"file starts with a UTF-8 byte-order mark but declares {declared!r}", 1)
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        bad = data[exc.start:exc.start + 1].hex().upper()
        if sum(b < 9 or 13 < b < 32 for b in data[:512]) > 8:
            _refuse(source, "xml-binary", "binary data, not a BPMN XML document")
        said = f"declared as {declared!r}" if declared else "no encoding declared, so UTF-8 applies"
        _refuse(source, "xml-encoding",
                f"bytes are not valid {codec.upper()} ({said}): byte 0x{bad} at line {line}, column {column} cannot "
                f"be decoded; re-save the file as UTF-8", line)
    raise AssertionError("unreachable")  # pragma: no cover


def _refuse_doctype(text: str, source: str) -> None:
    """Refuse a ``<!DOCTYPE ...>`` in the prolog (the only place one can appear in well-formed XML)."""
    position = 0
    length = len(text)
    while position < length:
        while position < length and text[position] in "\ufeff \t\r\n":
            position += 1
        if text.startswith("<?", position):
            end = text.find("?>", position)
            position = length if end < 0 else end + 2
        elif text.startswith("<!--", position):
            end = text.find("-->", position)
            position = length if end < 0 else end + 3
        elif text.startswith("<!DOCTYPE", position) or text.startswith("<!doctype", position):
            line = text.count("\n", 0, position) + 1
            entities = _ENTITY_DECL.findall(text, position)
            if entities:
                names = ", ".join(repr(n) for n in entities[:3]) + (" ..." if len(entities) > 3 else "")
                message = (f"document type declaration with entity declarations ({names}) is not allowed: "
                           f"entities can read local files or expand without bound (XXE, billion laughs)")
            else:
                message = ("document type declarations (<!DOCTYPE>) are not allowed in model files; "
                           "remove the DOCTYPE line")
            _refuse(source, "xml-doctype", message, line)
        else:
            return


def _refuse(source: str, code: str, message: str, line: int | None = None) -> NoReturn:
    raise BpmnLoadError(error(code, message, source, line))


def _human_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"
