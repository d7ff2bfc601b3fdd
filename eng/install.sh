#!/usr/bin/env bash
# eng/install.sh - idempotent installer for Cartrita's prerequisites.
# Used by `./cartrita up` and `./cartrita test`; see eng/README.md.
#
#   eng/install.sh [check] [apt|pgvector|node|dotnet|containers|all ...]    (default: all)
#
# Each component checks first and does nothing when already satisfied, so a
# run on a ready machine takes a few tens of milliseconds.
set -euo pipefail

readonly PG_MAJOR=15
readonly PGVECTOR_VERSION=0.8.0
readonly PGVECTOR_SUITE=trixie   # Debian release whose `pgvector` source package is built
readonly DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
readonly LOCK_WAIT=120           # seconds to wait for another apt/dpkg run to finish
readonly ALL_COMPONENTS=(apt pgvector node dotnet)

# Debian packages for the `apt` component. postgresql-15 already contains the
# contrib modules (it Provides postgresql-contrib-15; there is no such real package).
APT_PACKAGES=(
  "postgresql-$PG_MAJOR"
  redis-server
  python3-fastapi python3-uvicorn
  python3-psycopg python3-psycopg-pool python3-asyncpg
  python3-redis python3-jwt python3-prometheus-client python3-httpx
  python3-pytest python3-pytest-asyncio python3-jsonschema
  chromium
  docker-compose   # always --no-install-recommends: its Recommends pull in docker.io
)
# CARTRITA_APT_EXTRA="pkg ..." requires extra packages (handy for trying things out).
if [[ -n ${CARTRITA_APT_EXTRA:-} ]]; then
  read -r -a _extra <<<"$CARTRITA_APT_EXTRA"
  APT_PACKAGES+=("${_extra[@]}")
fi
# Only needed (and only installed) when pgvector has to be built.
PGVECTOR_BUILD_DEPS=("postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR" dpkg-dev make gcc libc6-dev)
# The `containers` component (not in `all`: only the production-path test needs it):
# Docker Engine and Podman with what they need here, and debootstrap for local base images.
CONTAINER_PACKAGES=(docker.io containerd runc podman netavark aardvark-dns catatonit docker-compose debootstrap iptables)

export DEBIAN_FRONTEND=noninteractive NEXT_TELEMETRY_DISABLED=1
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

SCRIPT_PATH=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
REPO_ROOT=${SCRIPT_PATH%/eng/*}
if [[ $PWD == "$REPO_ROOT" ]]; then SELF=eng/install.sh; else SELF=$SCRIPT_PATH; fi
IS_ROOT=0; [[ $EUID -eq 0 ]] && IS_ROOT=1
SUDO_HINT=""; (( IS_ROOT )) || SUDO_HINT="sudo "

CHECK_ONLY=0
PROBLEMS=0         # components found missing in check mode
NEED_ROOT=()       # components that need root and could not get it
SUDO_OK=""         # "", yes or no: cached result of `sudo -n true`
APT_UPDATED=0
TMP_ROOT=""        # per-run scratch directory, removed on exit
LOG_FILE=""        # full log of the commands run; kept (and its tail shown) on failure
KEEP_LOG=0

usage() {
  cat <<EOF
Usage: $SELF [check] [component...]

Installs what Cartrita needs to build, run and test; idempotent and fast when
nothing is missing. Components (default: all, in this order):
  apt       Debian packages: ${APT_PACKAGES[*]}
  pgvector  PostgreSQL $PG_MAJOR extension 'vector' $PGVECTOR_VERSION, built from Debian $PGVECTOR_SUITE's source package
  node      npm ci in frontend/ when node_modules is missing or stale (skipped without frontend/package.json)
  dotnet    dotnet tool restore (skipped without .config/dotnet-tools.json)
  all       all of the above (the default)
  containers  not in all: ${CONTAINER_PACKAGES[*]} (see eng/containers/)
  check     verify only, install nothing; print what is missing and the fix; exit 1 if anything is

apt and pgvector need root: run them as root or with passwordless sudo, or run
the command this script prints.
Environment: CARTRITA_APT_EXTRA="pkg ..." adds packages to the apt component.
EOF
}

# ---------------------------------------------------------------- helpers
say()  { printf '%s\n' "$*"; }
ok()   { say "✓ $*"; }
step() { say "→ $*"; }

cleanup() {
  if [[ -n $TMP_ROOT ]]; then rm -rf -- "$TMP_ROOT"; fi
  if [[ -n $LOG_FILE ]] && (( ! KEEP_LOG )); then rm -f -- "$LOG_FILE"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() {
  printf '✗ %s\n' "$*" >&2
  if [[ -n $LOG_FILE && -s $LOG_FILE ]]; then
    KEEP_LOG=1
    printf -- '----- last 40 lines of %s -----\n' "$LOG_FILE" >&2
    tail -n 40 -- "$LOG_FILE" >&2
    printf -- '----- full log kept in %s -----\n' "$LOG_FILE" >&2
  fi
  exit 1
}

# check mode: report a missing component and its fix
missing() { say "✗ $1"; say "    fix: $2"; PROBLEMS=$((PROBLEMS + 1)); }

# install mode without root: say exactly what to run, carry on with the rest
need_root() {
  say "✗ $1"
  say "    run: ${2:-sudo $SELF $3}"
  if [[ -n ${2:-} ]]; then say "     or: sudo $SELF $3"; fi
  NEED_ROOT+=("$3")
}

ensure_tmp() {
  if [[ -z $TMP_ROOT ]]; then
    TMP_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/cartrita-install.XXXXXX")
    chmod 755 "$TMP_ROOT"   # apt's download sandbox user (_apt) must be able to enter it
  fi
}

# run_logged [-C dir] cmd...: runs cmd (in dir) with stdin closed, output
# appended to the run's log. Must not itself be called from a subshell.
run_logged() {
  local dir=.
  if [[ $1 == -C ]]; then dir=$2; shift 2; fi
  if [[ -z $LOG_FILE ]]; then
    LOG_FILE=$(mktemp "${TMPDIR:-/tmp}/cartrita-install.XXXXXX.log")
  fi
  printf '+ %s\n' "$*" >>"$LOG_FILE"
  (cd "$dir" && "$@") </dev/null >>"$LOG_FILE" 2>&1
}

can_root() {
  (( IS_ROOT )) && return 0
  if [[ -z $SUDO_OK ]]; then
    SUDO_OK=no
    if command -v sudo >/dev/null && sudo -n true </dev/null 2>/dev/null; then SUDO_OK=yes; fi
  fi
  [[ $SUDO_OK == yes ]]
}

as_root() {
  if (( IS_ROOT )); then "$@"; else sudo -n "$@"; fi
}

# ---------------------------------------------------------------- apt helpers
# Sets MISSING to those of the given packages that are not fully installed
# (one dpkg-query call for the whole list).
apt_missing() {
  local -A status=()
  local pkg st
  MISSING=()
  while IFS=' ' read -r pkg st; do
    status[$pkg]=$st
  done < <(dpkg-query -W -f='${Package} ${Status}\n' "$@" 2>/dev/null || true)
  for pkg in "$@"; do
    [[ ${status[$pkg]:-} == *" installed" ]] || MISSING+=("$pkg")
  done
}

# apt-get as root, logged; waits (up to LOCK_WAIT s) while another apt/dpkg holds its locks.
apt_get() {
  local start=$SECONDS mark waited=0
  while :; do
    mark=$( [[ -n $LOG_FILE ]] && wc -l <"$LOG_FILE" || echo 0 )
    if run_logged as_root env DEBIAN_FRONTEND=noninteractive \
        apt-get -q -y -o DPkg::Lock::Timeout="$LOCK_WAIT" "$@"; then
      return 0
    fi
    if (( SECONDS - start < LOCK_WAIT )) &&
       tail -n "+$((mark + 1))" "$LOG_FILE" | grep -qE 'Could not get lock|Unable to lock|Unable to acquire'; then
      (( waited )) || say "    … waiting for another apt/dpkg run to finish"
      waited=1
      sleep 5
      continue
    fi
    return 1
  done
}

# Installs the given (missing) packages; `apt-get update` at most once per run.
apt_install() {
  if (( ! APT_UPDATED )); then
    apt_get update || return 1
    APT_UPDATED=1
  fi
  apt_get install --no-install-recommends "$@"
}

# URI of the mirror serving this system's main Debian archive (not -security,
# not -updates), as configured in its own apt sources.
debian_mirror_uri() {
  local codename uri origin label suite
  # shellcheck source=/dev/null
  codename=$(. /etc/os-release && printf '%s' "${VERSION_CODENAME:-}")
  [[ -n $codename ]] || return 1
  # With the system's lists downloaded, apt knows each repository's Origin/Label.
  # shellcheck disable=SC2016  # $(...) here is apt's format syntax
  while IFS=$'\t' read -r uri origin label suite; do
    if [[ $origin == Debian && $label == Debian && $suite == "$codename" ]]; then
      printf '%s\n' "$uri"; return 0
    fi
  done < <(apt-get indextargets --format '$(REPO_URI)	$(ORIGIN)	$(LABEL)	$(CODENAME)' 2>/dev/null)
  # Otherwise: the configured entry whose suite is exactly the release codename.
  # shellcheck disable=SC2016
  while IFS=$'\t' read -r uri suite; do
    if [[ $suite == "$codename" ]]; then printf '%s\n' "$uri"; return 0; fi
  done < <(apt-get indextargets --no-release-info --format '$(REPO_URI)	$(RELEASE)' 2>/dev/null)
  return 1
}

# ---------------------------------------------------------------- apt
# apt_component NAME ARRAY: makes sure the Debian packages listed in ARRAY are installed.
apt_component() {
  local name=$1
  local -n pkgs=$2
  apt_missing "${pkgs[@]}"
  if (( ${#MISSING[@]} == 0 )); then
    ok "$name: all ${#pkgs[@]} packages present"; return 0
  fi
  local cmd="${SUDO_HINT}apt-get update && ${SUDO_HINT}apt-get install -y --no-install-recommends ${MISSING[*]}"
  if (( CHECK_ONLY )); then
    missing "$name: ${#MISSING[@]} of ${#pkgs[@]} packages missing: ${MISSING[*]}" "$cmd"
    return 0
  fi
  if ! can_root; then
    need_root "$name: ${#MISSING[@]} packages missing (${MISSING[*]}); installing them needs root" \
      "sudo apt-get update && sudo apt-get install -y --no-install-recommends ${MISSING[*]}" "$name"
    return 0
  fi
  step "$name: installing ${MISSING[*]}…"
  apt_install "${MISSING[@]}" || die "$name: apt-get failed"
  apt_missing "${pkgs[@]}"
  (( ${#MISSING[@]} == 0 )) || die "$name: still not installed after apt-get: ${MISSING[*]}"
  ok "$name: all ${#pkgs[@]} packages present"
}

comp_apt() { apt_component apt APT_PACKAGES; }
comp_containers() { apt_component containers CONTAINER_PACKAGES; }

# ---------------------------------------------------------------- pgvector
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
pg_dirs() {
  PG_SHAREDIR=/usr/share/postgresql/$PG_MAJOR
  PG_PKGLIBDIR=/usr/lib/postgresql/$PG_MAJOR/lib
  if [[ -x $PG_CONFIG ]]; then
    { read -r PG_SHAREDIR; read -r PG_PKGLIBDIR; } < <("$PG_CONFIG" --sharedir --pkglibdir)
  fi
}

# Sets PGVECTOR_FOUND to the installed default_version ("" if none); true when it is ours.
pgvector_installed() {
  local control=$PG_SHAREDIR/extension/vector.control line
  local re="^[[:space:]]*default_version[[:space:]]*=[[:space:]]*'([^']*)'"
  PGVECTOR_FOUND=""
  [[ -f $control ]] || return 1
  while IFS= read -r line; do
    if [[ $line =~ $re ]]; then PGVECTOR_FOUND=${BASH_REMATCH[1]}; fi
  done <"$control"
  [[ $PGVECTOR_FOUND == "$PGVECTOR_VERSION" && -f $PG_PKGLIBDIR/vector.so &&
     -f $PG_SHAREDIR/extension/vector--$PGVECTOR_VERSION.sql ]]
}

comp_pgvector() {
  pg_dirs
  if pgvector_installed; then
    ok "pgvector: vector $PGVECTOR_VERSION installed for PostgreSQL $PG_MAJOR"; return 0
  fi
  local what="vector $PGVECTOR_VERSION is not installed for PostgreSQL $PG_MAJOR"
  [[ -z $PGVECTOR_FOUND ]] || what+=" (found $PGVECTOR_FOUND)"
  if (( CHECK_ONLY )); then
    missing "pgvector: $what" "${SUDO_HINT}$SELF pgvector"; return 0
  fi
  if ! can_root; then
    need_root "pgvector: $what; building and installing it needs root" "" pgvector; return 0
  fi
  local start=$SECONDS
  step "pgvector: building $PGVECTOR_VERSION from Debian $PGVECTOR_SUITE source…"

  # Build dependencies, and a Debian keyring that knows the $PGVECTOR_SUITE keys
  # (bookworm's debian-archive-keyring >= 2023.3+deb12u2 has them).
  local deps=("${PGVECTOR_BUILD_DEPS[@]}")
  apt_missing "${deps[@]}"
  local keyfile=/usr/share/keyrings/debian-archive-$PGVECTOR_SUITE-automatic.gpg
  [[ -e $keyfile ]] || MISSING+=(debian-archive-keyring)
  if (( ${#MISSING[@]} )); then
    say "    installing build dependencies: ${MISSING[*]}"
    apt_install "${MISSING[@]}" || die "pgvector: installing build dependencies failed"
    [[ -e $keyfile ]] || die "pgvector: $DEBIAN_KEYRING has no Debian $PGVECTOR_SUITE key even after upgrading debian-archive-keyring; cannot verify $PGVECTOR_SUITE's sources"
  fi
  pg_dirs

  # A private apt configuration: its own sources list (one deb-src line), lists,
  # cache and state, so the system's apt setup is neither used for sources nor
  # changed. Read through APT_CONFIG: the system's apt.conf.d (proxies etc.)
  # still applies, then our file, read last, overrides directories and drops the
  # system's update hooks.
  local mirror
  mirror=$(debian_mirror_uri) ||
    die "pgvector: could not find this system's Debian mirror in its apt sources (apt-get indextargets)"
  ensure_tmp
  local aptdir=$TMP_ROOT/apt srcdir=$TMP_ROOT/src
  mkdir -p "$aptdir"/{lists/partial,cache/archives/partial,state,sources.list.d,preferences.d} "$srcdir"
  : >"$aptdir/status"
  printf 'deb-src [signed-by=%s] %s %s main\n' "$DEBIAN_KEYRING" "$mirror" "$PGVECTOR_SUITE" \
    >"$aptdir/sources.list"
  printf 'Dir::Etc::main "%s";\n' "$aptdir/apt-last.conf" >"$aptdir/apt.conf"
  {
    if [[ -f /etc/apt/apt.conf ]]; then printf '#include "/etc/apt/apt.conf";\n'; fi
    cat <<EOF
Dir::Etc::SourceList "$aptdir/sources.list";
Dir::Etc::SourceParts "$aptdir/sources.list.d";
Dir::Etc::Preferences "$aptdir/preferences";
Dir::Etc::PreferencesParts "$aptdir/preferences.d";
Dir::State "$aptdir/state";
Dir::State::Lists "$aptdir/lists";
Dir::State::status "$aptdir/status";
Dir::Cache "$aptdir/cache";
#clear APT::Update::Pre-Invoke;
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
  } >"$aptdir/apt-last.conf"
  if (( IS_ROOT )) && id -u _apt >/dev/null 2>&1; then chown _apt "$srcdir"; fi

  local -x APT_CONFIG=$aptdir/apt.conf
  run_logged apt-get -q update ||
    die "pgvector: apt-get update for deb-src $mirror $PGVECTOR_SUITE failed"
  local version
  version=$(apt-cache showsrc pgvector 2>>"$LOG_FILE" |
    sed -n "s/^Version: \(${PGVECTOR_VERSION//./\\.}-.*\)$/\1/p" | sort -V | tail -n 1)
  [[ -n $version ]] || die "pgvector: Debian $PGVECTOR_SUITE at $mirror has no pgvector $PGVECTOR_VERSION source"
  run_logged -C "$srcdir" apt-get -q source --download-only "pgvector=$version" ||
    die "pgvector: downloading source pgvector $version failed"
  run_logged dpkg-source -x "$srcdir/pgvector_${version#*:}.dsc" "$srcdir/pgvector" ||
    die "pgvector: unpacking source failed"
  unset APT_CONFIG

  # Debian's patches (no -march=native) are applied; OPTFLAGS= keeps it portable regardless.
  local make_args=(-C "$srcdir/pgvector" PG_CONFIG="$PG_CONFIG" OPTFLAGS=)
  run_logged make -j"$(nproc)" "${make_args[@]}" || die "pgvector: build failed"
  run_logged as_root make "${make_args[@]}" install || die "pgvector: make install failed"
  pg_dirs
  pgvector_installed || die "pgvector: installed, but $PG_SHAREDIR/extension/vector.control does not say $PGVECTOR_VERSION"
  ok "pgvector: vector $PGVECTOR_VERSION ($version) installed for PostgreSQL $PG_MAJOR in $((SECONDS - start))s"
}

# ---------------------------------------------------------------- node
comp_node() {
  local dir=$REPO_ROOT/frontend
  [[ -f $dir/package.json ]] || return 0   # no frontend yet
  local lock=$dir/package-lock.json stamp=$dir/node_modules/.cartrita-lock-hash want have=""
  if [[ ! -f $lock ]]; then
    if (( CHECK_ONLY )); then
      missing "node: frontend/package-lock.json is missing (npm ci needs it)" "(cd frontend && npm install) and commit package-lock.json"
      return 0
    fi
    die "node: frontend/package-lock.json is missing; run (cd frontend && npm install) and commit it"
  fi
  want=$(sha256sum <"$lock"); want=${want%% *}
  if [[ -f $stamp ]]; then read -r have <"$stamp" || true; fi
  if [[ $have == "$want" ]]; then
    ok "node: frontend/node_modules matches package-lock.json"; return 0
  fi
  # No stamp yet, but npm itself installed node_modules after the lockfile last
  # changed (its hidden lockfile is newer): adopt that tree instead of wiping it.
  local hidden=$dir/node_modules/.package-lock.json
  if [[ -z $have && -f $hidden && $hidden -nt $lock ]]; then
    if (( ! CHECK_ONLY )); then printf '%s\n' "$want" >"$stamp"; fi
    ok "node: frontend/node_modules matches package-lock.json"; return 0
  fi
  if (( CHECK_ONLY )); then
    missing "node: frontend/node_modules is missing or older than package-lock.json" "$SELF node"
    return 0
  fi
  command -v npm >/dev/null || die "node: npm not found (Node.js 20 and npm are needed)"
  step "node: npm ci in frontend/…"
  run_logged -C "$dir" npm ci --no-audit --no-fund || die "node: npm ci failed"
  printf '%s\n' "$want" >"$stamp"
  ok "node: frontend/node_modules matches package-lock.json"
}

# ---------------------------------------------------------------- dotnet
# True when every tool in the manifest is in the NuGet package folder and in
# the SDK's tool resolver cache, i.e. `dotnet tool restore` would do nothing.
dotnet_tools_restored() {
  local manifest=$1 tools id version
  local packages=${NUGET_PACKAGES:-${HOME:-/nonexistent}/.nuget/packages}
  local cache=${DOTNET_CLI_HOME:-${HOME:-/nonexistent}}/.dotnet/toolResolverCache/1
  if command -v jq >/dev/null; then
    tools=$(jq -r '(.tools // {}) | to_entries[] | "\(.key) \(.value.version)"' "$manifest") || return 1
  elif [[ -x /usr/bin/python3 ]]; then
    tools=$(/usr/bin/python3 -c 'import json, sys
for k, v in (json.load(open(sys.argv[1])).get("tools") or {}).items(): print(k, v.get("version"))' "$manifest") || return 1
  else
    return 1
  fi
  while read -r id version; do
    [[ -n $id ]] || continue
    id=${id,,}; version=${version,,}
    [[ -d $packages/$id/$version && -f $cache/$id ]] || return 1
    grep -qiF "\"Version\":\"$version\"" "$cache/$id" || return 1
  done <<<"$tools"
}

comp_dotnet() {
  local manifest=$REPO_ROOT/.config/dotnet-tools.json
  [[ -f $manifest ]] || return 0   # no local tools
  if dotnet_tools_restored "$manifest"; then
    ok "dotnet: local tools restored"; return 0
  fi
  if (( CHECK_ONLY )); then
    missing "dotnet: local tools of .config/dotnet-tools.json are not restored" "dotnet tool restore"
    return 0
  fi
  command -v dotnet >/dev/null || die "dotnet: the dotnet SDK is not on PATH"
  step "dotnet: dotnet tool restore…"
  run_logged -C "$REPO_ROOT" dotnet tool restore || die "dotnet: dotnet tool restore failed"
  ok "dotnet: local tools restored"
}

# ---------------------------------------------------------------- main
declare -A WANT=()
for arg in "$@"; do
  case $arg in
    -h|--help) usage; exit 0 ;;
    check|--check) CHECK_ONLY=1 ;;
    all) for c in "${ALL_COMPONENTS[@]}"; do WANT[$c]=1; done ;;
    apt|pgvector|node|dotnet|containers) WANT[$arg]=1 ;;
    *) printf 'eng/install.sh: unknown component "%s"\n\n' "$arg" >&2; usage >&2; exit 2 ;;
  esac
done
if (( ${#WANT[@]} == 0 )); then
  for c in "${ALL_COMPONENTS[@]}"; do WANT[$c]=1; done
fi

# Under sudo, per-user things (node_modules, the user's dotnet tools) are done
# as the invoking user, not as root.
USER_COMPONENTS=()
if (( IS_ROOT )) && [[ -n ${SUDO_USER:-} && $SUDO_USER != root ]]; then
  for c in node dotnet; do
    if [[ -n ${WANT[$c]:-} ]]; then USER_COMPONENTS+=("$c"); unset "WANT[$c]"; fi
  done
fi

for c in "${ALL_COMPONENTS[@]}" containers; do
  if [[ -n ${WANT[$c]:-} ]]; then "comp_$c"; fi
done

if (( ${#USER_COMPONENTS[@]} )); then
  user_args=("${USER_COMPONENTS[@]}")
  if (( CHECK_ONLY )); then user_args=(check "${user_args[@]}"); fi
  sudo -u "$SUDO_USER" -H -- "$SCRIPT_PATH" "${user_args[@]}" || exit $?
fi

if (( ${#NEED_ROOT[@]} )); then
  say "✗ not everything is installed: ${NEED_ROOT[*]} need root. Run:  sudo $SELF ${NEED_ROOT[*]}"
  exit 1
fi
if (( PROBLEMS )); then
  say "✗ check: $PROBLEMS component(s) need attention (see fixes above)"
  exit 1
fi
