# The backup job: what `./cartrita backup` and `./cartrita restore` do locally, for a deployed database.
# Runs in the database server's own image (its pg_dump and psql match the server's major version), as its non-root user.
#
#   sh backup.sh [backup]       pg_dump PGDATABASE into BACKUP_DIR/<PGDATABASE>_YYYYMMDD_HHMMSS.sql.gz (UTC), written
#                               under a temporary name and renamed only when complete, then delete all but the newest
#                               BACKUP_KEEP (default 7)
#   sh backup.sh list           the backups, newest first
#   sh backup.sh restore FILE   replace PGDATABASE with FILE (a name from `list`): refused unless the file is whole; loaded
#                               into a scratch database in one transaction, then swapped in by renaming. The previous
#                               database is kept as <PGDATABASE>_before_restore_<time> until you drop it.
#
# Connection: libpq's PGHOST, PGPORT, PGUSER, PGDATABASE. The password is read from the file BACKUP_PASSWORD_FILE
# (Compose: a Docker secret) or from BACKUP_PASSWORD (Kubernetes: the database's Secret) and given to libpq in a pgpass
# file on /tmp, never on a command line.
set -eu
umask 077 # the dumps hold the whole database

log() { printf '%s backup: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }
fail() {
  log "error: $*" >&2
  exit 1
}

: "${PGDATABASE:?PGDATABASE is not set}"
: "${BACKUP_DIR:?BACKUP_DIR is not set}"
keep=${BACKUP_KEEP:-7}
case $keep in
  '' | *[!0-9]*) fail "BACKUP_KEEP must be a whole number, not '$keep'" ;;
esac
[ "$keep" -ge 1 ] || fail "BACKUP_KEEP must be at least 1"

work=$(mktemp -d /tmp/backup.XXXXXX)
partial=
# A temporary dump never outlives the run; the trap also runs on TERM/INT (a stopped container, a job's deadline).
trap 'rm -rf "$work"; if [ -n "$partial" ]; then rm -f -- "$partial"; fi' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

connect() {
  if [ -n "${BACKUP_PASSWORD_FILE:-}" ]; then
    password=$(cat -- "$BACKUP_PASSWORD_FILE") || fail "cannot read the password file $BACKUP_PASSWORD_FILE"
  else
    password=${BACKUP_PASSWORD:?neither BACKUP_PASSWORD_FILE nor BACKUP_PASSWORD is set}
  fi
  unset BACKUP_PASSWORD
  # pgpass format: host:port:database:user:password, with ':' and '\' in the password escaped.
  printf '*:*:*:*:%s\n' "$(printf '%s' "$password" | sed 's/[\\:]/\\&/g')" >"$work/pgpass"
  unset password
  PGPASSFILE=$work/pgpass
  PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-10}
  export PGPASSFILE PGCONNECT_TIMEOUT
}

# The backups of PGDATABASE, newest first (the names sort by time).
list() {
  for file in "$BACKUP_DIR/$PGDATABASE"_[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]_[0-9][0-9][0-9][0-9][0-9][0-9].sql.gz; do
    if [ -f "$file" ]; then printf '%s\n' "${file##*/}"; fi
  done | LC_ALL=C sort -r
}

backup() {
  connect
  # A dump left by a run that was killed (power loss, SIGKILL) is never a backup.
  find "$BACKUP_DIR" -maxdepth 1 -name "${PGDATABASE}_*.sql.gz.partial" -mmin +1440 -exec rm -f -- {} +

  name=${PGDATABASE}_$(date -u +%Y%m%d_%H%M%S).sql.gz
  while [ -e "$BACKUP_DIR/$name" ] || [ -e "$BACKUP_DIR/$name.partial" ]; do
    sleep 1 # the name carries the time to the second: one backup per second at most
    name=${PGDATABASE}_$(date -u +%Y%m%d_%H%M%S).sql.gz
  done
  partial=$BACKUP_DIR/$name.partial

  log "dumping database $PGDATABASE on ${PGHOST:-localhost}:${PGPORT:-5432} to $name"
  # POSIX sh has no pipefail: pg_dump's exit status comes back through a file, gzip's is the pipeline's (set -e).
  {
    status=0
    pg_dump --format=plain --no-owner --no-privileges --quote-all-identifiers || status=$?
    echo "$status" >"$work/pg_dump.status"
  } | gzip -c >"$partial"
  status=$(cat "$work/pg_dump.status")
  [ "$status" -eq 0 ] || fail "pg_dump failed (exit $status); no backup was written"
  gzip -t -- "$partial" || fail "the compressed dump does not read back; no backup was written"
  sync -- "$partial"
  mv -- "$partial" "$BACKUP_DIR/$name"
  partial=
  log "wrote $name ($(du -k -- "$BACKUP_DIR/$name" | cut -f1) KiB)"

  list | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    rm -f -- "$BACKUP_DIR/$old"
    log "deleted old backup $old (keeping $keep)"
  done
}

ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
literal() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
admin() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

restore() {
  [ $# -eq 1 ] || fail "usage: backup.sh restore FILE (FILE: one of \`backup.sh list\`)"
  case $1 in
    */*) file=$1 ;;
    *) file=$BACKUP_DIR/$1 ;;
  esac
  [ -f "$file" ] || fail "no backup $file; the backups are: $(list | tr '\n' ' ')"
  gzip -t -- "$file" 2>/dev/null || fail "${file##*/} is corrupt or truncated (gzip -t); nothing was restored"
  gzip -dc -- "$file" | tail -c 4096 | grep -q -F -e '-- PostgreSQL database dump complete' ||
    fail "${file##*/} is truncated: it does not end with pg_dump's completion marker; nothing was restored"
  connect

  stamp=$(date -u +%Y%m%d%H%M%S)
  scratch=${PGDATABASE}_restore_$stamp
  previous=${PGDATABASE}_before_restore_$stamp
  log "loading ${file##*/} into the scratch database $scratch"
  admin -c "CREATE DATABASE $(ident "$scratch")"
  if ! gzip -dc -- "$file" | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$scratch" >/dev/null; then
    admin -c "DROP DATABASE IF EXISTS $(ident "$scratch")" || true
    fail "${file##*/} failed to load; $PGDATABASE is unchanged"
  fi

  if [ -z "$(admin -At -c "SELECT 1 FROM pg_database WHERE datname = $(literal "$PGDATABASE")")" ]; then
    # Nothing to replace (a new server): the scratch database simply becomes the database.
    admin -c "ALTER DATABASE $(ident "$scratch") RENAME TO $(ident "$PGDATABASE")"
    log "restored ${file##*/} into $PGDATABASE (which did not exist)"
    return
  fi
  log "swapping $scratch in as $PGDATABASE"
  # Close the door first, so that no client reconnects between ending its sessions and the renames; both renames are one
  # transaction (PostgreSQL waits a few seconds for terminated sessions to go).
  admin -c "ALTER DATABASE $(ident "$PGDATABASE") WITH ALLOW_CONNECTIONS false"
  if ! admin --single-transaction \
    -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $(literal "$PGDATABASE") AND pid <> pg_backend_pid()" \
    -c "ALTER DATABASE $(ident "$PGDATABASE") RENAME TO $(ident "$previous")" \
    -c "ALTER DATABASE $(ident "$scratch") RENAME TO $(ident "$PGDATABASE")" >/dev/null; then
    admin -c "ALTER DATABASE $(ident "$PGDATABASE") WITH ALLOW_CONNECTIONS true" || true
    admin -c "DROP DATABASE IF EXISTS $(ident "$scratch")" || true
    fail "could not swap the restored database in; $PGDATABASE is unchanged"
  fi
  log "restored ${file##*/} into $PGDATABASE; the previous database is kept (closed to connections) as $previous:"
  log "drop it when satisfied: DROP DATABASE $(ident "$previous");"
}

command=${1:-backup}
if [ $# -gt 0 ]; then shift; fi
case $command in
  backup)
    [ $# -eq 0 ] || fail "usage: backup.sh [backup | list | restore FILE]"
    backup
    ;;
  list) list ;;
  restore) restore "$@" ;;
  *) fail "unknown command '$command' (usage: backup.sh [backup | list | restore FILE])" ;;
esac
