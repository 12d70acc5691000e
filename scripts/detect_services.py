"""Print `export` lines for the PostgreSQL and Redis the tests can use, when they answer locally.

scripts/test.sh evals this, so the README's one test command also runs the PostgreSQL and
Celery + Redis tests wherever those servers run (as on CI); elsewhere those tests skip and say why.
Variables already set are left alone.
"""
from __future__ import annotations

import os
import socket


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def main() -> None:
    if not os.environ.get("SMARTBOT_TEST_DATABASE_URL") and _port_open(5432):
        url = "postgresql://postgres@127.0.0.1:5432/test"
        try:
            import psycopg

            psycopg.connect(url, connect_timeout=3).close()
            print(f"export SMARTBOT_TEST_DATABASE_URL={url}")
        except Exception:   # a server we may not use: the PostgreSQL tests skip and say why
            pass
    if not os.environ.get("SMARTBOT_TEST_REDIS_URL") and _port_open(6379):
        print("export SMARTBOT_TEST_REDIS_URL=redis://127.0.0.1:6379/15")


if __name__ == "__main__":
    main()
