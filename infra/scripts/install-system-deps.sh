#!/usr/bin/env bash
# Debian packages the tests need: redis-server, the mediasoup worker's build libraries, Chromium
# for the end-to-end tests, coturn for the TURN tests, and npm when the machine has none (it only
# fetches Node 24, see env.sh). Idempotent: apt runs only when something is missing.
# Recommends stay on: Chromium's (fonts, codecs' helpers) are what the browser tests were proven with.
set -euo pipefail
pkgs=(redis-server build-essential pkg-config meson ninja-build flatbuffers-compiler libflatbuffers-dev
      libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev chromium coturn)
command -v npm >/dev/null || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[deps] apt-get install ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
