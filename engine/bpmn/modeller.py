"""Make a hand-written model survive a round trip through a modeller (bpmn.io, Camunda Modeler).

Both modellers load and save through bpmn-moddle, which keeps only what the BPMN 2.0 metamodel describes.
Two things in hand-written models did not survive (``tests/test_modeller_roundtrip.py`` proves it with the
real bpmn-moddle):

* **XML comments are dropped.** The models' documentation lived in comments, so one save in the modeller
  erased it. :func:`prepare_for_modeller` moves each comment into a ``bpmn:documentation`` element (BPMN 2.0,
  shown in the modeller's properties panel) of the element the comment describes: the element that follows
  it, or, when nothing follows, the element that contains it.
* **Unresolvable references are dropped.** ``loopDataInputRef`` / ``loopDataOutputRef`` of a multi-instance
  activity are IDREFs to an item-aware element; SpiffWorkflow reads them as the *name* of a task-data
  variable (``matters``), which is no element id, so bpmn-moddle warned "unresolved reference" and saved the
  activity without them (and ``gongai validate`` then refused it). Each such variable is declared as a
  ``bpmn:property`` of the process (BPMN 2.0's process variable, an item-aware element) with the variable
  name as its id. SpiffWorkflow ignores process properties and still reads the reference as the variable
  name, so execution is unchanged; bpmn-moddle resolves and keeps the reference.

The transformation is idempotent and touches nothing else; the document is re-serialised like
``gongai layout`` does (two-space indentation), so a laid-out model only changes where it had to.
``gongai modeller-prepare FILE...`` runs it in place; ``--check`` lists what it would change.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field

from lxml import etree

from engine.bpmn.layout import BPMN_NS, parse_definitions, serialize_definitions

__all__ = ["ModellerChanges", "prepare_for_modeller"]

# Children of a process that come before its properties in the BPMN 2.0 schema (tBaseElement, tCallableElement,
# tProcess), so a new property goes after the last of them.
_BEFORE_PROPERTY = frozenset({"documentation", "extensionElements", "supportedInterfaceRef", "ioSpecification",
                              "ioBinding", "auditing", "monitoring", "property"})
_LOOP_REFS = ("loopDataInputRef", "loopDataOutputRef")


@dataclass
class ModellerChanges:
    """What :func:`prepare_for_modeller` changed: comments moved (target id) and properties declared (id)."""

    documented: list[str] = field(default_factory=list)
    declared: list[str] = field(default_factory=list)
    kept_comments: int = 0    # comments with no element to document (outside any BPMN element); left as they are

    @property
    def changed(self) -> bool:
        return bool(self.documented or self.declared)


def _q(tag: str) -> str:
    return f"{{{BPMN_NS}}}{tag}"


def _local(el: etree._Element) -> str | None:
    if not isinstance(el.tag, str):
        return None
    qn = etree.QName(el)
    return qn.localname if qn.namespace == BPMN_NS else None


def _documentable(el: etree._Element | None) -> bool:
    """A BPMN element a person would describe: it has an id (every BaseElement of the models has one)."""
    return el is not None and _local(el) not in (None, "definitions") and bool(el.get("id"))


def _comment_target(comment: etree._Element) -> etree._Element | None:
    """The element a comment documents: the next element sibling, else the nearest documentable ancestor."""
    nxt = comment.getnext()
    while nxt is not None and not isinstance(nxt.tag, str):
        nxt = nxt.getnext()
    if _documentable(nxt):
        return nxt
    parent = comment.getparent()
    while parent is not None and not _documentable(parent):
        parent = parent.getparent()
    return parent


def _clean(text: str) -> str:
    """Comment text as documentation: common indentation and surrounding blank lines removed."""
    return textwrap.dedent(text.replace("\r\n", "\n")).strip("\n").rstrip()


def _add_documentation(target: etree._Element, text: str) -> None:
    """Append ``text`` to the target's first ``bpmn:documentation`` (a new first child when there is none)."""
    existing = next((c for c in target if _local(c) == "documentation"), None)
    if existing is not None:
        existing.text = f"{existing.text.rstrip()}\n\n{text}" if (existing.text or "").strip() else text
        return
    doc = etree.Element(_q("documentation"))
    doc.text = text
    target.insert(0, doc)


def _move_comments(root: etree._Element, changes: ModellerChanges) -> None:
    for comment in list(root.iter(etree.Comment)):
        target = _comment_target(comment)
        text = _clean(comment.text or "")
        if target is None:
            changes.kept_comments += 1
            continue
        if text:
            _add_documentation(target, text)
            changes.documented.append(target.get("id", ""))
        parent = comment.getparent()
        # Keep the text that followed the comment (whitespace, in a laid-out model) attached to the document.
        previous = comment.getprevious()
        if comment.tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + comment.tail
            else:
                parent.text = (parent.text or "") + comment.tail
        parent.remove(comment)


def _declare_loop_variables(root: etree._Element, changes: ModellerChanges) -> None:
    ids = {el.get("id") for el in root.iter() if isinstance(el.tag, str) and el.get("id")}
    for process in (c for c in root if _local(c) == "process"):
        wanted: list[str] = []
        for loop in process.iter(_q("multiInstanceLoopCharacteristics")):
            for ref in (c for c in loop if _local(c) in _LOOP_REFS):
                name = (ref.text or "").strip()
                if name and name not in ids and name not in wanted:
                    wanted.append(name)
        if not wanted:
            continue
        index = 0
        for i, child in enumerate(process):
            if _local(child) in _BEFORE_PROPERTY:
                index = i + 1
        for offset, name in enumerate(wanted):
            prop = etree.Element(_q("property"), id=name, name=name)
            process.insert(index + offset, prop)
            ids.add(name)
            changes.declared.append(name)


def prepare_for_modeller(xml: bytes) -> tuple[bytes, ModellerChanges]:
    """Return ``xml`` with comments moved into documentation and loop variables declared, and what changed.

    Raises :class:`engine.bpmn.layout.LayoutError` if ``xml`` is not a BPMN document.
    """
    root = parse_definitions(xml)
    changes = ModellerChanges()
    _move_comments(root, changes)
    _declare_loop_variables(root, changes)
    return (serialize_definitions(root) if changes.changed else xml), changes
