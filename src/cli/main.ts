#!/usr/bin/env node
/**
 * The `provenant` command. It turns on Node's compile cache and only then loads the dispatcher
 * (dispatch.ts) and through it the command: a module loaded before the cache is on is compiled
 * afresh at every start, and these are about thirty (issue 16, "instant start").
 */
const { enableCompileCache } = process.getBuiltinModule('node:module');

// Node keeps the compiled code of the modules loaded after this in a folder of Provenant's cache
// (not the temporary folder, which is the user's), so that a command starts without compiling
// them again; NODE_COMPILE_CACHE moves it, NODE_DISABLE_COMPILE_CACHE=1 turns it off.
const { env } = process;
enableCompileCache?.(env.NODE_COMPILE_CACHE ?? `${env.XDG_CACHE_HOME ?? `${env.HOME ?? '/tmp'}/.cache`}/provenant/node-compile-cache`);

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(process.argv[1], 'file:').href;
if (isMain || process.argv[1]?.endsWith('/provenant')) await (await import('./dispatch.ts')).main();
