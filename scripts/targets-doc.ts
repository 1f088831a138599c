// Writes docs/targets.md from the profiles in src/compat/profiles/. With --check it writes nothing
// and exits 1 when the file is out of date (test/compat/docs.test.ts checks the same).
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { loadProfiles, renderTargetsDoc } from '../src/compat/index.ts';

const path = resolve(import.meta.dirname, '..', 'docs', 'targets.md');
const text = renderTargetsDoc(await loadProfiles());
if (process.argv.includes('--check')) {
  const current = await readFile(path, 'utf8').catch(() => '');
  if (current !== text) {
    console.error('docs/targets.md is out of date: run node scripts/targets-doc.ts');
    process.exit(1);
  }
  console.error('docs/targets.md: up to date');
} else {
  await writeFile(path, text);
  console.error(`wrote ${path}`);
}
