"""The `smartbot` command: database, admin accounts, server, worker, terminal chat, checks, audit."""
from __future__ import annotations

import argparse
import getpass
import os
import sys
import threading
import uuid
from typing import Callable

from .errors import ConfigError, SmartBotError


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
    chat.add_argument("--user", default=os.environ.get("USER", "local"))
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

    from . import audit

    settings, db = _database(migrate=True)
    audit.open_log(db, settings.secret_key, settings.audit.key_file)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            print("the passwords differ", file=sys.stderr)
            return 1
    try:
        create_admin(db, args.name, password)
    except AccountError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"admin {args.name!r} created; log in at /admin/login")
    return 0


def _run(args: argparse.Namespace) -> int:
    if args.bind:
        os.environ["SMARTBOT_SERVER__BIND"] = args.bind
    _database(migrate=True)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    argv = [gunicorn, "-c", "python:smartbot.server.gunicorn_conf", "smartbot.wsgi:app"]
    os.execv(gunicorn, argv)
    return 0  # not reached


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
    from .messages import InboundMessage
    from .runtime import Runtime

    runtime = Runtime(_settings(), role="all")
    got_reply = threading.Event()

    def show(reply) -> None:
        print(f"{runtime.settings.bot_name}> {reply.text}", flush=True)
        got_reply.set()

    runtime.channels["cli"] = TerminalChannel(show)
    runtime.start()
    print(f"Talking to {runtime.settings.bot_name} as {args.user}. /help for help, Ctrl-D to quit.")
    try:
        while True:
            try:
                text = input("you> ").strip()
            except EOFError:
                break
            if not text:
                continue
            got_reply.clear()
            runtime.ingest.accept(InboundMessage(channel="cli", event_id=uuid.uuid4().hex, chat_id=args.user,
                                                 user_id=args.user, user_name=args.user, text=text,
                                                 mentioned=True))
            if not got_reply.wait(timeout=180):
                print("(no answer yet; it will be printed when it comes)")
            else:
                got_reply.wait(0.2)
    finally:
        runtime.stop()
    return 0


def _check_config(args: argparse.Namespace) -> int:
    from .settings.checks import run_checks

    problems = run_checks(_settings(), online=args.online, out=print)
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
