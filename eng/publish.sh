#!/usr/bin/env bash
# eng/publish.sh - publish Cartrita for deployment (called by `./cartrita publish ...`).
#
#   eng/publish.sh manifest   aspire-manifest.json from the AppHost (Aspire's manifest publisher)
#   eng/publish.sh compose    manifest, then deploy/compose/ (docker-compose.prod.yml, docker-compose.yml, .env.example, secrets/)
#   eng/publish.sh k8s        manifest, then deploy/k8s/ (kustomization + secrets/)
#   eng/publish.sh all        manifest, then compose and k8s in one converter run
#   eng/publish.sh validate   check the published files: docker-compose config (also with --profile backup), compose-spec
#                             schema, kubectl kustomize, Kubernetes API schemas (needs docker-compose, kubectl, node;
#                             installs eng/validate's npm packages)
#
# Idempotent: a project is rebuilt only when a source is newer than its build output; unchanged files are not rewritten;
# secret values generated once are kept in the (git-ignored) secrets/ folders. Parameter values come from the
# environment (POSTGRES_PASSWORD=… or Parameters__postgres-password=…) or deploy/<target>/.env; see deploy/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

MANIFEST="$ROOT/aspire-manifest.json"
PROFILE="deploy/publish-profile.yaml"
COMPOSE_SCHEMA="tests/Cartrita.Publishing.Tests/TestData/schemas/compose-spec.json"

usage() { sed -n '3,11p' "$0" | sed 's/^# \{0,1\}//'; }

# Builds PROJECT (a folder with one .csproj) unless its output is newer than every source it is built from: the
# project's own folder, the other Cartrita.* projects (project references) and the repository-wide build files.
ensure_built() {
  local project=$1 name stamp
  name=$(basename "$project")
  stamp="$project/obj/.publish-built"
  if [[ -f $stamp && -f "$project/bin/Debug/net10.0/$name.dll" ]] && [[ -z $(find Cartrita.* Directory.Build.props Directory.Packages.props global.json \
      \( -name bin -o -name obj -o -name node_modules \) -prune -o -type f -newer "$stamp" \
      \( -name '*.cs' -o -name '*.sh' -o -name '*.csproj' -o -name '*.props' -o -name '*.targets' -o -name '*.json' \) -print -quit) ]]; then
    return 0
  fi
  echo "publish: building $name" >&2
  dotnet build "$project" --nologo -v quiet -clp:ErrorsOnly >&2
  touch "$stamp"
}

cmd_manifest() {
  ensure_built Cartrita.AppHost
  # The launch profile is not needed to publish; paths in the manifest are relative to its folder (the repository root).
  dotnet run --project Cartrita.AppHost --no-build --no-launch-profile -- \
    --publisher manifest --output-path "$MANIFEST" >/dev/null
  echo "publish: wrote aspire-manifest.json"
}

convert() {
  ensure_built Cartrita.Publishing
  dotnet run --project Cartrita.Publishing --no-build -- "$1" --manifest "$MANIFEST" --profile "$PROFILE"
}

cmd_validate() {
  local status=0
  if [[ ! -f eng/validate/node_modules/.package-lock.json ]] || [[ eng/validate/package-lock.json -nt eng/validate/node_modules/.package-lock.json ]]; then
    (cd eng/validate && npm ci --no-audit --no-fund --loglevel=error) >&2
  fi
  for file in deploy/compose/docker-compose.prod.yml deploy/compose/docker-compose.yml; do
    if docker-compose -f "$file" config -q; then echo "✓ docker-compose config -q $file"; else status=1; fi
  done
  # The backup job is a service under the Compose profile `backup`.
  if docker-compose -f deploy/compose/docker-compose.prod.yml --profile backup config -q; then
    echo "✓ docker-compose --profile backup config -q deploy/compose/docker-compose.prod.yml"
  else
    status=1
  fi
  node eng/validate/validate-compose.mjs "$COMPOSE_SCHEMA" deploy/compose/docker-compose.prod.yml deploy/compose/docker-compose.yml || status=1
  if kubectl kustomize deploy/k8s > /tmp/cartrita-k8s.$$.yaml; then
    echo "✓ kubectl kustomize deploy/k8s"
    node eng/validate/validate-k8s.mjs /tmp/cartrita-k8s.$$.yaml || status=1
  else
    status=1
  fi
  rm -f /tmp/cartrita-k8s.$$.yaml
  return $status
}

case "${1:-}" in
  manifest) cmd_manifest ;;
  compose) cmd_manifest; convert compose ;;
  k8s) cmd_manifest; convert k8s ;;
  all) cmd_manifest; convert all ;;
  validate) cmd_validate ;;
  -h|--help|help|"") usage ;;
  *) echo "publish: unknown target '$1'" >&2; usage >&2; exit 2 ;;
esac
