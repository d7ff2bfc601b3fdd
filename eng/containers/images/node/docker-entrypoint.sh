#!/bin/sh
# Entrypoint of Cartrita's node stand-in image (written for this project): as in
# the official image, options or a script that is not a command go to node.
set -e
if [ "${1#-}" != "${1:-}" ] || { [ -n "${1:-}" ] && ! command -v -- "$1" >/dev/null 2>&1; }; then
  set -- node "$@"
fi
exec "$@"
