"""Uploaded bytes -> plain text, by kind (txt, md, html, pdf, docx, csv), refusing what is not what
its name says: the first bytes must fit the kind (a `.txt` that is really a zip or an executable is
refused), text must decode, a file must parse. Every refusal is an `Unreadable` with a reason,
never an exception from a parser.

PDF needs the optional `pypdf` (`pip install smartbot[knowledge]`); its text is extracted on the
worker pool (`pdf_text`), the request only checks that it opens (`check`).
"""
from __future__ import annotations

import csv
import io
import zipfile
from html.parser import HTMLParser
from typing import Callable

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from ..i18n.reasons import Reason, reason

KINDS = ("txt", "md", "html", "pdf", "docx", "csv")
_EXTENSIONS = {"txt": "txt", "text": "txt", "md": "md", "markdown": "md", "html": "html", "htm": "html",
               "pdf": "pdf", "docx": "docx", "csv": "csv"}
_BINARY_MAGIC = (b"%PDF-", b"PK\x03\x04", b"\x7fELF", b"MZ", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x1f\x8b",
                 b"BZh", b"7z\xbc\xaf", b"Rar!", b"\xd0\xcf\x11\xe0", b"\x00asm", b"\xca\xfe\xba\xbe")
_DOCX_XML_CAP = 50_000_000          # bytes word/document.xml may unpack to (a zip bomb stops here)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class Unreadable(Exception):
    """A document refused, with why (status 415 for a kind we do not read, 422 for the rest)."""

    def __init__(self, why: Reason, status: int = 422) -> None:
        self.reason = why
        self.status = status
        super().__init__(why)


def kind_of(filename: str) -> str:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    kind = _EXTENSIONS.get(extension)
    if kind is None:
        raise Unreadable(reason("reason.knowledge.kind", name=repr(filename[-80:]), kinds=", ".join(KINDS)), 415)
    return kind


def check(kind: str, data: bytes) -> str | None:
    """The document's text, or None for a PDF (read later on the worker pool); Unreadable when the
    bytes are not a `kind` file."""
    if not data.strip():
        raise Unreadable(reason("reason.knowledge.empty"))
    if kind == "pdf":
        _check_pdf(data)
        return None
    if kind == "docx":
        return _docx(data)
    text = _decode(data, kind)
    if kind == "html":
        return html_text(text)
    if kind == "csv":
        return _csv(text)
    return text


def _decode(data: bytes, kind: str) -> str:
    if data.startswith(_BINARY_MAGIC) or b"\x00" in data[:8192] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise Unreadable(reason("reason.knowledge.binary", kind=kind))
    for encoding in ("utf-8-sig", "utf-16") if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ("utf-8-sig",):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    try:
        return data.decode("gb18030")       # many Chinese documents are saved in GBK
    except UnicodeDecodeError:
        raise Unreadable(reason("reason.knowledge.encoding", kind=kind)) from None


class _HtmlText(HTMLParser):
    """The text of an HTML page: script and style dropped, blocks on lines of their own, headings
    marked so the chunker cuts along them."""

    _SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    _BLOCKS = {"p", "div", "br", "li", "tr", "section", "article", "table", "ul", "ol", "blockquote", "pre",
               "dt", "dd", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._SKIP:
            self.skipping += 1
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append("\n\n" + "#" * int(tag[1]) + " ")
        elif tag in self._BLOCKS:
            self.parts.append("\n\n" if tag in ("p", "div", "section", "article", "table") else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in ("h1", "h2", "h3", "h4", "h5", "h6", "p"):
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_text(markup: str) -> str:
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).split("\n"))
    return "\n".join(lines).strip()


def _csv(text: str) -> str:
    """Each row a paragraph of `column: value` pairs, so a row is found and quoted whole."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise Unreadable(reason("reason.knowledge.malformed", kind="csv", problem=str(exc)[:200])) from None
    if not rows:
        raise Unreadable(reason("reason.knowledge.empty"))
    header, body = rows[0], rows[1:]
    if not body:
        return "; ".join(header)
    return "\n\n".join("; ".join(f"{name}: {value}" for name, value in zip(header, row) if value.strip())
                       for row in body)


def _docx(data: bytes) -> str:
    if not data.startswith(b"PK\x03\x04"):
        raise Unreadable(reason("reason.knowledge.not_kind", kind="docx"))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            info = archive.getinfo("word/document.xml")
            if info.file_size > _DOCX_XML_CAP:
                raise Unreadable(reason("reason.knowledge.too_large_inside", kind="docx"))
            root = ElementTree.fromstring(archive.read(info))
    except Unreadable:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, DefusedXmlException, OSError, ValueError,
            EOFError, RuntimeError) as exc:
        raise Unreadable(reason("reason.knowledge.malformed", kind="docx", problem=type(exc).__name__)) from None
    paragraphs = []
    for para in root.iter(f"{_W}p"):
        text = "".join(node.text or "" for node in para.iter(f"{_W}t")).strip()
        if not text:
            continue
        style = para.find(f"{_W}pPr/{_W}pStyle")
        level = (style.get(f"{_W}val") or "") if style is not None else ""
        if level.lower().startswith("heading") and level[-1:].isdigit():
            text = "#" * min(6, int(level[-1])) + " " + text
        paragraphs.append(text)
    return "\n\n".join(paragraphs)


def _pypdf():
    try:
        import pypdf
    except ImportError:
        raise Unreadable(reason("reason.knowledge.pdf_extra"), 415) from None
    return pypdf


def _check_pdf(data: bytes) -> None:
    if not data.startswith(b"%PDF-"):
        raise Unreadable(reason("reason.knowledge.not_kind", kind="pdf"))
    pypdf = _pypdf()
    try:
        pages = len(pypdf.PdfReader(io.BytesIO(data)).pages)
    except Exception as exc:    # noqa: BLE001 - pypdf raises many kinds for a broken file; each is a refusal
        raise Unreadable(reason("reason.knowledge.malformed", kind="pdf", problem=type(exc).__name__)) from None
    if pages == 0:
        raise Unreadable(reason("reason.knowledge.empty"))


def pdf_text(data: bytes, progress: Callable[[int, int], None] | None = None) -> str:
    """The text of every page, in order (on the worker pool: a long PDF takes a while)."""
    pypdf = _pypdf()
    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        pages = []
        for number, page in enumerate(reader.pages):
            pages.append(page.extract_text() or "")
            if progress is not None:
                progress(number + 1, len(reader.pages))
    except Unreadable:
        raise
    except Exception as exc:    # noqa: BLE001 - as above
        raise Unreadable(reason("reason.knowledge.malformed", kind="pdf", problem=type(exc).__name__)) from None
    return "\n\n".join(pages)
