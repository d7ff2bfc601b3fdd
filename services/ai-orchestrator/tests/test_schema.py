"""tests/schema.sql must stay in step with the .NET migration worker's migrations.

The service never creates tables; the suite builds the schema from
schema.sql because pytest does not run the .NET worker. This test reads the
EF Core migrations in Cartrita.MigrationService/Migrations (when the repo
has them) and compares tables, columns, types, nullability and index names
with the database schema.sql produced.
"""

from __future__ import annotations

import re

import psycopg
import pytest

from support import SERVICE_DIR

MIGRATIONS = SERVICE_DIR.parent.parent / "Cartrita.MigrationService" / "Migrations"

_TABLE_RE = re.compile(r'CreateTable\(\s*name:\s*"(\w+)",\s*columns:\s*table\s*=>\s*new\s*\{(.*?)\},\s*constraints', re.S)
_COLUMN_RE = re.compile(r'(\w+)\s*=\s*table\.Column<[^>]+>\(type:\s*"([^"]+)",\s*nullable:\s*(true|false)')
_INDEX_RE = re.compile(r'CreateIndex\(\s*name:\s*"(\w+)"')
_DROP_RE = re.compile(r'DropTable\(|DropColumn\(|RenameColumn\(|RenameTable\(|AlterColumn<')


def migration_files():
    if not MIGRATIONS.is_dir():
        return []
    return sorted(
        p for p in MIGRATIONS.glob("*.cs")
        if not p.name.endswith(".Designer.cs") and "ModelSnapshot" not in p.name
    )


def expected_schema():
    tables, indexes = {}, set()
    for path in migration_files():
        text = path.read_text(encoding="utf-8-sig")
        up = text.split("protected override void Down", 1)[0]
        if _DROP_RE.search(up):
            pytest.skip(f"{path.name} alters existing tables; extend this parser")
        for name, body in _TABLE_RE.findall(up):
            tables[name] = {col: (typ, nullable == "true") for col, typ, nullable in _COLUMN_RE.findall(body)}
        indexes.update(_INDEX_RE.findall(up))
    return tables, indexes


def test_schema_sql_matches_the_migrations(postgres, sentinels):
    if not migration_files():
        pytest.skip("Cartrita.MigrationService/Migrations is not next to this service")
    tables, indexes = expected_schema()
    assert {"conversations", "messages", "memories", "api_clients", "agents"} <= set(tables)

    with psycopg.connect(postgres.dsn("cartrita_app", sentinels.db_password, "cartrita")) as conn:
        rows = conn.execute(
            """
            SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            """
        ).fetchall()
        actual_indexes = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}
        agents = {r[0] for r in conn.execute("SELECT name FROM agents")}

    actual = {}
    for table, column, typ, nullable in rows:
        actual.setdefault(table, {})[column] = (typ, nullable)
    for table, columns in tables.items():
        assert actual.get(table) == columns, f"schema.sql differs from the migrations for table {table}"
    assert indexes <= actual_indexes
    assert agents >= {"general", "research", "code"}
