// Statements an image's author nested thousands of levels deep: every reader refuses them where
// they are read, once, so that no walk downstream overflows the stack.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATEMENT_DEPTH_LIMIT } from '../../src/attest/attachments.ts';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import { attachPredicate } from '../../src/image/attach.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { gatherReport } from '../../src/report/gather.ts';
import { renderReport } from '../../src/report/html.ts';
import { findProvenance } from '../../src/reproduce/find.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { attachReferrer, makeImage } from '../helpers/images.ts';
import { useTempLayout } from '../helpers/temp.ts';

const tempLayout = useTempLayout('deep-statements');
const SPDX = 'https://spdx.dev/Document';

/** JSON text of `[` nested `depth` deep. */
function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

/** An unsigned statement about `digest` whose predicate holds `deep` (JSON text) somewhere inside. */
function deepStatement(predicateType: string, digest: string, predicate: Record<string, unknown>, deep: string): Uint8Array {
  const text = JSON.stringify({
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'img', digest: { sha256: digest.slice(7) } }],
    predicateType,
    predicate,
  }).replace('"@@"', deep);
  return new TextEncoder().encode(text);
}

describe('a statement nested 5,000 levels deep', () => {
  it('is an unreadable attachment to report, sbom and reproduce, named by its digest; the rest is read', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const subject = made.manifests[0]!;
    const provenance = {
      buildDefinition: { buildType: 'https://example.org/build', externalParameters: { a: '@@' }, resolvedDependencies: [] },
      runDetails: { builder: { id: 'https://example.org/builder' } },
    };
    const slsa = await attachReferrer(store, subject, deepStatement(SLSA_V1, subject.digest, provenance, nested(5000)), SLSA_V1);
    const spdx = { spdxVersion: 'SPDX-2.3', name: 'deep', packages: [{ name: 'a', versionInfo: '1', annotations: '@@' }] };
    const sbom = await attachReferrer(store, subject, deepStatement(SPDX, subject.digest, spdx, nested(5000)), SPDX);

    const data = await gatherReport(store, 'v1', { targets: [] });
    for (const digest of [slsa, sbom]) {
      assert.ok(
        data.notes.some((n) => n.includes(digest) && n.includes(`more than ${STATEMENT_DEPTH_LIMIT} levels deep`)),
        `a note names ${digest}: ${data.notes.join('; ')}`,
      );
    }
    // The page is made, each attachment still listed.
    const page = renderReport(data);
    assert.ok(page.includes(slsa.slice(7, 19)) || page.includes(slsa));

    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    // No other SBOM and no package database: nothing to show, said as such, not a crash.
    await assert.rejects(imageSbom(store, 'v1', 'img', { toolVersion: '0', logger }), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
    assert.ok(
      warnings.some((w) => w.includes(sbom) && w.includes('levels deep')),
      warnings.join('; '),
    );

    warnings.length = 0;
    const found = await findProvenance(store, await inspectImage(store, 'v1', 'img'), { logger });
    assert.deepEqual(found.get(subject.digest), []);
    assert.ok(
      warnings.some((w) => w.includes(slsa) && w.includes('levels deep')),
      warnings.join('; '),
    );
  });

  it('signed in a Sigstore bundle, is a note too, whatever its depth over the limit', async () => {
    const store = await tempLayout();
    const made = await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const digest = made.manifests[0]!.digest;
    const signer = new KeySigner(generateSigningKeyPair().privateKey);
    const predicate = JSON.parse(`{"spdxVersion":"SPDX-2.3","name":"deep","x":${nested(STATEMENT_DEPTH_LIMIT + 1)}}`);
    await attestImage(store, digest, [statement(SPDX, predicate, [{ name: 'img', digest }])], { signer, storage: 'referrers' });
    const data = await gatherReport(store, 'v1', { targets: [] });
    assert.ok(
      data.notes.some((n) => n.includes(`more than ${STATEMENT_DEPTH_LIMIT} levels deep`)),
      data.notes.join('; '),
    );
  });

  it('is refused by attest before anything is written; one at the limit is written', async () => {
    const store = await tempLayout();
    await makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    // The statement holding the predicate is one level more.
    const over = JSON.parse(`{"x":${nested(STATEMENT_DEPTH_LIMIT - 1)}}`);
    await assert.rejects(
      attachPredicate(store, 'v1', { name: 'img', predicateType: SPDX, predicate: over }),
      (e: unknown) => isProvenantError(e, 'USAGE') && /levels deep/.test((e as Error).message),
    );
    const at = JSON.parse(`{"spdxVersion":"SPDX-2.3","name":"deep","x":${nested(STATEMENT_DEPTH_LIMIT - 2)}}`);
    await attachPredicate(store, 'v1', { name: 'img', predicateType: SPDX, predicate: at });
    // And what attest writes, the readers read.
    const data = await gatherReport(store, 'v1', { targets: [] });
    assert.deepEqual(data.notes, []);
    assert.equal(data.platforms[0]?.sbom.source, 'attached');
  });
});
