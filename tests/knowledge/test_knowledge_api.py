"""The knowledge API: spaces and documents (JSON text, files of every kind, URLs) indexed on the
worker pool and searchable, audited; and the refusals: no login, the wrong permission, empty, huge,
disguised and broken files, a URL to a host not allowed or redirecting elsewhere."""
from __future__ import annotations

import requests

from tests.support.admin_api import AdminApi
from tests.support.api_client import login
from tests.support.executor import audit_rows, details
from tests.support.knowledge_files import docx, document_server, pdf, wait_indexed


def _api(live_app, make_config, **knowledge) -> AdminApi:
    api = AdminApi(live_app(make_config(knowledge={"max_document_bytes": 20_000, **knowledge})))
    assert api.post("/knowledge/spaces", {"name": "faq", "description": "customer questions"}).status_code == 201
    return api


def _upload(api: AdminApi, name: str, data: bytes, title: str = "") -> requests.Response:
    return api.call("POST", "/knowledge/spaces/faq/documents", files={"file": (name, data)},
                    data={"title": title} if title else {})


def _search(api: AdminApi, query: str) -> list[dict]:
    resp = api.post("/knowledge/spaces/faq/search", {"query": query, "limit": 3})
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def test_spaces_are_created_changed_listed_and_removed_with_audit(live_app, make_config):
    api = _api(live_app, make_config)
    assert api.post("/knowledge/spaces", {"name": "faq"}).status_code == 409
    bad = api.post("/knowledge/spaces", {"name": "Bad Name!"})
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    infinite = api.call("POST", "/knowledge/spaces", data=b'{"name": "x", "min_score": 1e999}',
                        headers={"Content-Type": "application/json"})
    assert infinite.status_code in (400, 422), infinite.text
    changed = api.patch("/knowledge/spaces/faq", {"min_score": 0.5})
    assert changed.status_code == 200 and changed.json()["min_score"] == 0.5
    assert api.patch("/knowledge/spaces/faq", {"min_score": 2}).json()["field"] == "min_score"
    listed = api.get("/knowledge/spaces").json()["spaces"]
    assert [s["name"] for s in listed] == ["faq"] and listed[0]["documents"]["ready"] == 0
    assert api.delete("/knowledge/spaces/faq").status_code == 200
    assert api.get("/knowledge/spaces/faq").status_code == 404
    db = api.app.runtime.db
    assert [len(audit_rows(db, f"knowledge.space_{e}")) for e in ("created", "updated", "deleted")] == [1, 1, 1]


def test_text_and_every_file_kind_are_indexed_and_found(live_app, make_config):
    api = _api(live_app, make_config)
    added = api.post("/knowledge/spaces/faq/documents", {"title": "Opening hours",
                                                         "text": "# Hours\n\nWe open at 9 and close at 18."})
    assert added.status_code == 202 and added.json()["status"] in ("pending", "indexing", "ready")
    files = {
        "returns.md": b"# Returns\n\nUnopened goods go back within 30 days.",
        "notes.txt": "Lieferung dauert zwei Tage. 配送需要两天。".encode(),
        "page.html": b"<h1>Parking</h1><script>var secret=1</script><p>Park free behind the shop.</p>",
        "prices.csv": b"item,price\ngreen tea,12 EUR\nkettle,45 EUR\n",
        "manual.docx": docx([("Heading1", "Descaling"), ("", "Boil vinegar and water in the kettle.")]),
        "warranty.pdf": pdf(["The kettle warranty lasts two years."]),
    }
    for name, data in files.items():
        resp = _upload(api, name, data)
        assert resp.status_code == 202, (name, resp.text)
    for title in ["Opening hours", *files]:
        assert wait_indexed(api, "faq", title)["status"] == "ready", title
    assert _search(api, "when do you close?")[0]["title"] == "Opening hours"
    assert _search(api, "what is the price of the kettle")[0]["title"] == "prices.csv"
    assert _search(api, "descaling vinegar")[0]["title"] == "manual.docx"
    assert _search(api, "warranty years")[0]["title"] == "warranty.pdf"
    assert _search(api, "配送多久")[0]["title"] == "notes.txt"
    parking = _search(api, "where can I park")
    assert parking[0]["title"] == "page.html" and "secret" not in parking[0]["text"]
    assert parking[0]["relevant"] is True and 0 < parking[0]["score"] <= 1
    assert _search(api, "quantum chromodynamics") == []
    assert len(audit_rows(api.app.runtime.db, "knowledge.document_added")) == 7


def test_re_uploading_a_title_replaces_it_and_removing_forgets_it(live_app, make_config):
    api = _api(live_app, make_config)
    path = "/knowledge/spaces/faq/documents"
    assert api.post(path, {"title": "Hours", "text": "We open at nine."}).status_code == 202
    wait_indexed(api, "faq", "Hours")
    assert api.post(path, {"title": "Hours", "text": "We open at ten o'clock."}).status_code == 202
    wait_indexed(api, "faq", "Hours")
    docs = api.get(path).json()["documents"]
    assert len(docs) == 1
    assert [r["text"] for r in _search(api, "when do you open")] == ["We open at ten o'clock."]
    added = audit_rows(api.app.runtime.db, "knowledge.document_added")
    assert details(added[-1])["before"]["title"] == "Hours"
    assert api.delete(f"{path}/{docs[0]['id']}").status_code == 200
    assert api.delete(f"{path}/{docs[0]['id']}").status_code == 404
    assert _search(api, "when do you open") == []
    assert len(audit_rows(api.app.runtime.db, "knowledge.document_removed")) == 1


def test_bad_files_are_refused_with_reasons(live_app, make_config):
    api = _api(live_app, make_config)
    refused = {
        "empty.txt": (b"", 422, "empty"),
        "blank.md": (b"  \n\n ", 422, "empty"),
        "huge.txt": (b"a" * 30_000, 413, "max_document_bytes"),
        "zip.txt": (docx([("", "hi")]), 422, "binary"),
        "elf.md": (b"\x7fELF\x02\x01\x01" + b"\x00" * 64, 422, "binary"),
        "fake.pdf": (b"just text pretending", 422, "not a pdf"),
        "broken.pdf": (b"%PDF-1.4\n1 0 obj <<< garbage", 422, "cannot be read"),
        "fake.docx": (b"plain text", 422, "not a docx"),
        "broken.docx": (b"PK\x03\x04" + b"\x00" * 40, 422, "cannot be read"),
        "nodoc.docx": (_zip_without_document(), 422, "cannot be read"),
        "latin1.txt": (b"caf\xe9 \xff\xfe\xfd\x80\x81", 422, "encoding"),
        "tool.exe": (b"MZ\x90\x00", 415, "kinds read"),
        "noextension": (b"hello", 415, "kinds read"),
    }
    for name, (data, status, words) in refused.items():
        resp = _upload(api, name, data)
        assert resp.status_code == status and words in resp.json()["error"], (name, resp.status_code, resp.text)
    path = "/knowledge/spaces/faq/documents"
    assert api.post(path, {"title": "x", "text": "   "}).status_code == 422
    assert api.post(path, {"text": "no title"}).json()["field"] == "title"
    assert api.post(path, {"title": "x", "text": "a", "url": "http://127.0.0.1/"}).status_code == 422
    assert api.post(path, {}).status_code == 422
    assert api.post("/knowledge/spaces/nope/documents", {"title": "x", "text": "y"}).status_code == 404
    assert api.call("POST", path, data=b"title=x", headers={"Content-Type": "text/plain"}).status_code == 400
    too_big = api.call("POST", path, files={"file": ("big.txt", b"a" * 200_000)})
    assert too_big.status_code == 413
    assert api.get(path).json()["documents"] == []


def _zip_without_document() -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("other.xml", "<x/>")
    return out.getvalue()


def test_urls_are_fetched_only_from_allowed_hosts_and_never_redirected_elsewhere(live_app, make_config):
    pages = document_server()
    try:
        api = _api(live_app, make_config, fetch_allow=[f"127.0.0.1:{pages.port}"])
        path = "/knowledge/spaces/faq/documents"
        fetched = api.post(path, {"url": f"{pages.url}/home", "title": "Parking"})
        assert fetched.status_code == 202, fetched.text
        assert fetched.json()["url"] == f"{pages.url}/home"
        assert wait_indexed(api, "faq", "Parking")["status"] == "ready"
        assert "alert" not in _search(api, "park free")[0]["text"]
        away = api.post(path, {"url": f"{pages.url}/away"})
        assert away.status_code == 403 and "'localhost'" in away.json()["error"]
        other = api.post(path, {"url": "http://169.254.169.254/latest/meta-data"})
        assert other.status_code == 403 and "fetch_allow" in other.json()["error"]
        for url in ("file:///etc/passwd", f"http://user:pw@127.0.0.1:{pages.port}/faq.html", "http://[::1"):
            assert api.post(path, {"url": url}).status_code == 422, url
        assert api.post(path, {"url": f"{pages.url}/big.txt"}).status_code == 413
        assert api.post(path, {"url": f"{pages.url}/missing"}).status_code == 502
        refusals = audit_rows(api.app.runtime.db, "knowledge.fetch_refused")
        assert len(refusals) == 5 and all(r.result == "denied" for r in refusals)
        assert "localhost" in details(refusals[0])["reason"]
        assert [d["title"] for d in api.get(path).json()["documents"]] == ["Parking"]
    finally:
        pages.stop()


def test_only_holders_of_admin_knowledge_may_use_it(live_app, make_config):
    api = _api(live_app, make_config)
    assert requests.get(api.base + "/knowledge/spaces", timeout=10).status_code == 401
    assert api.post("/roles", {"name": "clerk", "permissions": ["admin:login", "admin:workflows"]}).status_code == 201
    assert api.post("/users", {"name": "carol", "roles": ["clerk"], "password": "carol's long pass"}).status_code == 201
    carol = login(api.app.url, "carol", "carol's long pass")
    for method, path in (("GET", "/knowledge/spaces"), ("POST", "/knowledge/spaces/faq/search"),
                         ("POST", "/knowledge/spaces/faq/documents"), ("DELETE", "/knowledge/spaces/faq")):
        resp = carol.call(method, path, json={"query": "x", "title": "x", "text": "y"})
        assert resp.status_code == 403 and "admin:knowledge" in resp.json()["error"], (method, path, resp.text)
    assert api.get("/knowledge/spaces/faq").status_code == 200
