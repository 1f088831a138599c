// Ctrl-C during `provenant copy` into an oci-archive: the copy stops, its temporary layout goes,
// no archive (or half of one) is left, and the exit code is 130.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import type { Descriptor, ImageManifest } from '../../src/oci/types.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { putBytes } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const main = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const tempDir = useTempDir('interrupt');
const MiB = 1024 * 1024;

/** An image of `layers` layers of `size` bytes each (content the copy does not look into). */
async function largeImage(dir: string, layers: number, size: number): Promise<void> {
  const store = await LayoutStore.open(dir, { create: true });
  const put = (bytes: Uint8Array, mediaType: string): Promise<Descriptor> => putBytes(store, bytes, mediaType);
  const descriptors: Descriptor[] = [];
  for (let i = 0; i < layers; i++) descriptors.push(await put(new Uint8Array(size).fill(i + 1), MediaType.OciLayerGzip));
  const config = await put(
    encodeJson({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
    MediaType.OciConfig,
  );
  const manifest: ImageManifest = { schemaVersion: 2, mediaType: MediaType.OciManifest, config, layers: descriptors };
  await store.putManifest(parseStored(encodeJson(manifest)), { tags: ['big'], keepAsRoot: true });
  await store.close();
}

/** Every file and folder below `dir`, relative. */
async function tree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).sort();
}

describe('interrupting the CLI', () => {
  it('SIGINT during a copy into an oci-archive: exit 130, no archive, no temporary files', async () => {
    const dir = await tempDir();
    const src = join(dir, 'src');
    await largeImage(src, 12, 32 * MiB);
    // The child's own TMPDIR, so that what it leaves there can be seen.
    const tmp = join(dir, 'tmp');
    await mkdir(tmp);
    const out = join(dir, 'out');
    await mkdir(out);
    const child = spawn(
      process.execPath,
      [main, 'copy', '--concurrency', '1', `oci:${src}:big`, `oci-archive:${join(out, 'big.tar')}:big`],
      {
        env: { PATH: process.env.PATH ?? '', HOME: dir, TMPDIR: tmp },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => {
      stderr += b.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // Interrupt once the copy is under way: the temporary layout holds a blob (or part of one).
    const started = Date.now();
    for (;;) {
      const files = await tree(tmp).catch(() => []);
      if (files.some((f) => /blobs\/sha256\/./.test(f))) break;
      assert.ok(Date.now() - started < 60_000, `the copy did not start: ${stderr}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    child.kill('SIGINT');
    const code = await exited;
    assert.equal(code, 130, stderr);
    // Progress lines (complete ones: standard error is not a terminal), then a newline and the message.
    assert.match(stderr, /^(\[\+\d+\.\ds\] [^\n]*\n)*\nprovenant copy: the operation was cancelled\n$/);
    assert.deepEqual(await tree(tmp), [], 'the temporary layout is gone');
    assert.deepEqual(await tree(out), [], 'no archive, and no partial one');
  });
});
