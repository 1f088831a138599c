// apko's SPDX SBOMs: from an apko-compatible build and from apko's golden image, byte for byte.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { describeBuild, describeIndex, SPDX_PREDICATE } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { apkoSbomOfImage } from '../../src/image/apko-sbom.ts';
import { generateApkKeyPair } from '../../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../../src/pkg/apk/write.ts';
import { apkoImageSbom, apkoPurlName, apkoReleaseData, apkoSbomLeavesOut, spdxIdentifier } from '../../src/sbom/apko-spdx.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { apkoGoldenConfig, apkoGoldenLayout } from '../helpers/apk.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const golden = (name: string) => readFile(fixture('apk', `apkotest-golden-sbom-${name}.spdx.json`), 'utf8');
const tempDir = useTempDir('apko-sbom');

describe("apko's SBOMs", { skip: fixturesMissing }, () => {
  it("are made again from apko's golden image, byte for byte (each platform and the index)", async () => {
    const store = await apkoGoldenLayout(join(await tempDir(), 'golden'));
    try {
      for (const [platform, name] of [
        ['amd64', 'x86_64'],
        ['arm64', 'aarch64'],
      ] as const) {
        const sbom = await apkoSbomOfImage(store, 'latest', 'golden', {
          platform: { os: 'linux', architecture: platform },
          tag: 'golden:latest',
        });
        assert.equal(sbom.document, await golden(name), name);
      }
      const index = await apkoSbomOfImage(store, 'latest', 'golden', { index: true, tag: 'golden:latest' });
      assert.equal(index.document, await golden('index'));
    } finally {
      await store.close();
    }
  });

  it("are attached to an apko-compatible build: apko's, but for the digests of the images built", async () => {
    const configPath = await apkoGoldenConfig(await tempDir());
    const result = await buildImage({ config: await loadConfig(configPath, { hostArch: 'x86_64' }), configPath, compat: 'apko' });
    const options = {
      imageName: 'golden:latest',
      configPath,
      toolVersion: 'test',
      provenance: false as const,
      builderId: 'test',
      fromLock: false,
    };
    const goldenIndex = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-oci-index.json'), 'utf8'));
    // apko's digests, in the golden documents, stand for ours: the layer compressions differ.
    const digests = new Map<string, string>();
    for (const [i, image] of result.images.entries()) {
      const theirs = JSON.parse(await readFile(fixture('apk', `apkotest-golden-${image.platform.architecture}-manifest.json`), 'utf8'));
      digests.set(goldenIndex.manifests[i].digest, image.manifest.digest);
      digests.set(theirs.layers[0].digest, image.layers[0]?.digest ?? '');
    }
    digests.set('sha256:b5f05e6fc882c97d61c1daee566954ae6fc09924f8e152293e2b97a06092069f', result.index?.digest ?? '');
    const ours = (text: string): unknown => {
      let out = text;
      for (const [from, to] of digests) {
        out = out.replaceAll(from, to).replaceAll(from.replace(':', '-'), to.replace(':', '-')).replaceAll(from.slice(7), to.slice(7));
      }
      return JSON.parse(out);
    };
    for (const [i, attested] of describeBuild(result, options).entries()) {
      const spdx = attested.statements.find((s) => s.predicateType === SPDX_PREDICATE);
      const name = result.images[i]?.arch ?? '';
      assert.deepEqual(JSON.parse(Buffer.from(spdx?.bytes ?? []).toString()).predicate, ours(await golden(name)), name);
    }
    const index = describeIndex(result, options)?.statements[0];
    assert.deepEqual(JSON.parse(Buffer.from(index?.bytes ?? []).toString()).predicate, ours(await golden('index')));

    // --sbom-files cannot change apko's documents: the build says so, once, naming both flags.
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    for (const [i, attested] of describeBuild(result, { ...options, sbomFiles: true, logger }).entries()) {
      const spdx = attested.statements.find((s) => s.predicateType === SPDX_PREDICATE);
      const name = result.images[i]?.arch ?? '';
      assert.deepEqual(JSON.parse(Buffer.from(spdx?.bytes ?? []).toString()).predicate, ours(await golden(name)), name);
    }
    // Every package of apko's golden build ships its own SBOM: none is left out, nothing else is said.
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0] ?? '', /--sbom-files.*--compat apko/);
    warnings.length = 0;
    describeBuild(result, { ...options, sbom: false, sbomFiles: true, logger });
    assert.deepEqual(warnings, []);
  });
});

describe("an apko-compatible build's SPDX SBOM", () => {
  it('leaves out the packages that ship no SBOM of their own, as apko does, and says which', async () => {
    const dir = await tempDir();
    const key = generateApkKeyPair('apko-sbom-test', { bits: 2048 });
    const signing = { key: { privateKeyPem: key.privateKeyPem, name: key.name } };
    const repo = join(dir, 'repo', 'x86_64');
    await mkdir(repo, { recursive: true });
    const own = (name: string) =>
      JSON.stringify({
        SPDXID: 'SPDXRef-DOCUMENT',
        spdxVersion: 'SPDX-2.3',
        documentDescribes: [`SPDXRef-Package-${name}`],
        packages: [{ SPDXID: `SPDXRef-Package-${name}`, name, versionInfo: '1-r0', downloadLocation: 'NOASSERTION' }],
        relationships: [],
      });
    // One with its SBOM, one with none, one whose SBOM apko cannot read, and two more without.
    const sboms: Record<string, string | undefined> = {
      listed: own('listed'),
      bare: undefined,
      broken: '{',
      other: undefined,
      more: undefined,
    };
    const apks: Uint8Array[] = [];
    for (const [name, sbom] of Object.entries(sboms)) {
      const files = [{ path: `usr/share/${name}`, type: 'file' as const, body: new TextEncoder().encode(name) }];
      if (sbom !== undefined)
        files.push({ path: `var/lib/db/sbom/${name}-1-r0.spdx.json`, type: 'file', body: new TextEncoder().encode(sbom) });
      const apk = await buildApk({ name, version: '1-r0', arch: 'x86_64', license: 'MIT', builddate: 1_700_000_000, files }, signing);
      await writeFile(join(repo, `${name}-1-r0.apk`), apk);
      apks.push(apk);
    }
    await writeFile(join(repo, 'APKINDEX.tar.gz'), (await buildApkIndex(apks, { ...signing, mtime: 1_700_000_000 })).bytes);
    await mkdir(join(dir, 'keys'));
    await writeFile(join(dir, 'keys', key.name), key.publicKeyPem);
    const configPath = join(dir, 'apko.yaml');
    await writeFile(
      configPath,
      `contents:\n  keyring: [./keys/${key.name}]\n  repositories: [./repo]\n  packages: [${Object.keys(sboms).join(', ')}]\narchs: [x86_64]\n`,
    );
    const config = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config, configPath, compat: 'apko', sourceDateEpoch: 1_700_000_000 });
    const warnings: string[] = [];
    const options = {
      imageName: 'example.com/app:1',
      configPath,
      toolVersion: 'test',
      provenance: false as const,
      builderId: 'test',
      fromLock: false,
      logger: { debug() {}, info() {}, warn: (m: string) => warnings.push(m) },
    };
    const [attested] = describeBuild(result, options);
    const [spdx, cdx] = (attested?.statements ?? []).map((s) => JSON.parse(Buffer.from(s.bytes).toString()).predicate);
    // The document is apko's: the package with an SBOM only. CycloneDX lists them all.
    assert.deepEqual(
      spdx.packages.map((p: { name: string }) => p.name).filter((n: string) => n in sboms),
      ['listed'],
    );
    assert.deepEqual(
      cdx.components
        .map((c: { name: string }) => c.name)
        .filter((n: string) => n in sboms)
        .sort(),
      Object.keys(sboms).sort(),
    );
    assert.equal(warnings.length, 1, warnings.join('\n'));
    const left = (result.images[0]?.apko?.installed ?? []).filter((p) => p.name !== 'listed').map((p) => `${p.name}-${p.version}`);
    assert.equal(left.length, 4);
    assert.equal(
      warnings[0]?.startsWith(`the SPDX SBOM lists none of 4 packages (${left.slice(0, 3).join(', ')}, ...): with --compat apko`),
      true,
      warnings[0],
    );
    // Said only when there are SBOMs to write.
    warnings.length = 0;
    describeBuild(result, { ...options, sbom: false });
    assert.deepEqual(warnings, []);

    // Made again from the image (`provenant sbom --compat apko`): the same document, and the same warning.
    const store = await LayoutStore.open(join(dir, 'image'), { create: true });
    try {
      await writeBuild(result, store, ['latest']);
      const again = await apkoSbomOfImage(store, 'latest', 'app', { tag: 'example.com/app:1', logger: options.logger });
      assert.deepEqual(
        JSON.parse(again.document)
          .packages.map((p: { name: string }) => p.name)
          .filter((n: string) => n in sboms),
        ['listed'],
      );
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0] ?? '',
        new RegExp(
          `^the SPDX SBOM lists none of 4 packages \\(${left.slice(0, 3).join(', ')}, \\.\\.\\.\\): with --compat apko .*without --compat apko`,
        ),
      );
    } finally {
      await store.close();
    }
  });
});

describe("apko's SBOM rules", () => {
  it('names a package whose own SBOM is missing, unreadable or holds no package as left out (a cold review: the last was not)', () => {
    const sbom = (packages: unknown[]) =>
      new TextEncoder().encode(JSON.stringify({ spdxVersion: 'SPDX-2.3', SPDXID: 'SPDXRef-DOCUMENT', packages, relationships: [] }));
    const installed = ['listed', 'empty', 'broken', 'bare'].map((name) => ({ name, version: '1-r0' }));
    const packageSboms = new Map([
      ['listed', sbom([{ SPDXID: 'SPDXRef-Package-listed', name: 'listed', versionInfo: '1-r0', downloadLocation: 'NOASSERTION' }])],
      ['empty', sbom([])],
      ['broken', new TextEncoder().encode('{')],
    ]);
    assert.deepEqual(apkoSbomLeavesOut({ installed, packageSboms }), ['empty-1-r0', 'broken-1-r0', 'bare-1-r0']);
  });

  it('makes SPDX ids as stringToIdentifier does (property-based)', () => {
    assert.equal(spdxIdentifier('SPDXRef-Package-Image-sha256:ab'), 'SPDXRef-Package-Image-sha256-ab');
    assert.equal(spdxIdentifier('a b/é'), 'aC32bC47C65533C65533');
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        assert.match(spdxIdentifier(s), /^[A-Za-z0-9.-]*$/);
      }),
    );
  });

  it('names the image in purls by its tag repository, else image', () => {
    assert.equal(apkoPurlName('golden:latest'), 'golden');
    assert.equal(apkoPurlName('registry.example/acme/static:latest'), 'static');
    assert.equal(apkoPurlName('localhost:5000/a/b@sha256:00'), 'b');
    assert.equal(apkoPurlName(undefined), 'image');
  });

  it('reads os-release as apko does, failing on a line without =, never otherwise (property-based)', () => {
    assert.deepEqual(apkoReleaseData('ID=wolfi\nNAME="Wolfi"\n# c\n\nVERSION_ID=20230201\n'), {
      id: 'wolfi',
      name: 'Wolfi',
      versionId: '20230201',
    });
    assert.deepEqual(apkoReleaseData(undefined), { id: 'unknown', name: 'apko-generated image', versionId: 'unknown' });
    assert.throws(
      () => apkoReleaseData('ID=x\nbroken\n'),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE'),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        try {
          apkoReleaseData(text);
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_PACKAGE'));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("merges a package's own SBOM as apko does, and skips one apko cannot decode (property-based)", () => {
    const base = {
      manifestDigest: 'sha256:aa',
      layers: [{ digest: 'sha256:bb', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
      architecture: 'amd64',
      created: 0,
      osRelease: 'ID=x\nNAME=X\n',
      installed: [{ name: 'p', version: '1-r0' }],
    };
    const own = {
      documentDescribes: ['SPDXRef-Package-p'],
      packages: [
        {
          SPDXID: 'SPDXRef-Package-p',
          name: 'p',
          filesAnalyzed: true,
          packageVerificationCode: { packageVerificationCodeValue: 'x' },
          unknown: 1,
        },
        { SPDXID: 'SPDXRef-Package-src', NAME: 'src', supplier: 'Organization: Up' },
        { SPDXID: 'SPDXRef-Package-unrelated', name: 'u' },
      ],
      relationships: [
        { spdxElementId: 'SPDXRef-Package-p', relationshipType: 'GENERATED_FROM', relatedSpdxElement: 'SPDXRef-Package-src', comment: 'x' },
        { spdxElementId: 'SPDXRef-Package-p', relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-File-a' },
      ],
    };
    const doc = JSON.parse(apkoImageSbom({ ...base, packageSboms: new Map([['p', new TextEncoder().encode(JSON.stringify(own))]]) }));
    // Unknown fields and the verification code dropped, NAME read as name, apko's defaults filled.
    assert.deepEqual(doc.packages.slice(3), [
      {
        SPDXID: 'SPDXRef-Package-p',
        name: 'p',
        filesAnalyzed: false,
        downloadLocation: '',
        originator: 'Organization: X',
        supplier: 'Organization: X',
      },
      {
        SPDXID: 'SPDXRef-Package-src',
        name: 'src',
        filesAnalyzed: false,
        downloadLocation: '',
        originator: 'Organization: X',
        supplier: 'Organization: Up',
      },
    ]);
    assert.deepEqual(doc.relationships.slice(1), [
      { spdxElementId: 'SPDXRef-Package-p', relationshipType: 'GENERATED_FROM', relatedSpdxElement: 'SPDXRef-Package-src' },
      { spdxElementId: 'SPDXRef-Package-Image-sha256-aa', relationshipType: 'CONTAINS', relatedSpdxElement: 'SPDXRef-Package-p' },
    ]);
    fc.assert(
      fc.property(fc.json(), (json) => {
        const bytes = new TextEncoder().encode(json);
        try {
          JSON.parse(apkoImageSbom({ ...base, packageSboms: new Map([['p', bytes]]) }));
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_PACKAGE'), String(err));
        }
      }),
      { numRuns: 300 },
    );
  });
});
