/**
 * The Action's entry point: what action.yml's `runs.main` runs (bundled into
 * dist-action/index.js by scripts/bundle-action.ts).
 */
import { noProxySkippingLoopback } from '../net.ts';

// Sigstore's clients (@npmcli/agent) read NO_PROXY once, when main.ts's imports load them: it
// must exempt this machine by then, as Node's agents do (net.ts, useEnvProxy), so main.ts is
// loaded after.
const noProxy = noProxySkippingLoopback(process.env);
if (noProxy !== undefined) process.env.NO_PROXY = process.env.no_proxy = noProxy;
const { run } = await import('./main.ts');
await run();
