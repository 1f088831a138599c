#!/usr/bin/env bash
# Runs every check and test on a fresh machine: installs what is needed (scripts/setup.sh),
# typechecks, lints, then runs the test suite. Tests that need the registry start their own
# docker-registry on 127.0.0.1 with a temporary storage folder and stop it (by pid) after.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/setup.sh" --tests
cd "$root"
echo '== typecheck' >&2
npx tsc -p tsconfig.json
echo '== lint and format' >&2
npx biome check .
node scripts/check-deps.ts
# The command table and docs/cli.md, generated from the command modules, are up to date.
node scripts/gen-commands.ts --check
echo '== tests' >&2
node --test --test-concurrency=2 'test/**/*.test.ts'
