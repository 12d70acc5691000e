"""The full-text index over chunks, one implementation per dialect behind three functions.

SQLite: an FTS5 table ranked by bm25(). PostgreSQL: a tsvector table with a GIN index ranked by
ts_rank_cd (cover density, normalised by length). Both index the terms terms.py makes (the
'simple' configuration on PostgreSQL: no stemming or stop words of its own), and both are asked
for any of the question's terms, so the two dialects find the same chunks.
"""
from __future__ import annotations

from typing import Any, Iterable

import sqlalchemy as sa

from ..storage.tables.knowledge import FTS_TABLE


def _spelled(term: str) -> str:
    return term if term.isascii() else "u" + term.encode("utf-8").hex()


def _sqlite(conn: Any) -> bool:
    return conn.dialect.name == "sqlite"


def add(conn: Any, rows: Iterable[tuple[int, int, list[str]]]) -> None:
    """Index chunks: (chunk id, space id, its terms)."""
    values = [{"id": chunk_id, "space": space_id, "terms": " ".join(map(_spelled, terms))} for chunk_id, space_id, terms in rows]
    if not values:
        return
    if _sqlite(conn):
        conn.execute(sa.text(f"INSERT INTO {FTS_TABLE} (rowid, terms, space_id) VALUES (:id, :terms, :space)"),
                     values)
    else:
        conn.execute(sa.text(f"INSERT INTO {FTS_TABLE} (chunk_id, space_id, tsv) "
                             "VALUES (:id, :space, to_tsvector('simple', :terms))"), values)


def remove(conn: Any, chunk_ids: list[int]) -> None:
    if not chunk_ids:
        return
    key = "rowid" if _sqlite(conn) else "chunk_id"
    statement = sa.text(f"DELETE FROM {FTS_TABLE} WHERE {key} IN :ids").bindparams(sa.bindparam("ids", expanding=True))
    for at in range(0, len(chunk_ids), 500):
        conn.execute(statement, {"ids": chunk_ids[at:at + 500]})


def remove_space(conn: Any, space_id: int) -> None:
    conn.execute(sa.text(f"DELETE FROM {FTS_TABLE} WHERE space_id = :space"), {"space": space_id})


def search(conn: Any, space_ids: list[int], terms: list[str], limit: int) -> list[tuple[int, float]]:
    """(chunk id, score) of the best `limit` chunks holding any of `terms`, best first; a higher
    score is better on both dialects."""
    if not terms or not space_ids:
        return []
    params = {"spaces": space_ids, "limit": limit}
    if _sqlite(conn):
        params["query"] = " OR ".join(f'"{_spelled(term)}"' for term in terms)
        sql = (f"SELECT rowid, -bm25({FTS_TABLE}) AS score FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :query "
               "AND space_id IN :spaces ORDER BY bm25(" + FTS_TABLE + ") LIMIT :limit")
    else:
        params["query"] = " | ".join(map(_spelled, terms))
        sql = (f"SELECT chunk_id, ts_rank_cd(tsv, query, 1) AS score FROM {FTS_TABLE}, "
               "to_tsquery('simple', :query) AS query WHERE space_id IN :spaces AND tsv @@ query "
               "ORDER BY score DESC, chunk_id LIMIT :limit")
    statement = sa.text(sql).bindparams(sa.bindparam("spaces", expanding=True))
    return [(int(row[0]), float(row[1])) for row in conn.execute(statement, params)]
