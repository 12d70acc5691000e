"""`smartbot check-config`: what the settings point at, checked one by one with a fix for each."""
from __future__ import annotations

import os
from typing import Callable

from .. import audit
from .sections import Settings
from ..storage.db import Database, head_revision
from ..errors import ConfigError
from ..executor.catalogue import refused_rows
from ..executor.environment import own_variables


def run_checks(settings: Settings, online: bool, out: Callable[[str], None]) -> list[str]:
    problems: list[str] = []

    def report(ok: bool, what: str, fix: str = "") -> None:
        out(f"[{'ok' if ok else 'FAIL'}] {what}" + (f" -- {fix}" if fix and not ok else ""))
        if not ok:
            problems.append(what)

    report(True, f"configuration file: {settings.config_path or '(none, defaults and environment)'}")
    for notice in settings.retired:         # ignored, so no problem: said as start-up says it
        out(f"[warn] {notice}")
    try:
        db = Database(settings.database_url)
        current = db.schema_revision()
        head = head_revision()
        report(current == head, f"database schema {current or '(empty)'} (code expects {head})",
               "run `smartbot db upgrade`")
        if current == head:
            _check_commands(db, settings, report)
            report(*_audit_key(settings, db))
    except Exception as exc:  # a check reports, it never crashes
        report(False, f"database unreachable: {type(exc).__name__}: {exc}", "check database_url")
    for name, config in settings.channels.items():
        check = getattr(config, "self_check", None)
        detail = check() if check else ""
        report(not detail, f"channel {name}" + (f": {detail}" if detail else " configured"))
    if not settings.providers:
        report(True, "no [[providers]] in the file (chat answers that no model is configured)")
    for p in settings.providers:
        if p.api_key_env and not os.environ.get(p.api_key_env):
            report(False, f"provider {p.name}: environment variable {p.api_key_env} is not set",
                   f"export {p.api_key_env}=<your API key>")
        else:
            report(True, f"provider {p.name}: {p.kind} {p.model} at {p.base_url}")
        if online:
            report(*_reach(p.base_url), "check base_url and the network")
    return problems


def _check_commands(db: Database, settings: Settings, report: Callable[..., None]) -> None:
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


def _reach(url: str) -> tuple[bool, str]:
    import requests

    try:
        resp = requests.get(url, timeout=5)
        return resp.status_code < 500, f"reached {url} ({resp.status_code})"
    except requests.RequestException as exc:
        return False, f"cannot reach {url}: {type(exc).__name__}"
