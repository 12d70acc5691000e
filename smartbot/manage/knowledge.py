"""Knowledge spaces and their documents, for the admin API and the admin page alike: create,
change and remove spaces; add a document (text, an uploaded file, or a URL the server fetches),
list and remove them; test a search. Every change is audited; a refused URL is audited too.

Adding a document only stores it (its text, or a PDF's bytes) as `pending`: the worker pool
indexes it (knowledge/jobs.py), so no request waits for a long document.
"""
from __future__ import annotations

from typing import Any

from .. import audit
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..knowledge import extract, fetch, store
from ..knowledge.embeddings import Embedder
from ..knowledge.jobs import KNOWLEDGE
from ..knowledge.retrieval import retrieve
from . import changes
from .errors import Conflict, Invalid, NotFound, with_status
from .fields import Int, Num, Str

DEFAULT_MIN_SCORE = 0.25    # every labelled question of tests/support/knowledge_set.py passes it, no unrelated one
NAME_PATTERN = r"[a-z0-9][a-z0-9_\-]{0,63}"
SPACE_FIELDS = {
    "name": Str(required=True, max_length=64, pattern=NAME_PATTERN, description="lowercase letters, digits, - and _"),
    "description": Str(max_length=500),
    "min_score": Num(minimum=0, maximum=1, description="the share of a question's terms a chunk must hold to be "
                                                       "used (0..1, default 0.25)"),
}
DOCUMENT_FIELDS = {
    "title": Str(max_length=300, description="the source's name in answers; re-using a title replaces it"),
    "text": Str(max_length=5_000_000, description="the document's text (markdown headings cut it into sections)"),
    "url": Str(max_length=2000, description="a page or file the server fetches (host in [knowledge] fetch_allow)"),
}
SEARCH_FIELDS = {"query": Str(required=True, min_length=1, max_length=2000), "limit": Int(minimum=1, maximum=50)}


def _space(conn: Any, name: str) -> Any:
    row = store.get_space(conn, name)
    if row is None:
        raise NotFound(reason("reason.knowledge.space_missing", name=repr(name)))
    return row


def listing(db: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [store.space_dict(r, store.status_counts(conn, r.id)) for r in store.all_spaces(conn)]


def get(db: Any, name: str) -> dict[str, Any]:
    with db.read() as conn:
        row = _space(conn, name)
        return store.space_dict(row, store.status_counts(conn, row.id))


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    with runtime.db.write() as conn:
        if store.get_space(conn, body["name"]) is not None:
            raise Conflict(reason("reason.knowledge.space_exists", name=repr(body["name"])), "name")
        store.add_space(conn, body["name"], body.get("description", ""), body.get("min_score", DEFAULT_MIN_SCORE))
        after = store.space_dict(store.get_space(conn, body["name"]))
        changes.record(conn, changes.actor_of(caller), "knowledge.space_created", f"knowledge:{body['name']}", None,
                       after)
    return after


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    if "name" in body and body["name"] != name:
        raise Invalid(reason("reason.knowledge.rename"), "name")
    with runtime.db.write() as conn:
        row = _space(conn, name)
        before = store.space_dict(row)
        store.update_space(conn, row.id, {k: body[k] for k in ("description", "min_score") if k in body})
        after = store.space_dict(store.get_space(conn, name))
        changes.record(conn, changes.actor_of(caller), "knowledge.space_updated", f"knowledge:{name}", before, after)
    return after


def remove(runtime: Any, caller: Principal, name: str) -> None:
    """Remove a space with its documents and their index."""
    with runtime.db.write() as conn:
        row = _space(conn, name)
        before = store.space_dict(row, store.status_counts(conn, row.id))
        store.delete_space(conn, row.id)
        changes.record(conn, changes.actor_of(caller), "knowledge.space_deleted", f"knowledge:{name}", before, None)


def documents(db: Any, name: str) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [store.document_dict(r) for r in store.documents(conn, _space(conn, name).id)]


def add_document(runtime: Any, caller: Principal, name: str, *, title: str = "", text: str | None = None,
                 data: bytes | None = None, filename: str = "", url: str = "") -> dict[str, Any]:
    """Store a document from exactly one of `text`, `data` (an uploaded file) or `url`, to be
    indexed on the worker pool; one of the same title in the space is replaced."""
    settings = runtime.settings.knowledge
    given = [x for x in (text, data, url or None) if x is not None]
    if len(given) != 1:
        raise Invalid(reason("reason.knowledge.one_source"), "text")
    with runtime.db.read() as conn:
        _space(conn, name)
    try:
        if url:
            got = fetch.download(url, settings)
            data, filename, title = got.body, got.filename, title or got.url
        if data is not None:
            if len(data) > settings.max_document_bytes:
                raise extract.Unreadable(reason("reason.knowledge.too_large", n=settings.max_document_bytes), 413)
            kind = extract.kind_of(filename)
            text = extract.check(kind, data)
            title = title or filename
        else:
            kind = "md"
    except fetch.FetchRefused as exc:
        with runtime.db.write() as conn:
            audit.record(conn, "knowledge.fetch_refused", changes.actor_of(caller), f"knowledge:{name}", "denied",
                         {"url": url[:300], "reason": str(exc.reason)})
        raise with_status(exc.status, exc.reason, "url") from None
    except extract.Unreadable as exc:
        raise with_status(exc.status, exc.reason, "url" if url else "file" if data is not None else "text") from None
    return _store(runtime, caller, name, {"title": title.strip(), "text": text, "data": data, "kind": kind,
                                          "url": url})


def _store(runtime: Any, caller: Principal, name: str, doc: dict[str, Any]) -> dict[str, Any]:
    settings = runtime.settings.knowledge
    text, title = doc["text"], doc["title"][:300]
    if not title:
        raise Invalid(reason("reason.knowledge.title_needed"), "title")
    if text is not None and not text.strip():
        raise Invalid(reason("reason.knowledge.empty"), "text")
    if text is not None and len(text) > settings.max_text_chars:
        raise with_status(413, reason("reason.knowledge.too_long", n=settings.max_text_chars), "text")
    size = len(doc["data"]) if doc["data"] is not None else len(text.encode("utf-8"))
    with runtime.db.write() as conn:
        space = _space(conn, name)
        old = store.document_by_title(conn, space.id, title)
        document_id = store.put_document(conn, space.id, {
            "title": title, "url": doc["url"], "kind": doc["kind"], "size": size, "text": text,
            "content": doc["data"] if text is None else None, "added_by": changes.actor_of(caller)})
        after = store.document_dict(store.get_document(conn, document_id))
        changes.record(conn, changes.actor_of(caller), "knowledge.document_added", f"knowledge:{name}",
                       store.document_dict(old) if old is not None else None, after)
    runtime.dispatch.soon(KNOWLEDGE, document_id)       # never indexed inside the request
    return after


def remove_document(runtime: Any, caller: Principal, name: str, document_id: int) -> None:
    with runtime.db.write() as conn:
        space = _space(conn, name)
        row = store.get_document(conn, document_id)
        if row is None or row.space_id != space.id:
            raise NotFound(reason("reason.knowledge.document_missing", id=document_id))
        store.remove_document(conn, document_id)
        changes.record(conn, changes.actor_of(caller), "knowledge.document_removed", f"knowledge:{name}",
                       store.document_dict(row), None)


def search(runtime: Any, name: str, query: str, limit: int = 5) -> list[dict[str, Any]]:
    """What the bot would see for `query` in this space, with the scores."""
    with runtime.db.read() as conn:
        _space(conn, name)
    embedder = Embedder(runtime.settings.knowledge, runtime.models, runtime.providers)
    return [f.as_dict() for f in retrieve(runtime.db, runtime.settings.knowledge, [name], query, limit=limit,
                                          embedder=embedder)]
