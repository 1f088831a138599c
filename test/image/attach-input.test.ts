// attachPredicate refuses, before it reads or writes anything, what a statement cannot carry: a
// predicate type that is not a URI (the CLI's short names are the CLI's) and a predicate that is
// not JSON, with a ProvenantError rather than whatever JSON.stringify throws, or not an object.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { attachPredicate } from '../../src/image/attach.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { readStatements } from '../../src/image/statements.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const tempLayout = useTempLayout('attach-input');
const SPDX = 'https://spdx.dev/Document';

/** The attachments of each platform image of v1. */
async function attachments(store: ContentStore) {
  return (await inspectImage(store, 'v1', 'img')).manifests.flatMap((m) => m.attachments);
}

describe('attachPredicate: its predicate type and predicate', () => {
  const refused = async (predicateType: string, predicate: unknown, message: RegExp, hint?: RegExp): Promise<void> => {
    const store = await tempLayout();
    await makeImage(store, { tag: 'v1', layers: 1, layerBytes: 64 });
    const before = await store.listTags();
    await assert.rejects(attachPredicate(store, 'v1', { predicateType, predicate, name: 'img' }), (err: unknown) => {
      assert.ok(isProvenantError(err), String(err));
      assert.equal(err.code, 'USAGE');
      assert.match(err.message, message);
      if (hint !== undefined) assert.match(err.hint ?? '', hint);
      return true;
    });
    assert.deepEqual(await attachments(store), []);
    assert.deepEqual(await store.listTags(), before);
    await store.close();
  };

  it('refuses a predicate type that is not a URI', async () => {
    await refused('not a uri', {}, /^the predicate type "not a uri" is not a URI$/);
    await refused('', {}, /is not a URI/);
  });

  it("refuses the CLI's short name, naming the URI it stands for", async () => {
    await refused(
      'spdx',
      {},
      /^the predicate type "spdx" is not a URI: it is the CLI's short name of https:\/\/spdx\.dev\/Document$/,
      /pass https:\/\/spdx\.dev\/Document/,
    );
  });

  it('refuses a predicate that is not JSON: a BigInt, a cycle, undefined', async () => {
    await refused(SPDX, { n: 1n }, /^the predicate is not JSON: .*BigInt/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    await refused(SPDX, cycle, /^the predicate is not JSON: .*circular/i);
    await refused(SPDX, undefined, /^the predicate is not JSON: it is undefined$/);
  });

  it("refuses a predicate that is JSON but no object, save a string for SPDX (cosign's --type spdx)", async () => {
    await refused(SPDX, [1, 'two', null], /^the predicate is not a JSON object \(it is an array\): an in-toto predicate is an object$/);
    await refused(SPDX, null, /it is null/);
    await refused('https://example.org/p/v1', 3, /it is a number/);
    await refused(
      'https://example.org/p/v1',
      'SPDXVersion: SPDX-2.3',
      /it is a string/,
      /only an https:\/\/spdx\.dev\/Document predicate may be a string/,
    );
  });

  it("takes a URI and a JSON object, or for SPDX a document's text", async () => {
    for (const predicate of [{ spdxVersion: 'SPDX-2.3' }, 'SPDXVersion: SPDX-2.3\n']) {
      const store = await tempLayout();
      await makeImage(store, { tag: 'v1', layers: 1, layerBytes: 64, platforms: [{ os: 'linux', architecture: 'amd64' }] });
      const r = await attachPredicate(store, 'v1', { predicateType: SPDX, predicate, name: 'img' });
      assert.equal(r.predicateType, SPDX);
      const [attachment, ...more] = await attachments(store);
      assert.ok(attachment !== undefined && more.length === 0);
      const statements = await readStatements(store, attachment);
      assert.deepEqual(
        statements.map((s) => [s.statement.predicateType, s.statement.predicate]),
        [[SPDX, predicate]],
      );
      await store.close();
    }
  });
});
