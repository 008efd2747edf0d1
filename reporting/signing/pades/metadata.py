"""PDF/A metadata kept true across the signing update (ISO 19005-2/-3, clause 6.6).

pyHanko rewrites the document metadata when it writes an incremental update: Info
``/ModDate`` and XMP ``xmp:ModifyDate`` from the wall clock, Info ``/Producer`` extended
with "pyHanko x.y" but XMP ``pdf:Producer`` replaced by "pyHanko x.y" alone. PDF/A
requires the Info entries and their XMP equivalents to agree, and the reports must not
read the clock (DESIGN.md, principle 8). `MetadataKeepingWriter` instead keeps the
document's Producer (the XMP one when present, else Info's) identical in both places,
sets both modification dates to the signing time, leaves every other property
(including ``pdfaid:part`` and ``pdfaid:conformance``) untouched, and writes the XMP
packet as a new stream with the original's compression. When the signature forces PDF
2.0 (Ed25519) it removes the ``pdfaid`` claim instead of leaving a false one.

It also derives the second file identifier from the unsigned bytes and the signing
time (pyHanko draws it at random), so that signing is reproducible.

This is the one place that depends on pyHanko internals: it overrides the private
``BasePdfFileWriter._update_meta`` hook and sets the private ``_document_id``
(tests/test_pades.py has a tripwire for both; pyHanko is pinned to one minor version).
"""

from __future__ import annotations

import hashlib
import io
from datetime import datetime
from typing import Any

from lxml import etree  # type: ignore[import-untyped]
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from reporting.errors import Diagnostic, DiagnosticCode, PdfSigningError

__all__ = ["PDF_20", "MetadataKeepingWriter"]

PDF_20 = (2, 0)

_NS = {
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
}
_RDF_DESCRIPTION = f"{{{_NS['rdf']}}}Description"
_RDF_ABOUT = f"{{{_NS['rdf']}}}about"
_PDF_PRODUCER = f"{{{_NS['pdf']}}}Producer"
_XMP_MODIFY_DATE = f"{{{_NS['xmp']}}}ModifyDate"
_XMP_METADATA_DATE = f"{{{_NS['xmp']}}}MetadataDate"


class MetadataKeepingWriter(IncrementalPdfFileWriter):
    """An incremental writer that updates the document metadata the PDF/A way.

    Replaces pyHanko's `_update_meta` (which stamps the wall clock and its own Producer)
    and its random second file identifier. pyHanko calls `_update_meta` before every
    write; the update is made once.
    """

    def __init__(self, pdf: bytes, *, moment: datetime, pdf_2_0: bool) -> None:
        # set before the base initialiser, which already calls ensure_output_version
        self._moment = moment
        self._pdf_2_0 = pdf_2_0
        self._metadata_done = False
        super().__init__(io.BytesIO(pdf), strict=True)
        seed = hashlib.sha256(
            b"agent-evidence/pades\x00" + hashlib.sha256(pdf).digest() + moment.isoformat().encode()
        ).digest()
        first_id = self.document_id[0]
        self._document_id = generic.ArrayObject(
            [generic.ByteStringObject(first_id), generic.ByteStringObject(seed[:16])]
        )

    def ensure_output_version(self, version: tuple[int, int]) -> None:
        if version >= PDF_20 and not self._pdf_2_0:
            raise PdfSigningError(
                Diagnostic(
                    DiagnosticCode.PDF_VERSION_UPGRADE,
                    "signing tried to move the PDF to version 2.0, which would break PDF/A-3",
                )
            )
        super().ensure_output_version(version)  # type: ignore[no-untyped-call]

    def _update_meta(self) -> None:
        if self._metadata_done:
            return
        self._metadata_done = True
        _update_metadata(self, self._moment, drop_pdfa_claim=self._pdf_2_0)


def _info_date(moment: datetime) -> str:
    """A PDF date string (ISO 32000-1 §7.9.4) in UTC, in the form WeasyPrint writes."""
    stamp = moment.replace(tzinfo=None).isoformat(timespec="seconds")  # four-digit years
    return "D:" + stamp.replace("-", "").replace(":", "").replace("T", "") + "+00'00"


def _info_dictionary(writer: IncrementalPdfFileWriter) -> tuple[Any, Any] | tuple[None, None]:
    try:
        ref = writer.trailer.raw_get("/Info")
    except KeyError:
        return None, None
    info = ref.get_object() if isinstance(ref, generic.IndirectObject) else None  # type: ignore[no-untyped-call]
    if not isinstance(info, generic.DictionaryObject):
        return None, None
    return ref, info


def _update_metadata(
    writer: IncrementalPdfFileWriter, moment: datetime, *, drop_pdfa_claim: bool
) -> None:
    info_ref, info = _info_dictionary(writer)
    info_producer = str(info["/Producer"]) if info is not None and "/Producer" in info else None
    root = writer.root
    xmp_ref = root.raw_get("/Metadata") if "/Metadata" in root else None
    stream = (
        xmp_ref.get_object()  # type: ignore[no-untyped-call]
        if isinstance(xmp_ref, generic.IndirectObject)
        else None
    )
    producer = info_producer
    if isinstance(stream, generic.StreamObject):
        packet, xmp_producer = _updated_xmp(
            stream.data,
            producer=info_producer,
            modified=moment.isoformat(),
            drop_pdfa_claim=drop_pdfa_claim,
        )
        producer = xmp_producer if xmp_producer is not None else info_producer
        new_stream = generic.StreamObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Metadata"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/XML"),
            },
            stream_data=packet,
        )
        if "/Filter" in stream:
            new_stream.compress()  # type: ignore[no-untyped-call]
        root[generic.pdf_name("/Metadata")] = writer.add_object(new_stream)
        writer.update_root()  # type: ignore[no-untyped-call]
    if info is not None and info_ref is not None:
        info[generic.pdf_name("/ModDate")] = generic.TextStringObject(_info_date(moment))
        if producer is not None and "/Producer" in info:
            info[generic.pdf_name("/Producer")] = generic.TextStringObject(producer)
        writer.mark_update(info_ref)


def _xml_parser() -> Any:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _updated_xmp(
    packet: bytes, *, producer: str | None, modified: str, drop_pdfa_claim: bool
) -> tuple[bytes, str | None]:
    """The XMP packet with Producer and ModifyDate set; returns it and the Producer kept.

    The Producer kept is the XMP's own when it has one, else `producer` (Info's). Only
    those properties change (and xmp:MetadataDate, when present); everything else,
    including the xpacket wrapper, stays as written.
    """
    try:
        root = etree.fromstring(packet, _xml_parser())
    except etree.XMLSyntaxError as exc:
        raise PdfSigningError(
            Diagnostic(DiagnosticCode.XMP_UNREADABLE, f"the PDF's XMP metadata is not XML: {exc}")
        ) from exc
    descriptions = list(root.iter(_RDF_DESCRIPTION))
    if not descriptions:
        raise PdfSigningError(
            Diagnostic(
                DiagnosticCode.XMP_UNREADABLE, "the PDF's XMP metadata has no rdf:Description"
            )
        )
    kept = _xmp_property(descriptions, _PDF_PRODUCER)
    if kept is None:
        kept = producer
    if kept is not None and not _set_xmp_property(descriptions, _PDF_PRODUCER, kept):
        _add_xmp_property(descriptions, _PDF_PRODUCER, kept)
    if not _set_xmp_property(descriptions, _XMP_MODIFY_DATE, modified):
        _add_xmp_property(descriptions, _XMP_MODIFY_DATE, modified)
    _set_xmp_property(descriptions, _XMP_METADATA_DATE, modified)
    if drop_pdfa_claim:
        _remove_namespace(root, _NS["pdfaid"])
    return _splice_root(packet, root), kept


def _xmp_property(descriptions: list[Any], name: str) -> str | None:
    for description in descriptions:
        value = description.get(name)
        if value is not None:
            return str(value)
        child = description.find(name)
        if child is not None:
            return str(child.text or "")
    return None


def _set_xmp_property(descriptions: list[Any], name: str, value: str) -> bool:
    found = False
    for description in descriptions:
        if description.get(name) is not None:
            description.set(name, value)
            found = True
        for child in description.findall(name):
            child.text = value
            found = True
    return found


def _add_xmp_property(descriptions: list[Any], name: str, value: str) -> None:
    first = descriptions[0]
    description = etree.SubElement(first.getparent(), _RDF_DESCRIPTION)
    description.set(_RDF_ABOUT, first.get(_RDF_ABOUT, ""))
    etree.SubElement(description, name).text = value


def _remove_namespace(root: Any, namespace: str) -> None:
    prefix = f"{{{namespace}}}"
    for element in list(root.iter(_RDF_DESCRIPTION)):
        claimed = [a for a in element.attrib if str(a).startswith(prefix)]
        children = [c for c in element if str(c.tag).startswith(prefix)]
        for attribute in claimed:
            del element.attrib[attribute]
        for child in children:
            element.remove(child)
        emptied = (claimed or children) and len(element) == 0
        if emptied and set(element.attrib) <= {_RDF_ABOUT}:
            element.getparent().remove(element)


def _splice_root(packet: bytes, root: Any) -> bytes:
    """Serialise the root element back between the packet's original wrapper bytes (the
    xpacket processing instructions and the line breaks around them)."""
    body = bytes(etree.tostring(root, encoding="utf-8", xml_declaration=False))
    qname = (f"{root.prefix}:" if root.prefix else "") + str(etree.QName(root).localname)
    start = packet.find(b"<" + qname.encode())
    close = packet.rfind(b"</" + qname.encode() + b">")
    if start < 0 or close < start:
        whole = etree.tostring(root.getroottree(), encoding="utf-8", xml_declaration=False)
        return bytes(whole)
    end = close + len(qname) + 3
    return packet[:start] + body + packet[end:]
