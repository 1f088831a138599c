// Makes examples/hello-oci, a small two-platform image (linux/amd64 and linux/arm64, one layer
// holding examples/hello-rootfs and no packages) that the tests and the documentation copy and
// inspect: an image made without Provenant's builder, as images from elsewhere are. Its layer is
// a gzipped tar made by GNU tar with fixed times and owners, so running this again gives the same
// digests. Usage: bin/provenant-node examples/make-hello.ts

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeJson, parseStored } from '../src/oci/content.ts';
import { digestOf } from '../src/oci/digest.ts';
import { MediaType } from '../src/oci/mediatypes.ts';
import type { Descriptor, Platform } from '../src/oci/types.ts';
import { LayoutStore } from '../src/store/layout.ts';

const out = join(import.meta.dirname, 'hello-oci');
await rm(out, { recursive: true, force: true });
const store = await LayoutStore.open(out, { create: true });

async function put(bytes: Uint8Array, mediaType: string): Promise<Descriptor> {
  const d = { mediaType, digest: digestOf(bytes), size: bytes.byteLength };
  await store.putBlob({
    descriptor: d,
    open: async () =>
      (async function* () {
        yield bytes;
      })(),
  });
  return d;
}

// The store is closed whatever happens: an open store keeps a writer record in the layout
// (.provenant-writer-<id>), which would be left behind as an untracked file.
try {
  const tar = spawnSync('tar', [
    '--sort=name',
    '--mtime=@0',
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-C',
    join(import.meta.dirname, 'hello-rootfs'),
    '-cf',
    '-',
    '.',
  ]);
  if (tar.status !== 0) throw new Error(String(tar.stderr));
  const layerTar = new Uint8Array(tar.stdout);
  // gzip header mtime is 0 and OS byte fixed by node:zlib; bytes are stable for a given zlib.
  const layer = await put(new Uint8Array(gzipSync(layerTar, { level: 9 })), MediaType.OciLayerGzip);
  const diffId = `sha256:${createHash('sha256').update(layerTar).digest('hex')}` as const;
  const platforms: Platform[] = [
    { os: 'linux', architecture: 'amd64' },
    { os: 'linux', architecture: 'arm64' },
  ];
  const manifests: Descriptor[] = [];
  for (const p of platforms) {
    const config = await put(
      encodeJson({
        created: '1970-01-01T00:00:00Z',
        architecture: p.architecture,
        os: p.os,
        config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/hello.txt'], WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'examples/make-hello.ts' }],
      }),
      MediaType.OciConfig,
    );
    const m = parseStored(
      encodeJson({
        schemaVersion: 2,
        mediaType: MediaType.OciManifest,
        config,
        layers: [layer],
        annotations: { 'org.opencontainers.image.title': 'hello' },
      }),
    );
    await store.putManifest(m);
    manifests.push({ mediaType: m.mediaType, digest: m.digest, size: m.bytes.byteLength, platform: p });
  }
  const index = parseStored(encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests }));
  await store.putManifest(index, { tags: ['latest'] });
  process.stdout.write(`${out}: ${index.digest}\n`);
} finally {
  await store.close();
}
