# Sourced by infra/install, .ci/run, infra/bin/run and your own shells: puts Node 24 LTS first on
# PATH and fixes where built artefacts are cached (outside the repo, so clean checkouts and
# `npm ci` reuse them).
# Node 24 comes from the npm registry's `node` package: the machines ship Node 20 (end of life),
# and this is the only Node 24 source reachable offline. With MERIDIAN_ENV_NO_INSTALL=1 a missing
# Node 24 is left missing (the launcher then says what to run) instead of being installed.
export MERIDIAN_CACHE="${MERIDIAN_CACHE:-$HOME/.cache/meridian}"
MERIDIAN_NODE_VERSION="24.21.0"
_meridian_node_dir="$MERIDIAN_CACHE/node-$MERIDIAN_NODE_VERSION"
if [ "$(node -v 2>/dev/null | cut -d. -f1)" != "v24" ]; then
  if [ ! -x "$_meridian_node_dir/node_modules/node/bin/node" ] && [ -z "${MERIDIAN_ENV_NO_INSTALL:-}" ]; then
    echo "[env] installing node@$MERIDIAN_NODE_VERSION into $_meridian_node_dir" >&2
    mkdir -p "$_meridian_node_dir"
    npm install --prefix "$_meridian_node_dir" --no-save --no-audit --no-fund --loglevel=error "node@$MERIDIAN_NODE_VERSION" >&2
  fi
  if [ -x "$_meridian_node_dir/node_modules/node/bin/node" ]; then
    export PATH="$_meridian_node_dir/node_modules/node/bin:$PATH"
  fi
fi
unset _meridian_node_dir
