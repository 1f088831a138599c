// Archives written through a link, waits for an archive's lock that a signal ends, and an
// archive location that names a folder.
import assert from 'node:assert/strict';
import { chmod, lchown, lstat, mkdir, readdir, readlink, realpath, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { copyImage } from '../../src/image/copy.ts';
import { parseLocation } from '../../src/ref/location.ts';
import { archiveFile, lockArchive } from '../../src/store/archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { openLocation } from '../../src/store/open.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('archive-links');

async function source(dir: string) {
  const layout = await LayoutStore.open(join(dir, 'src'), { create: true });
  const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
  return { layout, made };
}

async function copyTo(layout: LayoutStore, target: string, location: string): Promise<void> {
  const dst = await openLocation(parseLocation(location), { write: true });
  try {
    await copyImage(layout, target, dst.store, { tags: dst.tags });
  } catch (err) {
    await dst.store.close({ discard: true });
    throw err;
  }
  await dst.store.close();
}

describe('an archive written through a link', () => {
  it('is written where the link leads: the link stays, and the tags of both names are kept', async () => {
    const dir = await tempDir();
    const { layout } = await source(dir);
    const real = join(dir, 'real.tar');
    await copyTo(layout, 'v1', `oci-archive:${real}:a`);
    await symlink('real.tar', join(dir, 'link.tar'));
    await copyTo(layout, 'v1', `oci-archive:${join(dir, 'link.tar')}:b`);
    assert.ok((await lstat(join(dir, 'link.tar'))).isSymbolicLink(), 'the link is still a link');
    assert.equal(await readlink(join(dir, 'link.tar')), 'real.tar');
    const read = await openLocation(parseLocation(`oci-archive:${real}`));
    assert.deepEqual((await read.store.listTags()).sort(), ['a', 'b']);
    await read.store.close();
  });

  it('makes the file a dangling link leads to, for a docker-archive too, and keeps the link', async () => {
    const dir = await tempDir();
    const { layout, made } = await source(dir);
    await symlink('made.tar', join(dir, 'dangling.tar'));
    await copyTo(layout, made.manifests[0]!.digest, `docker-archive:${join(dir, 'dangling.tar')}:example.com/app:1`);
    assert.ok((await lstat(join(dir, 'dangling.tar'))).isSymbolicLink());
    assert.ok((await lstat(join(dir, 'made.tar'))).isFile());
  });

  it('resolves to one file, for the lock too: a link, the real path and a file yet to be made in a linked folder', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'f'));
    await symlink('f', join(dir, 'g'));
    const real = await archiveFile(join(dir, 'f', 'a.tar'), 'x');
    assert.equal(await archiveFile(join(dir, 'g', 'a.tar'), 'x'), real);
    await symlink('a.tar', join(dir, 'f', 'l.tar'));
    assert.equal(await archiveFile(join(dir, 'g', 'l.tar'), 'x'), real);
  });

  it("takes a link's relative target from the folder the link is really in, not from its name as written", async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'f', 'sub'), { recursive: true });
    await symlink(join('f', 'sub'), join(dir, 'g'));
    await symlink(join('..', 'a.tar'), join(dir, 'f', 'sub', 'l.tar'));
    // As the system reads g/l.tar: f/sub/../a.tar, which is f/a.tar, not a.tar beside g.
    assert.equal(await archiveFile(join(dir, 'g', 'l.tar'), 'x'), join(await realpath(dir), 'f', 'a.tar'));
  });

  it('is refused when a dangling link leads into a folder that is not there, and the link stays', async () => {
    const dir = await tempDir();
    const { layout, made } = await source(dir);
    await mkdir(join(dir, 'out'));
    const link = join(dir, 'out', 'nf.tar');
    await symlink(join('..', 'nofolder', 'x.tar'), link);
    const real = await realpath(dir);
    for (const location of [`oci-archive:${link}:a`, `docker-archive:${link}:example.com/app:1`]) {
      await assert.rejects(copyTo(layout, made.manifests[0]!.digest, location), (e: unknown) => {
        assert.ok(isProvenantError(e), String(e));
        assert.ok(e.message.includes(join(real, 'nofolder')), e.message);
        return true;
      });
      assert.ok((await lstat(link)).isSymbolicLink(), `the link is still a link (${location})`);
    }
    assert.deepEqual(await readdir(join(dir, 'out')), ['nf.tar']);
  });
});

describe('an archive written through a link in a sticky, world-writable folder', () => {
  const root = process.geteuid?.() === 0;
  const skip = root ? false : 'needs root, to give the link to another user (chown)';

  async function planted(owner: number) {
    const dir = await tempDir();
    const { layout, made } = await source(dir);
    const sticky = join(dir, 'sticky');
    await mkdir(sticky);
    await chmod(sticky, 0o1777);
    await mkdir(join(dir, 'victim'));
    const link = join(sticky, 'out.tar');
    await symlink(join('..', 'victim', 'planted.tar'), link);
    await lchown(link, owner, owner);
    return { dir, layout, made, link };
  }

  it("is refused (UNSAFE_PATH, naming the link) when the link is another user's, and nothing is made where it leads", {
    skip,
  }, async () => {
    const { dir, layout, made, link } = await planted(65534);
    for (const location of [`oci-archive:${link}:a`, `docker-archive:${link}:example.com/app:1`]) {
      await assert.rejects(
        copyTo(layout, made.manifests[0]!.digest, location),
        (e: unknown) => isProvenantError(e, 'UNSAFE_PATH') && e.message.includes(link),
      );
    }
    assert.deepEqual(await readdir(join(dir, 'victim')), []);
    assert.ok((await lstat(link)).isSymbolicLink());
  });

  it("is followed when the link is the folder owner's or this user's", { skip }, async () => {
    // The folder is root's, as this process is: the link given to root is both.
    const { dir, layout, made, link } = await planted(0);
    await copyTo(layout, made.manifests[0]!.digest, `oci-archive:${link}:a`);
    assert.deepEqual(await readdir(join(dir, 'victim')), ['planted.tar']);
    // Given to another user, the folder too: the link is its owner's.
    const other = await planted(65534);
    await lchown(join(other.dir, 'sticky'), 65534, 65534);
    await copyTo(other.layout, other.made.manifests[0]!.digest, `oci-archive:${other.link}:a`);
    assert.deepEqual(await readdir(join(other.dir, 'victim')), ['planted.tar']);
  });
});

describe("waiting for an archive's lock", () => {
  for (const kind of ['oci-archive', 'docker-archive'] as const) {
    // The timeout only ends a run where the signal is not heard (the lock's own wait is minutes).
    it(`ends with ABORTED when the signal fires (${kind}, through a link to the locked file), leaving nothing behind`, {
      timeout: 60_000,
    }, async () => {
      const dir = await tempDir();
      const real = join(dir, 'a.tar');
      await symlink('a.tar', join(dir, 'link.tar'));
      // Another writer of the real file holds its lock.
      const held = await lockArchive(await archiveFile(real, 'held'), 'held');
      try {
        const before = (await readdir(dir)).sort();
        const controller = new AbortController();
        const name = kind === 'oci-archive' ? 'link.tar:v1' : 'link.tar:example.com/app:1';
        const opening = openLocation(parseLocation(`${kind}:${join(dir, name)}`), { write: true, signal: controller.signal });
        setImmediate(() => controller.abort());
        const outcome = await opening.then(
          (opened) => ({ opened }),
          (err: unknown) => ({ err }),
        );
        if ('opened' in outcome) {
          // Opened: it took another lock than the real file's, or did not hear the signal.
          await outcome.opened.store.close({ discard: true });
          assert.fail('a writer through the link did not wait for the lock of the file it leads to until cancelled');
        }
        assert.ok(isProvenantError(outcome.err, 'ABORTED'), String(outcome.err));
        assert.deepEqual((await readdir(dir)).sort(), before, 'nothing left behind');
      } finally {
        await held.release();
      }
    });
  }
});

describe('an archive location that names a folder', () => {
  for (const kind of ['oci-archive', 'docker-archive'] as const) {
    it(`is USAGE naming the folder, with the oci: prefix a layout takes (${kind}, read)`, async () => {
      const dir = await tempDir();
      const { layout } = await source(dir);
      await layout.close();
      const folder = join(dir, 'src');
      await assert.rejects(
        openLocation(parseLocation(`${kind}:${folder}`)),
        (e: unknown) =>
          isProvenantError(e, 'USAGE') &&
          e.message === `${folder} is a folder, and an archive is one file` &&
          e.hint === `name an archive file, or read the folder as an OCI image layout: oci:${folder}`,
      );
    });
  }
});
