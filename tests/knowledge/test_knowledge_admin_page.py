"""The Knowledge page over HTTP: add a space, upload a file and text through its forms, watch the
documents become ready, test a search, remove a document; refusals come back as messages in the
page's language; the page reads in Chinese too."""
from __future__ import annotations

import html
import re
import time

import pytest

from tests.support.admin_page import AdminPage, admin_of


@pytest.fixture
def site(live_app, make_config):
    app = live_app(make_config(knowledge={"max_document_bytes": 10_000}))
    return app, admin_of(app)


def _ready(page: AdminPage, count: int) -> str:
    deadline = time.monotonic() + 15
    while True:
        shown = page.get("/admin/knowledge").text
        if shown.count('class="status-ready"') == count:
            return shown
        assert time.monotonic() < deadline, shown
        time.sleep(0.1)


def test_a_space_is_filled_searched_and_emptied_from_the_page(site):
    app, page = site
    assert page.get("/admin/").text.count('href="/admin/knowledge"') == 1
    assert "Saved" in page.post("/admin/knowledge", {"name": "faq", "description": "shop", "min_score": "0.3"}).text
    uploaded = page.s.post(page.url + "/admin/knowledge/faq/documents",
                           data={"title": "Returns", "csrf_token": page.s.cookies.get("csrf_access_token")},
                           files={"file": ("returns.md", b"# Returns\n\nUnopened goods go back within 30 days.")},
                           timeout=15)
    assert "being indexed" in uploaded.text
    typed = page.post("/admin/knowledge/faq/documents", {"title": "Hours", "text": "We open at nine."})
    assert "being indexed" in typed.text
    shown = _ready(page, 2)
    assert 'id="space-faq"' in shown and "Returns" in shown and "Hours" in shown
    found = page.get("/admin/knowledge", params={"space": "faq", "q": "can unopened goods go back?"}).text
    results = found[found.index('class="results"'):]
    assert "Unopened goods go back within 30 days." in html.unescape(results)
    document_id = re.search(r'id="document-(\d+)"', shown).group(1)
    page.post(f"/admin/knowledge/faq/documents/{document_id}/delete", {})
    assert _ready(page, 1)


def test_refusals_are_shown_on_the_page_in_its_language(site):
    app, page = site
    page.post("/admin/knowledge", {"name": "faq"})
    refused = page.post("/admin/knowledge", {"name": "faq"})
    assert "exists already" in html.unescape(refused.text)
    page.get("/admin/knowledge?lang=zh-CN")
    bad = page.s.post(page.url + "/admin/knowledge/faq/documents",
                      data={"csrf_token": page.s.cookies.get("csrf_access_token")},
                      files={"file": ("tool.txt", b"\x7fELF\x02\x01" + b"\x00" * 40)}, timeout=15)
    assert "二进制" in html.unescape(bad.text)
    shown = page.get("/admin/knowledge").text
    assert "知识库" in shown and "添加文档" in shown and "测试检索" in shown
    assert page.post("/admin/knowledge/faq/documents", {"title": "", "text": ""}).status_code == 200
    assert page.post("/admin/knowledge/nope/documents", {"title": "a", "text": "b"}).status_code == 200
