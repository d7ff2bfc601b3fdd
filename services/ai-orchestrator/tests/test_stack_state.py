"""run/stack.json's Python reader (cartrita.orchestrator.stack_state) against the file's one schema.

The schema is Cartrita.Operations/Stack/stack.schema.json; the C# side (StackStateTests) checks that what the AppHost
writes follows it. Here the reader must accept what the schema accepts and refuse what it refuses, so neither can
change without the other. No database needed.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest

from cartrita.orchestrator import stack_state
from cartrita.orchestrator.stack_state import NoRunningStack, StackStateError

SCHEMA_PATH = Path(__file__).resolve().parents[3] / "Cartrita.Operations" / "Stack" / "stack.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
SERVICE_DIR = Path(__file__).resolve().parents[1]
NO_SUCH_PROCESS = 2**22 + 12345  # above Linux's largest pid (pid_max is at most 2^22)


def example(pid: int = os.getpid()) -> dict:
    document = copy.deepcopy(SCHEMA["examples"][0])
    document["AppHostProcessId"] = pid
    return document


def write(data_dir: Path, document) -> Path:
    path = stack_state.path_in(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def test_the_schema_is_a_valid_schema_and_its_fields_are_the_readers():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert tuple(SCHEMA["properties"]) == stack_state.FIELDS
    assert sorted(SCHEMA["required"]) == sorted(stack_state.FIELDS)
    assert SCHEMA["properties"]["SchemaVersion"]["const"] == stack_state.SCHEMA_VERSION
    assert SCHEMA["additionalProperties"] is False


def test_reads_the_schemas_example(tmp_path):
    document = example()
    VALIDATOR.validate(document)
    write(tmp_path, document)

    state = stack_state.read(tmp_path)

    assert state == stack_state.StackState(
        app_host_process_id=os.getpid(), environment=document["Environment"],
        database=document["Database"], database_admin=document["DatabaseAdmin"], redis=document["Redis"],
        schema_version=1)


def test_null_connection_strings_are_a_stack_still_starting(tmp_path):
    document = {**example(), "Database": None, "DatabaseAdmin": None, "Redis": None}
    VALIDATOR.validate(document)
    write(tmp_path, document)

    state = stack_state.read(tmp_path)

    assert state.database is None and state.redis is None


REFUSED = [
    ("SchemaVersion", 2), ("SchemaVersion", None), ("SchemaVersion", "1"), ("SchemaVersion", True),
    ("AppHostProcessId", 0), ("AppHostProcessId", 2**31), ("AppHostProcessId", "123"), ("AppHostProcessId", 1.5),
    ("Environment", None), ("Environment", ""), ("Database", 42), ("DatabaseAdmin", 1), ("Redis", ["x"]), ("Unknown", 1),
]


@pytest.mark.parametrize("name,value", REFUSED + [(name, "-") for name in stack_state.FIELDS])
def test_refuses_what_the_schema_refuses(tmp_path, name, value):
    document = example()
    if value == "-":
        del document[name]
    else:
        document[name] = value
    assert not VALIDATOR.is_valid(document), f"the schema accepts {name}={value!r}"
    path = write(tmp_path, document)

    with pytest.raises(StackStateError) as refused:
        stack_state.read(tmp_path)

    assert str(path) in str(refused.value) and "./cartrita up" in str(refused.value)


def test_another_schema_version_is_named_in_the_refusal(tmp_path):
    write(tmp_path, {"SchemaVersion": 2, "Pid": 1})

    with pytest.raises(StackStateError, match="schema version 2; this Cartrita reads version 1"):
        stack_state.read(tmp_path)


def test_no_file_or_a_dead_apphost_is_no_running_stack(tmp_path):
    with pytest.raises(NoRunningStack, match=r"\(no .*stack\.json\); start it with `\./cartrita up`"):
        stack_state.read(tmp_path)

    stale = example(NO_SUCH_PROCESS)  # what a killed AppHost leaves behind: valid, but its process is gone
    VALIDATOR.validate(stale)
    write(tmp_path, stale)
    with pytest.raises(NoRunningStack, match=r"is stale\); start it with `\./cartrita up`"):
        stack_state.read(tmp_path)


def test_not_json_is_unusable_without_echoing_the_file(tmp_path):
    write(tmp_path, '{"Database": "Password=secretSentinel;')

    with pytest.raises(StackStateError) as refused:
        stack_state.read(tmp_path)

    assert "not valid JSON" in str(refused.value) and "secretSentinel" not in str(refused.value)


def run_module(data_dir: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cartrita.orchestrator.stack_state", "--data-dir", str(data_dir)],
        cwd=SERVICE_DIR, capture_output=True, text=True, timeout=60)


def test_the_command_bash_asks(tmp_path):
    """`./cartrita doctor`'s question: 0 and the pid for a live stack, 3 for none, 1 for an unusable file."""
    res = run_module(tmp_path)
    assert res.returncode == 3 and res.stdout == "" and "no running Cartrita stack found" in res.stderr

    write(tmp_path, example())
    res = run_module(tmp_path)
    assert res.returncode == 0 and res.stdout == f"{os.getpid()}\n", res.stderr

    write(tmp_path, example(NO_SUCH_PROCESS))
    res = run_module(tmp_path)
    assert res.returncode == 3 and "is stale" in res.stderr

    write(tmp_path, {**example(), "SchemaVersion": 2})
    res = run_module(tmp_path)
    assert res.returncode == 1 and "schema version 2" in res.stderr
