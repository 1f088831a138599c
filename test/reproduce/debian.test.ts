import assert from 'node:assert/strict';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BUILD_TYPES, SLSA_V1 } from '../../src/attest/provenance.ts';
import { type Attested, statement } from '../../src/attest/storage.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { generateSigningKeyPair, keyId } from '../../src/sign/keys.ts';
import { signImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../helpers/debian.ts';

const examples = new URL('../../examples/debian/', import.meta.url).pathname;
const EPOCH = 1_700_000_000;

describe('reproduce a Debian image from its provenance, packages fetched from the mirror', { skip: debianMissing }, () => {
  let dir: string;
  let store: LayoutStore;
  let attested: Attested[];
  let result: Awaited<ReturnType<typeof buildImage>>;
  const cosign = generateSigningKeyPair();
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-reproduce-debian-'));
    // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
    await writeFile(join(dir, 'sources.yaml'), `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n`);
    await copyFile(join(examples, 'shell.yaml'), join(dir, 'shell.yaml'));
    // And a package built for every architecture (sensible-utils is Architecture: all, with no
    // dependencies), whose provenance names its own architecture and its lock's apart.
    await writeFile(join(dir, 'image.yaml'), 'include: shell.yaml\ncontents:\n  packages: [sensible-utils]\n');
    const configPath = join(dir, 'image.yaml');
    result = await buildImage({
      config: await loadConfig(configPath, { hostArch: 'x86_64' }),
      configPath,
      cacheDir: debianCacheDir,
      sourceDateEpoch: EPOCH,
    });
    attested = describeBuild(result, {
      imageName: 'example/debian-shell',
      configPath,
      toolVersion: '0.0.0-test',
      sourceDateEpoch: EPOCH,
      builderId: 'https://example.com/builder',
      fromLock: false,
    });
    // BuildKit's storage: the provenance inside the index, covered by the index's signature.
    store = await LayoutStore.open(join(dir, 'layout'), { create: true });
    await writeBuild(result, store, ['v1'], { attestations: { attested, mode: 'buildkit' } });
    await signImage(store, 'v1', {
      signer: new KeySigner(cosign.privateKey),
      dockerReference: 'example/debian-shell',
      storages: ['cosign'],
    });
  });
  after(async () => {
    await store?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is described with the Debian build type, its indexes as deb-index and its packages as deb', () => {
    const statement = JSON.parse(new TextDecoder().decode(attested[0]?.statements.find((s) => s.predicateType === SLSA_V1)?.bytes));
    const def = statement.predicate.buildDefinition;
    assert.equal(def.buildType, BUILD_TYPES.deb);
    const kinds = new Set(def.resolvedDependencies.map((d: { annotations?: { kind?: string } }) => d.annotations?.kind));
    assert.deepEqual([...kinds].sort(), ['deb', 'deb-index']);
    // A package's arch is its own, as the SBOM names it; lockArch, the lock's, only where they differ.
    type Dep = { name?: string; annotations?: { kind?: string; arch?: string; lockArch?: string } };
    const debs = (def.resolvedDependencies as Dep[]).filter((d) => d.annotations?.kind === 'deb');
    const all = debs.find((d) => d.name === 'sensible-utils');
    assert.deepEqual([all?.annotations?.arch, all?.annotations?.lockArch], ['all', 'amd64']);
    const dash = debs.find((d) => d.name === 'dash');
    assert.deepEqual([dash?.annotations?.arch, dash?.annotations?.lockArch], ['amd64', undefined]);
    const spdx = JSON.parse(new TextDecoder().decode(attested[0]?.statements.find((s) => s.predicateType.includes('spdx'))?.bytes));
    const sbomArch = (name: string) =>
      spdx.predicate.packages
        .find((p: { name: string }) => p.name === name)
        ?.externalRefs?.find((r: { referenceType: string }) => r.referenceType === 'purl')
        ?.referenceLocator.match(/[?&]arch=([^&]+)/)?.[1];
    for (const d of debs) assert.equal(d.annotations?.arch, sbomArch(d.name ?? ''), d.name);
  });

  it('refuses a provenance whose packages spell the architecture as apk does (x86_64), saying so', async () => {
    const [image] = attested;
    assert.ok(image);
    const predicate = JSON.parse(new TextDecoder().decode(image.statements.find((b) => b.predicateType === SLSA_V1)?.bytes)).predicate;
    for (const d of predicate.buildDefinition.resolvedDependencies) {
      if (d.annotations?.kind !== 'deb') continue;
      d.annotations.arch = 'x86_64';
      delete d.annotations.lockArch;
    }
    const edited = await LayoutStore.open(join(dir, 'layout-x86_64'), { create: true });
    try {
      const statements = [statement(SLSA_V1, predicate, [{ name: 'example/debian-shell', digest: image.manifest.digest }])];
      await writeBuild(result, edited, ['v1'], {
        attestations: { attested: [{ manifest: image.manifest, statements }], mode: 'referrers' },
      });
      const report = await reproduceImage(edited, 'v1', {});
      const p = report.platforms[0];
      assert.equal(p?.status, 'not-replayable', renderReproduce(report));
      assert.match(
        p.reason,
        /^the provenance's packages do not meet what its configuration asks for: no package it names meets .*\(x86_64\).* \(its entries name x86_64, which these repositories spell amd64: written for another kind of repository, or edited\)$/,
      );
    } finally {
      await edited.close();
    }
  });

  it('matches, the provenance verified through the signature of the index that holds it', async () => {
    // No cache: every .deb comes from the mirror, by the URL the provenance names, checked by its SHA-256.
    const report = await reproduceImage(store, 'v1', { trust: { key: cosign.publicKey } });
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(
      report.platforms.map((p) => [p.platform, p.status]),
      [['linux/amd64', 'match']],
    );
    const used = report.platforms[0]?.provenance;
    assert.equal(used?.storage, 'buildkit');
    assert.equal(used?.verifiedBy, `the index's signature (key ${keyId(cosign.publicKey)})`);
    assert.equal(report.verification.verified, true);
  });

  it('stops with SIGNATURE when the index signature is by another key', async () => {
    await assert.rejects(
      reproduceImage(store, 'v1', { trust: { key: generateSigningKeyPair().publicKey }, cacheDir: debianCacheDir }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
        assert.match(err.message, /the provenance of linux\/amd64 is in the image index, whose signatures do not verify/);
        assert.match(err.hint ?? '', /\.sig layer 0: the signature does not verify with the given key/);
        return true;
      },
    );
  });
});
