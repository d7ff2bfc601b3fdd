# The backup job: what `./cartrita backup` and `./cartrita restore` do locally, for a deployed database.
# Runs in the database server's own image (its pg_dump and psql match the server's major version), as its non-root user.
#
#   sh backup.sh [backup]       pg_dump PGDATABASE into BACKUP_DIR/<PGDATABASE>_YYYYMMDD_HHMMSS.sql.gz (UTC), written
#                               under a temporary name and renamed only when complete, with its SHA-256 in <file>.sha256,
#                               then delete all but the newest BACKUP_KEEP (default 7)
#   sh backup.sh list           the backups, newest first
#   sh backup.sh restore [--no-verify] FILE
#                               replace PGDATABASE with FILE (a name from `list`): refused unless it matches its checksum
#                               (--no-verify: a file without one, from before checksums, is restored all the same), is
#                               whole, and holds no psql meta-command pg_dump does not write; loaded into a scratch
#                               database (cloned from <PGDATABASE>_template, which the migrations prepare) in one
#                               transaction, then swapped in by renaming. The previous database is kept as
#                               <PGDATABASE>_before_restore_<time> until you drop it.
#
# Connection: libpq's PGHOST, PGPORT, PGUSER (the database's owner role, not the superuser: a dump's COPY … TO PROGRAM
# then fails), PGDATABASE. The password is read from the file BACKUP_PASSWORD_FILE (Compose: a Docker secret) or from
# BACKUP_PASSWORD (Kubernetes: a Secret) and given to libpq in a pgpass file on /tmp, never on a command line.
set -eu
umask 077 # the dumps hold the whole database: files 0600, the folder 0700

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
checksum=
# A temporary dump never outlives the run; the trap also runs on TERM/INT (a stopped container, a job's deadline).
trap 'rm -rf "$work"; if [ -n "$partial" ]; then rm -f -- "$partial" "$checksum"; fi' EXIT
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
  # Owner-only, like the files: a volume's root starts as the image directory's mode (the postgres image's is 1777).
  chmod 700 "$BACKUP_DIR" 2>/dev/null || log "warning: cannot make $BACKUP_DIR owner-only (mode 0700); its owner is not this user"
  # A dump left by a run that was killed (power loss, SIGKILL) is never a backup.
  find "$BACKUP_DIR" -maxdepth 1 -name "${PGDATABASE}_*.sql.gz.partial" -mmin +1440 -exec rm -f -- {} +

  name=${PGDATABASE}_$(date -u +%Y%m%d_%H%M%S).sql.gz
  while [ -e "$BACKUP_DIR/$name" ] || [ -e "$BACKUP_DIR/$name.partial" ]; do
    sleep 1 # the name carries the time to the second: one backup per second at most
    name=${PGDATABASE}_$(date -u +%Y%m%d_%H%M%S).sql.gz
  done
  partial=$BACKUP_DIR/$name.partial
  checksum=$BACKUP_DIR/$name.sha256

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
  # The checksum first (sha256sum's format: `sha256sum -c` checks it too), then the final name: a backup is never
  # without its checksum.
  printf '%s  %s\n' "$(sha256sum <"$partial" | cut -d' ' -f1)" "$name" >"$checksum"
  sync -- "$partial" "$checksum"
  mv -- "$partial" "$BACKUP_DIR/$name"
  partial=
  log "wrote $name ($(du -k -- "$BACKUP_DIR/$name" | cut -f1) KiB) and $name.sha256"

  list | tail -n +"$((keep + 1))" | while IFS= read -r old; do
    rm -f -- "$BACKUP_DIR/$old" "$BACKUP_DIR/$old.sha256"
    log "deleted old backup $old (keeping $keep)"
  done
}

# What a restore lets psql run (awk; mode=check prints nothing, mode=filter prints the script). psql runs more than SQL:
# `\! cmd` runs a shell command, so a crafted backup could run anything before it failed to load. Refused (exit 2): any
# psql meta-command but pg_dump's own `\restrict KEY` before the first statement and `\unrestrict KEY` after the
# completion marker; lines inside COPY … FROM stdin are data. Truncated (exit 3): no completion marker, or no closing
# \unrestrict. The filter drops pg_dump's pair (the restore's own \restrict, with a key the file cannot know, replaces
# it, so psql itself refuses whatever meta-command this line check cannot see) and COMMENT ON EXTENSION (the extensions
# come from the template, the superuser's; only an extension's owner may comment on it, and the comment is its own).
dump_rules='
incopy { if ($0 == "\\.") incopy = 0; if (mode == "filter") print; next }
{
  line = $0; sub(/^[ \t]+/, "", line)
  if (unrestricted && line != "" && substr(line, 1, 2) != "--") { bad = "has statements after pg_dump'"'"'s closing \\unrestrict"; exit 2 }
  if (substr(line, 1, 1) == "\\") {
    if (line ~ /^\\restrict [A-Za-z0-9]+$/ && key == "" && !statement) { key = substr(line, 11); next }
    if (line ~ /^\\unrestrict [A-Za-z0-9]+$/ && key != "" && substr(line, 13) == key && complete && !unrestricted) { unrestricted = 1; next }
    split(line, word, " ")
    bad = "holds the psql meta-command " substr(word[1], 1, 20) ", which pg_dump does not write there (a crafted or altered file)"
    exit 2
  }
  if (line == "" || substr(line, 1, 2) == "--") { if ($0 == "-- PostgreSQL database dump complete") complete = 1; if (mode == "filter") print; next }
  statement = 1
  if ($0 ~ /^COMMENT ON EXTENSION "?[A-Za-z0-9_-]+"? IS .*;$/) next
  if ($0 ~ /^COPY .+ FROM stdin;$/) incopy = 1
  if (mode == "filter") print
}
END {
  if (bad != "") { printf "line %d %s\n", NR, bad > "/dev/stderr"; exit 2 }
  if (incopy || !complete) { print "is truncated: it does not end with pg_dump'"'"'s completion marker" > "/dev/stderr"; exit 3 }
  if (key != "" && !unrestricted) { print "is truncated: pg_dump'"'"'s closing \\unrestrict is missing" > "/dev/stderr"; exit 3 }
}'

# Refuses FILE unless it matches FILE.sha256; without one, only when --no-verify was given.
verify_checksum() {
  if [ ! -f "$1.sha256" ]; then
    [ "$2" = no ] || fail "${1##*/} has no checksum file ${1##*/}.sha256 (a backup made before checksums, or copied without it), so nothing shows it is the file that was written; nothing was restored. If you know where it came from: restore --no-verify ${1##*/}"
    log "${1##*/} has no checksum; restoring it unverified, as asked (--no-verify)"
    return
  fi
  expected=$(cut -d' ' -f1 <"$1.sha256")
  actual=$(sha256sum <"$1" | cut -d' ' -f1)
  [ "$expected" = "$actual" ] ||
    fail "${1##*/} does not match its checksum ${1##*/}.sha256: it changed after it was written (damaged or altered); nothing was restored"
}

ident() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
literal() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/''/g")"; }
# The maintenance database, as PGUSER (the owner: it may create databases and rename its own).
server() { psql -X -q -v ON_ERROR_STOP=1 -d postgres "$@"; }

restore() {
  verify=yes
  if [ "${1:-}" = --no-verify ]; then
    verify=no
    shift
  fi
  [ $# -eq 1 ] || fail "usage: backup.sh restore [--no-verify] FILE (FILE: one of \`backup.sh list\`)"
  case $1 in
    */*) file=$1 ;;
    *) file=$BACKUP_DIR/$1 ;;
  esac
  [ -f "$file" ] || fail "no backup $file; the backups are: $(list | tr '\n' ' ')"
  verify_checksum "$file" "$verify"
  gzip -t -- "$file" 2>/dev/null || fail "${file##*/} is corrupt or truncated (gzip -t); nothing was restored"
  if ! problem=$(gzip -dc -- "$file" | awk -v mode=check "$dump_rules" 2>&1); then
    fail "${file##*/} $problem; refused: nothing was restored"
  fi
  connect

  stamp=$(date -u +%Y%m%d%H%M%S)
  scratch=${PGDATABASE}_restore_$stamp
  previous=${PGDATABASE}_before_restore_$stamp
  template=${PGDATABASE}_template
  log "loading ${file##*/} into the scratch database $scratch as ${PGUSER:-the default user}"
  server -c "CREATE DATABASE $(ident "$scratch") TEMPLATE $(ident "$template")" ||
    fail "cannot create $scratch from the restore template $template (the migrations prepare it: run them first); nothing was restored"
  key=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
  if ! {
    printf '\\restrict %s\n' "$key"
    gzip -dc -- "$file" | awk -v mode=filter "$dump_rules" || echo >"$work/filter.failed"
  } | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -d "$scratch" >/dev/null 2>"$work/psql.err" || [ -e "$work/filter.failed" ]; then
    server -c "DROP DATABASE IF EXISTS $(ident "$scratch")" || true
    if grep -q 'backslash commands are restricted' "$work/psql.err"; then
      fail "${file##*/} holds a psql meta-command pg_dump does not write (psql refused it: $(cat "$work/psql.err")); $PGDATABASE is unchanged"
    fi
    if grep -q 'invalid command \\restrict' "$work/psql.err"; then
      fail "this image's psql ($(psql --version)) is too old to restore safely: it lacks \\restrict (PostgreSQL 15.14 or later); $PGDATABASE is unchanged"
    fi
    fail "${file##*/} failed to load; $PGDATABASE is unchanged: $(cat "$work/psql.err")"
  fi
  # As the migrations leave the database: no role may create TEMP tables in it (CONNECT stays).
  if ! server -c "REVOKE TEMPORARY ON DATABASE $(ident "$scratch") FROM PUBLIC"; then
    server -c "DROP DATABASE IF EXISTS $(ident "$scratch")" || true
    fail "could not set the restored database's privileges; $PGDATABASE is unchanged"
  fi

  if [ -z "$(server -At -c "SELECT 1 FROM pg_database WHERE datname = $(literal "$PGDATABASE")")" ]; then
    # Nothing to replace (a new server): the scratch database simply becomes the database.
    server -c "ALTER DATABASE $(ident "$scratch") RENAME TO $(ident "$PGDATABASE")"
    log "restored ${file##*/} into $PGDATABASE (which did not exist)"
    return
  fi
  log "swapping $scratch in as $PGDATABASE"
  # Close the door first, so that no client reconnects between ending its sessions and the renames; both renames are one
  # transaction (PostgreSQL waits a few seconds for terminated sessions to go). The owner ends the sessions of the roles
  # it is a member of (the app's); a superuser's session left open makes the rename fail, and nothing changes.
  server -c "ALTER DATABASE $(ident "$PGDATABASE") WITH ALLOW_CONNECTIONS false"
  if ! server --single-transaction \
    -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $(literal "$PGDATABASE") AND pid <> pg_backend_pid() AND (pg_has_role(usesysid, 'USAGE') OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))" \
    -c "ALTER DATABASE $(ident "$PGDATABASE") RENAME TO $(ident "$previous")" \
    -c "ALTER DATABASE $(ident "$scratch") RENAME TO $(ident "$PGDATABASE")" >/dev/null; then
    server -c "ALTER DATABASE $(ident "$PGDATABASE") WITH ALLOW_CONNECTIONS true" || true
    server -c "DROP DATABASE IF EXISTS $(ident "$scratch")" || true
    fail "could not swap the restored database in; $PGDATABASE is unchanged"
  fi
  log "restored ${file##*/} into $PGDATABASE; the previous database is kept (closed to connections) as $previous:"
  log "drop it when satisfied: DROP DATABASE $(ident "$previous");"
}

command=${1:-backup}
if [ $# -gt 0 ]; then shift; fi
case $command in
  backup)
    [ $# -eq 0 ] || fail "usage: backup.sh [backup | list | restore [--no-verify] FILE]"
    backup
    ;;
  list) list ;;
  restore) restore "$@" ;;
  *) fail "unknown command '$command' (usage: backup.sh [backup | list | restore [--no-verify] FILE])" ;;
esac
