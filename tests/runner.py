"""`make test`: find PostgreSQL and Redis, pick the database, run pytest (operations.md §4.1).

Outside CI an unreachable PostgreSQL or Redis means SQLite / eager tasks and the tests that need the
service are skipped with a visible reason; with CI=true it is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/pacspace"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


def postgres_reachable(url: str) -> str | None:
    """None when reachable, else the reason."""
    import psycopg

    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    try:
        with psycopg.connect(admin_url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure is "unreachable", reported verbatim
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def redis_reachable(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3).ping()
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}".strip()
    return None


def main(argv: list[str]) -> int:
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("REDIS_URL", DEFAULT_REDIS_URL)
    pg_problem = postgres_reachable(env["DATABASE_URL"])
    redis_problem = redis_reachable(env["REDIS_URL"])
    for name, problem in (("PostgreSQL", pg_problem), ("Redis", redis_problem)):
        if problem and ci:
            print(f"make test: {name} is unreachable and CI=true: {problem}", file=sys.stderr)
            return 1
        if problem:
            print(f"make test: {name} unreachable ({problem}); its tests will be skipped", file=sys.stderr)
    if pg_problem:
        del env["DATABASE_URL"]
        env["PACSPACE_TEST_SKIP_POSTGRES"] = pg_problem
    if redis_problem:
        del env["REDIS_URL"]
        env["PACSPACE_TEST_SKIP_REDIS"] = redis_problem
    command = [sys.executable, "-m", "pytest", *argv]
    return subprocess.call(command, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
