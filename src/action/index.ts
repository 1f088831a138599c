/**
 * The Action's entry point: what action.yml's `runs.main` runs (bundled into
 * dist-action/index.js by scripts/bundle-action.ts).
 */
import { proxyVariables } from '../net.ts';

// Sigstore's clients (@npmcli/agent) read the proxy variables once, when main.ts's imports load
// them: NO_PROXY must exempt this machine by then, as Node's agents do (net.ts, useEnvProxy), and
// a proxy without a scheme have one, so main.ts is loaded after.
Object.assign(process.env, proxyVariables(process.env));
const { run } = await import('./main.ts');
await run();
