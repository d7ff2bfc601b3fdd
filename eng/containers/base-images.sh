#!/usr/bin/env bash
# eng/containers/base-images.sh - local stand-ins for the base images Cartrita's
# Dockerfiles and published files name, for machines that reach no registry.
#
#   base-images.sh [docker|podman] [--force] [image...]
#
# For each image that is absent from the engine, builds a stand-in tagged with
# the exact name (LABEL org.cartrita.stand-in=true) from Debian packages and this
# machine's own toolchains. Images already present (real or stand-in) are kept;
# --force rebuilds the stand-ins. The engine must answer: eval "$(engine.sh env X)".
# podman: copies what the docker engine already has (docker save | podman load),
# and builds the rest itself. See eng/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE IMAGES=$HERE/images
readonly ENGINE_HOME=${CARTRITA_ENGINE_HOME:-/var/lib/cartrita/engines}
readonly CACHE=$ENGINE_HOME/cache
readonly SUITE=bookworm
readonly STAND_IN_LABEL=org.cartrita.stand-in=true
readonly DOTNET_ROOT_HOST=${CARTRITA_DOTNET_ROOT:-/usr/share/dotnet}
DOCKER_CLI=/usr/bin/docker; [[ -x $DOCKER_CLI ]] || DOCKER_CLI=docker
readonly DOCKER_CLI

# Build order matters: the stand-ins are built FROM debian, the sdk FROM aspnet (as Microsoft's).
readonly ALL=(debian node dotnet-aspnet dotnet-sdk pgvector redis)
declare -A NAME=(
  [debian]=docker.io/library/debian:bookworm-slim
  [node]=docker.io/library/node:20-bookworm-slim
  [dotnet-sdk]=mcr.microsoft.com/dotnet/sdk:10.0
  [dotnet-aspnet]=mcr.microsoft.com/dotnet/aspnet:10.0
  [pgvector]=docker.io/pgvector/pgvector:0.8.0-pg15
  [redis]=docker.io/library/redis:7.0.15
)

die() { printf 'base-images.sh: %s\n' "$*" >&2; exit 1; }

ENGINE=docker FORCE=0 WANT=()
for arg in "$@"; do
  case $arg in
    docker|podman) ENGINE=$arg ;;
    --force) FORCE=1 ;;
    -h|--help) sed -n '2,12s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; printf 'images: %s\n' "${ALL[*]}"; exit 0 ;;
    *) [[ -n ${NAME[$arg]:-} ]] || die "unknown argument \"$arg\"; images are: ${ALL[*]}"
       WANT+=("$arg") ;;
  esac
done
(( ${#WANT[@]} )) || WANT=("${ALL[@]}")

# The engine's CLI: docker.io's own docker (matches dockerd 20.10), or podman
# with the configuration engine.sh gives it.
if [[ $ENGINE == docker ]]; then
  [[ -n ${DOCKER_HOST:-} ]] ||
    die "DOCKER_HOST is not set; run: eval \"\$(eng/containers/engine.sh start docker)\""
  cli() { "$DOCKER_CLI" "$@"; }
else
  eval "$("$HERE/engine.sh" env podman)"
  cli() { podman "$@"; }
fi
cli info >/dev/null 2>&1 ||
  die "$ENGINE does not answer${DOCKER_HOST:+ at $DOCKER_HOST}; run: eval \"\$(eng/containers/engine.sh start $ENGINE)\""
[[ $EUID -eq 0 ]] || die "building the debootstrap root needs root; run: sudo eng/containers/base-images.sh $*"

# Docker shows docker.io names short (debian:bookworm-slim); podman keeps them
# fully qualified. Both find an image by either spelling of their own.
tag_of() {
  local n=${NAME[$1]}
  if [[ $ENGINE == docker ]]; then n=${n#docker.io/}; n=${n#library/}; fi
  printf '%s' "$n"
}
present() { cli image inspect "$(tag_of "$1")" >/dev/null 2>&1; }
stand_in() {
  [[ $(cli image inspect --format '{{index .Config.Labels "org.cartrita.stand-in"}}' "$(tag_of "$1")" 2>/dev/null) == true ]]
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cartrita-base-images.XXXXXX")
LOG=$WORK/build.log
rm -f "$ENGINE_HOME/base-images-failed.log"   # a previous run's, no longer true
cleanup() { rm -rf -- "$WORK"; }
trap cleanup EXIT

# run_logged cmd...: output goes to the log; on failure its tail is shown.
fail() {
  local keep=$ENGINE_HOME/base-images-failed.log
  cp -f "$LOG" "$keep" 2>/dev/null || keep=$LOG
  printf -- '----- last 30 lines of %s -----\n' "$keep" >&2; tail -n 30 "$LOG" >&2
  die "$*; full log: $keep"
}
run_logged() { printf "+ %s\n" "$*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }   # stdin kept: import/load read a pipe

# docker build with the machine's network (the egress sees the host's CA).
build() {
  local image=$1 context=$2; shift 2
  (( ! FORCE )) || set -- --no-cache "$@"   # --force: really rebuild, from fresh packages
  run_logged cli build --network host --label "$STAND_IN_LABEL" \
    -t "$(tag_of "$image")" -f "$IMAGES/$image/Dockerfile" "$@" "$context" ||
    fail "building the $image stand-in failed"
}

# The Debian mirror this machine's apt uses (not -security/-updates).
debian_mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [[ -f $f ]] || continue
    uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$f" | grep -v -- '-security' | head -n 1)
    if [[ -n $uri ]]; then printf '%s' "$uri"; return 0; fi
  done
  uri=$(sed -n 's/^deb[[:space:]]\+\(\[[^]]*\][[:space:]]\+\)\{0,1\}\([^[:space:]]*\)[[:space:]]\+'"$SUITE"'[[:space:]].*/\2/p' \
        /etc/apt/sources.list 2>/dev/null | head -n 1)
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}

# debian:bookworm-slim: debootstrap minbase (cached as a tarball), plus
# ca-certificates and this machine's extra CAs, so that apt, npm and NuGet work
# inside builds behind a TLS-intercepting egress. One layer, imported.
build_debian() {
  local raw=$CACHE/debootstrap-$SUITE-minbase.tar root=$WORK/root
  command -v debootstrap >/dev/null || die "debootstrap is not installed; run: sudo eng/install.sh containers"
  mkdir -p "$CACHE" "$root"
  if [[ ! -s $raw ]]; then
    run_logged debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$root" "$(debian_mirror)" ||
      fail "debootstrap $SUITE failed"
    tar -C "$root" -cf "$raw.new" . && mv -f "$raw.new" "$raw"
  else
    tar -C "$root" -xf "$raw"
  fi
  # Like the official slim image: apt sources as the host has them, no docs/locales, no apt caches.
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    cp /etc/apt/sources.list.d/debian.sources "$root/etc/apt/sources.list.d/"
    rm -f "$root/etc/apt/sources.list"
  fi
  cp "$IMAGES/debian/dpkg-slim.cfg" "$root/etc/dpkg/dpkg.cfg.d/docker-slim"
  cp "$IMAGES/debian/apt-slim.conf" "$root/etc/apt/apt.conf.d/docker-slim"
  local crt
  for crt in /usr/local/share/ca-certificates/*.crt; do
    [[ -f $crt ]] && cp "$crt" "$root/usr/local/share/ca-certificates/"
  done
  run_logged chroot "$root" update-ca-certificates || fail "update-ca-certificates in the debian root failed"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/log/* "$root"/tmp/* "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
  find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +   # 33 MB of translations
  tar -C "$root" -c . | run_logged cli import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["bash"]' --change "LABEL $STAND_IN_LABEL" - "$(tag_of debian)" ||
    fail "importing the debian root failed"
}

build_node() {
  local ctx=$WORK/node node npm
  node=$(readlink -f "$(command -v node)") || die "node is not installed (Node.js 20 is needed for the node stand-in)"
  npm=$(readlink -f "$(command -v npm)")
  npm=${npm%/bin/npm-cli.js}
  [[ -f $npm/package.json ]] || die "npm's folder not found next to $(command -v npm)"
  [[ $("$node" --version) == v20.* ]] || die "node $("$node" --version) is not Node.js 20"
  mkdir -p "$ctx"
  cp -al "$node" "$ctx/node" 2>/dev/null || cp "$node" "$ctx/node"
  cp -a "$npm" "$ctx/npm"
  cp "$IMAGES/node/docker-entrypoint.sh" "$ctx/"
  build node "$ctx"
}

# The SDK and runtime versions the machine's SDK carries.
dotnet_versions() {
  local d
  d=$(ls -d "$DOTNET_ROOT_HOST"/sdk/10.* 2>/dev/null | sort -V | tail -n 1)
  [[ -n $d ]] || die "no .NET 10 SDK in $DOTNET_ROOT_HOST (set CARTRITA_DOTNET_ROOT to a dotnet root that has one)"
  SDK_VERSION=${d##*/}
  RUNTIME_VERSION=$(sed -n 's|.*<BundledNETCoreAppPackageVersion>\(.*\)</BundledNETCoreAppPackageVersion>.*|\1|p' \
    "$d/Microsoft.NETCoreSdk.BundledVersions.props" 2>/dev/null | head -n 1)
  local fw
  for fw in Microsoft.NETCore.App Microsoft.AspNetCore.App; do
    [[ -n $RUNTIME_VERSION && -d $DOTNET_ROOT_HOST/shared/$fw/$RUNTIME_VERSION ]] ||
      die "$fw ${RUNTIME_VERSION:-?} (the one SDK $SDK_VERSION carries) is missing in $DOTNET_ROOT_HOST/shared"
  done
}

# link_tree DEST NAME...: hard links (or copies, across file systems) of the
# named entries of the machine's dotnet root, as a small build context.
link_tree() {
  local dest=$1 name; shift
  mkdir -p "$dest"
  for name in "$@"; do
    mkdir -p "$dest/$(dirname "$name")"
    cp -al "$DOTNET_ROOT_HOST/$name" "$dest/$name" 2>/dev/null || cp -a "$DOTNET_ROOT_HOST/$name" "$dest/$name"
  done
}

# Only the runtime: the dotnet host, hostfxr and the two shared frameworks.
build_dotnet-aspnet() {
  dotnet_versions
  link_tree "$WORK/aspnet" dotnet host LICENSE.txt ThirdPartyNotices.txt \
    "shared/Microsoft.NETCore.App/$RUNTIME_VERSION" "shared/Microsoft.AspNetCore.App/$RUNTIME_VERSION"
  build dotnet-aspnet "$WORK/aspnet" --build-arg "RUNTIME_VERSION=$RUNTIME_VERSION"
}

# The rest of the dotnet root (sdk/, packs/, templates/ ...) on top of aspnet.
build_dotnet-sdk() {
  dotnet_versions
  local names=() entry
  for entry in "$DOTNET_ROOT_HOST"/*; do
    case ${entry##*/} in dotnet|host|shared|LICENSE.txt|ThirdPartyNotices.txt) ;; *) names+=("${entry##*/}") ;; esac
  done
  link_tree "$WORK/sdk" "${names[@]}"
  build dotnet-sdk "$WORK/sdk" --build-arg "SDK_VERSION=$SDK_VERSION"
}

build_pgvector() { build pgvector "$IMAGES/pgvector"; }
build_redis() { build redis "$IMAGES/redis"; }

# podman: the docker engine's copy, when it has one, is cheaper than a build.
from_docker() {
  local image=$1 sock=${CARTRITA_ENGINE_RUN:-/run/cartrita}/docker.sock short
  [[ -S $sock ]] || return 1
  short=${NAME[$image]#docker.io/}; short=${short#library/}
  DOCKER_HOST=unix://$sock "$DOCKER_CLI" image inspect "$short" >/dev/null 2>&1 || return 1
  DOCKER_HOST=unix://$sock "$DOCKER_CLI" save "$short" | run_logged podman load ||
    fail "docker save $short | podman load failed"
  # podman names what it loads from a docker archive localhost/<name>: give it
  # the fully qualified name the published files use instead.
  if [[ $short != "${NAME[$image]}" ]]; then
    run_logged podman tag "localhost/$short" "${NAME[$image]}" &&
      run_logged podman untag "localhost/$short" "localhost/$short" ||
      fail "renaming localhost/$short to ${NAME[$image]} in podman failed"
  fi
}

for image in "${ALL[@]}"; do
  [[ " ${WANT[*]} " == *" $image "* ]] || continue
  if present "$image"; then
    if (( ! FORCE )) || ! stand_in "$image"; then
      kind=real; stand_in "$image" && kind=stand-in
      printf '%-42s present (%s), kept\n' "$(tag_of "$image")" "$kind"
      continue
    fi
  fi
  start=$(date +%s.%N)
  how=built
  if [[ $ENGINE == podman ]] && (( ! FORCE )) && from_docker "$image"; then how="copied from docker"
  else "build_$image"; fi
  printf '%-42s %s in %.1fs\n' "$(tag_of "$image")" "$how" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
done
