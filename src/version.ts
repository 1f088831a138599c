/** The tool's version, read once from its package.json (beside src/ in a checkout, beside dist/ when installed). */
const { readFileSync } = process.getBuiltinModule('node:fs');

/** Provenant's version, as package.json gives it: what `provenant version` prints and SBOMs and provenance name. */
export const VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string })
  .version;
