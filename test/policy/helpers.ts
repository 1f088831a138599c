import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { bytesSource } from '../../src/io/types.ts';
import { encodeJson, parseStored, type Stored } from '../../src/oci/content.ts';
import { digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageManifest } from '../../src/oci/types.ts';
import type { ContentStore } from '../../src/store/types.ts';

/** The YAML of the docs/policy.md example marked `# example: NAME`, as a reader copies it. */
export async function docExample(name: string): Promise<string> {
  const text = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'policy.md'), 'utf8');
  for (const m of text.matchAll(/```yaml\n([\s\S]*?)```/g)) {
    if (m[1]!.startsWith(`# example: ${name}\n`)) return m[1]!;
  }
  throw new Error(`docs/policy.md has no example ${name}`);
}

/**
 * A one-platform image (a single manifest, tagged) whose one gzipped layer holds `files`
 * (path → text), for checks that read an image's package database.
 */
export async function imageWithFiles(store: ContentStore, tag: string, files: Record<string, string>): Promise<Stored> {
  const entries = Object.entries(files).map(([name, text]) => {
    const body = new TextEncoder().encode(text);
    return { header: tarHeader({ name, size: body.length }), body };
  });
  const tar = await tarBytes(entries);
  const gz = new Uint8Array(gzipSync(tar));
  const layer: Descriptor = { mediaType: MediaType.OciLayerGzip, digest: digestOf(gz), size: gz.length };
  await store.putBlob(bytesSource(layer, gz));
  const config = encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(tar)] }, config: {} });
  const configDesc: Descriptor = { mediaType: MediaType.OciConfig, digest: digestOf(config), size: config.length };
  await store.putBlob(bytesSource(configDesc, config));
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config: configDesc, layers: [layer] };
  const stored = parseStored(encodeJson(manifest));
  await store.putManifest(stored, { tags: [tag] });
  return stored;
}

/** An apk installed-database stanza. */
export function apkStanza(name: string, version: string, buildTime: Date | undefined): string {
  const t = buildTime === undefined ? '' : `t:${Math.floor(buildTime.getTime() / 1000)}\n`;
  return `C:Q1${Buffer.alloc(20, name.length).toString('base64')}\nP:${name}\nV:${version}\nA:x86_64\nS:1000\nI:4000\nT:${name}\nU:https://example.org\nL:MIT\no:${name}\nm:Someone <someone@example.org>\n${t}\n`;
}

type GeneralName = { type: string; value: string };
type SanExtension = new (names: GeneralName[], critical?: boolean) => object;

/**
 * Runs `f` with every certificate the mock Fulcio issues carrying `extra` after its own SAN.
 * @sigstore/mock's Fulcio writes one (a URI, the token's subject); the SAN extension
 * @peculiar/x509 builds for it is widened while `f` runs, so the certificate is still issued,
 * chained, logged and timestamped by the mock and verifies as a real one does.
 */
export async function withExtraNames<T>(extra: GeneralName[], f: () => Promise<T>): Promise<T> {
  // The @peculiar/x509 module @sigstore/mock's Fulcio builds its certificates with (CommonJS, one
  // instance), required here: it needs the reflect-metadata polyfill @sigstore/mock loads first.
  const x509 = createRequire(import.meta.url)('@peculiar/x509') as { SubjectAlternativeNameExtension: SanExtension };
  const original = x509.SubjectAlternativeNameExtension;
  x509.SubjectAlternativeNameExtension = class extends original {
    constructor(names: GeneralName[], critical?: boolean) {
      super([...names, ...extra], critical);
    }
  };
  try {
    return await f();
  } finally {
    x509.SubjectAlternativeNameExtension = original;
  }
}
