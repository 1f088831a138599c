import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { type TarHeader, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';

const dirs: string[] = [];
async function temp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'provenant-archive-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

function file(name: string, content: string): { header: TarHeader; body: Uint8Array } {
  const body = new TextEncoder().encode(content);
  return {
    header: tarHeader({ name, size: body.length }),
    body,
  };
}

describe('archives', () => {
  it('writes an oci-archive atomically and deterministically, and reads it back', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1' });
    for (const name of ['a.tar', 'b.tar']) {
      const dst = await openOciArchive(join(dir, name), { write: true });
      await copyImage(src, 'v1', dst, { tags: ['v1'] });
      await dst.close();
    }
    assert.deepEqual(await readFile(join(dir, 'a.tar')), await readFile(join(dir, 'b.tar')));
    const back = await openOciArchive(join(dir, 'a.tar'));
    assert.deepEqual((await back.getManifest('v1')).bytes, made.root.bytes);
    await back.close();
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'b.tar', 'src']);
  });

  it('refuses entries that would leave the folder, writing nothing outside', async () => {
    const dir = await temp();
    const evil = join(dir, 'evil.tar');
    await writeFile(evil, await tarBytes([file('oci-layout', '{"imageLayoutVersion":"1.0.0"}'), file('../escaped', 'x')]));
    await assert.rejects(openOciArchive(evil), (e: unknown) => isProvenantError(e, 'UNSAFE_PATH'));
    assert.equal(existsSync(join(tmpdir(), 'escaped')), false);
    const abs = join(dir, 'abs.tar');
    await writeFile(abs, await tarBytes([file('/etc/evil', 'x')]));
    await assert.rejects(openOciArchive(abs), (e: unknown) => isProvenantError(e, 'UNSAFE_PATH'));
  });

  it('says a truncated archive is truncated', async () => {
    const dir = await temp();
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    await makeImage(src, { tag: 'v1' });
    const dst = await openOciArchive(join(dir, 'full.tar'), { write: true });
    await copyImage(src, 'v1', dst, { tags: ['v1'] });
    await dst.close();
    const bytes = await readFile(join(dir, 'full.tar'));
    await writeFile(join(dir, 'cut.tar'), bytes.subarray(0, Math.floor(bytes.length / 2) + 100));
    await assert.rejects(openOciArchive(join(dir, 'cut.tar')), (e: unknown) => isProvenantError(e, 'TRUNCATED') && e.where !== undefined);
  });

  it('gives typed errors for a docker-archive without a usable manifest.json', async () => {
    const dir = await temp();
    await writeFile(join(dir, 'none.tar'), await tarBytes([file('x', 'y')]));
    await assert.rejects(
      DockerArchiveStore.open(join(dir, 'none.tar')),
      (e: unknown) => isProvenantError(e, 'INVALID_ARCHIVE') && /manifest\.json/.test(e.message),
    );
    await writeFile(
      join(dir, 'missing.tar'),
      await tarBytes([file('manifest.json', '[{"Config":"c.json","RepoTags":null,"Layers":["l.tar"]}]')]),
    );
    await assert.rejects(
      DockerArchiveStore.open(join(dir, 'missing.tar')),
      (e: unknown) => isProvenantError(e, 'INVALID_ARCHIVE') && /c\.json/.test(e.message),
    );
  });
});
