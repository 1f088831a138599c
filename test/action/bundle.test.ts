/**
 * The committed bundle (dist-action/, what action.yml runs) is what the sources make: CI fails
 * here when a change to the sources was committed without `node scripts/bundle-action.ts`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { BUNDLE_DIR, bundleAction, bundleDifferences, committedBundle } from '../../scripts/bundle-action.ts';
import { ACTION_DIR } from './helpers.ts';

describe('the Action bundle', () => {
  it('is committed as the sources make it (run node scripts/bundle-action.ts when this fails)', async () => {
    const want = await bundleAction();
    const diff = bundleDifferences(want, await committedBundle());
    assert.deepEqual(diff, [], `${BUNDLE_DIR}/ is stale:\n${diff.join('\n')}`);
  });

  it('is the same every time, and names no path of the machine that made it', async () => {
    const a = await bundleAction();
    const b = await bundleAction();
    assert.deepEqual(bundleDifferences(a, b), []);
    const index = Buffer.from(a.get('index.js')!).toString('utf8');
    assert.ok(!index.includes(ACTION_DIR), 'an absolute path of this checkout is in the bundle');
    // The worker and the files the sources read beside themselves are there.
    for (const f of ['index.js', 'deflate-worker.js', 'libdeflate.wasm.mjs', 'profiles/aws-lambda.yaml']) assert.ok(a.has(f), f);
  });

  it('tells a stale file, a missing one and one the sources no longer make', () => {
    const want = new Map([
      ['index.js', new Uint8Array([1, 2])],
      ['profiles/a.yaml', new Uint8Array([3])],
    ]);
    const have = new Map([
      ['index.js', new Uint8Array([1, 3])],
      ['old.js', new Uint8Array([4])],
    ]);
    assert.deepEqual(bundleDifferences(want, have), ['index.js: stale', 'old.js: not made by the sources', 'profiles/a.yaml: missing']);
    assert.deepEqual(bundleDifferences(want, new Map(want)), []);
  });

  it('is what action.yml runs, on node24', async () => {
    const action = parse(await readFile(`${ACTION_DIR}/action.yml`, 'utf8')) as { runs: { using: string; main: string } };
    assert.equal(action.runs.using, 'node24');
    assert.equal(action.runs.main, `${BUNDLE_DIR}/index.js`);
  });
});
