"""Files for the knowledge upload tests, made here rather than stored: a real PDF with a text layer,
a real .docx, and a small HTTP server of pages (one redirecting to its own host, one to another)."""
from __future__ import annotations

import io
import time
import zipfile
from typing import Any

from .api_client import Api
from .httpserver import LoopbackServer, QuietHandler


def pdf(lines: list[str]) -> bytes:
    """A one-page PDF whose text layer holds `lines` (ASCII), with a correct cross-reference table."""
    text = " ".join(f"({line}) Tj 0 -20 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
               b"/Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % number + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        out.write(b"%010d 00000 n \n" % offset)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def docx(paragraphs: list[tuple[str, str]]) -> bytes:
    """A .docx of (style, text) paragraphs; style "Heading1" makes a heading, "" a plain paragraph."""
    w = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
    body = "".join(
        "<w:p>" + (f'<w:pPr><w:pStyle w:val="{style}"/></w:pPr>' if style else "")
        + f"<w:r><w:t>{text}</w:t></w:r></w:p>" for style, text in paragraphs)
    document = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{w}"><w:body>{body}</w:body></w:document>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", document)
    return out.getvalue()


PAGES = {
    "/faq.html": ("text/html; charset=utf-8", "<html><head><title>x</title><style>p{}</style>"
                  "<script>alert(1)</script></head><body><h1>Parking</h1><p>Customers park free in the yard "
                  "behind the shop for two hours.</p></body></html>"),
    "/big.txt": ("text/plain", "x" * 50_000),
}


class DocumentServer(QuietHandler):
    """Pages to fetch; /home redirects to its own /faq.html, /away to the same page by another host
    name (localhost), which is not the allowed 127.0.0.1."""

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if self.path == "/home":
            self.send(302, b"", headers={"Location": "/faq.html"})
        elif self.path == "/away":
            self.send(302, b"", headers={"Location": f"http://localhost:{self.server.server_address[1]}/faq.html"})
        elif self.path in PAGES:
            kind, text = PAGES[self.path]
            self.send(200, text.encode(), kind)
        else:
            self.send(404, b"no such page", "text/plain")


def document_server() -> LoopbackServer:
    return LoopbackServer(DocumentServer).start()


def wait_indexed(api: Api, space: str, title: str, timeout: float = 15.0) -> dict[str, Any]:
    """The document once its indexing has ended (ready or failed)."""
    deadline = time.monotonic() + timeout
    while True:
        docs = {d["title"]: d for d in api.get(f"/knowledge/spaces/{space}/documents").json()["documents"]}
        doc = docs.get(title)
        if doc is not None and doc["status"] in ("ready", "failed"):
            return doc
        assert time.monotonic() < deadline, f"{title} not indexed: {doc}"
        time.sleep(0.05)
