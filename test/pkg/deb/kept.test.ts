// A .deb kept in the build's cache (src/pkg/deb/kept.ts): a later build gets the package that was
// read, its md5sums and control files read from the cache when asked rather than held, and the
// status.d copy of md5sums pointing there; a head of another form, or control files gone from the
// cache, are misses that read the .deb again; a package whose files do not match md5sums is still
// refused, with its code, and nothing of it kept.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { type ErrorCode, isProvenantError } from '../../../src/errors.ts';
import { writeAr } from '../../../src/pkg/deb/ar.ts';
import { type DebPackage, readDeb } from '../../../src/pkg/deb/deb.ts';
import { installDeb, writeDebDatabase } from '../../../src/pkg/deb/install.ts';
import { controlFilesKey, keptDebKey, loadKeptDeb } from '../../../src/pkg/deb/kept.ts';
import { DebRepositorySource } from '../../../src/pkg/deb/source.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { loadUnpacked } from '../../../src/pkg/unpacked.ts';
import { isFileBody, readBody } from '../../../src/vfs/body.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { useTempDir } from '../../helpers/temp.ts';

const tempDir = useTempDir('deb-kept');
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const code = (c: ErrorCode) => (err: unknown) => isProvenantError(err, c);

const file = (name: string, body: Uint8Array): TarWriteEntry => ({ header: tarHeader({ name, size: body.length, mode: 0o644 }), body });
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });

const HELLO = enc('#!/bin/sh\necho hi\n');
const README = enc('hello\n');

/** A .deb of two files with md5sums (given, or right), a postinst and a symbols file in its control member. */
async function craftDeb(md5sums = `${md5(HELLO)}  usr/bin/hello\n${md5(README)}  usr/share/doc/hello/README\n`): Promise<Uint8Array> {
  const control = 'Package: hello\nVersion: 1.0-1\nArchitecture: amd64\nMaintainer: A <a@example.org>\nDescription: says hi\n';
  const controlTar = await tarBytes([
    dir('./'),
    file('./control', enc(control)),
    file('./md5sums', enc(md5sums)),
    file('./postinst', enc('#!/bin/sh\nexit 0\n')),
    file('./symbols', enc('libhello.so.1 libhello1 #MINVER#\n hello@Base 1.0\n')),
  ]);
  const data = [
    dir('./'),
    dir('./usr/'),
    dir('./usr/bin/'),
    file('./usr/bin/hello', HELLO),
    dir('./usr/share/'),
    dir('./usr/share/doc/'),
    dir('./usr/share/doc/hello/'),
    file('./usr/share/doc/hello/README', README),
  ];
  return writeAr([
    { name: 'debian-binary', data: enc('2.0\n') },
    { name: 'control.tar.gz', data: gzipSync(controlTar) },
    { name: 'data.tar.gz', data: gzipSync(await tarBytes(data)) },
  ]);
}

/** A Debian source over `dir` (the .deb beside it), caching in `dir`/cache, and the lock entry of `bytes` written there. */
async function sourceFor(dir: string, bytes: Uint8Array) {
  await writeFile(join(dir, 'hello.deb'), bytes);
  const cache = new DownloadCache(join(dir, 'cache'));
  const source = new DebRepositorySource({
    repositories: [],
    keyring: [],
    packages: ['hello'],
    configPath: join(dir, 'image.yaml'),
    baseDir: dir,
    cache,
    logger: { debug() {}, info() {}, warn() {} },
  });
  const locked = { name: 'hello', version: '1.0-1', architecture: 'amd64', url: 'hello.deb', checksum: `sha256:${sha256(bytes)}` };
  return { source, cache, locked, key: keptDebKey(`deb:${sha256(bytes)}`), debKey: `deb:${sha256(bytes)}` };
}

/** What a package says, every per-file part read. */
function facts(p: DebPackage) {
  return {
    name: p.name,
    version: p.version,
    control: p.control,
    controlBytes: [...p.controlBytes],
    md5sums: [...p.md5sums],
    md5sumsBytes: p.md5sumsBytes === undefined ? undefined : [...p.md5sumsBytes],
    conffiles: p.conffiles,
    scripts: [...p.scripts].map(([k, v]) => [k, [...v]]),
    controlFiles: [...p.controlFiles].map(([k, v]) => [k, [...v]]),
    entries: [...p.entries].map((e) => [e.path, e.header.type, [...readBody(e.body)]]),
  };
}

describe('a .deb kept in the cache', () => {
  it('is the package that was read, first and later, its md5sums and control files in the cache', async () => {
    const d = await tempDir();
    const bytes = await craftDeb();
    const read = await readDeb(bytes, { where: 'hello.deb' });
    const { source, locked } = await sourceFor(d, bytes);
    const first = await source.fetch(locked);
    const again = await source.fetch(locked);
    assert.equal(again.cached, true);
    for (const got of [first.package, again.package]) {
      assert.deepEqual(facts(got), facts(read));
      // What grows with the package's files is in the cache, not held.
      assert.ok(isFileBody(got.md5sumsFile));
      assert.deepEqual([...readBody(got.md5sumsFile)], [...read.md5sumsBytes!]);
      assert.equal(Object.getOwnPropertyDescriptor(got, 'md5sumsBytes')?.get !== undefined, true);
      assert.ok(!(got.md5sums instanceof Map) && !(got.controlFiles instanceof Map));
      assert.equal(got.md5sums.size, 2);
      assert.equal(got.md5sums.get('usr/bin/hello'), md5(HELLO));
      assert.deepEqual(Object.fromEntries(got.md5sums), Object.fromEntries(read.md5sums));
    }
  });

  it('writes status.d/<package>.md5sums pointing into the cache, the same bytes; a tree alone still gets each file its MD5', async () => {
    const d = await tempDir();
    const bytes = await craftDeb();
    const read = await readDeb(bytes, { where: 'hello.deb' });
    const { source, locked } = await sourceFor(d, bytes);
    const pkg = (await source.fetch(locked)).package;
    const tree = new Tree();
    const installed = installDeb(tree, pkg, { mtime: 1_700_000_000 });
    writeDebDatabase(tree);
    const body = tree.get('var/lib/dpkg/status.d/hello.md5sums')?.body;
    assert.ok(isFileBody(body));
    assert.deepEqual([...readBody(body)], [...read.md5sumsBytes!]);
    // A tree of the package read whole holds the same status.d file, as bytes.
    const whole = new Tree();
    installDeb(whole, read, { mtime: 1_700_000_000 });
    writeDebDatabase(whole);
    assert.deepEqual([...readBody(whole.get('var/lib/dpkg/status.d/hello.md5sums')?.body)], [...readBody(body)]);
    assert.deepEqual(
      installed.files.filter((f) => f.type === 'file').map((f) => [f.path, f.md5]),
      [
        ['usr/bin/hello', md5(HELLO)],
        ['usr/share/doc/hello/README', md5(README)],
      ],
    );
  });

  it('reads a head of another form as a miss, never as a package', async () => {
    const d = await tempDir();
    const bytes = await craftDeb();
    const { source, cache, locked, key, debKey } = await sourceFor(d, bytes);
    await source.fetch(locked);
    // An earlier Provenant sharing the cache looks under the .deb's own key, and finds no index
    // there to misread.
    assert.equal(await loadUnpacked(cache, debKey), undefined);
    const kept = (await loadUnpacked(cache, key))!;
    assert.ok((await loadKeptDeb(cache, key, kept.meta, kept.entries)) !== undefined);
    // The form before this one: the facts with md5sums, its bytes and the control files themselves.
    const read = await readDeb(bytes, { where: 'hello.deb' });
    const { entries: _e, dataTar: _t, ...older } = read;
    for (const meta of [older, { ...(kept.meta as object), format: 'deb-kept-v1' }, null, 'deb', { format: 'deb-kept-v2' }]) {
      assert.equal(await loadKeptDeb(cache, key, meta, kept.entries), undefined);
    }
  });

  it('reads the .deb again when its control files are gone from the cache or damaged, and refuses them changed under a package', async () => {
    const d = await tempDir();
    const bytes = await craftDeb();
    const { source, cache, locked, key } = await sourceFor(d, bytes);
    const first = await source.fetch(locked);
    const control = first.package.md5sumsFile!.path;
    await cache.forget(controlFilesKey(key));
    const kept = (await loadUnpacked(cache, key))!;
    assert.equal(await loadKeptDeb(cache, key, kept.meta, kept.entries), undefined);
    const again = await source.fetch(locked);
    assert.deepEqual(facts(again.package), facts(first.package));
    // The same bytes under the same name, one changed: the check of each read catches it.
    const stored = await readFile(again.package.md5sumsFile!.path);
    assert.equal(again.package.md5sumsFile!.path, control);
    const offset = again.package.md5sumsFile!.offset;
    // A package loaded before the change (its md5sums not read yet) reads the changed bytes, and refuses them.
    const index = (await loadUnpacked(cache, key))!;
    const loaded = (await loadKeptDeb(cache, key, index.meta, index.entries))!;
    stored[offset] = stored[offset]! ^ 1;
    await writeFile(control, stored);
    assert.throws(() => loaded.md5sumsBytes, code('DIGEST_MISMATCH'));
    assert.throws(() => loaded.md5sums.get('usr/bin/hello'), code('DIGEST_MISMATCH'));
    // A later build finds them damaged: a miss, and the .deb read again writes them anew.
    assert.equal(await loadKeptDeb(cache, key, index.meta, index.entries), undefined);
    const repaired = await source.fetch(locked);
    assert.deepEqual(facts(repaired.package), facts(first.package));
    assert.deepEqual(repaired.package.md5sumsBytes, first.package.md5sumsBytes);
    assert.ok((await loadKeptDeb(cache, key, index.meta, index.entries)) !== undefined);
    // Other bytes, whole and sound, under the key: not the files the index recorded, so a miss.
    await cache.put(controlFilesKey(key), enc('other control files'));
    assert.equal(await loadKeptDeb(cache, key, index.meta, index.entries), undefined);
  });

  it('refuses a file whose MD5 is not what md5sums says, with its code, and keeps nothing of the package', async () => {
    const d = await tempDir();
    const bytes = await craftDeb(`${md5(enc('other'))}  usr/bin/hello\n${md5(README)}  usr/share/doc/hello/README\n`);
    const { source, cache, locked, key } = await sourceFor(d, bytes);
    await assert.rejects(source.fetch(locked), code('DIGEST_MISMATCH'));
    assert.equal(await loadUnpacked(cache, key), undefined);
    // Read again from the .deb the cache keeps, and refused again.
    await assert.rejects(source.fetch(locked), code('DIGEST_MISMATCH'));
    // md5sums naming a file the package lacks.
    const missing = await sourceFor(await tempDir(), await craftDeb(`${md5(HELLO)}  usr/bin/hello\n${md5(README)}  usr/bin/nothere\n`));
    await assert.rejects(missing.source.fetch(missing.locked), code('INVALID_PACKAGE'));
    assert.equal(await loadUnpacked(missing.cache, missing.key), undefined);
  });

  it('refuses a .deb whose control names another package, version or architecture than the lock, read whole, streamed or kept', async () => {
    const d = await tempDir();
    const bytes = await craftDeb();
    const { source, locked } = await sourceFor(d, bytes);
    const uncached = new DebRepositorySource({
      repositories: [],
      keyring: [],
      packages: ['hello'],
      configPath: join(d, 'image.yaml'),
      baseDir: d,
      cache: undefined,
      logger: { debug() {}, info() {}, warn() {} },
    });
    const refused = (message: RegExp) => (err: unknown) => {
      assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
      assert.match(err.message, message);
      assert.equal(err.where, 'hello.deb');
      return true;
    };
    const renamed = { ...locked, name: 'goodbye' };
    const newer = { ...locked, version: '2099a-0' };
    const foreign = { ...locked, architecture: 'arm64' };
    // Read whole (no cache), then streamed through the cache the first time (and kept: it is the
    // file of that SHA-256), then kept.
    for (const [what, from] of [
      ['whole', uncached],
      ['streamed', source],
      ['kept', source],
    ] as const) {
      await assert.rejects(from.fetch(renamed), refused(/^hello\.deb is hello 1\.0-1, not goodbye 1\.0-1$/), what);
      await assert.rejects(from.fetch(newer), refused(/^hello\.deb is hello 1\.0-1, not hello 2099a-0$/), what);
      await assert.rejects(from.fetch(foreign), refused(/^hello\.deb is built for amd64, not arm64$/), what);
    }
    assert.equal((await source.fetch(locked)).cached, true);
    // The architecture as apk spells it (a provenance of the apk build type) is the same one.
    assert.equal((await uncached.fetch({ ...locked, architecture: 'x86_64' })).package.name, 'hello');
  });
});
