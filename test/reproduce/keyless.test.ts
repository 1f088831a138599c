import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { isProvenantError } from '../../src/errors.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { MOCK_ISSUER, type MockSigstore, mockSigner, startMockSigstore } from '../sign/mock-sigstore.ts';
import { buildAndDescribe, repositoryKey, writeConfig, writeRepository, writeWithAttestations } from './helpers.ts';

const IDENTITY = 'builder@example.com';

describe('reproduce with a provenance signed keyless (a mock Sigstore on 127.0.0.1)', () => {
  let root: string;
  let mock: MockSigstore;
  let store: LayoutStore;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-keyless-'));
    mock = await startMockSigstore({ dir: root });
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    const built = await buildAndDescribe(await writeConfig(root, key, '../../served/repo'), 'example/app');
    store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeWithAttestations(store, built, 'v1');
    const signer = mockSigner(mock, IDENTITY);
    for (const [i, image] of built.result.images.entries()) {
      const provenance = built.attested[i]?.statements.find((s) => s.predicateType === SLSA_V1);
      assert.ok(provenance);
      await attestImage(store, image.manifest.digest, [provenance], { signer, storage: 'referrers' });
    }
  });
  after(async () => {
    await store?.close();
    await mock?.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('matches, verified as signed by the identity and issuer asked for', async () => {
    const report = await reproduceImage(store, 'v1', {
      trust: { identity: IDENTITY, issuer: MOCK_ISSUER, trustedRoot: mock.trustedRoot },
      // Built from a local repository: the provenance names files of this machine.
      baseDir: join(root, 'cfg', 'app'),
      allowLocalFiles: true,
    });
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(report.verification.signers, [`${IDENTITY} (${MOCK_ISSUER})`]);
    assert.deepEqual(
      report.platforms.map((p) => [p.status, p.provenance?.storage, p.provenance?.verified]),
      [
        ['match', 'referrers', true],
        ['match', 'referrers', true],
      ],
    );
  });

  it('stops with SIGNATURE for another identity', async () => {
    await assert.rejects(
      reproduceImage(store, 'v1', {
        trust: { identity: /^release@/, issuer: MOCK_ISSUER, trustedRoot: mock.trustedRoot },
        baseDir: join(root, 'cfg', 'app'),
      }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
        assert.match(err.hint ?? '', /the certificate’s identity is "builder@example\.com", not one matching \/\^release@\//);
        return true;
      },
    );
  });
});
