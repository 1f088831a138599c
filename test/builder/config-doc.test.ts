// docs/config.md's table of top-level keys names every key the page documents under its own heading.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { it } from 'node:test';

it("lists every top-level key of docs/config.md in the table, and each row's key has its section", async () => {
  const text = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'config.md'), 'utf8');
  const start = text.indexOf('\n## Top-level keys\n');
  const end = text.indexOf('\n## ', start + 1);
  assert.ok(start >= 0 && end > start, 'the page has a "Top-level keys" section');
  const part = text.slice(start, end);
  const sections = [...part.matchAll(/^### `([a-z-]+)`$/gm)].map((m) => m[1]);
  const rows = [...part.matchAll(/^\| \[`([a-z-]+)`\]\(#([a-z-]+)\) \|/gm)];
  const linked = new Set(rows.map((m) => m[2]));
  assert.ok(sections.length > 10, 'the sections are found');
  assert.deepEqual(
    sections.filter((s) => !linked.has(s as string)),
    [],
    'a key with a section of its own and no row in the table',
  );
  for (const [, key, anchor] of rows) {
    if (anchor === 'keys-not-supported') continue;
    assert.equal(anchor, key, `the row of ${key} links to its own section`);
    assert.ok(sections.includes(key), `${key} has a section`);
  }
});
