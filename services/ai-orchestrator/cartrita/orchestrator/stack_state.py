"""The running stack's state file, ``DATA_DIR/run/stack.json``: Python's one reader.

The AppHost writes the file while it runs (Cartrita.Operations' ``StackState``, the C# writer and reader); its one
schema, with each field, where the file lives, its 0600 mode and its lifetime, is
``Cartrita.Operations/Stack/stack.schema.json``. This reader is as strict as that schema (every field, nothing else,
the one ``SchemaVersion`` it knows), and ``tests/test_stack_state.py`` holds it to it. Standard library only: the
importer uses it, and so does ``./cartrita doctor``, which runs before the service's packages are known to be there::

    python3 -m cartrita.orchestrator.stack_state [--data-dir DIR]

prints the live AppHost's process id (exit 0), or says why there is no running stack (exit 3) or why the file cannot
be used (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

SCHEMA_VERSION = 1
# The schema's properties, in the order the AppHost writes them.
FIELDS = ("SchemaVersion", "AppHostProcessId", "Environment", "Database", "DatabaseAdmin", "Redis")
_MAX_PID = 2**31 - 1  # the schema's maximum: the C# side holds the pid in an int

EX_RUNNING = 0
EX_UNUSABLE = 1
EX_NO_STACK = 3


class StackStateError(Exception):
    """The file is there but is not a stack state of :data:`SCHEMA_VERSION`; the message says what and the fix."""


class NoRunningStack(Exception):
    """No AppHost runs with this data folder: no state file, or the one there names a process that is gone."""


@dataclass(frozen=True)
class StackState:
    """What the AppHost published: its process id, environment name and the two connection strings (``None`` until known)."""

    app_host_process_id: int
    environment: str
    database: Optional[str]  # as the owner role (cartrita_owner)
    database_admin: Optional[str]  # as the superuser: a reset and a restore's swap only
    redis: Optional[str]
    schema_version: int = SCHEMA_VERSION


def path_in(data_dir: Path) -> Path:
    """Where the state file of the AppHost using ``data_dir`` (its ``Cartrita:DataDirectory``) lives."""
    return Path(data_dir) / "run" / "stack.json"


def parse(text: str, where: str = "stack.json") -> StackState:
    """The state in ``text``, checked against the schema's rules; :class:`StackStateError` naming ``where`` otherwise."""
    fix = f"if no AppHost runs, delete {where}; otherwise stop it and start it again with `./cartrita up`"
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise StackStateError(f"{where} is not valid JSON ({exc}); {fix}") from None
    if not isinstance(document, dict):
        raise StackStateError(f"{where} is not a JSON object; {fix}")
    # The version first: a file of another version may have other fields, and saying so beats naming one of them.
    version = document.get("SchemaVersion", "none")
    if type(version) is not int or version != SCHEMA_VERSION:
        raise StackStateError(f"{where} has stack state schema version {version}; this Cartrita reads version {SCHEMA_VERSION}; {fix}")
    problems = [f"missing {name}" for name in FIELDS if name not in document]
    problems += [f"unknown field {name}" for name in document if name not in FIELDS]
    pid = document.get("AppHostProcessId")
    if "AppHostProcessId" in document and not (type(pid) is int and 1 <= pid <= _MAX_PID):
        problems.append("AppHostProcessId is not a process id")
    environment = document.get("Environment")
    if "Environment" in document and not (isinstance(environment, str) and environment):
        problems.append("Environment is not a non-empty string")
    problems += [f"{name} is neither a string nor null" for name in ("Database", "DatabaseAdmin", "Redis")
                 if not isinstance(document.get(name), (str, type(None)))]
    if problems:
        raise StackStateError(f"{where} is not a valid stack state ({'; '.join(problems)}); {fix}")
    return StackState(app_host_process_id=pid, environment=environment,
                      database=document["Database"], database_admin=document["DatabaseAdmin"], redis=document["Redis"], schema_version=version)


def read(data_dir: Path) -> StackState:
    """The state of the AppHost running with ``data_dir``.

    Raises :class:`NoRunningStack` when there is none (no file, or the AppHost that wrote it is gone: a killed AppHost
    leaves its file behind) and :class:`StackStateError` when the file cannot be used.
    """
    path = path_in(data_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NoRunningStack(f"no running Cartrita stack found (no {path}); start it with `./cartrita up`") from None
    except (OSError, UnicodeError) as exc:
        raise StackStateError(f"cannot read {path}: {type(exc).__name__}") from None
    state = parse(text, str(path))
    if not _alive(state.app_host_process_id):
        raise NoRunningStack(f"no running Cartrita stack found ({path} is stale); start it with `./cartrita up`")
    return state


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's: as alive as the C# reader finds it
        return True
    return True


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m cartrita.orchestrator.stack_state",
        description="Print the process id of the AppHost running with DATA_DIR (exit 0), or why there is none (exit 3) "
                    "or why its state file cannot be used (exit 1).")
    parser.add_argument("--data-dir", type=Path, default=Path(".cartrita"), help="the AppHost's data folder (default .cartrita)")
    args = parser.parse_args(argv)
    try:
        state = read(args.data_dir)
    except NoRunningStack as exc:
        print(exc, file=sys.stderr)
        return EX_NO_STACK
    except StackStateError as exc:
        print(exc, file=sys.stderr)
        return EX_UNUSABLE
    print(state.app_host_process_id)
    return EX_RUNNING


if __name__ == "__main__":
    sys.exit(main())
