"""`smartbot check-config`: what the settings point at, checked one by one with a fix for each.

A check reads and never writes: a SQLite database that does not exist yet is reported, not
created (only `smartbot db upgrade` or start-up creates it). `--online` asks each provider's API
for its model list, the file's providers and those added in the admin page alike, with the key
the server would send (never one the key rules withhold); only a 2xx list of models passes.
"""
from __future__ import annotations

import os
from typing import Callable

import sqlalchemy as sa

from .. import audit
from ..assistant.provider_store import spec_from_row
from ..assistant.wiring import build_service
from ..errors import ConfigError, ProviderError
from ..i18n import t
from ..executor.catalogue import refused_rows
from ..executor.environment import own_variables
from ..llm.base import ProviderSpec
from ..llm.keys import origin
from ..llm.service import PROBE_READ_TIMEOUT, ModelService
from ..storage.db import Database, head_revision, sqlite_file
from ..storage.tables import Provider
from .sections import ProviderSettings, Settings

Report = Callable[..., None]
Say = Callable[..., None]          # say(mark, key, **values): one line that is no pass or fail


def run_checks(settings: Settings, online: bool, out: Callable[[str], None], locale: str = "en") -> list[str]:
    """Every check, one line each, in `locale` (the catalogue's `check.*` texts). The marks
    ([ok], [FAIL], [warn], [note]) stay as they are in every language, for scripts that read them."""
    problems: list[str] = []

    def report(ok: bool, key: str, fix: str = "", **values: object) -> None:
        what = t(key, locale, **values)
        fixing = t(fix, locale, **values) if fix and not ok else ""
        out(f"[{'ok' if ok else 'FAIL'}] {what}" + (f" -- {fixing}" if fixing else ""))
        if not ok:
            problems.append(what)

    def say(mark: str, key: str, **values: object) -> None:
        out(f"[{mark}] {t(key, locale, **values)}")

    report(True, "check.config_file", path=settings.config_path or t("check.no_config_file", locale))
    for notice in settings.retired:         # ignored, so no problem: said as start-up says it
        out(f"[warn] {notice}")
    db = _check_database(settings, report, say)
    for name, config in settings.channels.items():
        check = getattr(config, "self_check", None)
        detail = check() if check else ""
        report(not detail, "check.channel_problem" if detail else "check.channel_ok", name=name, detail=detail)
    for server in settings.mcp_servers:
        detail = server.problem(os.environ)
        report(not detail, "check.mcp_problem" if detail else "check.mcp_ok", name=server.name, detail=detail,
               target=server.url or server.command[0])
    providers = [(_file_spec(p), "") for p in settings.providers]
    providers += [(spec, t("check.added_in_admin", locale)) for spec in _stored_specs(db)]
    if not providers:
        report(True, "check.no_providers")
    service = build_service(settings, os.environ, pool_size=2) if online else None
    try:
        for spec, added in providers:
            _check_provider(spec, added, service, report, say)
    finally:
        if service is not None:
            service.close()
    return problems


def _check_database(settings: Settings, report: Report, say: Say) -> Database | None:
    """The database at the code's schema, or None (missing, behind or unreachable: said why)."""
    path = sqlite_file(settings.database_url)
    if path and not os.path.exists(path):
        say("note", "check.no_database", path=path)
        return None
    try:
        db = Database(settings.database_url)
        current = db.schema_revision()
        head = head_revision()
        report(current == head, "check.schema" if current else "check.schema_empty", "check.schema_fix",
               current=current, head=head)
        if current != head:
            return None
        _check_commands(db, settings, report)
        _check_audit_key(settings, db, report)
        return db
    except Exception as exc:  # a check reports, it never crashes
        report(False, "check.database_unreachable", "check.database_unreachable_fix",
               error=f"{type(exc).__name__}: {exc}")
        return None


def _check_commands(db: Database, settings: Settings, report: Report) -> None:
    """Stored commands that today's checks refuse (saved before a check existed): never run, shown here."""
    with db.read() as conn:
        refused = refused_rows(conn, own_variables(settings, conn))
    for name, why in refused:
        report(False, "check.command_refused", "check.command_refused_fix", name=name, why=why)


def _check_audit_key(settings: Settings, db: Database, report: Report) -> None:
    """Whether these settings give the key the audit chain is under (else start-up refuses)."""
    try:
        keyring = audit.keys.load(settings.secret_key, settings.audit.key_file)
        with db.read() as conn:
            current = audit.chain.head_key(conn)
        if current and keyring.get(current) is None:
            raise audit.chain.unavailable(current, keyring)
    except ConfigError as exc:
        report(False, "check.audit_key_problem", error=exc)
        return
    report(True, "check.audit_key", id=keyring.current.id, source=keyring.source)


def _file_spec(p: ProviderSettings) -> ProviderSpec:
    """A [[providers]] entry as the server calls it (the file is trusted: its key goes to its base_url)."""
    return ProviderSpec(name=p.name, kind=p.kind, base_url=p.base_url, model=p.model, api_key_env=p.api_key_env,
                        connect_timeout=p.connect_timeout, read_timeout=p.read_timeout,
                        total_timeout=p.total_timeout, headers=tuple(sorted(p.headers.items())),
                        key_origin=origin(p.base_url), from_file=True)


def _stored_specs(db: Database | None) -> list[ProviderSpec]:
    """The enabled providers made in the admin page or the API (the file's are checked from the file)."""
    if db is None:
        return []
    table = Provider.__table__
    with db.read() as conn:
        rows = conn.execute(sa.select(table).where(table.c.source != "config", table.c.enabled.is_(True))
                            .order_by(table.c.id)).all()
    return [spec_from_row(row) for row in rows]


def _check_provider(spec: ProviderSpec, added: str, service: ModelService | None, report: Report,
                    say: Say) -> None:
    named = {"name": spec.name, "added": added, "url": spec.base_url}
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        report(False, "check.provider_no_key", "check.provider_no_key_fix", variable=spec.api_key_env, **named)
    else:
        report(True, "check.provider", kind=spec.kind, model=spec.model, **named)
    if service is None:
        return
    try:
        listed = service.client(spec).models((spec.connect_timeout, min(spec.read_timeout, PROBE_READ_TIMEOUT)))
    except ProviderError as exc:
        report(False, "check.provider_unreachable", "check.provider_unreachable_fix", error=exc.reason, **named)
        return
    report(True, "check.provider_lists", count=len(listed), **named)
    if spec.model not in listed:
        say("warn", "check.provider_model_unlisted", model=spec.model, **named)

