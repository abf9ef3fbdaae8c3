"""The benchmark's own databases: one per data set, beside the configured one on the same server.

A data set lives in ``<configured name>_bench_<customers>``. Once a build has finished, the
database's comment holds the data set's description (``DatasetSpec`` plus the build figures); a
database without it was interrupted mid-build and is rebuilt. The runner talks to the server
through the configured connection; the builder and the measurements run in child processes whose
DATABASE_URL names the data set's database, so everything in them (migrate, the ORM, raw SQL) uses
it without any switching of settings at run time.
"""

import json
import os
from urllib.parse import quote, urlsplit, urlunsplit

from django.conf import settings
from django.db import connection
from psycopg import sql

POSTGRESQL_ENGINE = "django.db.backends.postgresql"
NAME_LIMIT = 63  # PostgreSQL's identifier length


class BenchError(Exception):
    """Something the person running the benchmark can fix; the command prints it and stops."""


def require_postgresql() -> None:
    """Refuse anything but PostgreSQL: the budgets are set on it and the builder uses COPY."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != POSTGRESQL_ENGINE:
        vendor = engine.rsplit(".", 1)[-1]
        raise BenchError(
            f"The benchmark needs PostgreSQL, but the configured database is {vendor}. "
            "Point DATABASE_URL at a PostgreSQL server whose role may create databases, e.g. "
            "DATABASE_URL=postgres://crm:crm@127.0.0.1:5432/crm make bench"
        )


def bench_database_name(customers: int) -> str:
    name = f"{settings.DATABASES['default']['NAME']}_bench_{customers}"
    if len(name) > NAME_LIMIT:
        raise BenchError(f"The database name {name!r} is longer than {NAME_LIMIT} characters.")
    return name


def database_url(name: str) -> str:
    """The configured DATABASE_URL with another database name (its options are kept)."""
    url = os.environ.get("DATABASE_URL", "")
    if url:
        return urlunsplit(urlsplit(url)._replace(path="/" + quote(name)))
    db = settings.DATABASES["default"]
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or ""
    if db.get("PORT"):
        host += f":{db['PORT']}"
    netloc = f"{credentials}@{host}" if credentials else host
    return f"postgres://{netloc}/{quote(name)}"


def _quoted(name: str) -> str:
    return connection.ops.quote_name(name)


def database_exists(name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        return cursor.fetchone() is not None


def database_create(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE {_quoted(name)}")


def database_drop(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS {_quoted(name)}")


def database_description(name: str) -> dict | None:
    """What a finished build wrote on the database, or None (no database, or an unfinished one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
            [name],
        )
        row = cursor.fetchone()
    if not row or not row[0]:
        return None
    try:
        description = json.loads(row[0])
    except ValueError:
        return None
    return description if isinstance(description, dict) and "dataset" in description else None


def database_describe(name: str, description: dict) -> None:
    connection.ensure_connection()
    literal = sql.Literal(json.dumps(description, sort_keys=True))
    with connection.cursor() as cursor:
        cursor.execute(
            f"COMMENT ON DATABASE {_quoted(name)} IS {literal.as_string(connection.connection)}"
        )


def database_size_mb(name: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(%s)", [name])
        return round(cursor.fetchone()[0] / 2**20, 1)


SERVER_SETTINGS = (
    "shared_buffers",
    "work_mem",
    "maintenance_work_mem",
    "effective_cache_size",
    "max_parallel_workers_per_gather",
    "max_parallel_maintenance_workers",
    "jit",
    "fsync",
    "synchronous_commit",
)


def server_info() -> dict:
    """The PostgreSQL version and the settings that move the figures most."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute(
            "SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) "
            "ORDER BY name",
            [list(SERVER_SETTINGS)],
        )
        return {"version": version, "settings": dict(cursor.fetchall())}
