// SPDX 2.3 and CycloneDX 1.6 documents, checked against their schemas.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import Ajv from 'ajv';
import addFormatsModule from 'ajv-formats';
import fc from 'fast-check';
import { readTar } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Inventory, InventoryPackage } from '../../src/pkg/inventory.ts';
import { cyclonedxDocument } from '../../src/sbom/cyclonedx.ts';
import { inventoryFromApkDatabase, inventoryFromDpkgStatus } from '../../src/sbom/from-image.ts';
import {
  isSpdxLicenseExpression,
  licenseRefFor,
  type SpdxDocument,
  spdxDocument,
  spdxIndexDocument,
  timestampFromEpoch,
} from '../../src/sbom/spdx.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

const skip = fixturesMissing;
const OPTIONS = { created: timestampFromEpoch(1700000000), toolVersion: '0.1.0' };

// ajv and ajv-formats are CommonJS: Node hands ESM their module.exports.
const AjvClass = Ajv as unknown as typeof Ajv.default;
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;
type Check = (doc: unknown) => void;

/** Validators for the official schemas, loaded as the fixtures' SOURCES.md says. */
async function loadSchemas(): Promise<{ spdx: Check; cyclonedx: Check }> {
  const read = async (...p: string[]) => JSON.parse(await readFile(fixture('schemas', ...p), 'utf8'));
  const spdxAjv = new AjvClass({ allErrors: true, strict: false });
  addFormats(spdxAjv as unknown as Parameters<typeof addFormats>[0]);
  const spdx = spdxAjv.compile(await read('spdx', 'spdx-2.3-schema.json'));
  const cdxAjv = new AjvClass({ allErrors: true, strict: false });
  addFormats(cdxAjv as unknown as Parameters<typeof addFormats>[0]);
  cdxAjv.addFormat('idn-email', /^[^\s@]+@[^\s@]+$/u);
  cdxAjv.addFormat('iri-reference', /^\S*$/u);
  for (const name of ['spdx.schema.json', 'jsf-0.82.schema.json', 'cryptography-defs.schema.json']) {
    cdxAjv.addSchema(await read('cyclonedx', name));
  }
  const cyclonedx = cdxAjv.compile(await read('cyclonedx', 'bom-1.6.schema.json'));
  const checker =
    (validate: typeof spdx, what: string): Check =>
    (doc) => {
      if (!validate(doc)) assert.fail(`${what} is not schema-valid: ${JSON.stringify(validate.errors?.slice(0, 5), null, 1)}`);
    };
  return { spdx: checker(spdx, 'SPDX document'), cyclonedx: checker(cyclonedx, 'CycloneDX BOM') };
}

const schemas = fixturesMissing ? undefined : loadSchemas();
async function validators() {
  assert.ok(schemas !== undefined);
  return schemas;
}

const IMAGE: Inventory['image'] = {
  name: 'registry.example/team/base:1',
  digest: `sha256:${'ab'.repeat(32)}`,
  architecture: 'arm64',
  os: 'linux',
};

async function alpineInventory(): Promise<Inventory> {
  const text = await readFile(fixture('apk', 'alpine-v3.16-aarch64-lib-apk-db-installed.txt'), 'utf8');
  return inventoryFromApkDatabase(text, 'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.16.2\nPRETTY_NAME="Alpine Linux v3.16"\n', IMAGE);
}

async function wolfiInventory(): Promise<Inventory> {
  const text = await readFile(fixture('apk', 'apko-generated-wolfi-base-installed.txt'), 'utf8');
  return inventoryFromApkDatabase(text, 'ID=wolfi\nNAME="Wolfi"\nPRETTY_NAME="Wolfi"\nVERSION_ID="20230201"\n', {
    ...IMAGE,
    architecture: 'amd64',
  });
}

/** The golden layer's files apko built, by path. */
async function goldenLayerFiles(): Promise<Map<string, string>> {
  const layer = gunzipSync(await readFile(fixture('apk', 'apkotest-golden-amd64-layer.tar.gz')));
  const out = new Map<string, string>();
  for await (const entry of readTar([new Uint8Array(layer)])) {
    const chunks: Uint8Array[] = [];
    for await (const c of entry.body) chunks.push(c);
    out.set(entry.header.name.replace(/^\.?\//, ''), Buffer.concat(chunks).toString('utf8'));
  }
  return out;
}

const purlOf = (pkg: { externalRefs?: { referenceLocator: string }[] }) => pkg.externalRefs?.[0]?.referenceLocator;

describe('SPDX license expressions', () => {
  it('accepts the grammar of SPDX 2.3 Annex D', () => {
    for (const ok of [
      'MIT',
      'GPL-2.0+',
      'MPL-2.0 AND MIT',
      'GPL-3.0-or-later WITH GCC-exception-3.1',
      '(MIT OR Apache-2.0) AND BSD-3-Clause',
      'LGPL-2.1-only OR (GPL-2.0-only WITH Classpath-exception-2.0 AND LicenseRef-foo)',
      'DocumentRef-spdx-tool-1.2:LicenseRef-MIT-Style-2',
      '((MIT))',
      'NONE',
      'NOASSERTION',
    ]) {
      assert.ok(isSpdxLicenseExpression(ok), ok);
    }
  });

  it('rejects what is not an expression', () => {
    for (const bad of [
      '',
      'MIT BSD GPL2+',
      'MIT AND',
      'AND MIT',
      '(MIT',
      'MIT)',
      'MIT and Apache-2.0',
      'Public_Domain',
      'MIT WITH',
      'MIT WITH (Foo)',
      '(MIT OR BSD) WITH Exception',
      'LicenseRef-',
      'LicenseRef-a+',
      'MIT AND NONE',
      'GPL-2.0 WITH X WITH Y',
    ]) {
      assert.ok(!isSpdxLicenseExpression(bad), bad);
    }
  });

  it('maps any text to a valid LicenseRef', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (text) => {
        const ref = licenseRefFor(text);
        assert.match(ref, /^LicenseRef-[A-Za-z0-9.-]+$/);
        assert.ok(isSpdxLicenseExpression(ref));
      }),
    );
    assert.notEqual(licenseRefFor('MIT BSD'), licenseRefFor('MIT/BSD'));
  });
});

describe('SPDX 2.3 documents', { skip }, () => {
  it('describe the real Alpine database: image, system, every package, dependencies, schema-valid', async () => {
    const { spdx } = await validators();
    const inv = await alpineInventory();
    const doc = spdxDocument(inv, OPTIONS);
    spdx(doc);
    assert.equal(doc.spdxVersion, 'SPDX-2.3');
    assert.equal(doc.creationInfo.created, '2023-11-14T22:13:20Z');
    assert.deepEqual(doc.creationInfo.creators, ['Tool: provenant-0.1.0']);
    assert.match(doc.documentNamespace, new RegExp(`^https://provenant\\.dev/spdx/${'ab'.repeat(32)}-[0-9a-f]{16}$`));
    const [imagePkg, osPkg, ...pkgs] = doc.packages;
    assert.equal(imagePkg?.primaryPackagePurpose, 'CONTAINER');
    assert.equal(
      purlOf(imagePkg ?? {}),
      `pkg:oci/base@${IMAGE.digest}?arch=arm64&os=linux&repository_url=registry.example%2Fteam%2Fbase&tag=1`,
    );
    assert.deepEqual(doc.documentDescribes, [imagePkg?.SPDXID]);
    assert.equal(osPkg?.primaryPackagePurpose, 'OPERATING_SYSTEM');
    assert.equal(osPkg?.name, 'alpine');
    assert.equal(osPkg?.versionInfo, '3.16.2');
    assert.deepEqual(pkgs.map((p) => `${p.name}@${p.versionInfo}`).sort(), inv.packages.map((p) => `${p.name}@${p.version}`).sort());
    const busybox = pkgs.find((p) => p.name === 'busybox');
    // No checksums: an image's database records only apk's C:, a hash of the control section that
    // SPDX 2.3 clause 7.10 (a checksum of the package) does not mean.
    assert.deepEqual(busybox, {
      SPDXID: 'SPDXRef-Package-apk-busybox-1.35.0-r17-aarch64',
      name: 'busybox',
      versionInfo: '1.35.0-r17',
      supplier: 'Organization: Sören Tempel (soeren+alpine@soeren-tempel.net)',
      downloadLocation: 'NOASSERTION',
      filesAnalyzed: false,
      homepage: 'https://busybox.net/',
      sourceInfo: 'built package from: busybox 1.35.0-r17',
      licenseConcluded: 'NOASSERTION',
      licenseDeclared: 'GPL-2.0-only',
      copyrightText: 'NOASSERTION',
      description: 'Size optimized toolbox of many common UNIX utilities',
      externalRefs: [
        {
          referenceCategory: 'PACKAGE-MANAGER',
          referenceType: 'purl',
          referenceLocator: 'pkg:apk/alpine/busybox@1.35.0-r17?arch=aarch64&distro=alpine-3.16.2',
        },
      ],
    });
    // "L:MIT BSD GPL2+" is no SPDX expression: a LicenseRef with the text extracted.
    const muslUtils = pkgs.find((p) => p.name === 'musl-utils');
    assert.match(muslUtils?.licenseDeclared ?? '', /^LicenseRef-MIT-BSD-GPL2-[0-9a-f]{8}$/);
    assert.deepEqual(
      doc.hasExtractedLicensingInfos?.map((l) => [l.licenseId, l.extractedText]),
      [[muslUtils?.licenseDeclared, 'MIT BSD GPL2+']],
    );
    // Relationships: DESCRIBES, CONTAINS for the system and each package, DEPENDS_ON per resolved dependency.
    const rel = (type: string) => doc.relationships.filter((r) => r.relationshipType === type);
    assert.deepEqual(rel('DESCRIBES'), [
      { spdxElementId: 'SPDXRef-DOCUMENT', relationshipType: 'DESCRIBES', relatedSpdxElement: imagePkg?.SPDXID },
    ]);
    assert.equal(rel('CONTAINS').length, 1 + inv.packages.length);
    const idOf = new Map(pkgs.map((p) => [p.name, p.SPDXID]));
    const wanted = inv.packages.flatMap((p) => p.dependsOn.map((d) => `${idOf.get(p.name)} ${idOf.get(d)}`)).sort();
    assert.deepEqual(
      rel('DEPENDS_ON')
        .map((r) => `${r.spdxElementId} ${r.relatedSpdxElement}`)
        .sort(),
      wanted,
    );
    assert.ok(wanted.includes(`${idOf.get('alpine-baselayout')} ${idOf.get('busybox')}`));
    assert.equal(doc.files, undefined);
  });

  it('list files with checksums and CONTAINS relationships with withFiles', async () => {
    const { spdx } = await validators();
    const inv = await alpineInventory();
    const doc = spdxDocument(inv, { ...OPTIONS, withFiles: true });
    spdx(doc);
    const files = doc.files ?? [];
    const fileCount = inv.packages.reduce((n, p) => n + (p.files ?? []).filter((f) => f.sha1 !== undefined).length, 0);
    assert.equal(files.length, fileCount);
    const busybox = files.find((f) => f.fileName === './bin/busybox');
    assert.equal(busybox?.checksums[0]?.algorithm, 'SHA1');
    const contains = doc.relationships.filter((r) => r.relatedSpdxElement === busybox?.SPDXID);
    assert.deepEqual(
      contains.map((r) => [r.spdxElementId, r.relationshipType]),
      [['SPDXRef-Package-apk-busybox-1.35.0-r17-aarch64', 'CONTAINS']],
    );
    assert.notEqual(doc.documentNamespace, spdxDocument(inv, OPTIONS).documentNamespace, 'a different document, a different namespace');
  });

  it('list no file of a package whose files are not all known by SHA-1, and say so', async () => {
    const { spdx } = await validators();
    const inv = await alpineInventory();
    const [first, ...rest] = inv.packages;
    assert.ok(first?.files !== undefined && first.files.length > 1);
    // As a dpkg database gives them: paths, and MD5s SPDX does not take for a file.
    const partly = { ...first, files: first.files.map((f, i) => (i === 0 ? { path: f.path } : f)) };
    const warnings: string[] = [];
    const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
    const doc = spdxDocument({ ...inv, packages: [partly, ...rest] }, { ...OPTIONS, withFiles: true, logger });
    spdx(doc);
    const pkg = doc.packages.find((p) => p.name === first.name);
    assert.equal(pkg?.filesAnalyzed, false);
    assert.equal(pkg?.packageVerificationCode, undefined);
    assert.ok(!doc.relationships.some((r) => r.spdxElementId === pkg?.SPDXID && r.relatedSpdxElement.startsWith('SPDXRef-File-')));
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', new RegExp(`no files of 1 package \\(${first.name} `));
    assert.ok(doc.packages.filter((p) => p.filesAnalyzed).length === rest.length);
  });

  it('are byte-identical for the same inventory, whatever the order of its packages', async () => {
    const inv = await wolfiInventory();
    const a = JSON.stringify(spdxDocument(inv, { ...OPTIONS, withFiles: true }));
    const shuffled = { ...inv, packages: [...inv.packages].reverse() };
    assert.equal(JSON.stringify(spdxDocument(shuffled, { ...OPTIONS, withFiles: true })), a);
    assert.equal(JSON.stringify(spdxDocument(structuredClone(inv), { ...OPTIONS, withFiles: true })), a);
  });

  it('give the packages, versions and PURLs of apko golden SBOM for the same layer', async () => {
    const { spdx } = await validators();
    const files = await goldenLayerFiles();
    const golden = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-sbom-x86_64.spdx.json'), 'utf8')) as SpdxDocument;
    const inv = inventoryFromApkDatabase(files.get('usr/lib/apk/db/installed') ?? '', files.get('etc/os-release') ?? '', {
      name: 'golden',
      digest: 'sha256:69f0237c7f8cf0b8a329d1bf1d6870c870c4ec323e39d3a6da59596632d0f2f4',
      architecture: 'amd64',
      os: 'linux',
    });
    const doc = spdxDocument(inv, OPTIONS);
    spdx(doc);
    const apkPackages = (d: SpdxDocument) =>
      d.packages
        .filter((p) => purlOf(p)?.startsWith('pkg:apk/'))
        .map((p) => ({ name: p.name, version: p.versionInfo, license: p.licenseDeclared, purl: purlOf(p) ?? '' }))
        .sort((a, b) => (a.name < b.name ? -1 : 1));
    const ours = apkPackages(doc);
    const theirs = apkPackages(golden);
    assert.equal(ours.length, 2);
    // apko copies these packages from the SPDX documents melange put inside each apk, whose PURL
    // namespace is melange's --namespace ("unknown" by default) and which has no distro
    // qualifier; ours take both from the image's os-release (ID=replaces, VERSION_ID=1.0.0).
    const normalize = (purl: string) => purl.replace(/^pkg:apk\/[^/]+\//, 'pkg:apk/NS/').replace(/&distro=[^&]*/, '');
    assert.deepEqual(
      ours.map((p) => ({ ...p, purl: normalize(p.purl) })),
      theirs.map((p) => ({ ...p, purl: normalize(p.purl) })),
    );
    assert.deepEqual(
      ours.map((p) => p.purl),
      [
        'pkg:apk/replaces/pretend-baselayout@1.0.0-r0?arch=x86_64&distro=replaces-1.0.0',
        'pkg:apk/replaces/replayout@1.0.0-r0?arch=x86_64&distro=replaces-1.0.0',
      ],
    );
    assert.deepEqual(
      theirs.map((p) => p.purl),
      ['pkg:apk/unknown/pretend-baselayout@1.0.0-r0?arch=x86_64', 'pkg:apk/unknown/replayout@1.0.0-r0?arch=x86_64'],
    );
    // The image package: same checksum and, but for apko's mediaType qualifier, the same PURL.
    assert.deepEqual(doc.packages[0]?.checksums, golden.packages[0]?.checksums);
    assert.equal(purlOf(doc.packages[0] ?? {}), (purlOf(golden.packages[0] ?? {}) ?? '').replace(/&mediaType=[^&]*/, ''));
    // replayout's D:pretend-baselayout.
    assert.ok(
      doc.relationships.some(
        (r) =>
          r.relationshipType === 'DEPENDS_ON' &&
          r.spdxElementId === 'SPDXRef-Package-apk-replayout-1.0.0-r0-x86-64' &&
          r.relatedSpdxElement === 'SPDXRef-Package-apk-pretend-baselayout-1.0.0-r0-x86-64',
      ),
    );
  });

  it('describe an index and its platform images in the shape of apko sbom-index', async () => {
    const { spdx } = await validators();
    const golden = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-sbom-index.spdx.json'), 'utf8')) as SpdxDocument;
    const index = JSON.parse(await readFile(fixture('apk', 'apkotest-golden-oci-index.json'), 'utf8')) as {
      manifests: { digest: string; platform: { architecture: string; os: string } }[];
    };
    const images = index.manifests.map((m) => ({
      inventory: {
        distro: { id: 'replaces', versionId: '1.0.0', prettyName: 'Replaces' },
        image: { name: 'golden', digest: m.digest, architecture: m.platform.architecture, os: m.platform.os },
        packages: [],
      },
      manifestDigest: m.digest,
    }));
    const indexDigest = 'sha256:b5f05e6fc882c97d61c1daee566954ae6fc09924f8e152293e2b97a06092069f';
    const doc = spdxIndexDocument(images, indexDigest, OPTIONS);
    spdx(doc);
    assert.equal(JSON.stringify(spdxIndexDocument([...images].reverse(), indexDigest, OPTIONS)), JSON.stringify(doc));
    const shape = (d: SpdxDocument) => ({
      checksums: d.packages.map((p) => p.checksums?.[0]?.checksumValue).sort(),
      purls: d.packages.map((p) => (purlOf(p) ?? '').replace(/[?&]mediaType=[^&]*/, '').replace(/\?&/, '?')).sort(),
      purposes: d.packages.map((p) => p.primaryPackagePurpose),
      variants: d.relationships.filter((r) => r.relationshipType === 'VARIANT_OF').length,
      describes: d.packages.find((p) => p.SPDXID === d.documentDescribes[0])?.checksums?.[0]?.checksumValue,
    });
    assert.deepEqual(shape(doc), shape(golden));
    // The per-image packages have the SPDXIDs of the images' own documents.
    const perImage = spdxDocument(images[0]?.inventory as Inventory, OPTIONS);
    assert.ok(doc.packages.some((p) => p.SPDXID === perImage.documentDescribes[0]));
  });

  it('write deb packages with epochs and multi-arch duplicates apart', async () => {
    const { spdx } = await validators();
    const status = [
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nSource: glibc (2.36-9+deb12u4)\n',
      'Package: libc6\nStatus: install ok installed\nArchitecture: i386\nVersion: 2.36-9+deb12u4\nSource: glibc\n',
      'Package: foo-1\nStatus: install ok installed\nArchitecture: all\nVersion: 2\nDepends: libc6\n',
      'Package: foo\nStatus: install ok installed\nArchitecture: all\nVersion: 1-2\n',
      'Package: attr\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.5.1-4\n',
    ].join('\n');
    const inv = inventoryFromDpkgStatus(status, 'ID=debian\nVERSION_ID="12"\n', { ...IMAGE, architecture: 'amd64' });
    const doc = spdxDocument(inv, OPTIONS);
    spdx(doc);
    (await validators()).cyclonedx(cyclonedxDocument(inv, OPTIONS));
    const ids = doc.packages.map((p) => p.SPDXID);
    assert.equal(new Set(ids).size, ids.length);
    for (const id of ids) assert.match(id, /^SPDXRef-[A-Za-z0-9.-]+$/);
    assert.ok(doc.packages.some((p) => purlOf(p) === 'pkg:deb/debian/attr@1:2.5.1-4?arch=amd64&distro=debian-12'));
    // foo-1 depends on both architectures of libc6.
    assert.equal(doc.relationships.filter((r) => r.relationshipType === 'DEPENDS_ON').length, 2);
  });

  it('refuse a bad creation time and an inventory with a package twice', async () => {
    const inv = await wolfiInventory();
    assert.throws(
      () => spdxDocument(inv, { ...OPTIONS, created: 'yesterday' }),
      (e) => isProvenantError(e, 'USAGE'),
    );
    assert.throws(
      () => timestampFromEpoch('1.5'),
      (e) => isProvenantError(e, 'USAGE'),
    );
    assert.equal(timestampFromEpoch('0'), '1970-01-01T00:00:00Z');
    const twice = { ...inv, packages: [...inv.packages, inv.packages[0] as InventoryPackage] };
    assert.throws(
      () => spdxDocument(twice, OPTIONS),
      (e) => isProvenantError(e, 'INVALID_PACKAGE'),
    );
    assert.throws(
      () => cyclonedxDocument(twice, OPTIONS),
      (e) => isProvenantError(e, 'INVALID_PACKAGE'),
    );
  });
});

describe('CycloneDX 1.6 documents', { skip }, () => {
  it('describe the real Wolfi database: image, system, every package with a dependency entry, schema-valid', async () => {
    const { cyclonedx } = await validators();
    const inv = await wolfiInventory();
    const bom = cyclonedxDocument(inv, OPTIONS);
    cyclonedx(bom);
    assert.equal(bom.specVersion, '1.6');
    assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(bom.metadata.timestamp, '2023-11-14T22:13:20Z');
    assert.deepEqual(bom.metadata.tools.components, [{ type: 'application', name: 'provenant', version: '0.1.0' }]);
    assert.equal(bom.metadata.component.type, 'container');
    assert.equal(bom.metadata.component['bom-ref'], bom.metadata.component.purl);
    const [os, ...libs] = bom.components;
    assert.deepEqual(os, {
      type: 'operating-system',
      'bom-ref': 'os:wolfi@20230201',
      name: 'wolfi',
      version: '20230201',
      description: 'Wolfi',
    });
    assert.deepEqual(libs.map((c) => `${c.name}@${c.version}`).sort(), inv.packages.map((p) => `${p.name}@${p.version}`).sort());
    const libgcc = libs.find((c) => c.name === 'libgcc');
    assert.deepEqual(libgcc?.licenses, [{ expression: 'GPL-3.0-or-later WITH GCC-exception-3.1' }]);
    assert.equal(libgcc?.purl, 'pkg:apk/wolfi/libgcc@15.1.0-r3?arch=x86_64&distro=wolfi-20230201&upstream=gcc');
    assert.equal(libgcc?.['bom-ref'], libgcc?.purl);
    assert.deepEqual(libgcc?.supplier, { name: 'wolfi' });
    // Read from an image's database: apk's C: is no hash of the package, and there is none other.
    assert.equal(libgcc?.hashes, undefined);
    assert.ok(libgcc?.properties?.some((p) => p.name === 'provenant:package:source' && p.value === 'gcc'));
    // A dependency entry for every component, refs that exist, and libgcc's resolved so: names.
    const refs = new Set([bom.metadata.component['bom-ref'], ...bom.components.map((c) => c['bom-ref'])]);
    assert.deepEqual(new Set(bom.dependencies.map((d) => d.ref)), refs);
    for (const d of bom.dependencies) for (const r of d.dependsOn) assert.ok(refs.has(r), r);
    const purlByName = new Map(libs.map((c) => [c.name, c.purl]));
    assert.deepEqual(
      bom.dependencies.find((d) => d.ref === libgcc?.purl)?.dependsOn,
      [purlByName.get('glibc'), purlByName.get('ld-linux')].sort(),
    );
    assert.equal(JSON.stringify(cyclonedxDocument({ ...inv, packages: [...inv.packages].reverse() }, OPTIONS)), JSON.stringify(bom));
  });

  it("give the source package in trivy's properties, Debian versions split as trivy splits them", async () => {
    const { cyclonedx } = await validators();
    const status = [
      'Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nVersion: 2.36-9+deb12u4\nSource: glibc\n',
      'Package: bsdutils\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.38.1-5+b1\nSource: util-linux (2.38.1-5)\n',
      'Package: attr\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1:2.5.1-4\nSource: attr\n',
      'Package: ca-certificates\nStatus: install ok installed\nArchitecture: all\nVersion: 20230311\nSource: ca-certificates\n',
      'Package: orphan\nStatus: install ok installed\nArchitecture: all\nVersion: 1.0-1\n',
    ].join('\n');
    const deb = cyclonedxDocument(inventoryFromDpkgStatus(status, 'ID=debian\nVERSION_ID="12"\n', IMAGE), OPTIONS);
    cyclonedx(deb);
    const trivyProps = (bom: typeof deb, name: string) =>
      Object.fromEntries(
        (bom.components.find((c) => c.name === name)?.properties ?? [])
          .filter((p) => p.name.startsWith('aquasecurity:trivy:'))
          .map((p) => [p.name.slice('aquasecurity:trivy:'.length), p.value]),
      );
    assert.deepEqual(trivyProps(deb, 'libc6'), { SrcName: 'glibc', SrcVersion: '2.36', SrcRelease: '9+deb12u4' });
    assert.deepEqual(trivyProps(deb, 'bsdutils'), { SrcName: 'util-linux', SrcVersion: '2.38.1', SrcRelease: '5' });
    assert.deepEqual(trivyProps(deb, 'attr'), { SrcName: 'attr', SrcVersion: '2.5.1', SrcRelease: '4', SrcEpoch: '1' });
    assert.deepEqual(trivyProps(deb, 'ca-certificates'), { SrcName: 'ca-certificates', SrcVersion: '20230311' });
    // Without a Source field the source is the package itself (Debian policy 5.6.1), as a build records it.
    assert.deepEqual(trivyProps(deb, 'orphan'), { SrcName: 'orphan', SrcVersion: '1.0', SrcRelease: '1' });
    // apk: the origin and the whole version, as trivy's apk analyzer fills them.
    const wolfi = cyclonedxDocument(await wolfiInventory(), OPTIONS);
    assert.deepEqual(trivyProps(wolfi, 'libgcc'), { SrcName: 'gcc', SrcVersion: '15.1.0-r3' });
  });

  it('name licenses that are not SPDX expressions', async () => {
    const { cyclonedx } = await validators();
    const bom = cyclonedxDocument(await alpineInventory(), OPTIONS);
    cyclonedx(bom);
    assert.deepEqual(bom.components.find((c) => c.name === 'musl-utils')?.licenses, [{ license: { name: 'MIT BSD GPL2+' } }]);
  });
});

// Random inventories: any text in any field, any digest, any dependency names.
const text = fc.string({ unit: 'grapheme', maxLength: 16 });
const hex = (n: number) => fc.stringMatching(new RegExp(`^[0-9a-f]{${n}}$`));
const packageArb = fc.record({
  ecosystem: fc.constantFrom('apk' as const, 'deb' as const),
  name: fc.stringMatching(/^[a-z0-9][a-z0-9+._-]{0,10}$/),
  version: fc.oneof(fc.stringMatching(/^[0-9][0-9a-z.+~:_-]{0,10}$/), text),
  arch: fc.constantFrom('x86_64', 'aarch64', 'amd64', 'all', 'noarch', ''),
  license: fc.oneof(text, fc.constantFrom('MIT', 'GPL-2.0-or-later WITH Foo-exception', '(MIT OR Apache-2.0) AND BSD-2-Clause', 'NONE')),
  source: fc.oneof(fc.constant(''), fc.stringMatching(/^[a-z0-9][a-z0-9+._-]{0,10}$/)),
  supplier: fc.oneof(text, fc.constant('Someone <someone@example.org>')),
  homepage: fc.oneof(text, fc.constant('https://example.org/x')),
  description: text,
  checksums: fc.oneof(
    fc.record({ sha1: hex(40) }),
    fc.record({ sha256: hex(64), 'SHA-512': hex(128) }),
    fc.dictionary(fc.constantFrom('sha1', 'md5', 'crc32', 'sha256'), text, { maxKeys: 2 }),
  ),
  dependsOn: fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9+._-]{0,10}$/), { maxLength: 4 }),
  files: fc.option(
    fc.array(fc.record({ path: fc.string({ maxLength: 12 }).map((s) => `/${s}`), sha1: fc.option(hex(40), { nil: undefined }) }), {
      maxLength: 3,
    }),
    {
      nil: undefined,
    },
  ),
});
const inventoryArb: fc.Arbitrary<Inventory> = fc.record({
  distro: fc.record({ id: fc.oneof(fc.constantFrom('alpine', 'wolfi', 'debian', ''), text), versionId: text, prettyName: text }),
  image: fc.record({
    name: text,
    digest: fc.oneof(
      hex(64).map((h) => `sha256:${h}`),
      text,
    ),
    architecture: fc.constantFrom('amd64', 'arm64', ''),
    variant: fc.option(fc.constantFrom('v7', 'v8'), { nil: undefined }),
    os: fc.constantFrom('linux', ''),
  }),
  // Unique as PURLs are: the lowercased name, version, architecture and ecosystem (and source, via upstream).
  packages: fc.uniqueArray(packageArb, { maxLength: 8, selector: (p) => `${p.ecosystem} ${p.name.toLowerCase()} ${p.version} ${p.arch}` }),
});

describe('any inventory', { skip }, () => {
  it('gives schema-valid, deterministic SPDX and CycloneDX', async () => {
    const { spdx, cyclonedx } = await validators();
    fc.assert(
      fc.property(inventoryArb, fc.boolean(), (inv, withFiles) => {
        // Reference the packages by their names, so some dependencies resolve.
        const names = inv.packages.map((p) => p.name);
        const linked = { ...inv, packages: inv.packages.map((p, i) => ({ ...p, dependsOn: [...p.dependsOn, ...names.slice(0, i)] })) };
        const doc = spdxDocument(linked, { ...OPTIONS, withFiles });
        spdx(doc);
        const ids = [...doc.packages.map((p) => p.SPDXID), ...(doc.files ?? []).map((f) => f.SPDXID)];
        assert.equal(new Set(ids).size, ids.length, 'SPDXIDs are unique');
        for (const id of ids) assert.match(id, /^SPDXRef-[A-Za-z0-9.-]+$/);
        for (const r of doc.relationships) {
          assert.ok(r.spdxElementId === 'SPDXRef-DOCUMENT' || ids.includes(r.spdxElementId));
          assert.ok(ids.includes(r.relatedSpdxElement));
        }
        for (const p of doc.packages) {
          const declared = p.licenseDeclared;
          if (declared !== undefined) assert.ok(isSpdxLicenseExpression(declared), declared);
        }
        // What the schema cannot say: a package that contains files has analysed them and gives
        // their verification code (SPDX 2.3 7.8.1, 7.9), and every file has a SHA-1 (8.4).
        const files = new Map((doc.files ?? []).map((f) => [f.SPDXID, f]));
        for (const f of files.values())
          assert.ok(
            f.checksums.some((c) => c.algorithm === 'SHA1'),
            f.fileName,
          );
        for (const p of doc.packages) {
          const mine = doc.relationships
            .filter((r) => r.spdxElementId === p.SPDXID && r.relationshipType === 'CONTAINS' && files.has(r.relatedSpdxElement))
            .map((r) => files.get(r.relatedSpdxElement)?.checksums.find((c) => c.algorithm === 'SHA1')?.checksumValue ?? '');
          if (!p.filesAnalyzed) {
            assert.deepEqual(mine, [], `${p.name} contains files it did not analyse`);
            assert.equal(p.packageVerificationCode, undefined);
          } else {
            const code = createHash('sha1').update(mine.sort().join('')).digest('hex');
            assert.deepEqual(p.packageVerificationCode, { packageVerificationCodeValue: code }, p.name);
          }
        }
        const listsFiles = (inv.packages ?? []).some((p) => (p.files ?? []).length > 0 && p.files?.every((f) => f.sha1 !== undefined));
        if (withFiles && listsFiles) assert.ok(files.size > 0);
        // The image holds the system, and the system every package (how trivy finds them).
        const os = doc.packages.find((p) => p.primaryPackagePurpose === 'OPERATING_SYSTEM');
        assert.ok(os);
        const contains = (from: string) =>
          doc.relationships.filter((r) => r.spdxElementId === from && r.relationshipType === 'CONTAINS').map((r) => r.relatedSpdxElement);
        const image = doc.relationships.find((r) => r.relationshipType === 'DESCRIBES')?.relatedSpdxElement ?? '';
        assert.deepEqual(contains(image), [os.SPDXID]);
        const installed = doc.packages.filter((p) => p.SPDXID.startsWith('SPDXRef-Package-')).map((p) => p.SPDXID);
        assert.deepEqual(contains(os.SPDXID).sort(), installed.sort());
        const bom = cyclonedxDocument(linked, OPTIONS);
        cyclonedx(bom);
        const osRef = bom.components.find((c) => c.type === 'operating-system')?.['bom-ref'];
        const dependsOn = (ref: string | undefined) => bom.dependencies.find((d) => d.ref === ref)?.dependsOn;
        assert.deepEqual(dependsOn(bom.metadata.component['bom-ref']), [osRef]);
        assert.deepEqual(
          dependsOn(osRef),
          bom.components
            .filter((c) => c.type === 'library')
            .map((c) => c['bom-ref'])
            .sort(),
        );
        const shuffled = { ...linked, packages: [...linked.packages].reverse() };
        assert.equal(JSON.stringify(spdxDocument(shuffled, { ...OPTIONS, withFiles })), JSON.stringify(doc));
        assert.equal(JSON.stringify(cyclonedxDocument(shuffled, OPTIONS)), JSON.stringify(bom));
      }),
      { numRuns: 150 },
    );
  });
});
