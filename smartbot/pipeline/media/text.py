"""Text-like files as text for the model: plain text formats by name, PDFs through pypdf (the
optional extra `smartbot[pdf]`; without it a PDF is named, not read)."""
from __future__ import annotations

import io
import logging

log = logging.getLogger(__name__)

TEXT_EXTENSIONS = ("txt", "md", "markdown", "csv", "tsv", "json", "log", "yaml", "yml", "toml", "ini", "xml")
PDF_PAGES = 50          # pages read at most: a PDF's text rarely needs more, and parsing costs CPU


def is_text_name(name: str) -> bool:
    return "." in name and name.rsplit(".", 1)[-1].lower() in TEXT_EXTENSIONS


def plain_text(data: bytes) -> str | None:
    """The bytes as text when they are UTF-8 (a BOM allowed) with no NUL; None when they are not text."""
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def pdf_text(data: bytes, limit: int) -> str | None:
    """The text of a PDF's first pages, up to `limit` characters; None when pypdf is not installed
    or the PDF cannot be read."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError:
        return None
    try:
        reader = PdfReader(io.BytesIO(data))
        texts, size = [], 0
        for page in reader.pages[:PDF_PAGES]:
            piece = page.extract_text() or ""
            texts.append(piece)
            size += len(piece)
            if size >= limit:
                break
    except (PyPdfError, ValueError, KeyError, TypeError, RecursionError) as exc:
        log.info("a PDF could not be read: %s", type(exc).__name__)
        return None
    return "\n".join(texts)


def clipped(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to `limit` characters, and whether it was cut."""
    return (text, False) if len(text) <= limit else (text[:limit], True)
