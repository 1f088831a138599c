#!/usr/bin/env bash
# Sourced by scripts/setup.sh and bench/setup.sh: the two ways they install what is missing.
#   install_debian_packages PKG...  apt-get installs those of PKG that dpkg does not list as
#                                   installed (with sudo unless root); nothing when all are there.
#   install_npm_dependencies        npm install in the project when node_modules is missing or
#                                   older than package-lock.json.
install_debian_packages() {
  local pkg missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  ((${#missing[@]} > 0)) || return 0
  echo "installing Debian packages: ${missing[*]}" >&2
  local sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

install_npm_dependencies() {
  local project
  project=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if [[ ! -d $project/node_modules ]] || [[ $project/package-lock.json -nt $project/node_modules/.package-lock.json ]]; then
    # npm install, not npm ci: the package registry these machines reach has no builds of biome
    # for other platforms, so the lock cannot list them and npm ci's sync check would refuse it.
    # With the lock present, npm install installs exactly its versions and leaves it unchanged.
    (cd "$project" && npm install --no-audit --no-fund >&2)
  fi
}
