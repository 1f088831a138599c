// GNU tar is the judge: it must list and extract what we write, and we must read what it writes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, link, lstat, mkdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cleanEntryPath } from '../../src/archive/paths.ts';
import { type TarHeader, tarBytes } from '../../src/archive/tar.ts';
import { toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { hdr, readAll, text } from './helpers.ts';

const TAR = '/usr/bin/tar';
const skip = toolMissing(TAR);

function tar(args: string[], cwd: string): string {
  const r = spawnSync(TAR, args, { cwd, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', LC_ALL: 'C.UTF-8' } });
  assert.equal(r.status, 0, `tar ${args.join(' ')} failed: ${r.stderr}${r.error ?? ''}`);
  return r.stdout;
}

const tempDir = useTempDir('gnutar');

const LONG_DIR = `deep/${'d'.repeat(60)}/${'e'.repeat(60)}`; // a name over 100 bytes that ustar can still split
const LONG_FILE = `${LONG_DIR}/${'f'.repeat(80)}.txt`;
const VERY_LONG = `${'v'.repeat(120)}/${'w'.repeat(120)}/${'x'.repeat(120)}`; // no ustar split: PAX or GNU L
const TARGET = `../${'t'.repeat(150)}`; // a link target over 100 bytes
const MTIME = 1_600_000_000;

/** What we write (and expect GNU tar to see). */
const ours: Array<{ header: TarHeader; body?: Uint8Array }> = [
  { header: hdr({ name: 'dir/', type: 'dir', mode: 0o755, mtime: MTIME }) },
  { header: hdr({ name: 'dir/hello.txt', mode: 0o640, size: 6, uid: 1234, gid: 5678, mtime: MTIME }), body: text('hello\n') },
  { header: hdr({ name: 'dir/empty', mode: 0o600, mtime: MTIME }) },
  { header: hdr({ name: 'dir/run.sh', mode: 0o755, size: 10, mtime: MTIME }), body: text('#!/bin/sh\n') },
  { header: hdr({ name: 'dir/ünïcödé-名前.txt', mode: 0o644, size: 3, mtime: MTIME, uname: 'jürgen' }), body: text('abc') },
  { header: hdr({ name: 'dir/link', type: 'symlink', mode: 0o777, linkname: 'hello.txt', mtime: MTIME }) },
  { header: hdr({ name: 'dir/longlink', type: 'symlink', mode: 0o777, linkname: TARGET, mtime: MTIME }) },
  { header: hdr({ name: 'dir/hard', type: 'hardlink', mode: 0o640, linkname: 'dir/hello.txt', mtime: MTIME }) },
  { header: hdr({ name: 'dir/fifo', type: 'fifo', mode: 0o644, mtime: MTIME }) },
  { header: hdr({ name: `${VERY_LONG}`, mode: 0o644, size: 4, mtime: MTIME, uid: 0o10000000 }), body: text('long') },
  { header: hdr({ name: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3, mtime: MTIME }) },
];

describe('GNU tar reads what writeTar writes', { skip }, () => {
  it('lists every entry with its type, mode, owner, size and link target', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'ours.tar'), await tarBytes(ours));
    const names = tar(['--quoting-style=literal', '-tf', 'ours.tar'], dir).trimEnd().split('\n');
    assert.deepEqual(
      names,
      ours.map((e) => e.header.name),
    );
    const lines = tar(['--quoting-style=literal', '--numeric-owner', '-tvf', 'ours.tar'], dir).trimEnd().split('\n');
    const line = (name: string): string => lines.find((l) => l.includes(` ${name}`))!;
    assert.match(line('dir/'), /^drwxr-xr-x 0\/0 +0 2020-09-13 12:26 dir\/$/);
    assert.match(line('dir/hello.txt'), /^-rw-r----- 1234\/5678 +6 /);
    assert.match(line('dir/empty'), /^-rw------- 0\/0 +0 /);
    assert.match(line('dir/link'), /^lrwxrwxrwx .* dir\/link -> hello\.txt$/);
    assert.ok(line('dir/longlink').endsWith(`dir/longlink -> ${TARGET}`));
    assert.match(line('dir/hard'), /^hrw-r----- .* dir\/hard link to dir\/hello\.txt$/);
    assert.match(line('dir/fifo'), /^prw-r--r-- /);
    assert.match(line('dev/null'), /^crw-rw-rw- 0\/0 +1,3 /);
    assert.match(line(VERY_LONG), new RegExp(`^-rw-r--r-- ${0o10000000}/0 +4 `));
  });

  it('extracts names, modes, times, link targets and contents', async () => {
    const dir = await tempDir();
    const out = join(dir, 'out');
    await mkdir(out);
    // Devices need privileges a test should not assume.
    await writeFile(join(dir, 'ours.tar'), await tarBytes(ours.filter((e) => e.header.type !== 'char')));
    tar(['-xpf', '../ours.tar', '--no-same-owner'], out);
    for (const { header, body } of ours) {
      if (header.type === 'char') continue;
      const path = join(out, cleanEntryPath(header.name));
      const s = await lstat(path);
      assert.equal(s.mtimeMs / 1000, MTIME, header.name);
      if (header.type !== 'symlink') assert.equal(s.mode & 0o7777, header.mode, header.name);
      if (header.type === 'file') assert.deepEqual(new Uint8Array(await readFile(path)), body ?? new Uint8Array(0), header.name);
      if (header.type === 'dir') assert.ok(s.isDirectory());
      if (header.type === 'fifo') assert.ok(s.isFIFO());
      if (header.type === 'symlink') assert.equal(await readlink(path), header.linkname);
      if (header.type === 'hardlink') assert.equal(s.ino, (await stat(join(out, header.linkname))).ino);
    }
  });
});

describe('readTar reads what GNU tar writes', { skip }, () => {
  async function tree(): Promise<string> {
    const root = join(await tempDir(), 'src');
    await mkdir(join(root, 'top', LONG_DIR), { recursive: true });
    await writeFile(join(root, 'top', 'file.txt'), 'content\n');
    await writeFile(join(root, 'top', 'zero'), '');
    await writeFile(join(root, 'top', LONG_FILE), 'long file\n');
    await writeFile(join(root, 'top', 'ünï.txt'), 'u');
    await chmod(join(root, 'top', 'file.txt'), 0o750);
    await symlink('file.txt', join(root, 'top', 'sym'));
    await link(join(root, 'top', 'file.txt'), join(root, 'top', 'hard'));
    await mkdir(join(root, 'top', 'emptydir'));
    return root;
  }

  /** What ustar cannot hold: a name with no prefix/name split and a link target over 100 bytes. */
  async function withVeryLong(root: string): Promise<void> {
    await mkdir(join(root, 'top', VERY_LONG.slice(0, VERY_LONG.lastIndexOf('/'))), { recursive: true });
    await writeFile(join(root, 'top', VERY_LONG), 'very long');
    await symlink(TARGET, join(root, 'top', 'longsym'));
  }

  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    it(`reads --format=${format}: long names, links, an empty file and directories`, async () => {
      const root = await tree();
      if (format !== 'ustar') await withVeryLong(root); // ustar cannot hold it
      const files = ['top'];
      const archive = join(root, '..', `${format}.tar`);
      // Fixed times and sorted names keep GNU tar's output stable.
      for (const p of ['top', 'top/file.txt']) await utimes(join(root, p), MTIME, MTIME);
      tar(['--format', format, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '-cf', archive, ...files], root);

      const raw = await readFile(archive, 'latin1');
      // The archive really uses the extension this test is about.
      if (format === 'gnu') assert.ok(raw.includes('././@LongLink'), 'GNU long names');
      if (format === 'pax') assert.ok(raw.includes(' path=top/vvv'), 'PAX path record');
      const entries = await readAll(createReadStream(archive), archive);
      const byName = new Map(entries.map((e) => [e.header.name, e]));
      // GNU tar's own listing is the reference for names and order.
      const listed = tar(['--quoting-style=literal', '-tf', archive], root).trimEnd().split('\n');
      assert.deepEqual(
        entries.map((e) => e.header.name),
        listed,
      );

      const file = byName.get('top/file.txt')!;
      assert.equal(file.header.type, 'file');
      assert.equal(file.header.mode, 0o750);
      assert.equal(file.header.mtime, MTIME);
      assert.equal(file.header.uid, 0);
      assert.equal(Buffer.from(file.body).toString(), 'content\n');
      assert.equal(byName.get('top/zero')!.header.size, 0);
      assert.equal(byName.get('top/zero')!.body.length, 0);
      assert.equal(byName.get('top/')!.header.type, 'dir');
      assert.equal(byName.get('top/emptydir/')!.header.type, 'dir');
      assert.equal(byName.get('top/sym')!.header.type, 'symlink');
      assert.equal(byName.get('top/sym')!.header.linkname, 'file.txt');
      // Sorted by name, top/file.txt is stored first and top/hard as a link to it.
      const hard = byName.get('top/hard')!;
      assert.equal(hard.header.type, 'hardlink');
      assert.equal(hard.header.linkname, 'top/file.txt');
      assert.equal(hard.body.length, 0);
      assert.equal(Buffer.from(byName.get(`top/${LONG_FILE}`)!.body).toString(), 'long file\n');
      assert.equal(Buffer.from(byName.get('top/ünï.txt')!.body).toString(), 'u');
      if (format !== 'ustar') {
        assert.equal(Buffer.from(byName.get(`top/${VERY_LONG}`)!.body).toString(), 'very long');
        assert.equal(byName.get('top/longsym')!.header.linkname, TARGET);
      }
      if (format === 'pax') assert.ok(file.header.pax?.atime !== undefined, 'GNU tar records atime in PAX headers');
    });
  }
});
