#!/usr/bin/env node
/**
 * The `provenant` command. It turns on Node's compile cache and only then loads the dispatcher
 * (dispatch.ts) and through it the command: a module loaded before the cache is on is compiled
 * afresh at every start, and these are about thirty (issue 16, "instant start").
 */
// npm only warns of `engines`: on an older Node the package would install and then fail deep in a
// command (`buffer.transfer is not a function`), so the Node is checked before anything loads.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `provenant: needs Node 22.12 or newer, and this is Node ${process.versions.node}\n  hint: install Node 24 LTS (or 22.12 or newer) and run provenant with it\n`,
  );
  process.exit(1);
}

const { enableCompileCache } = process.getBuiltinModule('node:module');

// Node keeps the compiled code of the modules loaded after this in a folder of Provenant's cache
// (not the temporary folder, which is the user's), so that a command starts without compiling
// them again; NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off.
const { env } = process;
enableCompileCache?.(env.NODE_COMPILE_CACHE ?? `${env.XDG_CACHE_HOME ?? `${env.HOME ?? '/tmp'}/.cache`}/provenant/node-compile-cache`);

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(process.argv[1], 'file:').href;
if (isMain || process.argv[1]?.endsWith('/provenant')) await (await import('./dispatch.ts')).main();
