/**
 * The Action's entry point: what action.yml's `runs.main` runs (bundled into
 * dist-action/index.js by scripts/bundle-action.ts).
 */
import { run } from './main.ts';

await run();
