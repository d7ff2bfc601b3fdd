#!/bin/sh
# Entrypoint of Cartrita's redis stand-in image. Written for this project; it
# behaves as the official redis image's does:
#   "-x ..." or "x.conf ..."  -> redis-server -x ... / redis-server x.conf ...
#   redis-server started as root drops to the redis user (uid 999) and owns /data
#   protected mode is off unless a config file or an argument sets it (the
#   official image builds redis with that default; Debian's keeps it on)
#   redis-server is exec'd: PID 1, so SIGTERM makes it save and exit
# Anything else is exec'd as is.
set -eu

case ${1:-} in
  -*|*.conf) set -- redis-server "$@" ;;
esac

if [ "${1:-}" = redis-server ]; then
  if [ "$(id -u)" = 0 ]; then
    find . \! -user redis -exec chown redis:redis '{}' + 2>/dev/null || :
    exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
  fi
  protected=""
  for arg in "$@"; do
    case $arg in --protected-mode) protected=set ;; esac
  done
  # A config file is always redis-server's first argument.
  if [ -z "$protected" ] && [ $# -ge 2 ] && [ -f "$2" ] &&
     grep -Eqi '^[[:space:]]*protected-mode[[:space:]]' "$2"; then
    protected=set
  fi
  if [ -z "$protected" ]; then set -- "$@" --protected-mode no; fi
  # As the official image: files it creates are private unless told otherwise.
  if [ "$(umask)" = 0022 ]; then umask 0077; fi
fi
exec "$@"
