/**
 * The package inventory of an image read from its layers (what `sbom` makes when nothing is
 * attached, and what policy's package-age check reads): one streaming walker, the one diff uses,
 * so that zstd layers, distroless' `status.d/*.md5sums` and whiteouts of whole folders are read
 * as a runtime reads them, and a large layer never sits in memory.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { tarHeader, writeTar } from '../../src/archive/tar.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { applyLayer, isPackageDatabasePath, LayerFilesystem } from '../../src/image/filesystem.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { type Digest, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { Annotation, type Descriptor, type ImageManifest, type Platform } from '../../src/oci/types.ts';
import { imagePackages } from '../../src/policy/packages.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { apkStanza } from '../policy/helpers.ts';
import { type Entry, file, layer, layout, link, putImage, removeTemp, utf8 } from './diff-helpers.ts';

after(removeTemp);

const OPTIONS = { toolVersion: '0.0.0-test' } as const;
const dpkg = (name: string, version: string) =>
  `Package: ${name}\nVersion: ${version}\nArchitecture: amd64\nMaintainer: Someone <someone@example.org>\nDescription: ${name}\n`;

/** The SPDX packages of the SBOM made from the image's layers, as `name@version`, sorted. */
async function sbomNames(store: ContentStore, tag: string): Promise<string[]> {
  const made = await imageSbom(store, tag, 'img', OPTIONS);
  assert.equal(made.generated, true);
  const doc = made.document as { packages: { name: string; versionInfo?: string; primaryPackagePurpose?: string }[] };
  return doc.packages
    .filter((p) => p.primaryPackagePurpose !== 'OPERATING_SYSTEM' && p.primaryPackagePurpose !== 'CONTAINER')
    .map((p) => `${p.name}@${p.versionInfo}`)
    .sort();
}

async function policyNames(store: ContentStore, digest: Digest): Promise<string[]> {
  const read = await imagePackages(store, digest);
  return read.packages.map((p) => `${p.name}@${p.version}`).sort();
}

async function image(layers: Entry[][], compression: 'gzip' | 'zstd' = 'gzip') {
  const store = await layout();
  const made = await Promise.all(layers.map((l) => layer(l, compression)));
  const stored = await putImage(store, made, { tag: 'v1' });
  return { store, digest: stored.digest };
}

describe('the inventory of an image read from its layers', () => {
  it('reads a zstd layer', async () => {
    const { store, digest } = await image([[file('lib/apk/db/installed', apkStanza('busybox', '1.36.1-r2', undefined))]], 'zstd');
    assert.deepEqual(await sbomNames(store, 'v1'), ['busybox@1.36.1-r2']);
    assert.deepEqual(await policyNames(store, digest), ['busybox@1.36.1-r2']);
  });

  it("reads distroless' status.d with the .md5sums files beside the stanzas", async () => {
    const { store, digest } = await image([
      [
        file('var/lib/dpkg/status.d/base-files', dpkg('base-files', '12.4')),
        file('var/lib/dpkg/status.d/base-files.md5sums', 'd41d8cd98f00b204e9800998ecf8427e  etc/debian_version\n'),
        file('var/lib/dpkg/status.d/tzdata', dpkg('tzdata', '2024a-0')),
        file('var/lib/dpkg/status.d/tzdata.md5sums', '0123456789abcdef0123456789abcdef  usr/share/zoneinfo/UTC\n'),
      ],
    ]);
    assert.deepEqual(await sbomNames(store, 'v1'), ['base-files@12.4', 'tzdata@2024a-0']);
    assert.deepEqual(await policyNames(store, digest), ['base-files@12.4', 'tzdata@2024a-0']);
  });

  it('reads both status.d and status when an image built on a distroless one adds packages with dpkg', async () => {
    // As trivy and syft do: dpkg writes only status, and knows nothing of the base's status.d. A
    // package in both is dpkg's: the status entry, written later, is the one listed.
    const { store, digest } = await image([
      [file('var/lib/dpkg/status.d/base-files', dpkg('base-files', '12.4')), file('var/lib/dpkg/status.d/libc6', dpkg('libc6', '2.36-9'))],
      [
        file(
          'var/lib/dpkg/status',
          `${dpkg('curl', '7.88.1-10')}Status: install ok installed\n\n${dpkg('libc6', '2.36-9+deb12u4')}Status: install ok installed\n`,
        ),
      ],
    ]);
    const names = ['base-files@12.4', 'curl@7.88.1-10', 'libc6@2.36-9+deb12u4'];
    assert.deepEqual(await sbomNames(store, 'v1'), names);
    assert.deepEqual(await policyNames(store, digest), names);
  });

  it("reads a Debian package's license from its copyright file in the image, as a build does", async () => {
    const dep5 = (license: string) =>
      `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nCopyright: someone\nLicense: ${license}\n`;
    const status = ['gcc-12-base', 'libgcc-s1', 'libc6', 'tzdata'].map((n) => `${dpkg(n, '1.0')}Status: install ok installed\n`).join('\n');
    const { store } = await image([
      [
        file('var/lib/dpkg/status', status),
        file('usr/share/doc/gcc-12-base/copyright', dep5('GPL-3+ with GCC-runtime-3.1 exception')),
        // libgcc-s1's folder is a link to gcc-12-base's, as in Debian.
        link('usr/share/doc/libgcc-s1', 'gcc-12-base'),
        file('usr/share/doc/libc6/copyright', 'This is the Debian prepackaged version of the GNU C Library.\n'),
        file('usr/share/doc/tzdata/copyright', dep5('public-domain')),
      ],
      // A later layer's copyright file is the one read.
      [file('usr/share/doc/tzdata/copyright', dep5('Expat'))],
    ]);
    const made = await imageSbom(store, 'v1', 'img', OPTIONS);
    const doc = made.document as { packages: { name: string; licenseDeclared?: string }[] };
    const declared = Object.fromEntries(doc.packages.map((p) => [p.name, p.licenseDeclared]));
    assert.equal(declared['gcc-12-base'], 'GPL-3.0-or-later WITH GCC-exception-3.1');
    assert.equal(declared['libgcc-s1'], 'GPL-3.0-or-later WITH GCC-exception-3.1');
    assert.equal(declared.libc6, 'NOASSERTION', 'a prose copyright file gives no license');
    assert.equal(declared.tzdata, 'MIT');
  });

  it('keeps copyright files within half the budget of kept bodies, and does not refuse an image for them', async () => {
    const store = await layout();
    const status = `${dpkg('a', '1')}\n${dpkg('b', '1')}`;
    const l = await layer([
      file('usr/share/doc/a/copyright', 'x'.repeat(400)),
      file('usr/share/doc/b/copyright', 'x'.repeat(400)),
      file('var/lib/dpkg/status', status),
    ]);
    await store.putBlob(bytesSource(l.descriptor, l.bytes));
    const fs = new LayerFilesystem({ keptBytes: 1000 + utf8.encode(status).length });
    await applyLayer(fs, store, l.descriptor, { index: 0, diffId: l.diffId, hash: false, keep: isPackageDatabasePath, where: 'layer 0' });
    assert.deepEqual(fs.keptPaths().sort(), ['usr/share/doc/a/copyright', 'var/lib/dpkg/status']);
  });

  it('reads a package database a layer writes, or whites out, through a symlink of a lower layer, as a runtime has it', async () => {
    const { store, digest } = await image([
      [file('var/lib/dpkg/status', dpkg('base-files', '12.4')), link('x', 'var/lib/dpkg'), link('y', '/var/lib/dpkg/status.d')],
      [file('x/status', dpkg('openssl', '1.0.1e-2'))],
    ]);
    assert.deepEqual(await sbomNames(store, 'v1'), ['openssl@1.0.1e-2']);
    assert.deepEqual(await policyNames(store, digest), ['openssl@1.0.1e-2']);
    const statusD = await image([
      [
        file('var/lib/dpkg/status.d/base-files', dpkg('base-files', '12.4')),
        file('var/lib/dpkg/status.d/zlib', dpkg('zlib', '1.2')),
        link('y', '/var/lib/dpkg/status.d'),
      ],
      [file('y/.wh.base-files', '')],
    ]);
    assert.deepEqual(await sbomNames(statusD.store, 'v1'), ['zlib@1.2']);
  });

  it("reads every image of an index the policy may run, and skips only BuildKit's attestation entries", async () => {
    const store = await layout();
    const put = async (pkg: string) => putImage(store, [await layer([file('lib/apk/db/installed', apkStanza(pkg, '1.0-r0', undefined))])]);
    const [good, evil, attestation] = [await put('good'), await put('evil'), await put('attested')];
    const entry = (s: typeof good, platform: Platform, annotations: Record<string, string>) => ({
      mediaType: s.mediaType,
      digest: s.digest,
      size: s.bytes.length,
      platform,
      annotations,
    });
    const amd64 = { os: 'linux', architecture: 'amd64' };
    const index = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciIndex,
        manifests: [
          // Annotated as an attestation, but with a platform a runtime picks: an image.
          entry(evil, amd64, { [Annotation.DockerReferenceType]: 'attestation-manifest', [Annotation.DockerReferenceDigest]: good.digest }),
          entry(good, amd64, {}),
          entry(
            attestation,
            { os: 'unknown', architecture: 'unknown' },
            {
              [Annotation.DockerReferenceType]: 'attestation-manifest',
              [Annotation.DockerReferenceDigest]: good.digest,
            },
          ),
        ],
      }),
    );
    await store.putManifest(index, { tags: ['v1'] });
    assert.deepEqual(await policyNames(store, index.digest), ['evil@1.0-r0', 'good@1.0-r0']);
  });

  it('applies a whiteout of a folder to the databases under it', async () => {
    // The apk database goes with its folder; the dpkg one a later layer adds is what remains.
    const { store, digest } = await image([
      [file('lib/apk/db/installed', apkStanza('busybox', '1.36.1-r2', undefined))],
      [file('lib/apk/.wh.db', ''), file('var/lib/dpkg/status', `${dpkg('base-files', '12.4')}Status: install ok installed\n`)],
    ]);
    assert.deepEqual(await sbomNames(store, 'v1'), ['base-files@12.4']);
    assert.deepEqual(await policyNames(store, digest), ['base-files@12.4']);
  });

  it('applies an opaque whiteout to the status.d files of lower layers only', async () => {
    const { store, digest } = await image([
      [file('var/lib/dpkg/status.d/old', dpkg('old', '1'))],
      [file('var/lib/dpkg/status.d/new', dpkg('new', '2')), file('var/lib/dpkg/status.d/.wh..wh..opq', '')],
    ]);
    assert.deepEqual(await sbomNames(store, 'v1'), ['new@2']);
    assert.deepEqual(await policyNames(store, digest), ['new@2']);
  });

  it('streams a large layer: memory does not grow with it', async () => {
    // A 256 MiB file in a layer, made as it is read (fresh chunks, none kept by the reader),
    // before the database; the peak of array-buffer memory while it passes is sampled.
    const size = 256 * 1024 * 1024;
    const db = new TextEncoder().encode(apkStanza('busybox', '1.36.1-r2', undefined));
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    let peak = 0;
    const start = process.memoryUsage().arrayBuffers;
    async function* zeros(): AsyncGenerator<Uint8Array> {
      for (let done = 0; done < size; done += 1 << 20) {
        // A collection first, so that what is measured is what the reader still holds.
        if (done % (16 << 20) === 0) {
          gc();
          peak = Math.max(peak, process.memoryUsage().arrayBuffers - start);
        }
        yield new Uint8Array(1 << 20);
      }
    }
    const stream = () =>
      writeTar([
        { header: tarHeader({ name: 'opt/big.bin', size }), body: zeros() },
        { header: tarHeader({ name: 'lib/apk/db/installed', size: db.length }), body: db },
      ]);
    const store = await layout();
    const descriptor: Descriptor = { mediaType: MediaType.OciLayer, digest: `sha256:${'ab'.repeat(32)}`, size: 0 };
    const config = encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: {} });
    const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
    await store.putBlob(bytesSource(configDesc, config));
    const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [descriptor] };
    const stored = parseStored(encodeJson(manifest));
    await store.putManifest(stored, { tags: ['v1'] });
    const generated = new Proxy(store, {
      get(target, prop) {
        if (prop === 'readBlob') {
          return (d: Descriptor, o?: object) => (d.digest === descriptor.digest ? Promise.resolve(stream()) : target.readBlob(d, o));
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      },
    });
    assert.deepEqual(await sbomNames(generated, 'v1'), ['busybox@1.36.1-r2']);
    assert.ok(peak < 64 * 1024 * 1024, `array buffers grew by ${Math.round(peak / 1048576)} MiB while a 256 MiB layer passed`);
    peak = 0;
    assert.deepEqual(await policyNames(generated, stored.digest), ['busybox@1.36.1-r2']);
    assert.ok(peak < 64 * 1024 * 1024, `array buffers grew by ${Math.round(peak / 1048576)} MiB while a 256 MiB layer passed`);
  });
});

describe('the SBOM made from an image', () => {
  type Doc = {
    name: string;
    creationInfo: { created: string };
    packages: { name: string; primaryPackagePurpose?: string; externalRefs?: { referenceLocator: string }[] }[];
  };
  type Bom = { metadata: { timestamp: string; component: { name: string; purl: string } } };
  const apkImage = (extra: Record<string, unknown> = {}) =>
    (async () => {
      const store = await layout();
      const made = await layer([file('lib/apk/db/installed', apkStanza('busybox', '1.36.1-r2', undefined))]);
      const stored = await putImage(store, [made], { tag: 'v1', extra });
      return { store, digest: stored.digest };
    })();
  const container = (doc: Doc) => doc.packages.find((p) => p.primaryPackagePurpose === 'CONTAINER');

  it('names the image by a registry reference, and by no path for a layout or archive location', async () => {
    const { store, digest } = await apkImage();
    const spdx = async (name: string) => (await imageSbom(store, 'v1', name, OPTIONS)).document as Doc;
    const bom = async (name: string) => (await imageSbom(store, 'v1', name, { ...OPTIONS, format: 'cyclonedx' })).document as Bom;

    const registry = await spdx('registry.example/team/app:1');
    assert.equal(registry.name, `registry.example/team/app:1@${digest}`);
    assert.equal(
      container(registry)?.externalRefs?.[0]?.referenceLocator,
      `pkg:oci/app@${digest}?arch=amd64&os=linux&repository_url=registry.example%2Fteam%2Fapp&tag=1`,
    );

    // The same image wherever its copy lies: one document, with no host path in it.
    const here = await spdx('oci:/tmp/here/app.oci:latest');
    assert.deepEqual(await spdx('oci:/srv/elsewhere/copy:v2'), here);
    assert.deepEqual(await spdx(`oci-archive:/tmp/here/app.tar@${digest}`), here);
    assert.deepEqual(await spdx('docker-archive:/tmp/here/app.tar:registry.example/team/app:1'), here);
    assert.equal(here.name, `image@${digest}`);
    assert.equal(container(here)?.externalRefs?.[0]?.referenceLocator, `pkg:oci/image@${digest}?arch=amd64&os=linux`);
    // Named as the document and the purl name it: image, at its digest.
    assert.equal(container(here)?.name, 'image');
    assert.doesNotMatch(JSON.stringify(here), /tmp|here|repository_url/);

    const local = await bom('oci:/tmp/here/app.oci:latest');
    assert.deepEqual(await bom('oci:/srv/elsewhere/copy:v2'), local);
    assert.equal(local.metadata.component.purl, `pkg:oci/image@${digest}?arch=amd64&os=linux`);
    assert.equal(local.metadata.component.name, 'image');
    assert.doesNotMatch(JSON.stringify(local), /tmp|here|repository_url/);
  });

  it("is dated SOURCE_DATE_EPOCH, else the image config's created, else 1970", async () => {
    const dated = await apkImage({ created: '2024-05-06T07:08:09.123456789Z' });
    const created = async (store: ContentStore, options: { sourceDateEpoch?: number; format?: 'cyclonedx' } = {}) => {
      const made = (await imageSbom(store, 'v1', 'img', { ...OPTIONS, ...options })).document;
      return options.format === 'cyclonedx' ? (made as Bom).metadata.timestamp : (made as Doc).creationInfo.created;
    };
    assert.equal(await created(dated.store), '2024-05-06T07:08:09Z');
    assert.equal(await created(dated.store, { format: 'cyclonedx' }), '2024-05-06T07:08:09Z');
    assert.equal(await created(dated.store, { sourceDateEpoch: 1_700_000_000 }), '2023-11-14T22:13:20Z');
    assert.equal(await created(dated.store, { sourceDateEpoch: 0 }), '1970-01-01T00:00:00Z');
    // No time, a time that is no date, and Go's zero time, which some tools write for "unknown".
    for (const value of [undefined, 'yesterday', '0001-01-01T00:00:00Z']) {
      const { store } = await apkImage({ created: value });
      assert.equal(await created(store), '1970-01-01T00:00:00Z', String(value));
    }
  });
});
