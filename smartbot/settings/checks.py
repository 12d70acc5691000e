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
from ..executor.catalogue import refused_rows
from ..executor.environment import own_variables
from ..llm.base import ProviderSpec
from ..llm.keys import origin
from ..llm.service import PROBE_READ_TIMEOUT, ModelService
from ..storage.db import Database, head_revision, sqlite_file
from ..storage.tables import Provider
from .sections import ProviderSettings, Settings

Report = Callable[..., None]


def run_checks(settings: Settings, online: bool, out: Callable[[str], None]) -> list[str]:
    problems: list[str] = []

    def report(ok: bool, what: str, fix: str = "") -> None:
        out(f"[{'ok' if ok else 'FAIL'}] {what}" + (f" -- {fix}" if fix and not ok else ""))
        if not ok:
            problems.append(what)

    report(True, f"configuration file: {settings.config_path or '(none, defaults and environment)'}")
    for notice in settings.retired:         # ignored, so no problem: said as start-up says it
        out(f"[warn] {notice}")
    db = _check_database(settings, report, out)
    for name, config in settings.channels.items():
        check = getattr(config, "self_check", None)
        detail = check() if check else ""
        report(not detail, f"channel {name}" + (f": {detail}" if detail else " configured"))
    providers = [(_file_spec(p), "") for p in settings.providers]
    providers += [(spec, " (added in the admin page)") for spec in _stored_specs(db)]
    if not providers:
        report(True, "no providers, in the file or the database (chat answers that no model is configured)")
    service = build_service(settings, os.environ, pool_size=2) if online else None
    try:
        for spec, added in providers:
            _check_provider(spec, added, service, report, out)
    finally:
        if service is not None:
            service.close()
    return problems


def _check_database(settings: Settings, report: Report, out: Callable[[str], None]) -> Database | None:
    """The database at the code's schema, or None (missing, behind or unreachable: said why)."""
    path = sqlite_file(settings.database_url)
    if path and not os.path.exists(path):
        out(f"[note] no database yet at {path} (`smartbot db upgrade` or ./scripts/start.sh creates it): "
            f"only the file's providers were checked")
        return None
    try:
        db = Database(settings.database_url)
        current = db.schema_revision()
        head = head_revision()
        report(current == head, f"database schema {current or '(empty)'} (code expects {head})",
               "run `smartbot db upgrade`")
        if current != head:
            return None
        _check_commands(db, settings, report)
        report(*_audit_key(settings, db))
        return db
    except Exception as exc:  # a check reports, it never crashes
        report(False, f"database unreachable: {type(exc).__name__}: {exc}", "check database_url")
        return None


def _check_commands(db: Database, settings: Settings, report: Report) -> None:
    """Stored commands that today's checks refuse (saved before a check existed): never run, shown here."""
    with db.read() as conn:
        refused = refused_rows(conn, own_variables(settings, conn))
    for name, why in refused:
        report(False, f"command {name} is refused when asked to run: {why}",
               "change or delete it in the admin page (Commands)")


def _audit_key(settings: Settings, db: Database) -> tuple[bool, str]:
    """Whether these settings give the key the audit chain is under (else start-up refuses)."""
    try:
        keyring = audit.keys.load(settings.secret_key, settings.audit.key_file)
        with db.read() as conn:
            current = audit.chain.head_key(conn)
        if current and keyring.get(current) is None:
            raise audit.chain.unavailable(current, keyring)
    except ConfigError as exc:
        return False, f"audit key: {exc}"
    return True, f"audit key {keyring.current.id} ({keyring.source})"


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
                    out: Callable[[str], None]) -> None:
    what = f"provider {spec.name}{added}"
    if spec.api_key_env and not os.environ.get(spec.api_key_env):
        report(False, f"{what}: environment variable {spec.api_key_env} is not set",
               f"export {spec.api_key_env}=<your API key>")
    else:
        report(True, f"{what}: {spec.kind} {spec.model} at {spec.base_url}")
    if service is None:
        return
    try:
        listed = service.client(spec).models((spec.connect_timeout, min(spec.read_timeout, PROBE_READ_TIMEOUT)))
    except ProviderError as exc:
        report(False, f"{what}: {spec.base_url}: {exc.reason}", "check base_url, the key and the network")
        return
    report(True, f"{what}: {spec.base_url} answers with its list of models ({len(listed)})")
    if spec.model not in listed:
        out(f"[warn] {what}: model {spec.model} is not among the models its API lists")

