// docs/targets.md is what the profiles say.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderTargetsDoc } from '../../src/compat/docs.ts';
import { loadProfiles } from '../../src/compat/profile.ts';

describe('docs/targets.md', () => {
  it('is what scripts/targets-doc.ts makes from the profiles (run it after editing a profile)', async () => {
    const profiles = await loadProfiles();
    const expected = renderTargetsDoc(profiles);
    const actual = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'targets.md'), 'utf8');
    assert.equal(actual, expected, 'docs/targets.md is stale: run node scripts/targets-doc.ts');
    for (const p of profiles) {
      assert.ok(actual.includes(`### ${p.id}\n`), p.id);
      for (const r of p.rules) {
        assert.ok(actual.includes(`#### \`${r.id}\``), `${p.id}/${r.id}`);
        for (const s of r.sources) assert.ok(actual.includes(`<${s}>`), s);
      }
    }
  });
});
