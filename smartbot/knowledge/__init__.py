"""Knowledge spaces: documents a company loads (FAQ, manuals), split into chunks, indexed for
full-text search (and optionally embedded), and retrieved for the chat handler with their sources.

`retrieve(db, settings, space_names, question, ...)` is the one entry the chat path uses; the
admin faces go through manage/knowledge.py.
"""
from __future__ import annotations

from .retrieval import Found, retrieve

__all__ = ["Found", "retrieve"]
