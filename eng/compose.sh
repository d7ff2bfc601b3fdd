#!/usr/bin/env bash
# eng/compose.sh - run the published Compose stack with checks first and a bounded wait (./cartrita compose ...).
#
#   compose.sh [-p PROJECT] [-f FILE] [--profile P] up [--timeout S] [docker-compose up options...]
#   compose.sh [-p PROJECT] [-f FILE] [--profile P] down|stop|ps|logs [docker-compose options...]
#
# up checks, before anything starts, that the engine answers, that every image is present and that every published
# port is free (each problem one line naming the fix), runs `docker-compose up -d --no-build`, then waits at most
# --timeout seconds (default 180, CARTRITA_COMPOSE_TIMEOUT) until every service is healthy (running, when it has no
# healthcheck) and every one-shot job (restart "no") exited 0, printing each service's state. On failure it names
# the failing service, prints its last log lines and exits 1. Nothing here removes a volume.
# FILE: deploy/compose/docker-compose.prod.yml (or COMPOSE_FILE). PROJECT: COMPOSE_PROJECT_NAME, else compose's default.
# Engine: DOCKER_HOST, else Cartrita's own Docker engine (eng/containers/engine.sh) when its socket exists.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3
# docker.io's own CLI (20.10) matches the daemon; /usr/local/bin/docker may be a newer one.
DOCKER_CLI=/usr/bin/docker; [[ -x $DOCKER_CLI ]] || DOCKER_CLI=docker
LOG_LINES=25

die() { printf 'compose: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '3,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

FILE=${COMPOSE_FILE:-$ROOT/deploy/compose/docker-compose.prod.yml}
PROJECT=${COMPOSE_PROJECT_NAME:-}
GLOBAL=() PROFILES=${COMPOSE_PROFILES:-}
while (($#)); do
  case $1 in
    -p|--project-name) PROJECT=${2:?}; shift 2 ;;
    -f|--file) FILE=${2:?}; shift 2 ;;
    --profile) GLOBAL+=(--profile "${2:?}"); PROFILES+=",$2"; shift 2 ;;
    -h|--help|help) usage; exit 0 ;;
    *) break ;;
  esac
done
COMMAND=${1:-}
[[ -n $COMMAND ]] || { usage >&2; exit 2; }
shift
[[ -f $FILE ]] || die "no Compose file at $FILE; publish it: ./cartrita publish compose"
# docker-compose names a project after the Compose file's folder unless told otherwise (1.29's normalisation).
if [[ -z $PROJECT ]]; then
  PROJECT=$(basename "$(cd "$(dirname "$FILE")" && pwd)" | tr '[:upper:]' '[:lower:]' | tr -cd 'a-z0-9_-')
fi
GLOBAL=(-p "$PROJECT" -f "$FILE" "${GLOBAL[@]}")

if [[ -z ${DOCKER_HOST:-} && -S ${CARTRITA_ENGINE_RUN:-/run/cartrita}/docker.sock && ! -S /var/run/docker.sock ]]; then
  export DOCKER_HOST=unix://${CARTRITA_ENGINE_RUN:-/run/cartrita}/docker.sock
fi

dc() { docker-compose "${GLOBAL[@]}" "$@"; }
# Bounded: an engine that accepts the connection and never answers must not hang us.
engine() { timeout 30 "$DOCKER_CLI" "$@"; }

need_engine() {
  command -v docker-compose >/dev/null || die "docker-compose is not installed; run: sudo eng/install.sh containers"
  timeout 10 "$DOCKER_CLI" version --format '{{.Server.Version}}' >/dev/null 2>&1 ||
    die "no container engine answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}; start one: sudo eng/containers/engine.sh start docker (then eval its output), or set DOCKER_HOST"
}

# One line per service that `up` starts: name, image, built here (1/0), one-shot (1/0), then its published ports as
# host_ip:port:VARIABLE (VARIABLE is the setting that moves it, from the unresolved file).
plan() {
  local resolved
  resolved=$(dc config) || die "docker-compose cannot read $FILE (see above); publish again: ./cartrita publish compose"
  RESOLVED=$resolved ACTIVE=$PROFILES "$PYTHON" - "$FILE" <<'PY'
import os, re, sys, yaml
resolved = yaml.safe_load(os.environ["RESOLVED"])
active = set(filter(None, os.environ["ACTIVE"].split(",")))
raw = yaml.safe_load(open(sys.argv[1]))
def variable(service, target):
    for port in (raw["services"].get(service, {}).get("ports") or []):
        m = re.search(r"\$\{(\w+)(?::?-[^}]*)?\}:(\d+)(?:/\w+)?$", str(port))
        if m and int(m.group(2)) == target:
            return m.group(1)
    return "-"
for name, svc in resolved["services"].items():
    if svc.get("profiles") and not active & set(svc["profiles"]):
        continue  # `config` lists every service; `up` starts only these
    ports = []
    for port in svc.get("ports") or []:
        if isinstance(port, dict):
            ip, published, target = port.get("host_ip") or "0.0.0.0", port.get("published"), port.get("target")
        else:
            parts = str(port).split(":")
            ip = parts[0] if len(parts) == 3 else "0.0.0.0"
            published, target = parts[-2], parts[-1].split("/")[0]
        if published:
            ports.append(f"{ip}:{published}:{variable(name, int(target))}")
    oneshot = 1 if str(svc.get("restart", "")) == "no" else 0
    print(name, svc["image"], 1 if "build" in svc else 0, oneshot, ",".join(ports) or "-", sep="\t")
PY
}

# Containers of this project: "service id" lines.
containers() {
  engine ps -a --filter "label=com.docker.compose.project=$PROJECT" --format '{{.Label "com.docker.compose.service"}} {{.ID}}'
}

port_taken() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q .; }

# The plan, once: a failure to read the file stops us here, not half-way through a loop.
PLAN=
load_plan() {
  PLAN=$(plan) || die "cannot read the services of $FILE (see above)"
  [[ -n $PLAN ]] || die "$FILE starts no services"
}

preflight() {
  local problems=0 name image built oneshot ports running spec ip port variable
  running=$(containers | awk '{print $1}')
  while IFS=$'\t' read -r name image built oneshot ports; do
    if ! engine image inspect "$image" >/dev/null 2>&1; then
      if ((built)); then
        echo "compose: image $image ($name) is missing; build it: docker-compose -p $PROJECT -f $FILE build $name" >&2
      else
        echo "compose: image $image ($name) is missing; pull it (docker pull $image) or, with no registry, build the local stand-in: eng/containers/base-images.sh" >&2
      fi
      problems=1
    fi
    [[ $ports == - ]] && continue
    # A port this project's own container holds is not a conflict (up on a running stack).
    grep -qx "$name" <<<"$running" && continue
    for spec in ${ports//,/ }; do
      IFS=: read -r ip port variable <<<"$spec"
      if port_taken "$port"; then
        echo "compose: port $port ($name, on $ip) is already in use; free it or choose another: $variable=<port> in $(dirname "$FILE")/.env or the environment" >&2
        problems=1
      fi
    done
  done <<<"$PLAN"
  return $problems
}

# "state health exit restarts" of one container. Podman reports an empty Health for containers without a check.
state() {
  engine inspect --format '{{.State.Status}} {{with .State.Health}}{{with .Status}}{{.}}{{else}}none{{end}}{{else}}none{{end}} {{.State.ExitCode}} {{.RestartCount}}' "$1"
}

# Why a service failed, in one line, when its log says something we know how to fix.
diagnose() {
  local service=$1 log=$2
  if grep -qE '28P01|password authentication failed' <<<"$log"; then
    echo "compose: $service: PostgreSQL refused the password: the volume ${PROJECT}_cartrita-postgres-data was initialized with another one; put the old password back in $(dirname "$FILE")/secrets/postgres-password, or remove that volume (docker volume rm ${PROJECT}_cartrita-postgres-data: its data is lost)" >&2
  fi
}

fail_service() {
  local service=$1 id=$2 why=$3 log
  echo "compose: $service failed: $why; its last $LOG_LINES log lines:" >&2
  log=$(engine logs --tail "$LOG_LINES" "$id" 2>&1 || true)
  sed 's/^/  | /' <<<"$log" >&2
  diagnose "$service" "$log"
  exit 1
}

# Waits until every service of the plan is up (healthy, or running without a healthcheck) and every one-shot job
# exited 0; fails on the first service that cannot get there, or at the deadline.
wait_healthy() {
  local deadline=$1 name image built oneshot ports id st health code restarts pending report
  local -A expected=() kind=()
  while IFS=$'\t' read -r name image built oneshot ports; do expected[$name]=1; kind[$name]=$oneshot; done <<<"$PLAN"
  while :; do
    pending=() report=()
    declare -A seen=()
    while read -r name id; do
      [[ -n ${expected[$name]:-} ]] || continue
      seen[$name]=1
      read -r st health code restarts < <(state "$id") || continue
      report+=("$(printf '  %-18s %-10s health=%-9s exit=%s restarts=%s' "$name" "$st" "$health" "$code" "$restarts")")
      if ((kind[$name])); then
        if [[ $st == exited ]]; then ((code == 0)) || fail_service "$name" "$id" "exited $code"; else pending+=("$name"); fi
      elif [[ $health == unhealthy ]]; then
        fail_service "$name" "$id" "unhealthy"
      elif [[ $st == exited || $st == dead ]] || ((restarts > 2)); then
        fail_service "$name" "$id" "$st (exit $code, restarted $restarts times)"
      elif [[ $st != running || ($health != healthy && $health != none) ]]; then
        pending+=("$name")
      fi
    done < <(containers)
    for name in "${!expected[@]}"; do [[ -n ${seen[$name]:-} ]] || { pending+=("$name"); report+=("$(printf '  %-18s not created' "$name")"); }; done
    unset seen
    if ((${#pending[@]} == 0)); then
      printf '%s\n' "${report[@]}"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      printf '%s\n' "${report[@]}" >&2
      local first=${pending[0]} cid
      cid=$(containers | awk -v s="$first" '$1 == s {print $2; exit}')
      [[ -n $cid ]] || die "$first was never created within the timeout (a dependency above is not ready); see: $0 -p $PROJECT logs"
      fail_service "$first" "$cid" "not ready within the timeout (CARTRITA_COMPOSE_TIMEOUT)"
    fi
    sleep 1
  done
}

cmd_up() {
  local timeout=${CARTRITA_COMPOSE_TIMEOUT:-180} started=$SECONDS
  if [[ ${1:-} == --timeout ]]; then timeout=${2:?}; shift 2; fi
  [[ $timeout =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds, got '$timeout'"
  need_engine
  load_plan
  preflight || die "not starting: fix the problems above first"
  # docker-compose itself waits for depends_on conditions, unbounded: bound it, then judge the states ourselves.
  local status=0
  timeout "$timeout" docker-compose "${GLOBAL[@]}" up -d --no-build "$@" || status=$?
  local deadline=$((started + timeout))
  if ((status == 124)); then
    echo "compose: docker-compose up did not finish within ${timeout} s" >&2
  elif ((status != 0)); then
    deadline=$((SECONDS + 5))   # it gave up (a dependency failed): report the states, do not wait the timeout out
  fi
  wait_healthy "$deadline"
  echo "compose: $PROJECT is up ($((SECONDS - started)) s)"
}

case $COMMAND in
  up) cmd_up "$@" ;;
  down|stop|ps|logs) need_engine; exec docker-compose "${GLOBAL[@]}" "$COMMAND" "$@" ;;
  *) echo "compose: unknown command '$COMMAND'" >&2; usage >&2; exit 2 ;;
esac
