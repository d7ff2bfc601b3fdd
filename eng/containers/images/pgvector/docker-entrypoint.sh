#!/usr/bin/env bash
# Entrypoint of Cartrita's PostgreSQL stand-in image. Written for this project;
# it follows the documented contract of the official postgres image so that what
# runs on the stand-in runs on the real one:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD or POSTGRES_PASSWORD_FILE,
#   POSTGRES_DB (default: the user), POSTGRES_INITDB_ARGS, POSTGRES_INITDB_WALDIR,
#   POSTGRES_HOST_AUTH_METHOD, PGDATA, and /docker-entrypoint-initdb.d/*.sh|*.sql|
#   *.sql.gz|*.sql.xz|*.sql.zst, run once, on first initialisation, against a
#   server that listens on its Unix socket only.
# Arguments: "-x ..." -> postgres -x ...; "postgres ..." as given; anything else
# is exec'd as is. postgres itself is exec'd: it is PID 1 and gets the stop signal.
set -Eeuo pipefail

say() { printf '%s\n' "$*"; }
fail() { printf 'docker-entrypoint.sh: %s\n' "$*" >&2; exit 1; }

# VAR may come from VAR or from the file named by VAR_FILE (a Docker secret).
from_env_or_file() {
  local var=$1 fallback=${2:-} file_var="${1}_FILE"
  if [[ -n ${!var:-} && -n ${!file_var:-} ]]; then
    fail "both $var and $file_var are set; set only one"
  fi
  local value=$fallback
  if [[ -n ${!var:-} ]]; then value=${!var}
  elif [[ -n ${!file_var:-} ]]; then
    [[ -r ${!file_var} ]] || fail "$file_var=${!file_var} is not a readable file"
    value=$(<"${!file_var}")
  fi
  export "$var"="$value"
  unset "$file_var"
}

if [[ ${1:-} == -* ]]; then set -- postgres "$@"; fi
if [[ ${1:-} != postgres ]]; then exec "$@"; fi

: "${PGDATA:?PGDATA must be set}"

# As root: make the data and socket directories the postgres user's, then run
# this script again as that user (setpriv execs; no process stays in between).
if [[ $(id -u) == 0 ]]; then
  mkdir -p "$PGDATA" && chmod 00700 "$PGDATA" 2>/dev/null || :
  find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' + 2>/dev/null || :
  mkdir -p /var/run/postgresql 2>/dev/null || :
  chown postgres:postgres /var/run/postgresql 2>/dev/null && chmod 03777 /var/run/postgresql 2>/dev/null || :
  if [[ -n ${POSTGRES_INITDB_WALDIR:-} ]]; then
    mkdir -p "$POSTGRES_INITDB_WALDIR" && chown postgres:postgres "$POSTGRES_INITDB_WALDIR"
  fi
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

getent passwd "$(id -u)" >/dev/null ||
  fail "uid $(id -u) has no passwd entry (initdb needs one); run as root or as 999:999 (postgres)"
mkdir -p "$PGDATA" 2>/dev/null || :
[[ -w $PGDATA ]] || fail "$PGDATA is not writable by uid $(id -u); mount a volume owned by it there"
chmod 00700 "$PGDATA" 2>/dev/null || :
[[ -w /var/run/postgresql ]] ||
  fail "/var/run/postgresql is not writable by uid $(id -u); with a read-only root fs mount a tmpfs there owned by it (uid=999,gid=999,mode=1777)"

psql_init() { psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --no-password --no-psqlrc "$@"; }

run_init_scripts() {
  local f
  for f in /docker-entrypoint-initdb.d/*; do
    [[ -e $f ]] || continue
    case $f in
      *.sh)
        if [[ -x $f ]]; then say "$0: running $f"; "$f"
        else say "$0: sourcing $f"; . "$f"; fi ;;   # as the official image does: shares our variables
      *.sql)     say "$0: running $f"; psql_init --dbname "$POSTGRES_DB" -f "$f" ;;
      *.sql.gz)  say "$0: running $f"; gunzip -c "$f" | psql_init --dbname "$POSTGRES_DB" ;;
      *.sql.xz)  say "$0: running $f"; xz -dc "$f" | psql_init --dbname "$POSTGRES_DB" ;;
      *.sql.zst) say "$0: running $f"; zstd -dc "$f" | psql_init --dbname "$POSTGRES_DB" ;;
      *)         say "$0: ignoring $f" ;;
    esac
  done
}

initialise() {
  from_env_or_file POSTGRES_PASSWORD
  from_env_or_file POSTGRES_USER postgres
  from_env_or_file POSTGRES_DB "$POSTGRES_USER"
  from_env_or_file POSTGRES_INITDB_ARGS
  local auth=${POSTGRES_HOST_AUTH_METHOD:-}
  if [[ -z $POSTGRES_PASSWORD && $auth != trust ]]; then
    cat >&2 <<'EOF'
docker-entrypoint.sh: the database is not initialised and no superuser password is set.
  Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to a non-empty value, e.g. -e POSTGRES_PASSWORD=...
  POSTGRES_HOST_AUTH_METHOD=trust starts without one and lets anyone connect without a password (not recommended).
EOF
    exit 1
  fi

  local initdb_args=(--username="$POSTGRES_USER")
  [[ -z ${POSTGRES_INITDB_WALDIR:-} ]] || initdb_args+=(--waldir="$POSTGRES_INITDB_WALDIR")
  # The password reaches initdb through a pipe, never a file or a command line.
  if [[ -n $POSTGRES_PASSWORD ]]; then
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words, as in the official image
    initdb "${initdb_args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
  else
    # shellcheck disable=SC2086
    initdb "${initdb_args[@]}" $POSTGRES_INITDB_ARGS
  fi

  # Connections from outside the container (the socket and loopback keep initdb's rules).
  if [[ -z $auth ]]; then
    auth=$(postgres -C password_encryption -D "$PGDATA" 2>/dev/null || echo scram-sha-256)
  fi
  [[ $auth != trust ]] || say "$0: POSTGRES_HOST_AUTH_METHOD=trust: any host may connect without a password"
  printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

  # A server on the socket only, for creating the database and running the scripts.
  export PGHOST=/var/run/postgresql PGPORT=${PGPORT:-5432} PGPASSWORD=$POSTGRES_PASSWORD
  pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -p $PGPORT" start
  # (psql expands :'db' in what it reads, not in -c: the name is quoted by psql, never by us)
  if [[ -z $(psql_init --dbname postgres --set db="$POSTGRES_DB" -tA \
               <<<"SELECT 1 FROM pg_database WHERE datname = :'db'") ]]; then
    psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    say "$0: created database $POSTGRES_DB"
  fi
  run_init_scripts
  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGPASSWORD PGHOST PGPORT
  say "$0: PostgreSQL init process complete; ready for start up."
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  initialise
else
  say "$0: $PGDATA holds a database already; skipping initialisation"
fi
unset POSTGRES_PASSWORD
exec "$@"
