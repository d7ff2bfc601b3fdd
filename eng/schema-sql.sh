#!/usr/bin/env bash
# eng/schema-sql.sh - services/ai-orchestrator/tests/schema.sql from the EF Core migrations.
#
#   eng/schema-sql.sh [--no-build] [OUTPUT]   `dotnet ef migrations script --idempotent` of Cartrita.MigrationService
#                                             into OUTPUT (default: services/ai-orchestrator/tests/schema.sql)
#
# The pytest suite loads that file instead of running the .NET migration worker; it is generated, never edited:
# after adding a migration, run this and commit the result (SchemaScriptTests in tests/Cartrita.Data.Tests fails
# while the committed file differs from what this prints).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

build=()
if [[ ${1:-} == --no-build ]]; then build=(--no-build); shift; fi
output=${1:-services/ai-orchestrator/tests/schema.sql}

dotnet tool restore >/dev/null
dotnet ef migrations script --idempotent "${build[@]}" --project Cartrita.MigrationService --output "$output"
