"""/api/v1/knowledge/spaces: knowledge spaces, their documents (JSON text, a multipart file upload,
or a URL the server fetches) and a test search. The work is manage/knowledge.py's, shared with the
admin page; adding a document only stores it, the worker pool indexes it."""
from __future__ import annotations

from flask import Blueprint, request

from ..manage import knowledge
from ..manage.fields import validate
from ..web.context import request_json
from .context import ApiContext, ApiError
from .registry import route

bp = Blueprint("api_knowledge", __name__)
PERMISSION = "admin:knowledge"
MULTIPART_SLACK = 64 * 1024     # the form's own bytes around the file


@route(bp, "/knowledge/spaces", "GET", summary="Every knowledge space with its documents' states",
       permission=PERMISSION, tag="knowledge")
def list_spaces(ctx: ApiContext):
    return {"spaces": knowledge.listing(ctx.runtime.db)}


@route(bp, "/knowledge/spaces", "POST", summary="Add a knowledge space", permission=PERMISSION, tag="knowledge",
       body=knowledge.SPACE_FIELDS)
def create_space(ctx: ApiContext):
    return knowledge.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/knowledge/spaces/<name>", "GET", summary="One knowledge space", permission=PERMISSION, tag="knowledge")
def get_space(ctx: ApiContext, name: str):
    return knowledge.get(ctx.runtime.db, name)


@route(bp, "/knowledge/spaces/<name>", "PATCH", summary="Change a space's description or min_score",
       permission=PERMISSION, tag="knowledge", body=knowledge.SPACE_FIELDS, partial=True)
def update_space(ctx: ApiContext, name: str):
    return knowledge.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/knowledge/spaces/<name>", "DELETE", summary="Remove a space with its documents",
       permission=PERMISSION, tag="knowledge")
def delete_space(ctx: ApiContext, name: str):
    knowledge.remove(ctx.runtime, ctx.principal, name)
    return {"deleted": name}


@route(bp, "/knowledge/spaces/<name>/documents", "GET", summary="A space's documents with their indexing state",
       permission=PERMISSION, tag="knowledge")
def list_documents(ctx: ApiContext, name: str):
    return {"documents": knowledge.documents(ctx.runtime.db, name)}


@route(bp, "/knowledge/spaces/<name>/documents", "POST", permission=PERMISSION, tag="knowledge",
       summary="Add (or replace, by title) a document: JSON {title, text} or {url}, or a multipart file "
               "(txt, md, html, pdf, docx, csv) with an optional title field; indexed on the worker pool")
def add_document(ctx: ApiContext, name: str):
    settings = ctx.runtime.settings.knowledge
    request.max_content_length = settings.max_document_bytes + MULTIPART_SLACK
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            raise ApiError(400, "send the document as the multipart field `file`")
        data = upload.stream.read(settings.max_document_bytes + 1)
        return knowledge.add_document(ctx.runtime, ctx.principal, name, title=request.form.get("title", ""),
                                      data=data, filename=upload.filename), 202
    body = validate(knowledge.DOCUMENT_FIELDS, request_json(settings.max_document_bytes + MULTIPART_SLACK))
    return knowledge.add_document(ctx.runtime, ctx.principal, name, title=body.get("title", ""),
                                  text=body.get("text"), url=body.get("url", "")), 202


@route(bp, "/knowledge/spaces/<name>/documents/<int:document_id>", "DELETE", summary="Remove a document",
       permission=PERMISSION, tag="knowledge")
def delete_document(ctx: ApiContext, name: str, document_id: int):
    knowledge.remove_document(ctx.runtime, ctx.principal, name, document_id)
    return {"deleted": document_id}


@route(bp, "/knowledge/spaces/<name>/search", "POST", summary="The chunks the bot would see for a query, "
       "with their scores", permission=PERMISSION, tag="knowledge", body=knowledge.SEARCH_FIELDS)
def search(ctx: ApiContext, name: str):
    return {"results": knowledge.search(ctx.runtime, name, ctx.body["query"], ctx.body.get("limit", 5))}
