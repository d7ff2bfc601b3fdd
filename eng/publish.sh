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
# Idempotent: a project is rebuilt only when a source is newer than its build output; compose, k8s and all reuse
# aspire-manifest.json while nothing it is made from has changed (manifest_inputs); unchanged files are not rewritten;
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

APPHOST_BIN="Cartrita.AppHost/bin/Debug/net10.0"
MANIFEST_STAMP="Cartrita.AppHost/obj/.publish-manifest"

# Builds PROJECT (a folder with one .csproj) unless its output is newer than every source it is built from: the
# project's own folder, the other Cartrita.* projects (project references) and the repository-wide build files.
# The stamp gets the time the build started, so a source saved during the build still counts as newer.
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
  mkdir -p "$project/obj"
  touch "$stamp.$$"
  dotnet build "$project" --nologo -v quiet -clp:ErrorsOnly >&2 || { rm -f "$stamp.$$"; return 1; }
  mv -f "$stamp.$$" "$stamp"
}

# Everything aspire-manifest.json is made from besides the AppHost's command line (fixed below): the AppHost's build
# output (its assemblies, the referenced projects' and packages'), its configuration (appsettings*.json in its folder,
# user secrets, and the environment: any variable is a configuration key - Cartrita__Ports__Frontend changes the
# manifest, a too short Parameters__jwt-secret stops the AppHost - so all of them count except the shell's bookkeeping),
# the .NET runtimes that run it and where the repository is. File metadata (size, mtime) stands for content, as in
# ensure_built. Few processes: each costs 10-30 ms here, and this runs on every compose / k8s.
manifest_inputs() {
  local dotnet_root secrets=()
  shopt -s nullglob
  dotnet_root=$(readlink -f "$(type -P dotnet)")
  [[ -n ${APPDATA:-} && -d $APPDATA/Microsoft/UserSecrets ]] && secrets+=("$APPDATA/Microsoft/UserSecrets")
  [[ -n ${HOME:-} && -d $HOME/.microsoft/usersecrets ]] && secrets+=("$HOME/.microsoft/usersecrets")
  [[ -n ${DOTNET_USER_SECRETS_FALLBACK_DIR:-} && -d $DOTNET_USER_SECRETS_FALLBACK_DIR ]] && secrets+=("$DOTNET_USER_SECRETS_FALLBACK_DIR")
  printf '%s\n' "$ROOT" "${dotnet_root%/*}"/shared/*/*
  find "$APPHOST_BIN" Cartrita.AppHost/appsettings*.json "${secrets[@]}" -type f -printf '%p %s %T@\n'
  env -0 -u PWD -u OLDPWD -u SHLVL -u _ | LC_ALL=C sort -z
  shopt -u nullglob
}

# Writes aspire-manifest.json with the built AppHost, run as `dotnet run --project Cartrita.AppHost --no-build
# --no-launch-profile` ran it, without the 1-4 s that command spends before the program starts: from the AppHost's
# folder (its RunWorkingDirectory), in the caller's environment (no launch profile, so no DOTNET_ENVIRONMENT).
# Paths in the manifest are relative to its folder (the repository root), so it is written there, first under a
# temporary name: a failed run leaves the previous manifest in place, a concurrent reader never sees half a file.
# Records the inputs' hash and the manifest's in MANIFEST_STAMP.
write_manifest() {
  local inputs manifest temp="$ROOT/.aspire-manifest.publish-$$.json"
  read -r inputs _ < <(manifest_inputs | sha256sum)
  trap "rm -f $(printf %q "$temp")" EXIT
  (cd Cartrita.AppHost && exec dotnet "$ROOT/$APPHOST_BIN/Cartrita.AppHost.dll" --publisher manifest --output-path "$temp") >/dev/null
  if cmp -s "$temp" "$MANIFEST"; then rm -f "$temp"; else mv -f "$temp" "$MANIFEST"; fi
  trap - EXIT
  read -r manifest _ < <(sha256sum < "$MANIFEST")
  printf '%s %s\n' "$inputs" "$manifest" > "$MANIFEST_STAMP.$$"
  mv -f "$MANIFEST_STAMP.$$" "$MANIFEST_STAMP"
  echo "publish: wrote aspire-manifest.json"
}

cmd_manifest() {
  ensure_built Cartrita.AppHost
  write_manifest
}

# For compose, k8s and all: aspire-manifest.json is kept when the last write_manifest wrote this very file from the
# same inputs, else written again.
ensure_manifest() {
  ensure_built Cartrita.AppHost
  local inputs manifest recorded=""
  if [[ -f $MANIFEST && -f $MANIFEST_STAMP ]]; then
    recorded=$(<"$MANIFEST_STAMP")
    { read -r inputs _; read -r manifest _; } < <(manifest_inputs | sha256sum - "$MANIFEST")
    if [[ $recorded == "$inputs $manifest" ]]; then
      echo "publish: aspire-manifest.json is current"
      return 0
    fi
  fi
  write_manifest
}

convert() {
  ensure_built Cartrita.Publishing
  # As `dotnet run --project Cartrita.Publishing --no-build` ran it: from the repository root.
  dotnet Cartrita.Publishing/bin/Debug/net10.0/Cartrita.Publishing.dll "$1" --manifest "$MANIFEST" --profile "$PROFILE"
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
  compose) ensure_manifest; convert compose ;;
  k8s) ensure_manifest; convert k8s ;;
  all) ensure_manifest; convert all ;;
  validate) cmd_validate ;;
  -h|--help|help|"") usage ;;
  *) echo "publish: unknown target '$1'" >&2; usage >&2; exit 2 ;;
esac
