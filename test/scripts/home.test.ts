/**
 * Tests run the CLI with a home folder that does not exist, so that nothing of the machine's own
 * (credentials, caches) is read. That home must be `NO_HOME` (test/helpers/temp.ts), a folder
 * under this process's $TMPDIR: a fixed path such as `/nonexistent` is made by the first run as
 * root (the CLI keeps Node's compile cache under `~/.cache`), and every later run finds a home there.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { it } from 'node:test';

const root = join(import.meta.dirname, '..', '..');

async function* testFiles(dir: string): AsyncGenerator<string> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* testFiles(path);
    else if (entry.name.endsWith('.ts')) yield path;
  }
}

it('no test gives the CLI a fixed home such as /nonexistent (NO_HOME instead)', async () => {
  const fixed = /\bHOME:\s*['"`]\/[^'"`]*['"`]/;
  const found: string[] = [];
  for await (const path of testFiles(join(root, 'test'))) {
    const text = await readFile(path, 'utf8');
    // Only where the CLI runs (another program given a made-up HOME keeps nothing there).
    if (!/\bMAIN\b|cli\/main\.ts|bin\/provenant|helpers\/cli\.ts/.test(text)) continue;
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      if (fixed.test(line)) found.push(`${relative(root, path)}:${i + 1}: ${line.trim()}`);
    });
  }
  assert.deepEqual(found, []);
});
