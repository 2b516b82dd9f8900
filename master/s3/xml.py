"""S3's XML: rendering answers, and parsing the few request bodies S3 sends as XML.

Answers are built as text with every value escaped (``element``); request bodies are
read with a size cap, refused if they declare a DOCTYPE (no entities, no external
anything), parsed by the standard library and read namespace-agnostically.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from master.s3.errors import S3Error

__all__ = [
    "S3_NS",
    "XML_DECLARATION",
    "child_text",
    "children",
    "document",
    "element",
    "error_document",
    "iso_time",
    "parse_xml",
]

S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def element(tag: str, value: object = None, children_xml: Iterable[str] = ()) -> str:
    """``<tag>value</tag>``, or ``<tag>children...</tag>``; a value is escaped."""
    inner = escape(str(value)) if value is not None else "".join(children_xml)
    return f"<{tag}>{inner}</{tag}>"


def document(root: str, children_xml: Iterable[str]) -> str:
    return f'{XML_DECLARATION}<{root} xmlns="{S3_NS}">{"".join(children_xml)}</{root}>'


def error_document(code: str, message: str, resource: str, request_id: str) -> str:
    return XML_DECLARATION + element("Error", children_xml=[
        element("Code", code), element("Message", message), element("Resource", resource),
        element("RequestId", request_id)])


def iso_time(moment: datetime) -> str:
    """S3's timestamp: ISO 8601 in UTC with milliseconds."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def parse_xml(body: bytes) -> ElementTree.Element:
    """The body's root element; MalformedXML for anything else (and any DOCTYPE)."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise S3Error("MalformedXML", "XML bodies may not declare a DOCTYPE or entities")
    try:
        return ElementTree.fromstring(body)
    except ElementTree.ParseError as exc:
        raise S3Error("MalformedXML", f"the XML body does not parse: {exc}") from None


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def children(node: ElementTree.Element, name: str) -> list[ElementTree.Element]:
    """The direct children named ``name``, whatever their namespace."""
    return [child for child in node if _local(child.tag) == name]


def child_text(node: ElementTree.Element, name: str) -> str | None:
    found = children(node, name)
    return (found[0].text or "") if found else None
