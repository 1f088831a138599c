// A layout written where the file system refuses: a disk that fills (a file size limit stands in
// for it: RLIMIT_FSIZE fails a write past it as a full disk fails any), a folder that takes no
// new files, a creation cut short. What fails is said in words and leaves no state that every
// later run refuses.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { appendFile, chmod, mkdir, readdir, readFile, readlink, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { isProvenantError } from '../../src/errors.ts';
import { fileError } from '../../src/io/files.ts';
import { bytesSource } from '../../src/io/types.ts';
import { describe as descriptorOf, encodeJson } from '../../src/oci/content.ts';
import { digestHex, digestOf } from '../../src/oci/digest.ts';
import { MediaType } from '../../src/oci/mediatypes.ts';
import { openOciArchive } from '../../src/store/archive.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { type MadeImage, makeImage, makeReferrer } from '../helpers/images.ts';
import { atCall } from '../helpers/races.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('layout-faults');
const layoutModule = join(import.meta.dirname, '..', '..', 'src', 'store', 'layout.ts');
const EMPTY_INDEX = encodeJson({ schemaVersion: 2, mediaType: MediaType.OciIndex, manifests: [] });

const prlimit = spawnSync('prlimit', ['--version']).status === 0;
/** The modules src reads its file functions from at each call, where a test races it. */
const fs = process.getBuiltinModule('node:fs');
const fsp = process.getBuiltinModule('node:fs/promises');

/** Runs `body` (a module's text, with `LayoutStore` imported and `dir` set) in a Node whose files may hold at most `bytes` bytes. */
function underFileLimit(bytes: number, dir: string, body: string): { status: number | null; stdout: string; stderr: string } {
  const script = `import { LayoutStore } from ${JSON.stringify(layoutModule)};\nconst dir = ${JSON.stringify(dir)};\n${body}`;
  const r = spawnSync('prlimit', [`--fsize=${bytes}`, '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A layout in a new folder holding the images `makeImage` makes with each of `images`, closed. */
async function layoutHolding(...images: NonNullable<Parameters<typeof makeImage>[1]>[]): Promise<{ dir: string; made: MadeImage[] }> {
  const dir = join(await tempDir(), 'img');
  const store = await LayoutStore.open(dir, { create: true });
  const made: MadeImage[] = [];
  for (const image of images) made.push(await makeImage(store, image));
  await store.close();
  return { dir, made };
}

/** Checks the error of a command whose layout `dir` was removed while it used it: the folder, or (`how`) what is left of it. */
const removedError =
  (dir: string, how = 'is not there any more') =>
  (err: unknown): true => {
    assert.ok(isProvenantError(err, 'IO'), String(err));
    assert.equal(err.message, `the layout was removed while this command used it: ${dir} ${how}`);
    assert.equal(err.where, `oci:${dir}`);
    return true;
  };

/** A folder that takes no new files, even from root (immutable), or undefined where that cannot be had; and what undoes it. */
async function refuseNewFiles(dir: string): Promise<(() => Promise<void>) | undefined> {
  if (process.getuid?.() !== 0) {
    await chmod(dir, 0o555);
    return () => chmod(dir, 0o755);
  }
  if (spawnSync('chattr', ['+i', dir]).status !== 0) return undefined;
  return async () => {
    spawnSync('chattr', ['-i', dir]);
  };
}

describe('creating a layout', () => {
  it('finishes an empty layout whose creation was cut short, and still refuses a folder of other files', async () => {
    const dir = await tempDir();
    // What a creation killed before oci-layout leaves: its lock (an empty one, on a full disk,
    // judged by its age), blobs/sha256/, and index.json and their temporary files or not.
    const killedLock = async (path: string) => {
      await writeFile(join(path, '.provenant-lock'), '');
      const long = new Date(Date.now() - 10 * 60_000);
      await utimes(join(path, '.provenant-lock'), long, long);
    };
    for (const [name, withIndex, temporary] of [
      ['both', true, 'oci-layout.tmp-0a1b2c'],
      ['folders', false, 'index.json.tmp-0a1b2c'],
    ] as const) {
      const path = join(dir, name);
      await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
      if (withIndex) await writeFile(join(path, 'index.json'), EMPTY_INDEX);
      await writeFile(join(path, temporary), '{"imageLayoutVersion"');
      await killedLock(path);
      const store = await LayoutStore.open(path, { create: true });
      await store.close();
      assert.deepEqual((await readdir(path)).sort(), ['blobs', 'index.json', 'oci-layout'], name);
    }
    // A blob, or an index.json that lists something, is someone's even beside a lock; and
    // without a lock, what a user may have made (an empty blobs/) is not taken for a layout.
    const withBlob = join(dir, 'blob');
    await mkdir(join(withBlob, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(withBlob, 'blobs', 'sha256', digestHex(digestOf('x'))), 'x');
    await killedLock(withBlob);
    const otherIndex = join(dir, 'index');
    await mkdir(otherIndex);
    await writeFile(join(otherIndex, 'index.json'), encodeJson({ schemaVersion: 2, manifests: [{}] }));
    await killedLock(otherIndex);
    const usersBlobs = join(dir, 'users');
    await mkdir(join(usersBlobs, 'blobs'), { recursive: true });
    for (const path of [withBlob, otherIndex, usersBlobs]) {
      await assert.rejects(
        LayoutStore.open(path, { create: true }),
        (e: unknown) => isProvenantError(e, 'INVALID_LAYOUT') && /is not empty and is not an OCI layout/.test(e.message),
        path,
      );
    }
    assert.deepEqual(await readdir(usersBlobs), ['blobs'], 'a folder not taken is left as it was');
  });

  it('takes away the files it made when a write fails and leaves the folders, so that the next run makes it', async (t) => {
    if (!prlimit) return t.skip('no prlimit here');
    const dir = await tempDir();
    const path = join(dir, 'new', 'sub');
    // 40 bytes: oci-layout (30) fits, index.json (88) does not.
    const r = underFileLimit(
      40,
      path,
      'try { await LayoutStore.open(dir, { create: true }); console.log("opened"); } catch (e) { console.log(e.code, e.message); }',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^IO cannot write oci:.*: the file would be larger than .* \(ulimit -f\) allows \(in .*\); nothing was written$/m,
      r.stdout,
    );
    // The folders stay, empty: removing them after its lock is gone could take another
    // creator's folder between that creator's mkdir and its lock.
    assert.deepEqual(await readdir(path), [], 'the files it made are gone, its folder stays');
    const store = await LayoutStore.open(path, { create: true });
    await store.close();
    assert.deepEqual((await readdir(path)).sort(), ['blobs', 'index.json', 'oci-layout']);
  });

  it('takes away only what it made: a folder that was there stays', async (t) => {
    if (!prlimit) return t.skip('no prlimit here');
    const dir = await tempDir();
    const r = underFileLimit(40, dir, 'await LayoutStore.open(dir, { create: true }).catch((e) => console.log(e.code));');
    assert.equal(r.stdout.trim(), 'IO', r.stderr);
    assert.deepEqual(await readdir(dir), []);
  });
});

describe('gc where the lock file cannot be written', () => {
  it('still frees space, and leaves no lock behind', async (t) => {
    if (!prlimit) return t.skip('no prlimit here');
    const dir = await tempDir();
    const path = join(dir, 'l');
    const store = await LayoutStore.open(path, { create: true });
    await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, tag: 'v1' });
    const junk = new Uint8Array(5000).fill(7);
    await store.putBlob(bytesSource(descriptorOf(junk, 'application/octet-stream'), junk));
    await store.close();
    // Not one byte may be written: the lock's owner line is refused, as on a full disk.
    const r = underFileLimit(
      1,
      path,
      'const s = await LayoutStore.open(dir); const g = await s.gc(); console.log(JSON.stringify(g.removed));',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), [digestOf(junk)]);
    assert.ok(!(await readdir(path)).some((n) => n.startsWith('.provenant-')), 'the lock is gone');
    await assert.rejects(readFile(join(path, 'blobs', 'sha256', digestHex(digestOf(junk)))), { code: 'ENOENT' });
  });
});

describe('gc where index.json cannot be written', () => {
  it('keeps the referrers it would drop, with what they reach, and frees the rest', async (t) => {
    if (!prlimit) return t.skip('no prlimit here');
    const path = join(await tempDir(), 'l');
    const store = await LayoutStore.open(path, { create: true });
    // A tag moved to a rebuild: the first build's attestation is one gc drops, with the first image.
    const first = await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, tag: 'v1', seed: 1 });
    const att = await makeReferrer(store, first.root, 'application/vnd.example.att', 'att 1');
    await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, tag: 'v1', seed: 2 });
    const junk = new Uint8Array(5000).fill(7);
    await store.putBlob(bytesSource(descriptorOf(junk, 'application/octet-stream'), junk));
    await store.close();
    const before = await readFile(join(path, 'index.json'));
    const r = underFileLimit(
      1,
      path,
      'const warnings = []; const s = await LayoutStore.open(dir); const g = await s.gc({ logger: { warn: (m) => warnings.push(m), info() {}, debug() {} } }); console.log(JSON.stringify({ removed: g.removed, dropped: g.dropped, warnings }));',
    );
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { removed: string[]; dropped: string[]; warnings: string[] };
    assert.deepEqual([out.removed, out.dropped], [[digestOf(junk)], []]);
    assert.match(out.warnings.join('\n'), /index\.json could not be written without 1 referrer/);
    assert.deepEqual(await readFile(join(path, 'index.json')), before);
    const again = await LayoutStore.open(path);
    assert.deepEqual((await again.getManifest(att.digest)).bytes, att.bytes);
    assert.deepEqual((await again.getManifest(first.root.digest)).bytes, first.root.bytes);
    // With room, the next gc drops them.
    assert.deepEqual((await again.gc()).dropped, [att.digest]);
  });
});

describe('a folder that refuses new files', () => {
  it('is said in words with a hint for a layout and an archive, never naming a file of ours', async (t) => {
    const dir = await tempDir();
    const path = join(dir, 'l');
    const store = await LayoutStore.open(path, { create: true });
    await store.close();
    const folder = join(dir, 'ro');
    await mkdir(folder);
    const undo = await refuseNewFiles(path);
    const undoFolder = undo === undefined ? undefined : await refuseNewFiles(folder);
    if (undo === undefined || undoFolder === undefined) {
      // One may have been made to refuse and the other not: undone, or the clean-up fails on it.
      await undo?.();
      return t.skip('no folder here refuses a new file');
    }
    const refused = (e: unknown) =>
      isProvenantError(e, 'IO') &&
      /^cannot write (oci|oci-archive):.*: permission denied$/.test(e.message) &&
      /ls -ld /.test(e.hint ?? '') &&
      !`${e.message} ${e.hint}`.includes('.provenant-');
    try {
      await assert.rejects(LayoutStore.open(path, { create: true }), refused);
      await assert.rejects(async () => (await LayoutStore.open(path)).gc(), refused);
      await assert.rejects(LayoutStore.open(join(folder, 'new'), { create: true }), refused);
      await assert.rejects(openOciArchive(join(folder, 'a.tar'), { write: true }), refused);
    } finally {
      await undo();
      await undoFolder();
    }
    await rm(folder, { recursive: true });
  });

  // No folder fills up or turns read-only on demand in a test: the system's errors as it gives them.
  it('and a full or read-only file system too, in the words -o uses', () => {
    const raise = (code: string, syscall: string, path?: string) =>
      Object.assign(new Error(`${code}: boom, ${syscall}${path === undefined ? '' : ` '${path}'`}`), { code, syscall, path });
    const full = fileError(raise('ENOSPC', 'write'), 'oci:lay');
    assert.equal(full.message, 'cannot write oci:lay: no space left on device');
    assert.match(full.hint ?? '', /free space/);
    // A file size limit (or a file system's largest file) is no room either, said as such.
    const big = fileError(raise('EFBIG', 'write'), 'oci:lay');
    assert.match(big.message, /^cannot write oci:lay: the file would be larger than .*ulimit -f/);
    assert.match(big.hint ?? '', /raise the file size limit/);
    const ro = fileError(raise('EROFS', 'open', 'm1/lay/.provenant-writer-0123'), 'oci:m1/lay');
    assert.equal(ro.message, 'cannot write oci:m1/lay: m1/lay is on a read-only file system');
    assert.equal(ro.hint, 'write it to a writable folder');
    // A file that is there and cannot be read is not a refused write: said, as the file the system named.
    const unread = fileError(raise('EACCES', 'open', import.meta.filename), 'x');
    assert.equal(unread.message, `cannot open ${import.meta.filename}: permission denied`);
    assert.match(unread.hint ?? '', /may not open it/);
    assert.equal(fileError(raise('EACCES', 'scandir', '/a/b'), 'x').message, 'cannot list /a/b: permission denied');
  });

  it('a layout this user may not read is said in words, not as EACCES, with the folder or file that refused', async (t) => {
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) return t.skip('needs root and setpriv');
    const dir = await tempDir();
    await chmod(dir, 0o755);
    /** What opening the layout at `path` says, as nobody (uid 65534). */
    const asNobody = (path: string) => {
      const script = `import { LayoutStore } from ${JSON.stringify(layoutModule)};\nawait LayoutStore.open(${JSON.stringify(path)}).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })));`;
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { code: string; message: string; hint: string };
    };
    const made = async (path: string) => (await LayoutStore.open(path, { create: true })).close();
    // The layout's own folder may not be entered.
    const path = join(dir, 'l');
    await made(path);
    await chmod(path, 0o700);
    assert.deepEqual(asNobody(path), {
      code: 'IO',
      message: `cannot open ${path}/oci-layout: permission denied`,
      hint: `this user may not enter ${path}, a folder above it: run as a user who may, or change that folder's permissions (ls -ld ${path})`,
    });
    // A folder above it may not be entered: that folder is named, not the file, which \`ls -ld\` could not show either.
    const priv = join(dir, 'priv');
    await made(join(priv, 'lay'));
    await chmod(priv, 0o700);
    const inPriv = asNobody(join(priv, 'lay'));
    assert.equal(inPriv.code, 'IO');
    assert.match(inPriv.message, /: permission denied$/);
    assert.equal(
      inPriv.hint,
      `this user may not enter ${priv}, a folder above it: run as a user who may, or change that folder's permissions (ls -ld ${priv})`,
    );
    // Every folder may be entered, and the file may not be read: the file is named.
    const own = join(dir, 'own');
    await made(own);
    await chmod(join(own, 'oci-layout'), 0o600);
    assert.deepEqual(asNobody(own), {
      code: 'IO',
      message: `cannot open ${own}/oci-layout: permission denied`,
      hint: `this user may not open it: run as a user who may, or change its permissions (ls -ld ${own}/oci-layout)`,
    });
  });
});

describe('a lock taken on a full disk (empty: no room for its owner line)', () => {
  it('is not taken for its holder’s once broken and made again, even in the same inode', async (t) => {
    if (!prlimit) return t.skip('no prlimit here');
    const dir = await tempDir();
    const lockFile = join(dir, '.provenant-lock');
    const lockModule = join(import.meta.dirname, '..', '..', 'src', 'store', 'layout-lock.ts');
    // A holder whose file size limit leaves no room for the owner line; told when to look again.
    const script = `import { LayoutLock } from ${JSON.stringify(lockModule)};
const lock = await LayoutLock.acquire(${JSON.stringify(dir)});
console.log('held');
process.stdin.once('data', async () => {
  const still = await lock.assertHeld('oci:x', 'nothing').then(() => 'still held', () => 'lost');
  await lock.release();
  console.log(still);
  process.exit(0);
});`;
    const holder = spawn('prlimit', ['--fsize=10', '--', process.execPath, '--input-type=module', '-e', script], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    holder.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const ended = new Promise((resolve) => holder.on('close', resolve));
    const held = await new Promise<boolean>((resolve) => {
      holder.stdout.on('data', () => out.includes('held') && resolve(true));
      void ended.then(() => resolve(false));
    });
    assert.ok(held, `the holder took the lock: ${out}`);
    const before = await stat(lockFile);
    assert.equal(before.size, 0, 'the lock holds no owner line');
    // Broken as a stopped holder's is after a minute, and made again by the next waiter.
    await rm(lockFile);
    await writeFile(lockFile, '');
    if ((await stat(lockFile)).ino !== before.ino) {
      holder.kill();
      return t.skip('this file system gave the new lock another inode: the case needs one that reuses it at once (ext4)');
    }
    holder.stdin.write('look\n');
    await ended;
    assert.match(out, /^lost$/m, 'the old holder knows it lost the lock');
    assert.equal((await stat(lockFile)).size, 0, 'and left the new holder’s lock in place');
  });
});

describe('gc on a full ext4 file system', () => {
  // A real full disk: a small ext4 image mounted through a loop device, which only root can do.
  // There mkdir needs a block, so gc could make neither the owner line of its lock nor its trash.
  const root = process.getuid?.() === 0;
  const tools = spawnSync('mkfs.ext4', ['-V']).status === 0;

  it('frees the blobs nothing keeps all the same, and keeps the rest', async (t) => {
    if (!root || !tools) return t.skip('needs root and mkfs.ext4 to mount a small ext4 image');
    const dir = await tempDir();
    const image = join(dir, 'disk.img');
    const mount = join(dir, 'mnt');
    await mkdir(mount);
    await writeFile(image, new Uint8Array(0));
    if (spawnSync('truncate', ['-s', '4M', image]).status !== 0) return t.skip('no truncate here');
    if (spawnSync('mkfs.ext4', ['-q', '-F', '-b', '1024', '-N', '128', '-m', '0', image]).status !== 0) return t.skip('mkfs.ext4 failed');
    if (spawnSync('mount', ['-o', 'loop', image, mount]).status !== 0) return t.skip('this system mounts no loop device');
    try {
      const path = join(mount, 'l');
      const store = await LayoutStore.open(path, { create: true });
      await makeImage(store, { platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, tag: 'kept' });
      const kept = (await readdir(join(path, 'blobs', 'sha256'))).sort();
      // Unreferenced blobs until the disk is full.
      const garbage: string[] = [];
      for (let i = 0; ; i++) {
        const bytes = new Uint8Array(256 * 1024).fill(i % 256);
        bytes[0] = i >> 8;
        const d = descriptorOf(bytes, 'application/octet-stream');
        const full = await store.putBlob(bytesSource(d, bytes)).then(
          () => false,
          () => true,
        );
        if (full) break;
        garbage.push(d.digest);
      }
      await store.close();
      // Every block taken, even the last ones a small write could still have had.
      for (;;) {
        const full = await appendFile(join(mount, 'fill'), new Uint8Array(1024)).then(
          () => false,
          () => true,
        );
        if (full) break;
      }
      assert.ok(garbage.length > 0);
      const again = await LayoutStore.open(path);
      const result = await again.gc();
      await again.close();
      assert.ok(result.removed.length > 0, 'gc freed blobs');
      assert.deepEqual(
        result.removed.filter((d) => !garbage.includes(d)),
        [],
        'only blobs nothing keeps',
      );
      const left = await readdir(join(path, 'blobs', 'sha256'));
      for (const hex of kept) assert.ok(left.includes(hex), 'what the tag keeps stays');
      assert.deepEqual((await readdir(path)).sort(), ['blobs', 'index.json', 'oci-layout'], 'no trash and no lock left');
      // A second gc, with room now, frees the rest.
      const last = await LayoutStore.open(path);
      await last.gc();
      await last.close();
      assert.deepEqual((await readdir(join(path, 'blobs', 'sha256'))).sort(), kept);
    } finally {
      spawnSync('umount', [mount]);
    }
  });
});

describe('a blob a gc on a full disk left beside its trash folder', () => {
  it('is said to be there, and put back by the next command that writes', async () => {
    const {
      dir,
      made: [made],
    } = await layoutHolding({ platforms: [{ os: 'linux', architecture: 'amd64' }], layers: 1, tag: 'app' });
    assert.ok(made);
    const [digest, bytes] = [...made.blobs].find(([d]) => d !== made.root.digest && !made.manifests.some((m) => m.digest === d))!;
    const d = descriptorOf(bytes, 'application/octet-stream');
    assert.equal(d.digest, digest);
    // As a gc that could not make its trash folder leaves it when it dies before putting it back.
    const beside = `.provenant-gc-trash-sha256-${digestHex(d.digest)}`;
    await rename(join(dir, 'blobs', 'sha256', digestHex(d.digest)), join(dir, beside));
    await assert.rejects(
      (await LayoutStore.open(dir)).readBlob(d),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.message.includes(`it is in ${beside}, where a gc moves blobs`),
    );
    const result = await (await LayoutStore.open(dir)).gc();
    assert.deepEqual(result.removed, []);
    assert.deepEqual((await readdir(dir)).sort(), ['blobs', 'index.json', 'oci-layout']);
    assert.deepEqual(await readFile(join(dir, 'blobs', 'sha256', digestHex(d.digest))), Buffer.from(bytes));
  });
});

describe('a layout whose folder goes while it is opened or used', () => {
  /**
   * Runs `body` while the first exclusive create of `dir`'s lock file first removes `dir` (or, with
   * `keepFolder`, all in it), as a creator discarding the layout it made does.
   */
  async function removedBeforeLock<T>(dir: string, body: () => Promise<T>, keepFolder = false): Promise<T> {
    const lockFile = join(dir, '.provenant-lock');
    const { value, calls } = await atCall(
      fsp,
      'open',
      {
        at: (file, flags) => file === lockFile && flags === 'wx',
        does: () => {
          for (const name of keepFolder ? readdirSync(dir) : []) rmSync(join(dir, name), { recursive: true });
          if (!keepFolder) rmSync(dir, { recursive: true });
        },
      },
      body,
    );
    assert.equal(calls, 1, 'the folder was removed before the lock was taken');
    return value;
  }

  it('an open to write makes the layout again when its maker discards it before this open registers', async () => {
    const dir = join(await tempDir(), 'a', 'b');
    await (await LayoutStore.open(dir, { create: true })).close();
    // The layout is found, empty; its folder goes before this open takes the lock to register.
    const store = await removedBeforeLock(dir, () => LayoutStore.open(dir, { create: true }));
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.provenant-writer-')).sort(), ['blobs', 'index.json', 'oci-layout']);
    // It made it, so a discarding close takes it away again.
    await store.close({ discard: true });
    assert.equal(existsSync(dir), false);
    // Its files gone and its folder left (a maker that found the folder there leaves it).
    await (await LayoutStore.open(dir, { create: true })).close();
    const again = await removedBeforeLock(dir, () => LayoutStore.open(dir, { create: true }), true);
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.provenant-writer-')).sort(), ['blobs', 'index.json', 'oci-layout']);
    await again.close();
  });

  it('an open to write makes the folder again when it goes between the mkdir that finds it there and the look at it', async () => {
    const dir = join(await tempDir(), 'a');
    await mkdir(dir);
    // Another creator's folder, found there, then discarded by it.
    const { value: store, calls } = await atCall(
      fsp,
      'mkdir',
      { at: (path) => path === dir, when: 'EEXIST', does: () => rmSync(dir, { recursive: true }) },
      () => LayoutStore.open(dir, { create: true }),
    );
    assert.equal(calls, 1, 'the folder was removed after the mkdir that found it');
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.provenant-writer-')).sort(), ['blobs', 'index.json', 'oci-layout']);
    await store.close();
  });

  it('an open to write makes the layout again when its maker discards it between oci-layout and index.json', async () => {
    const dir = join(await tempDir(), 'a');
    await (await LayoutStore.open(dir, { create: true })).close();
    const { value: store, calls } = await atCall(
      fs,
      'openSync',
      { at: (path) => path === join(dir, 'index.json'), does: () => rmSync(dir, { recursive: true }) },
      () => LayoutStore.open(dir, { create: true }),
    );
    assert.equal(calls, 1, 'the layout was removed after its oci-layout was read');
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.provenant-writer-')).sort(), ['blobs', 'index.json', 'oci-layout']);
    await store.close({ discard: true });
    assert.equal(existsSync(dir), false, 'made by this open, so taken away by its discarding close');
  });

  it('an open to write makes the layout again when another made it meanwhile and discards it before it is read', async () => {
    const dir = join(await tempDir(), 'a');
    await (await LayoutStore.open(dir, { create: true })).close();
    const stash = `${dir}.oci-layout`;
    let listed = 0;
    // Not there at the first look (its maker is writing it), there when creation lists the folder
    // (so this open takes it as made), gone when it is read (its maker discarded it).
    const { value: store, calls: opens } = await atCall(
      fs,
      'openSync',
      {
        at: (path) => path === join(dir, 'oci-layout'),
        times: 2,
        does: (n) => (n === 1 ? renameSync(join(dir, 'oci-layout'), stash) : rmSync(dir, { recursive: true })),
      },
      async () => {
        const made = await atCall(
          fsp,
          'readdir',
          { at: (path) => path === dir, does: () => renameSync(stash, join(dir, 'oci-layout')) },
          () => LayoutStore.open(dir, { create: true }),
        );
        listed = made.calls;
        return made.value;
      },
    );
    assert.ok(opens === 2 && listed === 1, 'made meanwhile, then removed');
    assert.deepEqual((await readdir(dir)).filter((n) => !n.startsWith('.provenant-writer-')).sort(), ['blobs', 'index.json', 'oci-layout']);
    await store.close();
  });

  it('a gc whose layout was removed says so, not a bare ENOENT on the lock file', async () => {
    const { dir } = await layoutHolding({ tag: 'v1' });
    const store = await LayoutStore.open(dir);
    await assert.rejects(
      removedBeforeLock(dir, () => store.gc()),
      removedError(dir),
    );
    // Again, the folder gone for good.
    await assert.rejects(store.gc({ dryRun: true }), removedError(dir));
    assert.equal(existsSync(dir), false);
  });
});

describe('a layout removed while a command writes it', () => {
  /**
   * A new layout, holding image v1 if `written`, whose folder is removed under its open store:
   * each of `writes` is refused as removed, and nothing makes the folder again, not even close.
   */
  async function writesAfterRemoval(written: boolean, writes: ((store: LayoutStore) => Promise<unknown>)[]): Promise<void> {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    if (written) await makeImage(store, { tag: 'v1' });
    rmSync(dir, { recursive: true });
    for (const write of writes) await assert.rejects(write(store), removedError(dir));
    assert.equal(existsSync(dir), false);
    await store.close();
    assert.equal(existsSync(dir), false);
  }

  it('says so at the first write, and makes nothing again', () => writesAfterRemoval(false, [(store) => makeImage(store, { tag: 'v1' })]));

  it('says so at a later write, and leaves no blobs/ folder where it was', () =>
    // The same blobs again (recorded already), then new ones.
    writesAfterRemoval(true, [(store) => makeImage(store, { tag: 'v2' }), (store) => makeImage(store, { tag: 'v3', seed: 7 })]));

  it('says so when only its files went, and puts no blobs/ in the folder left', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    await makeImage(store, { tag: 'v1' });
    for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true });
    await assert.rejects(makeImage(store, { tag: 'v2', seed: 7 }), removedError(dir, 'holds no oci-layout file any more'));
    // The writer's own list (made again by its next record) is the coordination file close removes.
    assert.deepEqual(
      readdirSync(dir).filter((n) => !n.startsWith('.provenant-writer-')),
      [],
    );
    await store.close();
    assert.deepEqual(readdirSync(dir), []);
  });

  it('says so when it goes under the lock, before index.json is read', async () => {
    const dir = join(await tempDir(), 'img');
    const store = await LayoutStore.open(dir, { create: true });
    const made = await makeImage(store, { tag: 'v1' });
    const { calls } = await atCall(
      fs,
      'openSync',
      { at: (path) => path === join(dir, 'index.json'), does: () => rmSync(dir, { recursive: true }) },
      () => assert.rejects(store.putManifest(made.root, { tags: ['v2'] }), removedError(dir)),
    );
    assert.equal(calls, 1);
    assert.equal(existsSync(dir), false);
    await store.close();
  });
});

describe('a gc whose layout is removed while it runs', () => {
  it('says so, not a bare ENOENT on the folder it was listing', async () => {
    const { dir } = await layoutHolding({ tag: 'v1' }, { seed: 9 });
    const store = await LayoutStore.open(dir);
    // Removed once gc has read index.json and walked what it keeps, as it lists the blobs.
    const { calls } = await atCall(
      fsp,
      'readdir',
      { at: (path) => path === join(dir, 'blobs'), does: () => rmSync(dir, { recursive: true }) },
      () => assert.rejects(store.gc(), removedError(dir)),
    );
    assert.equal(calls, 1);
    assert.equal(existsSync(dir), false);
  });
});

describe('a layout that cannot be made', () => {
  it('in a folder that makes no new files (procfs) says so, not that another process removed it', async (t) => {
    if (
      !(await stat('/proc/self').then(
        () => true,
        () => false,
      ))
    )
      return t.skip('no procfs here');
    await assert.rejects(LayoutStore.open('/proc/provenant-test', { create: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(e.message, 'cannot make oci:/proc/provenant-test: no folder can be made in /proc (no such file or directory)');
      assert.equal(e.where, 'oci:/proc/provenant-test');
      return true;
    });
    // Nor below a folder it would make there first.
    await assert.rejects(LayoutStore.open('/proc/provenant-test/a/l', { create: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(e.message, 'cannot make oci:/proc/provenant-test/a/l: no folder can be made in /proc (no such file or directory)');
      return true;
    });
  });

  it('at a symbolic link to nothing says so, after one look, not that another process removed it', async () => {
    const dir = await tempDir();
    const path = join(dir, 'out.oci');
    await symlink(join(dir, 'gone'), path);
    await assert.rejects(LayoutStore.open(path, { create: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(e.message, `cannot make oci:${path}: it is a symbolic link to ${join(dir, 'gone')}, which is not there`);
      assert.equal(e.where, `oci:${path}`);
      assert.match(e.hint ?? '', /make the folder it points to/);
      return true;
    });
    // Nothing was made, and the link is as it was.
    assert.deepEqual(await readdir(dir), ['out.oci']);
    assert.equal(await readlink(path), join(dir, 'gone'));
  });

  it('below a symbolic link to nothing names that link, not the layout nor "file already exists"', async () => {
    const dir = await tempDir();
    const link = join(dir, 'dang');
    await symlink(join(dir, 'gone'), link);
    const path = join(link, 'sub', 'out.oci');
    await assert.rejects(LayoutStore.open(path, { create: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(e.message, `cannot make oci:${path}: ${link} is a symbolic link to ${join(dir, 'gone')}, which is not there`);
      assert.equal(e.hint, `make the folder it points to, or remove the link (${link})`);
      return true;
    });
    assert.deepEqual(await readdir(dir), ['dang']);
  });

  it('at a chain of links that ends at nothing names where it ends, not the next link as missing', async () => {
    const dir = await tempDir();
    await symlink('nowhere', join(dir, 'dang'));
    await symlink('dang', join(dir, 'chain'));
    const path = join(dir, 'chain');
    await assert.rejects(LayoutStore.open(path, { create: true }), (e: unknown) => {
      assert.ok(isProvenantError(e, 'IO'), String(e));
      assert.equal(
        e.message,
        `cannot make oci:${path}: it is a symbolic link to dang, a chain of links that ends at ${join(dir, 'nowhere')}, which is not there`,
      );
      return true;
    });
    assert.deepEqual((await readdir(dir)).sort(), ['chain', 'dang']);
  });
});

describe('a blob read whose file goes before it is read', () => {
  /** A layout holding one image, and a layer of it. */
  async function oneImage(): Promise<{ dir: string; layer: ReturnType<typeof descriptorOf> }> {
    const {
      dir,
      made: [made],
    } = await layoutHolding({ tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const manifest = made?.manifests[0];
    return { dir, layer: manifest?.kind === 'manifest' ? manifest.manifest.layers[0]! : assert.fail('no image manifest') };
  }

  /** Lets the streams a read made in advance open (and fail) before anyone reads them. */
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  for (const [name, offset] of [
    ['from its start', 0],
    ['from an offset', 10],
  ] as const) {
    it(`says which blob of which layout, to its reader, not as an uncaught error (${name})`, async () => {
      const { dir, layer } = await oneImage();
      const store = await LayoutStore.open(dir);
      const stream = await store.readBlob(layer, { offset });
      // As a gc does between the read's opening and its first chunk.
      rmSync(join(dir, 'blobs', 'sha256', digestHex(layer.digest)));
      await settle();
      await assert.rejects(
        (async () => {
          for await (const _ of stream);
        })(),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
          assert.match(err.message, new RegExp(`^blob ${layer.digest} is not in the layout`));
          assert.equal(err.where, `oci:${dir}@${layer.digest}`);
          return true;
        },
      );
    });
  }

  it('says the layout was removed when the whole layout went', async () => {
    const { dir, layer } = await oneImage();
    const store = await LayoutStore.open(dir);
    const stream = await store.readBlob(layer);
    rmSync(dir, { recursive: true });
    await settle();
    await assert.rejects(
      (async () => {
        for await (const _ of stream);
      })(),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'NOT_FOUND'), String(err));
        assert.equal(
          err.message,
          `blob ${layer.digest} is not in the layout: the layout was removed while this command used it (${dir} is not there any more)`,
        );
        assert.equal(err.where, `oci:${dir}@${layer.digest}`);
        return true;
      },
    );
  });
});
