"""The "Knowledge" page: spaces with their documents' indexing progress, adding a space, uploading a
document (text, a file, or a URL), removing one, and a test search showing what the bot would see.
Every change goes through manage/knowledge.py, validated and audited exactly as the API's."""
from __future__ import annotations

from flask import request

from ..i18n import t
from ..manage import knowledge
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, locale, number_fields, page, render

PERMISSION = "admin:knowledge"
MULTIPART_SLACK = 64 * 1024


@bp.get("/knowledge")
@page(PERMISSION)
def knowledge_page(principal):
    runtime = current_runtime()
    spaces = knowledge.listing(runtime.db)
    documents = {s["name"]: knowledge.documents(runtime.db, s["name"]) for s in spaces}
    busy = any(d["status"] in ("pending", "indexing") for docs in documents.values() for d in docs)
    searched, query, results = request.args.get("space", ""), request.args.get("q", "").strip()[:2000], []
    if searched and query:
        results = knowledge.search(runtime, searched, query)
    return render("admin/knowledge.html", principal=principal, spaces=spaces, documents=documents, busy=busy,
                  searched=searched, query=query, results=results)


@bp.post("/knowledge")
@page(PERMISSION)
def knowledge_create(principal):
    form = {"name": request.form.get("name", "").strip(), "description": request.form.get("description", "").strip(),
            **number_fields({"min_score": float})}
    knowledge.create(current_runtime(), principal, validate(knowledge.SPACE_FIELDS, form))
    return done("saved", "admin.knowledge_page")


@bp.post("/knowledge/<name>/delete")
@page(PERMISSION)
def knowledge_delete(principal, name: str):
    knowledge.remove(current_runtime(), principal, name)
    return done("deleted", "admin.knowledge_page")


@bp.post("/knowledge/<name>/documents")
@page(PERMISSION)
def knowledge_add(principal, name: str):
    runtime = current_runtime()
    cap = runtime.settings.knowledge.max_document_bytes
    request.max_content_length = cap + MULTIPART_SLACK
    title = request.form.get("title", "").strip()
    upload = request.files.get("file")
    url = request.form.get("url", "").strip()
    if upload is not None and upload.filename:
        knowledge.add_document(runtime, principal, name, title=title, data=upload.stream.read(cap + 1),
                               filename=upload.filename)
    elif url:
        knowledge.add_document(runtime, principal, name, title=title, url=url)
    else:
        body = validate(knowledge.DOCUMENT_FIELDS, {"title": title, "text": request.form.get("text", "")})
        knowledge.add_document(runtime, principal, name, title=body["title"], text=body["text"])
    return done(t("admin.knowledge.added", locale()), "admin.knowledge_page")


@bp.post("/knowledge/<name>/documents/<int:document_id>/delete")
@page(PERMISSION)
def knowledge_remove(principal, name: str, document_id: int):
    knowledge.remove_document(current_runtime(), principal, name, document_id)
    return done("deleted", "admin.knowledge_page")
