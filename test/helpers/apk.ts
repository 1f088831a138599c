// apko's test repository, copied where a test build expects it (not a test file).
import { cp, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytesSource } from '../../src/io/types.ts';
import { parseStored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { fixture, readFixture } from './fixtures.ts';

/**
 * apko's test repository (both arches, four packages) and its key, laid out under `dir` as apko's
 * golden configuration expects them (`testdata/packages/ARCH/...`, `testdata/melange.rsa.pub`).
 * Copied into a temporary folder at test time, never into the project.
 */
export async function copyApkoRepository(dir: string): Promise<void> {
  const pkgs = join(dir, 'testdata', 'packages');
  for (const arch of ['x86_64', 'aarch64']) {
    await mkdir(join(pkgs, arch), { recursive: true });
    await cp(fixture('apk', `apkotest-${arch}.APKINDEX.tar.gz`), join(pkgs, arch, 'APKINDEX.tar.gz'));
    for (const p of ['pretend-baselayout', 'replayout', 'custom-ca-certs-1', 'custom-ca-certs-2']) {
      await cp(fixture('apk', `apkotest-${arch}-${p}-1.0.0-r0.apk`), join(pkgs, arch, `${p}-1.0.0-r0.apk`));
    }
  }
  await cp(fixture('apk', 'melange.rsa.pub'), join(dir, 'testdata', 'melange.rsa.pub'));
}

/**
 * apko's golden configuration laid out with its repository under `dir`, with the title and
 * vendor annotations apko's golden build was given on its command line (internal/cli/build_test.go),
 * written into the configuration. Returns the configuration's path.
 */
export async function apkoGoldenConfig(dir: string): Promise<string> {
  await copyApkoRepository(dir);
  const yaml = await readFile(fixture('apk', 'apkotest-golden-apko.yaml'), 'utf8');
  const path = join(dir, 'apko.yaml');
  await writeFile(path, `${yaml}\nannotations:\n  org.opencontainers.image.title: Title\n  org.opencontainers.image.vendor: Vendor\n`);
  return path;
}

/**
 * apko's golden image as an OCI layout under `dir`, tagged `latest`, assembled from the fixture
 * blobs exactly as apko wrote them (index, manifests, configs and compressed layers).
 */
export async function apkoGoldenLayout(dir: string): Promise<LayoutStore> {
  const store = await LayoutStore.open(dir, { create: true });
  for (const arch of ['amd64', 'arm64']) {
    for (const [kind, mediaType] of [
      ['config.json', MediaType.OciConfig],
      ['layer.tar.gz', MediaType.OciLayerGzip],
    ] as const) {
      const bytes = await readFixture('apk', `apkotest-golden-${arch}-${kind}`);
      await store.putBlob(bytesSource({ mediaType, digest: digestOf(bytes), size: bytes.length }, bytes));
    }
    await store.putManifest(
      parseStored(await readFixture('apk', `apkotest-golden-${arch}-manifest.json`), { mediaType: MediaType.OciManifest }),
    );
  }
  await store.putManifest(parseStored(await readFixture('apk', 'apkotest-golden-oci-index.json'), { mediaType: MediaType.OciIndex }), {
    tags: ['latest'],
  });
  return store;
}
