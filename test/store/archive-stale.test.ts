// What a writer of an archive killed with SIGKILL leaves (its work folder in TMPDIR, a partial
// FILE.tmp-* beside the archive) is removed by the next write; nothing of a live writer is.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { copyImage } from '../../src/image/copy.ts';
import { thisPlace } from '../../src/io/place.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { DockerArchiveStore } from '../../src/store/docker-archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { makeImage } from '../helpers/images.ts';
import { makeSandbox } from '../helpers/sandbox.ts';
import { useTempDir } from '../helpers/temp.ts';

const temp = useTempDir('archive-stale');
const archiveModule = join(import.meta.dirname, '..', '..', 'src', 'store', 'archive.ts');

/**
 * A child process that opens `archive` for writing (its work folder made, the archive's lock
 * held), leaves a partial file beside it as a rename interrupted would, says where its work
 * folder is, and waits to be killed.
 */
async function killedWriter(archive: string, tmp: string): Promise<string> {
  const script = `
    import { writeFileSync } from 'node:fs';
    import { dirname } from 'node:path';
    const { openOciArchive } = await import(${JSON.stringify(archiveModule)});
    const store = await openOciArchive(process.argv[1], { write: true });
    writeFileSync(process.argv[1] + '.tmp-0123456789ab', new Uint8Array(4096));
    process.stdout.write(dirname(store.path) + '\\n');
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, archive], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, TMPDIR: tmp },
  });
  const work = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      if (out.endsWith('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`the writer exited (${code}) before it was ready`)));
  });
  const gone = new Promise((resolve) => child.on('exit', resolve));
  child.kill('SIGKILL');
  await gone;
  return work;
}

describe('archive writes killed outright', () => {
  it('leave nothing after the next write: the dead writer’s work folder and partial file go, live and unowned ones stay', async () => {
    const dir = await temp();
    const sandbox = await makeSandbox(join(dir, 'sandbox'));
    const src = await LayoutStore.open(join(dir, 'src'), { create: true });
    const made = await makeImage(src, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const archive = join(dir, 'a.tar');
    const dead = await killedWriter(archive, sandbox.tmp);
    assert.ok((await readdir(sandbox.tmp)).includes(dead.slice(sandbox.tmp.length + 1)));
    assert.ok((await readdir(dir)).includes('a.tar.tmp-0123456789ab'));

    // A folder whose owner's pid runs, but is another process than the one that made it (the
    // pid reused): its start time differs, so the folder is a dead writer's.
    const { host, pidns, boot } = thisPlace();
    const reused = join(sandbox.tmp, 'provenant-docker-archive-reused');
    await mkdir(reused);
    const owner = { host, pid: process.pid, id: '00000000deadbeef', pidns, boot, start: '1' };
    await writeFile(join(reused, '.provenant-writer-00000000deadbeef'), `${JSON.stringify(owner)}\n`);
    // A folder that names no owner: being made right now, or an older version's. Left alone.
    const unowned = join(sandbox.tmp, 'provenant-archive-unowned');
    await mkdir(unowned);
    // Not ours at all, though its name looks like a partial file of the archive.
    await writeFile(join(dir, 'a.tar.tmp-notours'), 'keep');

    // A live writer (of another archive) keeps its folder while the next write cleans up.
    const live = await sandbox.withTmp(() => DockerArchiveStore.open(join(dir, 'b.tar'), { write: true }));
    const liveFolders = (await readdir(sandbox.tmp)).filter(
      (n) => n.startsWith('provenant-docker-archive-') && n !== 'provenant-docker-archive-reused',
    );
    assert.equal(liveFolders.length, 1);

    const store = await sandbox.withTmp(() => openOciArchive(archive, { write: true }));
    await copyImage(src, 'v1', store, { tags: ['v1'] });
    await store.close();
    assert.deepEqual((await readdir(sandbox.tmp)).sort(), [...liveFolders, 'provenant-archive-unowned'].sort());
    // The live writer's lock stays beside its archive.
    assert.deepEqual((await readdir(dir)).sort(), ['.provenant-archive-b.tar.lock', 'a.tar', 'a.tar.tmp-notours', 'sandbox', 'src']);
    assert.equal(await readFile(join(dir, 'a.tar.tmp-notours'), 'utf8'), 'keep');
    assert.equal(hostname(), host);

    await live.close({ discard: true });
    assert.deepEqual(await readdir(sandbox.tmp), ['provenant-archive-unowned']);
    assert.deepEqual((await readdir(dir)).sort(), ['a.tar', 'a.tar.tmp-notours', 'sandbox', 'src']);
    const back = await openOciArchive(archive);
    assert.deepEqual((await back.getManifest('v1')).bytes, made.root.bytes);
    await back.close();
    await src.close();
  });
});
