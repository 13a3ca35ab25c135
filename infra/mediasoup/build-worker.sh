#!/usr/bin/env bash
# Builds mediasoup's C++ worker offline (Debian packages instead of the GitHub/wrapdb downloads in
# worker/subprojects/*.wrap), caches it outside the repo, and puts it where mediasoup looks by
# default: node_modules/mediasoup/worker/out/Release/mediasoup-worker. Idempotent; .ci/run calls
# it right after `npm ci` (which wipes node_modules, hence the re-link on every run).
#
# The recipe is kept as files under infra/mediasoup/: shim subprojects (subprojects/), a libsrtp 3
# API header over Debian's libsrtp 2 (subprojects/libsrtp3/include/srtp.h), patches (patches/) and
# the meson arguments (meson-args). Changing any of them changes the cache key: the next run rebuilds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RECIPE="$ROOT/infra/mediasoup"
# shellcheck source=../scripts/env.sh
source "$ROOT/infra/scripts/env.sh"

# MEDIASOUP_PACKAGE_DIR: build (and cache) the worker of another unpacked mediasoup package, e.g.
# `npm pack mediasoup@X` extracted in /tmp, to try an upgrade before installing it; nothing is linked.
MS_DIR="${MEDIASOUP_PACKAGE_DIR:-$ROOT/node_modules/mediasoup}"
DEFAULT_BIN="$ROOT/node_modules/mediasoup/worker/out/Release/mediasoup-worker"
CACHE_ROOT="$MERIDIAN_CACHE/mediasoup-worker"
DTLS_FIXED_EXPR='(operationType & BIO_CB_RETURN)'

log() { echo "[mediasoup-worker] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Copy (not symlink) so node_modules stays self-contained, e.g. when copied into an image.
link_binary() {
  local src="$1"
  mkdir -p "$(dirname "$DEFAULT_BIN")"
  if ! cmp -s "$src" "$DEFAULT_BIN" 2>/dev/null; then
    cp "$src" "$DEFAULT_BIN.tmp.$$"
    chmod 755 "$DEFAULT_BIN.tmp.$$"
    mv -f "$DEFAULT_BIN.tmp.$$" "$DEFAULT_BIN"
  fi
  log "linked $DEFAULT_BIN"
}

# Only what shapes the binary (shims, patches, meson arguments), so editing this script's logging
# or linking does not force a rebuild.
recipe_hash() {
  (cd "$RECIPE" && find subprojects patches meson-args -type f -print0 | LC_ALL=C sort -z \
    | xargs -0 sha256sum) | sha256sum | cut -c1-12
}

# Applies each patch once: skipped when it is already in the sources (e.g. fixed upstream).
apply_patches() {
  local src="$1" p
  for p in "$RECIPE"/patches/*.patch; do
    if patch -d "$src" -p1 -R --dry-run --silent < "$p" >/dev/null 2>&1; then
      log "patch $(basename "$p"): already applied"
    else
      patch -d "$src" -p1 --forward --silent --no-backup-if-mismatch < "$p" \
        || die "patch $(basename "$p") does not apply to mediasoup $VERSION; update the recipe"
      log "patch $(basename "$p"): applied"
    fi
  done
}

# The kTLS BIO_ctrl crash only shows with a real DTLS peer, so refuse to ship a binary whose
# sources still carry the broken test rather than finding out in production.
verify_dtls_fix() {
  local file="$1/src/RTC/DtlsTransport.cpp"
  grep -q "== BIO_CB_RETURN" "$file" && die "DtlsTransport.cpp still compares operationType == BIO_CB_RETURN"
  grep -qF "$DTLS_FIXED_EXPR" "$file" || die "DTLS BIO callback fix not found in $file"
  log "DTLS BIO callback fix present"
}

# Every directory under subprojects/ stands in for the same-named mediasoup subproject (whose
# variables mediasoup's meson.build reads); the recipe's own .wrap files only map dependency()
# names onto those local directories.
install_shims() {
  local src="$1" dir shim wrap
  # mediasoup's .wrap files would download sources: remove them so nothing can reach the network.
  rm -f "$src"/subprojects/*.wrap
  for wrap in "$RECIPE"/subprojects/*.wrap; do
    if [ -e "$wrap" ]; then cp "$wrap" "$src/subprojects/"; fi
  done
  for dir in "$RECIPE"/subprojects/*/; do
    shim="$(basename "$dir")"
    mkdir -p "$src/subprojects/$shim"
    cp -r "$dir." "$src/subprojects/$shim/"
    # Meson forbids reaching outside a subproject, so each shim gets its own copy of these.
    cp "$RECIPE/subprojects/shim_options.txt" "$src/subprojects/$shim/meson_options.txt"
    cp "$RECIPE/subprojects/empty.c" "$src/subprojects/$shim/empty.c"
  done
}

# meson-args, minus mediasoup options this version does not have (meson rejects unknown ones:
# 3.20.7 removed liburing and its ms_disable_liburing), plus what the sources call for.
meson_args() {
  local src="$1" arg name
  while read -r arg; do
    case "$arg" in ''|'#'*) continue ;; esac
    if [[ "$arg" == -Dms_* ]]; then
      name="${arg#-D}"; name="${name%%=*}"
      grep -q "option('$name'" "$src/meson_options.txt" || { log "skipping $arg (not an option of $VERSION)"; continue; }
    fi
    echo "$arg"
  done < "$RECIPE/meson-args"
  # mediasoup >= 3.24 builds its SRTP policy with libsrtp 3's setters (see the libsrtp3 shim).
  if grep -q 'srtp_policy_create' "$src/src/RTC/SrtpSession.cpp"; then
    echo "-Dcpp_args=-DMERIDIAN_SRTP3_POLICY_API"
  fi
}

build() {
  local work="$1" src="$1/worker" out="$1/build" started=$SECONDS
  log "building mediasoup $VERSION worker in $work (nice, -j2)"
  cp -r "$MS_DIR/worker" "$src"
  rm -rf "$src/out"
  install_shims "$src"
  apply_patches "$src"
  verify_dtls_fix "$src"
  local args
  mapfile -t args < <(meson_args "$src")
  nice meson setup "$out" "$src" "${args[@]}" >"$work/meson-setup.log" 2>&1 \
    || { tail -40 "$work/meson-setup.log" >&2; die "meson setup failed (log: $work/meson-setup.log)"; }
  # FBS/*.h must exist before any worker source compiles.
  nice meson compile -C "$out" -j 2 flatbuffers-generator >"$work/compile.log" 2>&1 \
    && nice meson compile -C "$out" -j 2 mediasoup-worker >>"$work/compile.log" 2>&1 \
    || { grep -m20 -A5 'error' "$work/compile.log" >&2; die "compile failed (log: $work/compile.log)"; }
  log "build took $((SECONDS - started)) s wall"
}

if [ -n "${MEDIASOUP_WORKER_BIN:-}" ]; then
  if [ -x "$MEDIASOUP_WORKER_BIN" ] && [ -f "$MEDIASOUP_WORKER_BIN" ]; then
    link_binary "$MEDIASOUP_WORKER_BIN"
    echo "$MEDIASOUP_WORKER_BIN"
    exit 0
  fi
  log "MEDIASOUP_WORKER_BIN=$MEDIASOUP_WORKER_BIN is not an executable; building instead"
fi

[ -f "$MS_DIR/package.json" ] || die "$MS_DIR not installed; run npm ci first"
VERSION="$(node -p "require(process.argv[1]).version" "$MS_DIR/package.json")"
KEY="$VERSION-$(recipe_hash)"
CACHED_DIR="$CACHE_ROOT/$KEY"
CACHED_BIN="$CACHED_DIR/mediasoup-worker"

mkdir -p "$CACHE_ROOT"
# Serialise concurrent runs (parallel CI jobs, several checkouts) so only one builds.
exec 9>"$CACHE_ROOT/.lock"
flock 9

if [ -x "$CACHED_BIN" ]; then
  log "cache hit: $KEY"
else
  # Failed builds are kept for their logs until the next run (we hold the lock: none is live).
  rm -rf "$CACHE_ROOT"/.build-*
  # Same filesystem as the cache, so the final rename is atomic.
  WORK="$(mktemp -d "$CACHE_ROOT/.build-$KEY.XXXXXX")"
  trap 'if [ $? -eq 0 ]; then rm -rf "$WORK"; else log "kept $WORK for inspection"; fi' EXIT
  build "$WORK"
  mkdir -p "$WORK/result"
  cp "$WORK/build/mediasoup-worker" "$WORK/result/mediasoup-worker"
  if ldd "$WORK/result/mediasoup-worker" | grep -q 'not found'; then
    die "built worker has unresolved shared libraries: $(ldd "$WORK/result/mediasoup-worker" | grep 'not found')"
  fi
  mv -T "$WORK/result" "$CACHED_DIR"
  log "cached $CACHED_BIN ($(du -h "$CACHED_BIN" | cut -f1))"
fi

if [ -z "${MEDIASOUP_PACKAGE_DIR:-}" ]; then
  link_binary "$CACHED_BIN"
fi
echo "$CACHED_BIN"
