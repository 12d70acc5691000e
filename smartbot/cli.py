"""The `smartbot` command: database, admin accounts, server, worker, terminal chat, checks, audit."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .errors import ConfigError, SmartBotError

if TYPE_CHECKING:
    from .manage.terminal import TerminalSender
    from .runtime import Runtime
    from .server.address import Address
    from .settings.sections import Settings

# The configuration ./scripts/start.sh writes in a checkout: the default of every command run from
# that checkout, so `smartbot chat` uses the server's database and key with nothing exported.
CHECKOUT_CONFIG = Path(__file__).resolve().parent.parent / "var" / "smartbot.toml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smartbot", description="SmartBot assistant gateway")
    parser.add_argument("--config", help="path to smartbot.toml (default: $SMARTBOT_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    db = sub.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    up = db.add_parser("upgrade", help="create or upgrade the database schema")
    up.add_argument("revision", nargs="?", default="head")
    db.add_parser("current", help="show the schema revision")
    admin = sub.add_parser("create-admin", help="create an admin account")
    admin.add_argument("--name", default="admin")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    run = sub.add_parser("run", help="upgrade the database, then serve under gunicorn")
    run.add_argument("--bind", help="host:port or unix:/path (default from [server] bind)")
    sub.add_parser("worker", help="run the job workers without serving HTTP")
    chat = sub.add_parser("chat", help="talk to the bot in the terminal, through the same router")
    chat.add_argument("--user", metavar="NAME",
                      help="talk as the SmartBot user NAME (their terminal identity cli:NAME is bound to them "
                           "on first use, audited); without it you talk as the unbound sender cli:$USER, "
                           "with the default role")
    check = sub.add_parser("check-config", help="check the configuration and what it points at")
    check.add_argument("--online", action="store_true", help="also try to reach the providers' APIs")
    aud = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_command", required=True)
    aud.add_parser("verify", help="verify the hash chain (with the audit keys the configuration names)")
    rot = aud.add_parser("rotate-key", help="sign new audit rows with a new key, kept in [audit] key_file "
                                            "with every older one")
    rot.add_argument("--previous-key-lost", action="store_true",
                     help="the key the chain is under is gone for good: move on, and let verify report its rows "
                          "as unverifiable")
    args = parser.parse_args(argv)
    if args.config:
        os.environ["SMARTBOT_CONFIG"] = args.config
    elif not os.environ.get("SMARTBOT_CONFIG") and CHECKOUT_CONFIG.is_file():
        os.environ["SMARTBOT_CONFIG"] = str(CHECKOUT_CONFIG)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "db": _db, "create-admin": _create_admin, "run": _run, "worker": _worker, "chat": _chat,
        "check-config": _check_config, "audit": _audit,
    }
    try:
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except SmartBotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _settings():
    from .settings.loading import load

    return load()


def _database(migrate: bool = False):
    from .storage.db import Database

    settings = _settings()
    db = Database(settings.database_url)
    if migrate:
        db.upgrade()
    return settings, db


def _db(args: argparse.Namespace) -> int:
    from .storage.db import head_revision

    settings, db = _database()
    if args.db_command == "upgrade":
        db.upgrade(args.revision)
        print(f"database at revision {db.schema_revision()} ({_safe_url(settings.database_url)})")
    else:
        current = db.schema_revision()
        print(f"{current or '(empty)'}; code expects {head_revision()}")
    return 0


def _create_admin(args: argparse.Namespace) -> int:
    from .auth.accounts import AccountError, create_admin
    from .i18n.terminal import said

    from . import audit

    settings, db = _database(migrate=True)
    audit.open_log(db, settings.secret_key, settings.audit.key_file)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(said("setup.admin_password_prompt", name=args.name))
        if getpass.getpass(said("setup.admin_password_again")) != password:
            print(said("setup.admin_passwords_differ"), file=sys.stderr)
            return 1
    try:
        create_admin(db, args.name, password)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(said("setup.admin_created", name=repr(args.name)))
    return 0


def _run(args: argparse.Namespace) -> int:
    from .server import address

    if args.bind:
        os.environ["SMARTBOT_SERVER__BIND"] = args.bind
    settings = _settings()
    where = address.parse(settings.server.bind)
    if where is not None:
        problem = address.availability(where)
        if problem:
            print(_port_problem(settings, where, problem), file=sys.stderr)
            return 1
    _database(migrate=True)
    print(_serving(settings, where), flush=True)
    # gunicorn as a module of this interpreter: found wherever this Python finds its packages.
    os.execv(sys.executable, [sys.executable, "-m", "gunicorn", "-c", "python:smartbot.server.gunicorn_conf",
                              "smartbot.wsgi:app"])
    return 0  # not reached


def _serving(settings: Settings, where: Address | None) -> str:
    from .i18n import t
    from .i18n.terminal import terminal_locale

    loc = terminal_locale(os.environ)          # printed to the terminal that started it
    if where is None or not where.is_tcp:
        return t("setup.serving_elsewhere", loc, bind=settings.server.bind)
    if not settings.webchat.enabled:
        return t("setup.serving_admin", loc, admin=where.url() + "/admin/")
    return t("setup.serving", loc, chat=where.url() + "/chat", admin=where.url() + "/admin/")


def _port_problem(settings: Settings, where: Address, problem: str) -> str:
    """What is wrong with the address, and the exact way to choose another (a port found free)."""
    from .i18n import t
    from .i18n.terminal import terminal_locale
    from .server import address

    loc = terminal_locale(os.environ)
    lines = [t("setup.port_taken" if problem == address.TAKEN else "setup.port_refused", loc,
               bind=where.bind_text(), port=where.port)]
    other = address.instead(where, problem)
    if other is not None:
        lines.append(t("setup.port_hint", loc, bind=other.bind_text()))
        if settings.config_path:
            lines.append(t("setup.port_hint_file", loc, bind=other.bind_text(), config=settings.config_path))
    return "\n".join(lines)


def _worker(args: argparse.Namespace) -> int:
    import signal

    from .runtime import Runtime

    from .telemetry import logs

    settings = _settings()
    logs.configure(settings.log_level, settings.log_format, settings.audit.log_file)
    runtime = Runtime(settings, role="worker")
    runtime.start()
    print(f"worker {runtime.owner} running; Ctrl-C to stop", file=sys.stderr)
    try:
        if runtime.celery is not None:
            from .jobs.celery_backend import run_worker

            run_worker(runtime.celery, runtime.settings.jobs.broker_concurrency)
        else:
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            stop.wait()
    finally:
        runtime.stop()
    return 0


def _chat(args: argparse.Namespace) -> int:
    from .channels.terminal import TerminalChannel
    from .i18n import t
    from .i18n.terminal import said_here
    from .manage import terminal
    from .manage.errors import ManageError
    from .messages import InboundMessage
    from .runtime import Runtime

    runtime = Runtime(_settings(), role="all")
    loc, bot = runtime.settings.default_locale, runtime.settings.bot_name
    try:
        sender = terminal.sender(runtime.db, args.user or os.environ.get("USER", "local"), as_user=bool(args.user))
    except ManageError as exc:
        runtime.stop()
        print(f"error: {said_here(exc.reason)}", file=sys.stderr)
        return 1
    got_reply = threading.Event()

    def show(reply) -> None:
        print(f"{bot}> {reply.text}", flush=True)
        got_reply.set()

    runtime.channels[terminal.CHANNEL] = TerminalChannel(show)
    runtime.start()
    print(_chat_greeting(runtime, sender, args.user))
    try:
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                continue
            got_reply.clear()
            runtime.ingest.accept(InboundMessage(channel=terminal.CHANNEL, event_id=uuid.uuid4().hex,
                                                 chat_id=sender.platform_user_id, user_id=sender.platform_user_id,
                                                 user_name=sender.user or sender.platform_user_id, text=text,
                                                 mentioned=True))
            if not got_reply.wait(timeout=180):
                print(t("setup.chat_no_answer_yet", loc))
            else:
                got_reply.wait(0.2)
    finally:
        runtime.stop()
    return 0


def _chat_greeting(runtime: Runtime, sender: TerminalSender, asked: str | None) -> str:
    """Whom the terminal talks as, said before the first prompt (and why, when --user named nobody)."""
    from .auth.identities import resolve
    from .i18n import t
    from .manage.terminal import CHANNEL

    settings = runtime.settings
    loc, identity = settings.default_locale, f"{CHANNEL}:{sender.platform_user_id}"
    with runtime.db.read() as conn:
        principal = resolve(conn, CHANNEL, sender.platform_user_id, sender.platform_user_id,
                            settings.security.default_role)
    lines = []
    if sender.no_such_user:
        lines.append(t("setup.chat_no_such_user", loc, user=asked, identity=identity))
    if sender.bound_now:
        lines.append(t("setup.chat_bound_now", loc, user=sender.user, identity=identity))
    if principal is None:
        lines.append(t("setup.chat_refused", loc, identity=identity))
    elif sender.user:
        lines.append(t("setup.chat_as_user", loc, bot=settings.bot_name, user=principal.name,
                       roles=principal.role_label, identity=identity))
    else:
        lines.append(t("setup.chat_as_sender", loc, bot=settings.bot_name, identity=identity,
                       roles=principal.role_label))
    return "\n".join(lines)


def _check_config(args: argparse.Namespace) -> int:
    import logging

    from .i18n import t
    from .i18n.terminal import terminal_locale
    from .settings.checks import run_checks

    # Every check says its own outcome; a library's log line (a provider's refusal) would repeat it raw.
    logging.basicConfig(level=logging.ERROR, format="%(message)s")
    loc = terminal_locale(os.environ)
    try:
        settings = _settings()
    except ConfigError as exc:
        print(t("check.config_error", loc, error=exc), file=sys.stderr)
        return 2
    problems = run_checks(settings, online=args.online, out=print, locale=loc)
    return 1 if problems else 0


def _audit(args: argparse.Namespace) -> int:
    from . import audit
    from .audit import report, rotation

    settings, db = _database(migrate=args.audit_command == "rotate-key")
    if args.audit_command == "rotate-key":
        done = rotation.rotate(db, settings.secret_key, settings.audit.key_file, args.previous_key_lost)
        print(report.rotation(done))
        return 0
    keyring = audit.keys.load(settings.secret_key, settings.audit.key_file)
    with db.read() as conn:
        result = audit.verify(conn, keyring)
    if result.ok:
        print(report.verified(result))
        return 0
    print(f"audit chain BROKEN: {result.problem}", file=sys.stderr)
    return 1


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


if __name__ == "__main__":
    sys.exit(main())
