"""Local user accounts: their queries, the first user at start-up, and the command line.

``python3 -m cartrita.orchestrator.users add NAME | list | delete NAME | passwd NAME [--data-dir DIR]``

* ``add`` and ``passwd`` read the password from stdin (one line), or prompt
  twice when stdin is a terminal; at least 12 characters. It is stored as a
  scrypt hash (:mod:`.passwords`) and never printed.
* ``delete`` removes the user with their conversations and memories.
* ``delete`` and ``passwd`` end the user's login sessions when Redis is known
  (``REDIS_URL``, or the stack's); without it they say so, and sessions run
  out by themselves (``SESSION_TTL_SECONDS`` after their last use).

Connection: ``DATABASE_URL`` (and ``REDIS_URL``), or ``--data-dir DIR``: the
running stack's ``DIR/run/stack.json``, as for the memory importer. Exit
status: 0 done, 1 refused (no such user, name taken, database error), 2
usage, 65 a bad name or password, 78 no usable configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional

import psycopg
import redis.asyncio as aioredis
from psycopg.rows import dict_row
from psycopg_pool import PoolTimeout
from redis.exceptions import RedisError

from .config import ConfigError, Settings
from .health import describe_error
from .logging_setup import scrubber
from .models import USERNAME_RULE, normalize_username
from .passwords import PasswordError, check_password, hash_password
from .sessions import revoke_user_sessions

log = logging.getLogger("cartrita.orchestrator.users")

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 2
EX_DATAERR = 65
EX_CONFIG = 78

APPLICATION_NAME = "cartrita-users"

#: how long the start-up's first-user task waits between attempts while the database is not there yet
BOOTSTRAP_RETRY_SECONDS = (1.0, 2.0, 5.0, 10.0, 30.0)


# -- queries (each takes an open connection inside a transaction) ---------------------------------------------------


async def find_by_name(conn, username: str) -> Optional[Dict[str, Any]]:
    """id, username, password_hash of a (normalized) name."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, username, password_hash FROM users WHERE username = %s", (username,))
        return await cur.fetchone()


async def find_by_id(conn, user_id: uuid.UUID) -> Optional[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute("SELECT id, username FROM users WHERE id = %s", (user_id,))
        return await cur.fetchone()


async def _returned_id(conn, sql: str, params) -> Optional[uuid.UUID]:
    row = await (await conn.execute(sql, params)).fetchone()
    return row[0] if row else None


async def create(conn, username: str, password_hash: str) -> Optional[uuid.UUID]:
    """The new user's id, or None when the name is taken (an existing user is never changed)."""
    return await _returned_id(
        conn,
        "INSERT INTO users (username, password_hash) VALUES (%s, %s) ON CONFLICT (username) DO NOTHING RETURNING id",
        (username, password_hash),
    )


async def list_all(conn) -> List[Dict[str, Any]]:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(
            """
            SELECT u.id, u.username, u.created_at,
                   (SELECT count(*) FROM conversations c WHERE c.owner_id = u.id)::int AS conversations,
                   (SELECT count(*) FROM memories m WHERE m.owner_id = u.id)::int AS memories
            FROM users u ORDER BY u.username
            """
        )
        return await cur.fetchall()


async def delete(conn, username: str) -> Optional[uuid.UUID]:
    """The deleted user's id (their conversations and memories go with them), or None."""
    return await _returned_id(conn, "DELETE FROM users WHERE username = %s RETURNING id", (username,))


async def set_password(conn, username: str, password_hash: str) -> Optional[uuid.UUID]:
    return await _returned_id(
        conn, "UPDATE users SET password_hash = %s, updated_at = now() WHERE username = %s RETURNING id",
        (password_hash, username),
    )


# -- the first user ---------------------------------------------------------------------------------------------------


async def bootstrap_admin(db, username: str, password: str) -> None:
    """Create CARTRITA_ADMIN_USER unless a user of that name exists; retried until the database answers.

    Runs as a background task: the service starts (and reports 503) while the database is down. Only a
    connection-type failure (the pool timing out, psycopg.OperationalError) is retried; any other error (a
    missing table or privilege, a bug) would fail the same way every time, so it is logged once and the task
    stops."""
    password_hash = await asyncio.to_thread(hash_password, password)
    attempt = 0
    while True:
        try:
            created = await db.run(lambda conn: create(conn, username, password_hash))
        except (PoolTimeout, psycopg.OperationalError) as exc:
            delay = BOOTSTRAP_RETRY_SECONDS[min(attempt, len(BOOTSTRAP_RETRY_SECONDS) - 1)]
            log.warning("cannot create the first user yet (%s); retrying in %.0f s", describe_error(exc), delay)
            await asyncio.sleep(delay)
            attempt += 1
            continue
        except Exception as exc:  # noqa: BLE001 - a background task: report it, do not retry it
            log.error("cannot create the first user %r (%s); not retrying: fix the cause and restart",
                      username, describe_error(exc))
            return
        if created:
            log.info("created the first user %r (CARTRITA_ADMIN_USER)", username)
        else:
            log.info("user %r exists already; CARTRITA_ADMIN_PASSWORD is not applied to it", username)
        return


# -- command line -----------------------------------------------------------------------------------------------------


class CliError(Exception):
    def __init__(self, message: str, status: int = EX_FAILED):
        super().__init__(message)
        self.status = status


def read_password(stdin=None, prompt=getpass.getpass) -> str:
    """The new password: a prompt (twice) on a terminal, else the first line of stdin."""
    stdin = sys.stdin if stdin is None else stdin
    if stdin.isatty():
        first = prompt("New password (at least 12 characters): ")
        if prompt("Repeat it: ") != first:
            raise CliError("the two passwords differ; nothing was changed", EX_DATAERR)
        password = first
    else:
        password = stdin.readline().rstrip("\r\n")
    try:
        return check_password(password)
    except PasswordError as exc:
        raise CliError(f"{exc}; nothing was changed", EX_DATAERR) from None


async def _end_sessions(settings: Settings, user_id: uuid.UUID, out) -> None:
    if settings.redis_url is None:
        out.write("  (no REDIS_URL: the user's open sessions end when they expire or sign out)\n")
        return
    client = aioredis.Redis.from_url(settings.redis_url.get_secret_value(), socket_timeout=5, socket_connect_timeout=5)
    try:
        ended = await revoke_user_sessions(client, user_id)
        out.write(f"  {ended} open session(s) ended\n")
    except (RedisError, OSError) as exc:
        out.write(f"  (redis did not answer, {type(exc).__name__}: open sessions end when they expire or sign out)\n")
    finally:
        await client.close()


async def run_command(settings: Settings, command: str, name: Optional[str], out, password: Optional[str]) -> None:
    async with await psycopg.AsyncConnection.connect(
        settings.database_url.get_secret_value(),
        application_name=APPLICATION_NAME,
        connect_timeout=settings.db_connect_timeout,
    ) as conn:
        if command == "list":
            rows = await list_all(conn)
            if not rows:
                out.write("no users yet; add one with `./cartrita user add NAME`\n")
            for r in rows:
                out.write(f"{r['username']}\t{r['id']}\tcreated {r['created_at']:%Y-%m-%d %H:%M}\t"
                          f"{r['conversations']} conversation(s), {r['memories']} memories\n")
            return
        if command == "add":
            user_id = await create(conn, name, await asyncio.to_thread(hash_password, password))
            if user_id is None:
                raise CliError(f"user {name} exists already; change its password with `passwd {name}`")
            await conn.commit()
            out.write(f"user {name} added ({user_id})\n")
            return
        if command == "passwd":
            user_id = await set_password(conn, name, await asyncio.to_thread(hash_password, password))
        else:
            user_id = await delete(conn, name)
        if user_id is None:
            raise CliError(f"no user named {name} (`list` shows them)")
        await conn.commit()
        out.write(f"user {name} {'deleted, with their conversations and memories' if command == 'delete' else 'has a new password'}\n")
        await _end_sessions(settings, user_id, out)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python3 -m cartrita.orchestrator.users",
                                description="Manage the local user accounts people sign in with.")
    data_dir_help = "take the database (and Redis) from the running stack's DIR/run/stack.json"
    p.add_argument("--data-dir", type=Path, help=data_dir_help)
    # also after the command; SUPPRESS: a sub-command's default must not hide a value given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, default=argparse.SUPPRESS, help=data_dir_help)
    commands = p.add_subparsers(dest="command", required=True, metavar="add|list|delete|passwd")
    commands.add_parser("add", parents=[common], help="add a user (password from stdin or a prompt)").add_argument("name")
    commands.add_parser("list", parents=[common], help="list the users")
    commands.add_parser("delete", parents=[common], help="delete a user with their data").add_argument("name")
    commands.add_parser("passwd", parents=[common], help="set a user's password").add_argument("name")
    return p


def main(argv: Optional[List[str]] = None, stdin=None, out=None) -> int:
    from .importer import load_import_settings  # here: the service imports this module, and needs no embedder

    out = sys.stdout if out is None else out
    args = _parser().parse_args(argv)
    name = None
    try:
        if args.command != "list":
            name = normalize_username(args.name)
            if name is None:
                raise CliError(f"{args.name!r} is not a valid username: {USERNAME_RULE}", EX_DATAERR)
        password = read_password(stdin) if args.command in ("add", "passwd") else None
        try:
            settings = load_import_settings(args.data_dir)
        except ConfigError as exc:
            raise CliError("no database to work with:\n" + "".join(f"  - {p}\n" for p in exc.problems), EX_CONFIG)
        scrubber.update(settings.secret_values())  # describe_error() hides them
        asyncio.run(run_command(settings, args.command, name, out, password))
    except CliError as exc:
        sys.stderr.write(f"users: {str(exc).rstrip()}\n")
        return exc.status
    except psycopg.Error as exc:
        sys.stderr.write(f"users: the database refused, nothing was changed: {describe_error(exc)}\n")
        return EX_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("\nusers: interrupted; nothing was changed\n")
        return 130
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
