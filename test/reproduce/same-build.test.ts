// reproduce with several signed provenances of one platform image: which say the same build, what
// the report and its hints say when they do not, and why files of this machine are refused.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { type StatementBlob, statement } from '../../src/attest/storage.ts';
import { type BuildResult, writeBuild } from '../../src/builder/build.ts';
import { isProvenantError } from '../../src/errors.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { type PlatformNotReplayable, reproduceImage } from '../../src/reproduce/reproduce.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { buildFromLocalRepository, slsaStatements } from './helpers.ts';

// biome-ignore lint/suspicious/noExplicitAny: statements are edited as plain JSON.
type Json = any;

describe('reproduce from signed provenances that say the same build, or not', () => {
  let root: string;
  let result: BuildResult;
  let provenance: Json[];
  let n = 0;
  const cosign = generateSigningKeyPair();
  const signer = new KeySigner(cosign.privateKey);
  const signedBy = `key ${keyId(cosign.publicKey)}`;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-reproduce-same-build-'));
    // From a local repository, as docs/getting-started.md builds: the provenance names files of this machine.
    const built = await buildFromLocalRepository(root);
    result = built.result;
    provenance = slsaStatements(built.attested);
  });
  after(() => rm(root, { recursive: true, force: true }));

  /** The image in a new layout, each of `edits` applied to platform i's provenance, each result signed into its `.att`. */
  const signedImage = async (...edits: ((externalParameters: Json) => void)[]): Promise<LayoutStore> => {
    const store = await LayoutStore.open(join(root, `layout-${n++}`), { create: true });
    await writeBuild(result, store, ['v1']);
    for (const [i, image] of result.images.entries()) {
      const statements: StatementBlob[] = edits.map((edit) => {
        const s = structuredClone(provenance[i]);
        edit(s.predicate.buildDefinition.externalParameters);
        return statement(SLSA_V1, s.predicate, [{ name: 'example/app', digest: image.manifest.digest }]);
      });
      await attestImage(store, image.manifest.digest, statements, { signer, storage: 'cosign' });
    }
    return store;
  };
  const local = () => ({ baseDir: join(root, 'cfg', 'app'), allowLocalFiles: true });

  it('replays a build and its build again from the lock it wrote: they differ only in fromLock, and are one build', async () => {
    // docs/getting-started.md step 3: build, then --write-lock, then --lock, all signed into one layout.
    const store = await signedImage(
      (x) => {
        x.fromLock = false;
      },
      (x) => {
        x.fromLock = true;
      },
    );
    try {
      const report = await reproduceImage(store, 'v1', { ...local(), trust: { key: cosign.publicKey } });
      const text = renderReproduce(report);
      assert.equal(report.match, true, text);
      assert.deepEqual(
        report.platforms.map((p) => [p.status, p.provenance?.verified]),
        [
          ['match', true],
          ['match', true],
        ],
      );
      assert.deepEqual(report.verification, {
        verified: true,
        signers: [signedBy],
        summary: `the provenance was verified: signed by ${signedBy}`,
      });
      const unverified = await reproduceImage(store, 'v1', local());
      assert.equal(unverified.match, true, renderReproduce(unverified));
    } finally {
      await store.close();
    }
  });

  it('still tells builds apart by fromLock with apko compatibility, which installs in the order of a lock', async () => {
    const store = await signedImage(
      (x) => {
        x.compat = 'apko';
        x.fromLock = false;
      },
      (x) => {
        x.compat = 'apko';
        x.fromLock = true;
      },
    );
    try {
      const report = await reproduceImage(store, 'v1', { ...local(), trust: { key: cosign.publicKey } });
      for (const p of report.platforms as PlatformNotReplayable[]) {
        assert.equal(p.status, 'not-replayable', renderReproduce(report));
        assert.match(p.reason, /^2 SLSA provenance statements about this platform image can be replayed, and they say different builds/);
      }
    } finally {
      await store.close();
    }
  });

  it('refuses signed provenances that say different builds with a hint that fits --key, and a report that says they were verified', async () => {
    const store = await signedImage(
      () => {},
      (x) => {
        x.sourceDateEpoch += 60;
      },
    );
    try {
      const report = await reproduceImage(store, 'v1', { ...local(), trust: { key: cosign.publicKey } });
      const text = renderReproduce(report);
      for (const p of report.platforms as PlatformNotReplayable[]) {
        assert.equal(p.status, 'not-replayable', text);
        assert.deepEqual(p.missing, [
          'one SLSA provenance for this platform manifest, or several that say the same build (each of these is signed by the key or identity given: remove the others, or sign only the one that made the image)',
        ]);
        assert.equal(p.provenance?.verified, true);
      }
      assert.deepEqual(report.verification, {
        verified: true,
        signers: [signedBy],
        summary: `the provenance was verified: signed by ${signedBy}; no platform could be replayed from it`,
      });
      assert.doesNotMatch(text, /nothing was verified|give --key/);
      // Without trust, the hint still names --key: it would make only the signed ones count.
      const unverified = await reproduceImage(store, 'v1', local());
      assert.match(
        (unverified.platforms[0] as PlatformNotReplayable).missing[0] ?? '',
        /remove the others, or give --key or --certificate-identity so that only the signed one counts\)$/,
      );
    } finally {
      await store.close();
    }
  });

  it('refuses files of this machine without --allow-local-packages, saying why for a verified provenance too', async () => {
    const store = await signedImage(() => {});
    const refused = (verified: boolean) => (err: unknown) => {
      assert.ok(isProvenantError(err, 'USAGE'), String(err));
      assert.match(
        err.message,
        verified
          ? /: the provenance is verified, but its paths name files of the machine that built the image, which here may be any file, so they are read only when allowed$/
          : /: an unverified provenance may name any file, so they are read only when allowed$/,
      );
      return true;
    };
    try {
      const baseDir = join(root, 'cfg', 'app');
      await assert.rejects(reproduceImage(store, 'v1', { baseDir, trust: { key: cosign.publicKey } }), refused(true));
      await assert.rejects(reproduceImage(store, 'v1', { baseDir }), refused(false));
    } finally {
      await store.close();
    }
  });
});
