"""Bulk import of memories: ``python3 -m cartrita.orchestrator.importer FILE``.

The API path (``POST /api/memory``) inserts into the live HNSW index, which
bounds it at ~200 memories/s on two cores; this tool goes around it:

1. **Validate every line first.** JSON Lines (one object a line:
   ``{"content": "...", "metadata": {...}, "id": "<uuid>", "created_at":
   "2026-01-01T12:00:00Z"}``, only ``content`` required) or plain text (each
   non-blank line one memory). The rules are the API's (content 1-16,000
   characters, no NUL; metadata a JSON object, finite numbers, at most 16
   levels); ids must be unique and new. Any bad line: every problem is
   printed as ``FILE:LINE: what is wrong; how to fix it`` and nothing is
   written (exit 65).
2. **Embed** with the configured provider's embedder (the service's rule:
   OpenAI when OPENAI_API_KEY is set, else the local one), batch by batch.
3. **Load** with binary ``COPY`` in batches, all in ONE transaction. When
   the import is large relative to the table (rows to import >= rows already
   in ``memories``, or ``--rebuild-index``; ``--keep-index`` says never),
   the table is locked, its HNSW index definitions are read with
   ``pg_get_indexdef`` (the migration stays the one source of the index
   parameters), the indexes are dropped, the rows copied and the indexes
   created again with ``maintenance_work_mem`` 1GB and the table's parallel
   workers, still in the same transaction: a failure anywhere rolls back
   everything, index included. While that transaction runs, the API's
   memory requests wait for it.

Owner: ``--owner USERNAME`` puts the memories in that user's space (only
they see them); without it they land in the service's space (``owner_id``
NULL, what API-key callers see).

Connection: DATABASE_URL as for the service, or ``--data-dir DIR``: the
running stack's ``DIR/run/stack.json`` (written by the AppHost, read with
:mod:`.stack_state`; its ``Database`` is an Npgsql connection string). The
password is never printed. Exit status: 0 imported, 1 the database refused
(nothing written), 2 usage, 65 bad input (nothing written), 78 no usable
configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import struct
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple
from urllib.parse import quote

import psycopg
from psycopg import sql

from .config import ConfigError, Settings, load_settings
from .embeddings import DIMENSIONS, local_embedding_sparse, vector_binary
from .health import describe_error
from .logging_setup import scrubber
from .models import USERNAME_RULE, memory_content, memory_metadata, normalize_username
from .providers import build_providers
from . import stack_state

EX_OK = 0
EX_FAILED = 1
EX_DATAERR = 65
EX_CONFIG = 78

APPLICATION_NAME = "cartrita-memory-import"
FIELDS = ("content", "metadata", "id", "created_at")
DEFAULT_BATCH = 2048
MAX_REPORTED_PROBLEMS = 20

_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_INT16 = struct.Struct(">h")
_INT32 = struct.Struct(">i")
_TIMESTAMP = struct.Struct(">iq")  # length 8, microseconds since 2000-01-01 UTC
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=timezone.utc)
_ONE_MICROSECOND = timedelta(microseconds=1)


class UnknownOwner(Exception):
    """--owner names no user."""


class InputError(Exception):
    """The file cannot be imported as it is; ``problems`` say where and why."""

    def __init__(self, problems: List[str], more: int = 0):
        self.problems = problems
        self.more = more
        super().__init__("; ".join(problems))

    def render(self) -> str:
        lines = ["import-memories: nothing was imported, the file needs fixing first:"]
        lines += [f"  {p}" for p in self.problems]
        if self.more:
            lines.append(f"  ... and {self.more} more problem(s)")
        return "\n".join(lines) + "\n"


@dataclass
class Memory:
    line: int
    content: str
    metadata: Dict[str, Any]
    id: Optional[uuid.UUID] = None
    created_at: Optional[datetime] = None


@dataclass
class Summary:
    file: str
    format: str
    rows: int = 0
    existing_rows: int = 0
    rebuilt_indexes: List[str] = field(default_factory=list)
    #: the user whose space the memories went to (None: the service's)
    owner: Optional[str] = None
    embedder: str = ""
    validate_s: float = 0.0
    embed_s: float = 0.0
    load_s: float = 0.0
    index_s: float = 0.0
    total_s: float = 0.0
    dry_run: bool = False

    @property
    def vectors_per_s(self) -> float:
        busy = self.embed_s + self.load_s
        return round(self.rows / busy, 1) if busy > 0 else 0.0

    @property
    def overall_per_s(self) -> float:
        return round(self.rows / self.total_s, 1) if self.total_s > 0 else 0.0

    def as_dict(self) -> Dict[str, Any]:
        return dict(asdict(self), vectors_per_s=self.vectors_per_s, overall_per_s=self.overall_per_s)

    def render(self, target: str) -> str:
        if self.dry_run:
            return f"{self.file}: {self.rows:,} memories ({self.format}) are valid; nothing written (--dry-run)\n"
        index = (
            f"index {self.index_s:.2f} s ({', '.join(self.rebuilt_indexes)} rebuilt over "
            f"{self.rows + self.existing_rows:,} rows)"
            if self.rebuilt_indexes
            else "index kept live (rows inserted into it)"
        )
        owner = f", owner {self.owner}" if self.owner else ""
        return (
            f"Imported {self.rows:,} memories from {self.file} ({self.format}) into {target}{owner}\n"
            f"  rows {self.rows:,}; validate {self.validate_s:.2f} s, embed {self.embed_s:.2f} s ({self.embedder}), "
            f"load {self.load_s:.2f} s, {index}\n"
            f"  {self.vectors_per_s:,.0f} vectors/s embedded and loaded; {self.overall_per_s:,.0f}/s overall "
            f"({self.total_s:.2f} s)\n"
        )


# ---------------------------------------------------------------------------
# reading and validating
# ---------------------------------------------------------------------------


def detect_format(path: Path) -> str:
    """``jsonl`` for .jsonl / .ndjson, ``text`` for .txt, else by the first non-blank line."""
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".txt":
        return "text"
    with path.open("rb") as f:
        for raw in f:
            stripped = raw.lstrip(b"\xef\xbb\xbf").strip()
            if stripped:
                return "jsonl" if stripped.startswith(b"{") else "text"
    return "text"


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; write numbers as finite values or use null")


def _parse_json_line(text: str) -> Tuple[Optional[Memory], Optional[str]]:
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON ({exc}); each line must be one JSON object, e.g. {{\"content\": \"...\"}}"
    except ValueError as exc:  # NaN / Infinity
        return None, str(exc)
    if not isinstance(obj, dict):
        return None, 'each line must be a JSON object like {"content": "..."}'
    unknown = [k for k in obj if k not in FIELDS]
    if unknown:
        hint = f'; put other data in metadata, e.g. {{"content": "...", "metadata": {{"{unknown[0]}": ...}}}}'
        return None, f"unknown field {unknown[0]!r} (a memory has {', '.join(FIELDS)}){hint}"
    content = obj.get("content")
    if content is None:
        return None, 'content is missing: {"content": "the text to remember"}'
    if not isinstance(content, str):
        return None, f"content must be a string, not {type(content).__name__}"
    memory = Memory(line=0, content=content, metadata={})
    try:
        memory.content = memory_content(content)
        memory.metadata = memory_metadata(obj.get("metadata"))
    except ValueError as exc:
        return None, str(exc)
    if obj.get("id") is not None:
        try:
            memory.id = uuid.UUID(obj["id"])
        except (TypeError, ValueError, AttributeError):
            memory.id = None
        if memory.id is None:
            return None, "id must be a UUID string like \"3f2b8c1e-0c5d-4a7e-9a51-2f0c6b1d9e44\" (leave it out to get one)"
    if obj.get("created_at") is not None:
        value = obj["created_at"]
        try:
            created = datetime.fromisoformat(value) if isinstance(value, str) else None
        except ValueError:
            created = None
        if created is None or created.tzinfo is None:
            return None, "created_at must be an ISO 8601 time with a zone, e.g. \"2026-01-01T12:00:00Z\""
        memory.created_at = created
    return memory, None


def _parse_text_line(text: str) -> Tuple[Optional[Memory], Optional[str]]:
    try:
        return Memory(line=0, content=memory_content(text), metadata={}), None
    except ValueError as exc:
        return None, str(exc)


def read_memories(path: Path, fmt: str) -> Iterator[Tuple[int, Optional[Memory], Optional[str]]]:
    """(line number, memory or None, problem or None) for every non-blank line."""
    parse = _parse_json_line if fmt == "jsonl" else _parse_text_line
    with path.open("rb") as f:
        for number, raw in enumerate(f, 1):
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield number, None, (
                    f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); save the file as UTF-8"
                )
                continue
            text = text.rstrip("\r\n")
            if not text.strip():
                continue
            memory, problem = parse(text)
            if memory is not None:
                memory.line = number
            yield number, memory, problem


def validate(path: Path, fmt: str) -> Tuple[int, Dict[uuid.UUID, int], bool]:
    """Check every line; (rows, {given id: line}, any created_at given) or InputError."""
    problems: List[str] = []
    more = 0
    ids: Dict[uuid.UUID, int] = {}
    rows = 0
    dated = False
    for number, memory, problem in read_memories(path, fmt):
        if memory is not None and memory.id is not None:
            if memory.id in ids:
                problem = f"id {memory.id} is already used on line {ids[memory.id]}; ids must be unique"
            else:
                ids[memory.id] = number
        if problem is not None:
            if len(problems) < MAX_REPORTED_PROBLEMS:
                problems.append(f"{path}:{number}: {problem}")
            else:
                more += 1
            continue
        rows += 1
        dated = dated or memory.created_at is not None
    if problems:
        raise InputError(problems, more)
    return rows, ids, dated


# ---------------------------------------------------------------------------
# connection
# ---------------------------------------------------------------------------

_NPGSQL_KEYS = {
    "host": "host", "server": "host",
    "port": "port",
    "username": "user", "userid": "user", "user": "user",
    "password": "password", "pwd": "password", "psw": "password",
    "database": "dbname", "db": "dbname",
    "sslmode": "sslmode",
}
_NPGSQL_PAIR_RE = re.compile(r"""\s*([^=;]+?)\s*=\s*("(?:[^"]|"")*"|'(?:[^']|'')*'|[^;]*)\s*(?:;|$)""")


def parse_npgsql(connection_string: str) -> Dict[str, str]:
    """The libpq keywords of an Npgsql connection string (``Host=..;Port=..;Username=..;Password=..;Database=..``)."""
    out: Dict[str, str] = {}
    for m in _NPGSQL_PAIR_RE.finditer(connection_string):
        key = re.sub(r"\s+", "", m.group(1)).lower()
        value = m.group(2).strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1].replace(value[0] * 2, value[0])
        if key in _NPGSQL_KEYS:
            out[_NPGSQL_KEYS[key]] = value.lower() if key == "sslmode" else value
    return out


def read_stack(data_dir: Path) -> stack_state.StackState:
    """run/stack.json of the AppHost running with ``data_dir`` (ConfigError when none runs or it is unusable)."""
    try:
        return stack_state.read(data_dir)
    except (stack_state.NoRunningStack, stack_state.StackStateError) as exc:
        raise ConfigError([str(exc)]) from None


def database_url_from_stack(data_dir: Path, state: Optional[stack_state.StackState] = None) -> str:
    """DATABASE_URL of the stack whose AppHost runs with ``data_dir`` (from its run/stack.json)."""
    path = stack_state.path_in(data_dir)
    state = read_stack(data_dir) if state is None else state
    keys = parse_npgsql(state.database or "")
    if not keys.get("host") or not keys.get("dbname"):
        raise ConfigError([f"{path} has no database connection yet; wait until the stack is up"])
    auth = quote(keys.get("user", ""), safe="")
    if keys.get("password"):
        auth += ":" + quote(keys["password"], safe="")
    host = keys["host"] if ":" not in keys["host"] else f"[{keys['host']}]"
    url = f"postgresql://{auth}@{host}:{keys.get('port', '5432')}/{quote(keys['dbname'], safe='')}"
    return url + (f"?sslmode={quote(keys['sslmode'])}" if keys.get("sslmode") else "")


def redis_url_from_stack(state: stack_state.StackState) -> Optional[str]:
    """REDIS_URL from the stack's ``Redis`` (``host:port,password=...``, as Aspire writes it), if it has one yet."""
    address, _, options = (state.redis or "").partition(",")
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit():
        return None
    password = ""
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key.strip().lower() == "password":
            password = value
    host = host if ":" not in host else f"[{host.strip('[]')}]"
    return f"redis://{':' + quote(password, safe='') + '@' if password else ''}{host}:{port}/0"


def load_import_settings(data_dir: Optional[Path], environ: Optional[Dict[str, str]] = None) -> Settings:
    """The settings of a command-line tool: the environment's, with the running stack's database and Redis when
    ``data_dir`` is given."""
    env = dict(os.environ if environ is None else environ)
    if data_dir is not None:
        state = read_stack(data_dir)
        env["DATABASE_URL"] = database_url_from_stack(data_dir, state)
        redis_url = redis_url_from_stack(state)
        if redis_url:
            env["REDIS_URL"] = redis_url
    return load_settings(env, service=False)


def describe_target(settings: Settings) -> str:
    info = psycopg.conninfo.conninfo_to_dict(settings.database_url.get_secret_value())
    return f"database {info.get('dbname', '?')} on {info.get('host', '?')}:{info.get('port', '5432')}"


# ---------------------------------------------------------------------------
# embedding and COPY
# ---------------------------------------------------------------------------


class Embedder:
    """Vectors in pgvector's binary form: the local embedder's sparse form directly, a remote one through its API."""

    def __init__(self, settings: Settings):
        self.providers = build_providers(settings)
        self.remote = self.providers.embedder.name != "local"
        self.name = f"{self.providers.embedder.name} {self.providers.embedder.model}"
        self._loop = asyncio.new_event_loop() if self.remote else None

    def vectors(self, texts: List[str]) -> List[bytes]:
        if not self.remote:
            return [vector_binary(*local_embedding_sparse(t)) for t in texts]
        dense = self._loop.run_until_complete(self.providers.embedder.embed(texts))
        return [vector_binary(range(DIMENSIONS), v) for v in dense]

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run_until_complete(self.providers.close())
            self._loop.close()
        else:
            asyncio.run(self.providers.close())


_EMPTY_METADATA = _INT32.pack(3) + b"\x01{}"


def copy_row(memory: Memory, vector: bytes, dated_at: Optional[datetime], owner: Optional[uuid.UUID] = None) -> bytes:
    """One row of ``COPY memories (id, content, metadata, embedding[, created_at, updated_at][, owner_id])
    (FORMAT binary)``."""
    content = memory.content.encode("utf-8")
    fields = 4 + (2 if dated_at else 0) + (1 if owner else 0)
    parts = [_INT16.pack(fields), _INT32.pack(16), (memory.id or uuid.uuid4()).bytes,
             _INT32.pack(len(content)), content]
    if memory.metadata:
        meta = json.dumps(memory.metadata, ensure_ascii=False, allow_nan=False).encode("utf-8")
        parts += [_INT32.pack(len(meta) + 1), b"\x01", meta]  # jsonb binary: version 1, then the text
    else:
        parts.append(_EMPTY_METADATA)
    parts += [_INT32.pack(len(vector)), vector]
    if dated_at:
        when = memory.created_at or dated_at
        micros = (when - _PG_EPOCH) // _ONE_MICROSECOND
        stamp = _TIMESTAMP.pack(8, micros)
        parts += [stamp, stamp]
    if owner:
        parts += [_INT32.pack(16), owner.bytes]
    return b"".join(parts)


def hnsw_indexes(conn: psycopg.Connection) -> List[Tuple[str, str, str]]:
    """(schema, name, pg_get_indexdef) of every HNSW index on memories."""
    return conn.execute(
        """
        SELECT n.nspname, c.relname, pg_get_indexdef(i.indexrelid)
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        JOIN pg_am a ON a.oid = c.relam
        WHERE i.indrelid = 'memories'::regclass AND a.amname = 'hnsw'
        ORDER BY c.relname
        """
    ).fetchall()


# ---------------------------------------------------------------------------
# the import
# ---------------------------------------------------------------------------


def import_file(
    path: Path,
    settings: Optional[Settings],
    fmt: str = "auto",
    rebuild: Optional[bool] = None,
    batch: int = DEFAULT_BATCH,
    dry_run: bool = False,
    maintenance_work_mem: str = "1GB",
    progress=None,
    owner: Optional[str] = None,
) -> Summary:
    """Validate, embed and load ``path`` into memories in one transaction (see the module doc); ``owner``: the
    username whose memories they become (None: the service's space).

    ``settings`` may be None for a dry run, which only validates."""
    started = time.perf_counter()
    fmt = detect_format(path) if fmt == "auto" else fmt
    summary = Summary(file=str(path), format="JSON Lines" if fmt == "jsonl" else "plain text", dry_run=dry_run,
                      owner=owner)
    rows, ids, dated = validate(path, fmt)
    summary.rows = rows
    summary.validate_s = round(time.perf_counter() - started, 3)
    if dry_run or rows == 0:
        summary.total_s = round(time.perf_counter() - started, 3)
        return summary

    embedder = Embedder(settings)
    summary.embedder = embedder.name
    try:
        with psycopg.connect(
            settings.database_url.get_secret_value(),
            application_name=APPLICATION_NAME,
            connect_timeout=settings.db_connect_timeout,
        ) as conn:
            with conn.transaction():
                _load(conn, path, fmt, ids, dated, rebuild, batch, maintenance_work_mem, embedder, summary, progress)
    finally:
        embedder.close()
    summary.total_s = round(time.perf_counter() - started, 3)
    return summary


def _load(conn, path, fmt, ids, dated, rebuild, batch, maintenance_work_mem, embedder, summary, progress) -> None:
    conn.execute("SET LOCAL statement_timeout = 0")
    owner_id = None
    if summary.owner is not None:
        # FOR KEY SHARE: the user cannot be deleted under the import (its memories would outlive it)
        row = conn.execute("SELECT id FROM users WHERE username = %s FOR KEY SHARE", (summary.owner,)).fetchone()
        if row is None:
            raise UnknownOwner(summary.owner)
        owner_id = row[0]
    if ids:
        given = list(ids)
        for start in range(0, len(given), 10_000):
            taken = conn.execute("SELECT id FROM memories WHERE id = ANY(%s)", (given[start:start + 10_000],)).fetchall()
            if taken:
                raise InputError([f"{path}:{ids[r[0]]}: id {r[0]} is already in memories; leave it out to get a new one"
                                  for r in taken[:MAX_REPORTED_PROBLEMS]], max(0, len(taken) - MAX_REPORTED_PROBLEMS))
    summary.existing_rows = conn.execute("SELECT count(*) FROM memories").fetchone()[0]
    if rebuild is None:
        rebuild = summary.rows >= summary.existing_rows
    indexes: List[Tuple[str, str, str]] = []
    if rebuild:
        t = time.perf_counter()
        # wait at most 30 s for requests in flight; then nothing else reads or writes memories until the commit
        conn.execute("SET LOCAL lock_timeout = '30s'")
        conn.execute("LOCK TABLE memories IN ACCESS EXCLUSIVE MODE")
        conn.execute("SET LOCAL lock_timeout = 0")
        indexes = hnsw_indexes(conn)
        for schema, name, _definition in indexes:
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(schema, name)))
        summary.index_s += time.perf_counter() - t

    dated_at = conn.execute("SELECT now()").fetchone()[0] if dated else None
    columns = "id, content, metadata, embedding" + (", created_at, updated_at" if dated else "") + (
        ", owner_id" if owner_id else "")
    t_load = time.perf_counter()
    done = 0
    with conn.cursor() as cur:
        with cur.copy(f"COPY memories ({columns}) FROM STDIN (FORMAT binary)") as copy:
            copy.write(_COPY_HEADER)
            pending: List[Memory] = []
            for number, memory, problem in read_memories(path, fmt):
                if memory is None:  # valid a moment ago: the file changed under us
                    raise InputError([f"{path}:{number}: {problem} (the file changed during the import)"])
                pending.append(memory)
                if len(pending) >= batch:
                    done += _write_batch(copy, pending, embedder, dated_at, owner_id, summary)
                    pending = []
                    if progress:
                        progress(done, summary.rows)
            if pending:
                done += _write_batch(copy, pending, embedder, dated_at, owner_id, summary)
            copy.write(_COPY_TRAILER)
    if done != summary.rows:
        raise InputError([f"{path}: {done} rows read now, {summary.rows} when validated (the file changed during the import)"])
    summary.load_s = time.perf_counter() - t_load - summary.embed_s

    if indexes:
        t = time.perf_counter()
        conn.execute(sql.SQL("SET LOCAL maintenance_work_mem = {}").format(sql.Literal(maintenance_work_mem)))
        for _schema, _name, definition in indexes:
            conn.execute(definition)
        summary.rebuilt_indexes = [name for _schema, name, _definition in indexes]
        summary.index_s += time.perf_counter() - t
    summary.embed_s = round(summary.embed_s, 3)
    summary.load_s = round(summary.load_s, 3)
    summary.index_s = round(summary.index_s, 3)


def _write_batch(copy, memories: List[Memory], embedder: Embedder, dated_at, owner_id, summary: Summary) -> int:
    t = time.perf_counter()
    vectors = embedder.vectors([m.content for m in memories])
    summary.embed_s += time.perf_counter() - t
    copy.write(b"".join(copy_row(m, v, dated_at, owner_id) for m, v in zip(memories, vectors)))
    return len(memories)


# ---------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python3 -m cartrita.orchestrator.importer",
        description="Bulk-import memories (JSON Lines or plain text) into the memories table in one transaction.",
    )
    p.add_argument("file", type=Path, help="JSON Lines ({\"content\", \"metadata\"?, \"id\"?, \"created_at\"?} a line) or plain text (a memory a line)")
    p.add_argument("--format", choices=("auto", "jsonl", "text"), default="auto",
                   help="auto (default): .jsonl/.ndjson are JSON Lines, .txt plain text, else by the first line")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--rebuild-index", dest="rebuild", action="store_const", const=True, default=None,
                       help="drop the HNSW index, load, build it again (default: when rows to import >= rows in the table)")
    group.add_argument("--keep-index", dest="rebuild", action="store_const", const=False,
                       help="insert into the live index however large the import")
    p.add_argument("--data-dir", type=Path,
                   help="take the database from the running stack's DIR/run/stack.json instead of DATABASE_URL")
    p.add_argument("--owner", metavar="USERNAME",
                   help="the user whose memories these become (default: the service's space, which API-key callers see)")
    p.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, help=f"rows embedded and sent at a time (default {DEFAULT_BATCH})")
    p.add_argument("--maintenance-work-mem", default="1GB", help="for the index build (default 1GB)")
    p.add_argument("--dry-run", action="store_true", help="validate the file only; write nothing")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    return p


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    if args.batch_size < 1:
        _parser().error("--batch-size must be at least 1")
    owner = None
    if args.owner is not None:
        owner = normalize_username(args.owner)
        if owner is None:
            _parser().error(f"--owner must be a username: {USERNAME_RULE}")
    if not args.file.is_file():
        sys.stderr.write(f"import-memories: {args.file}: no such file\n")
        return EX_DATAERR
    settings: Optional[Settings] = None
    target = "-"
    if not args.dry_run:  # a dry run only reads the file
        try:
            settings = load_import_settings(args.data_dir)
        except ConfigError as exc:
            sys.stderr.write("import-memories: no database to import into:\n")
            sys.stderr.write("".join(f"  - {p}\n" for p in exc.problems))
            return EX_CONFIG
        scrubber.update(settings.secret_values())  # describe_error() hides them
        target = describe_target(settings)

    def progress(done: int, total: int) -> None:
        sys.stderr.write(f"\r  {done:,} / {total:,} memories embedded and sent")
        sys.stderr.flush()

    try:
        summary = import_file(
            args.file, settings, fmt=args.format, rebuild=args.rebuild, batch=args.batch_size, dry_run=args.dry_run,
            maintenance_work_mem=args.maintenance_work_mem, progress=progress if sys.stderr.isatty() else None,
            owner=owner,
        )
    except InputError as exc:
        sys.stderr.write(exc.render())
        return EX_DATAERR
    except UnknownOwner as exc:
        sys.stderr.write(f"import-memories: no user named {exc} (`./cartrita user list` shows them); "
                         f"nothing was imported\n")
        return EX_DATAERR
    except psycopg.Error as exc:
        detail = getattr(getattr(exc, "diag", None), "message_detail", None)
        sys.stderr.write(
            f"\nimport-memories: the import into {target} failed and was rolled back, nothing was written: "
            f"{describe_error(exc)}" + (f" ({scrubber(detail)})" if detail else "") + "\n"
        )
        return EX_FAILED
    except KeyboardInterrupt:
        sys.stderr.write("\nimport-memories: interrupted; rolled back, nothing was written\n")
        return 130
    if sys.stderr.isatty() and not args.dry_run:
        sys.stderr.write("\n")
    sys.stdout.write(json.dumps(summary.as_dict()) + "\n" if args.json else summary.render(target))
    return EX_OK


if __name__ == "__main__":
    sys.exit(main())
