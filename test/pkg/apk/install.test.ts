// Installing apk packages hands their entries over to the tree: a build does not keep a header
// of every file of the image next to the tree that holds the same files (issue 16, memory).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { crc32, gunzipSync, gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { readTar, type TarWriteEntry, tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { layerBytes, treeLayer } from '../../../src/builder/layer.ts';
import { ByteBuilder } from '../../../src/bytes.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { silentLogger } from '../../../src/io/types.ts';
import { type ApkPackageInfo, parseApkIndexText } from '../../../src/pkg/apk/apkindex.ts';
import { ApkoFs } from '../../../src/pkg/apk/apko-fs.ts';
import { apkoInstall } from '../../../src/pkg/apk/apko-install.ts';
import { ApkFiles } from '../../../src/pkg/apk/files.ts';
import { installApk, installedStanza, replacesFile } from '../../../src/pkg/apk/install.ts';
import { apkPackageInfo, readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { ApkSource } from '../../../src/pkg/apk/source.ts';
import { type ApkSpec, buildApk } from '../../../src/pkg/apk/write.ts';
import { encodeEntries, keptEntries } from '../../../src/pkg/unpacked-index.ts';
import { readBody } from '../../../src/vfs/body.ts';
import { Tree } from '../../../src/vfs/tree.ts';
import { sh, toolMissing } from '../../helpers/images.ts';

const EPOCH = 1_700_000_000;
const options = {
  repositories: [],
  keyring: [],
  packages: ['hello'],
  configPath: 'image.yaml',
  baseDir: '.',
  cache: undefined,
  logger: silentLogger,
};

describe('ApkSource.install', () => {
  it('empties each package of its entries once they are in the tree', async () => {
    const greeting = new TextEncoder().encode('hello\n');
    const bytes = await buildApk({
      name: 'hello',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [
        { path: 'usr/share/hello/greeting', type: 'file', body: greeting },
        { path: 'usr/share/hello/link', type: 'symlink', target: 'greeting' },
      ],
    });
    const pkg = await readApkPackage(bytes, { where: 'hello.apk', allowUntrusted: true });
    const info = apkPackageInfo(pkg, bytes.length, 'hello.apk');
    assert.ok(
      pkg.entries.some((e) => e.path === 'usr/share/hello/greeting'),
      'read with its entries',
    );

    const tree = new Tree();
    const source = new ApkSource(options, new ApkKeyring());
    const [installed] = await source.install(tree, [{ info, pkg }], 'x86_64', { mtime: EPOCH, clamp: undefined });

    assert.deepEqual(pkg.entries, []);
    assert.deepEqual(readBody(tree.get('usr/share/hello/greeting')?.body), greeting);
    assert.equal(tree.get('usr/share/hello/link')?.linkname, 'greeting');
    assert.deepEqual(
      installed?.files?.map((f) => f.path),
      ['/usr/share/hello/greeting'],
      'the file list is made before the entries go',
    );
    const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
    assert.match(database, /\nR:greeting\n/);
    assert.match(database, /\nR:link\n/);
  });
  it("writes apk-tools' ownership lines: M: for a folder and a: for a file that is not root's with the usual mode", async () => {
    const body = new TextEncoder().encode('x\n');
    const bytes = await buildApk({
      name: 'hello',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [
        { path: 'opt/a', type: 'dir', mode: 0o700, uid: 5, gid: 6 },
        { path: 'opt/a/f', type: 'file', body, mode: 0o4755 },
        { path: 'opt/a/g', type: 'file', body, uid: 7 },
        { path: 'opt/b', type: 'dir' },
        { path: 'opt/b/h', type: 'file', body },
      ],
    });
    const pkg = await readApkPackage(bytes, { where: 'hello.apk', allowUntrusted: true });
    const info = apkPackageInfo(pkg, bytes.length, 'hello.apk');
    const tree = new Tree();
    await new ApkSource(options, new ApkKeyring()).install(tree, [{ info, pkg }], 'x86_64', { mtime: EPOCH, clamp: undefined });
    const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
    const block = database.slice(database.indexOf('\nF:opt\n'));
    assert.match(block, /\nF:opt\/a\nM:5:6:700\nR:f\na:0:0:4755\nZ:Q1[^\n]+\nR:g\na:7:0:644\nZ:Q1[^\n]+\nF:opt\/b\nR:h\nZ:Q1[^\n]+\n/);
  });

  it('keeps a file capability (binary, with NULs) byte for byte from the package to the layer', async () => {
    // vfs_cap_data v2 for cap_setuid+ep, as `setcap` leaves it on newuidmap.
    const cap = Uint8Array.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const body = new TextEncoder().encode('#!/bin/sh\n');
    const data = gzipSync(
      await tarBytes([
        { header: tarHeader({ name: 'usr/', type: 'dir', mode: 0o755 }) },
        { header: tarHeader({ name: 'usr/bin/', type: 'dir', mode: 0o755 }) },
        {
          header: tarHeader({
            name: 'usr/bin/newuidmap',
            mode: 0o755,
            size: body.length,
            pax: {
              'APK-TOOLS.checksum.SHA1': createHash('sha1').update(body).digest('hex'),
              'SCHILY.xattr.security.capability': Buffer.from(cap).toString('latin1'),
            },
          }),
          body,
        },
      ]),
    );
    const pkginfo = new TextEncoder().encode(
      `pkgname = shadow\npkgver = 1.0-r0\narch = x86_64\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`,
    );
    const controlTar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: pkginfo.length }), body: pkginfo }]);
    const apk = Buffer.concat([gzipSync(controlTar.subarray(0, controlTar.length - 1024)), data]);
    const pkg = await readApkPackage(apk, { where: 'shadow.apk', allowUntrusted: true });
    const tree = new Tree();
    installApk(tree, apkPackageInfo(pkg, apk.length, 'shadow.apk'), pkg, {});
    const layer = await treeLayer(tree, { workers: 0 });
    for await (const entry of readTar([gunzipSync(await layerBytes(layer))])) {
      if (entry.header.name !== 'usr/bin/newuidmap') continue;
      const value = entry.header.pax?.['SCHILY.xattr.security.capability'];
      assert.deepEqual([...Buffer.from(value ?? '', 'latin1')], [...cap]);
      return;
    }
    assert.fail('the layer has no usr/bin/newuidmap');
  });

  it('refuses what overlayfs reads as its own (an opaque folder, a 0/0 device), naming the package and entry; keeps other attributes', async () => {
    // Once layered, a folder marked opaque hides the files the layers below put in it, and a
    // character device 0/0 deletes the file of its name: files the database still lists.
    const apk = async (entries: TarWriteEntry[]) => {
      const data = gzipSync(await tarBytes([{ header: tarHeader({ name: 'etc/', type: 'dir', mode: 0o755 }) }, ...entries]));
      const pkginfo = new TextEncoder().encode(
        `pkgname = evil\npkgver = 1.0-r0\narch = x86_64\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`,
      );
      const controlTar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: pkginfo.length }), body: pkginfo }]);
      const bytes = Buffer.concat([gzipSync(controlTar.subarray(0, controlTar.length - 1024)), data]);
      const pkg = await readApkPackage(bytes, { where: 'evil.apk', allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, 'evil.apk'), pkg };
    };
    const body = new TextEncoder().encode('x');
    const sha1 = createHash('sha1').update(body).digest('hex');
    const opaque = (attr: string): TarWriteEntry => ({
      header: tarHeader({ name: 'etc/ssl/', type: 'dir', mode: 0o755, pax: { [`SCHILY.xattr.${attr}`]: 'y' } }),
    });
    const cases: [TarWriteEntry, string, RegExp][] = [
      [opaque('trusted.overlay.opaque'), 'etc/ssl/', /extended attribute "trusted\.overlay\.opaque"/],
      [opaque('trusted.overlay.redirect'), 'etc/ssl/', /"trusted\.overlay\.redirect"/],
      [opaque('user.overlay.opaque'), 'etc/ssl/', /"user\.overlay\.opaque"/],
      [opaque('user.fuseoverlayfs.opaque'), 'etc/ssl/', /"user\.fuseoverlayfs\.opaque"/],
      [
        {
          header: tarHeader({
            name: 'etc/motd',
            size: 1,
            pax: { 'APK-TOOLS.checksum.SHA1': sha1, 'SCHILY.xattr.trusted.overlay.metacopy': '\x00' },
          }),
          body,
        },
        'etc/motd',
        /"trusted\.overlay\.metacopy"/,
      ],
      [
        { header: tarHeader({ name: 'etc/passwd', type: 'char', mode: 0o644, devmajor: 0, devminor: 0 }) },
        'etc/passwd',
        /character device 0\/0/,
      ],
    ];
    for (const [entry, name, what] of cases) {
      const { info, pkg } = await apk([entry]);
      const refused = (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') &&
        err.where === 'evil-1.0-r0' &&
        err.message.includes(JSON.stringify(name)) &&
        what.test(err.message);
      assert.throws(() => installApk(new Tree(), info, pkg, {}), refused, name);
      // apko's way too, which installs what apk-tools does but no device.
      const again = await apk([entry]);
      assert.throws(() => apkoInstall(new ApkoFs(new Tree()), [again], { sourceDateEpoch: 0 }), refused, `apko: ${name}`);
    }

    // An attribute of any other namespace, and a device that is not 0/0, stay.
    const { info, pkg } = await apk([
      {
        header: tarHeader({
          name: 'etc/ssl/',
          type: 'dir',
          mode: 0o755,
          pax: { 'SCHILY.xattr.security.selinux': 'system_u:object_r:etc_t:s0', 'SCHILY.xattr.user.mime_type': 'x' },
        }),
      },
      { header: tarHeader({ name: 'etc/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }) },
    ]);
    const tree = new Tree();
    installApk(tree, info, pkg, {});
    assert.deepEqual(tree.get('etc/ssl')?.xattrs, { 'security.selinux': 'system_u:object_r:etc_t:s0', 'user.mime_type': 'x' });
    assert.equal(tree.get('etc/null')?.devminor, 3);
  });

  it("says an error reading a kept package's next entries as the package's, not as the entry installed before it", async () => {
    const data = gzipSync(
      await tarBytes(
        ['etc/', 'etc/a', 'etc/b', 'etc/c'].map((name) => ({
          header: tarHeader({
            name,
            type: name.endsWith('/') ? 'dir' : 'symlink',
            linkname: 'x',
            mode: 0o755,
            // What apko needs of a symlink.
            ...(name.endsWith('/') ? {} : { pax: { 'APK-TOOLS.checksum.SHA1': `Q1${Buffer.alloc(20).toString('base64')}` } }),
          }),
        })),
      ),
    );
    const pkginfo = new TextEncoder().encode(
      `pkgname = kept\npkgver = 1.0-r0\narch = x86_64\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`,
    );
    const controlTar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: pkginfo.length }), body: pkginfo }]);
    const bytes = Buffer.concat([gzipSync(controlTar.subarray(0, controlTar.length - 1024)), data]);
    const pkg = await readApkPackage(bytes, { where: 'kept.apk', allowUntrusted: true });
    const info = apkPackageInfo(pkg, bytes.length, 'kept.apk');
    // The entries as the cache keeps them, a window an entry, the third window changed on disk since.
    const entries = [...pkg.entries];
    const records = encodeEntries(entries, []);
    const dir = mkdtempSync(join(tmpdir(), 'provenant-kept-install-'));
    try {
      const file = join(dir, 'index');
      writeFileSync(file, records);
      pkg.entries = keptEntries(records, '/data', 0, { path: file, offset: 0, window: 1 })! as unknown as typeof pkg.entries;
      const third = encodeEntries(entries.slice(0, 2), []).length;
      writeFileSync(file, Buffer.from(records).fill(0xff, third + 2, third + 3));
      const named = (err: unknown) =>
        isProvenantError(err, 'DIGEST_MISMATCH') &&
        err.where === 'kept-1.0-r0' &&
        err.message === `kept-1.0-r0: the entries at byte ${third} of ${file} are not the ones stored there`;
      assert.throws(() => installApk(new Tree(), info, pkg, {}), named);
      // apko's way too.
      assert.throws(() => apkoInstall(new ApkoFs(new Tree()), [{ info, pkg }], { sourceDateEpoch: 0 }), named);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("keeps apko's own refusals as they were said: a file two packages install names both, not the entry again", async () => {
    const pkgOf = async (name: string, sha1Byte: number) => {
      const data = gzipSync(
        await tarBytes([
          { header: tarHeader({ name: 'etc/', type: 'dir', mode: 0o755 }) },
          {
            header: tarHeader({
              name: 'etc/motd',
              type: 'symlink',
              linkname: name,
              mode: 0o777,
              pax: { 'APK-TOOLS.checksum.SHA1': `Q1${Buffer.alloc(20, sha1Byte).toString('base64')}` },
            }),
          },
        ]),
      );
      const pkginfo = new TextEncoder().encode(
        `pkgname = ${name}\norigin = ${name}\npkgver = 1.0-r0\narch = x86_64\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`,
      );
      const controlTar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: pkginfo.length }), body: pkginfo }]);
      const bytes = Buffer.concat([gzipSync(controlTar.subarray(0, controlTar.length - 1024)), data]);
      const pkg = await readApkPackage(bytes, { where: `${name}.apk`, allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, `${name}.apk`), pkg };
    };
    const both = [await pkgOf('a', 1), await pkgOf('b', 2)];
    assert.throws(
      () => apkoInstall(new ApkoFs(new Tree()), both, { sourceDateEpoch: 0 }),
      (err: unknown) => isProvenantError(err, 'FILE_CONFLICT') && /^a and b both install \/etc\/motd/.test(err.message),
    );
  });

  it('leaves out hidden top-level names before the first other entry, as apko and apk-tools do: one package, one image', async () => {
    const file = (name: string, text: string): TarWriteEntry => {
      const body = new TextEncoder().encode(text);
      return {
        header: tarHeader({ name, size: body.length, pax: { 'APK-TOOLS.checksum.SHA1': createHash('sha1').update(body).digest('hex') } }),
        body,
      };
    };
    const apk = async () => {
      const data = gzipSync(
        await tarBytes([
          file('.pre-install', '#!/bin/sh\n'),
          file('.profile', 'export X=1\n'),
          { header: tarHeader({ name: 'etc/', type: 'dir', mode: 0o755 }) },
          file('etc/motd', 'hi\n'),
        ]),
      );
      const pkginfo = new TextEncoder().encode(
        `pkgname = dots\npkgver = 1.0-r0\narch = x86_64\ndatahash = ${createHash('sha256').update(data).digest('hex')}\n`,
      );
      const controlTar = await tarBytes([{ header: tarHeader({ name: '.PKGINFO', size: pkginfo.length }), body: pkginfo }]);
      const bytes = Buffer.concat([gzipSync(controlTar.subarray(0, controlTar.length - 1024)), data]);
      const pkg = await readApkPackage(bytes, { where: 'dots.apk', allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, 'dots.apk'), pkg };
    };
    const { info, pkg } = await apk();
    const tree = new Tree();
    const record = installApk(tree, info, pkg, {});
    assert.equal(tree.get('.profile'), undefined);
    assert.equal(tree.get('.pre-install'), undefined);
    assert.equal(tree.get('etc/motd')?.type, 'file');
    assert.deepEqual(
      Array.from({ length: record.files.length }, (_, i) => record.files.path(i)),
      ['etc', 'etc/motd'],
    );
    const apko = new Tree();
    const fs = new ApkoFs(apko);
    fs.mkdirAll('usr/lib/apk/db', 0o755);
    apkoInstall(fs, [await apk()], { sourceDateEpoch: 0 });
    assert.equal(apko.get('.profile'), undefined);
    assert.equal(apko.get('etc/motd')?.type, 'file');
  });

  it('keeps a symlink to a folder where a package has that folder, and installs through it, inside the root', async () => {
    const body = new TextEncoder().encode('x');
    const read = async (name: string, files: ApkSpec['files']) => {
      const bytes = await buildApk({ name, version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files });
      const pkg = await readApkPackage(bytes, { where: `${name}.apk`, allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, name), pkg };
    };
    const packages = [
      await read('base', [
        { path: 'usr/lib', type: 'dir' },
        { path: 'lib64', type: 'symlink', target: 'usr/lib' },
        // Climbs above the root: resolved as in a chroot, to /usr/lib as well.
        { path: 'lib32', type: 'symlink', target: '../../../usr/lib' },
        { path: 'etc/motd', type: 'file', body },
        { path: 'motd', type: 'symlink', target: 'etc/motd' },
      ]),
      await read('zlib', [
        { path: 'lib', type: 'dir' },
        { path: 'lib/apk', type: 'dir' },
        { path: 'lib64', type: 'dir' },
        { path: 'lib64/libz.so.1', type: 'file', body },
        { path: 'lib32', type: 'dir' },
        { path: 'lib32/libz32.so.1', type: 'file', body },
        // A symlink to a file is no folder: a folder replaces it, as in apk-tools.
        { path: 'motd', type: 'dir' },
      ]),
    ];
    const tree = new Tree();
    await new ApkSource(options, new ApkKeyring()).install(tree, packages, 'x86_64', { mtime: EPOCH, clamp: undefined });
    assert.equal(tree.get('lib64')?.linkname, 'usr/lib');
    assert.equal(tree.get('lib32')?.linkname, '../../../usr/lib');
    assert.equal(tree.get('lib/apk')?.linkname, '../usr/lib/apk', "apk's own link to its database stays");
    assert.equal(tree.get('usr/lib/libz.so.1')?.type, 'file');
    assert.equal(tree.get('usr/lib/libz32.so.1')?.type, 'file');
    assert.equal(tree.get('lib64/libz.so.1'), undefined);
    assert.equal(tree.get('motd')?.type, 'dir');
    assert.ok(
      tree.paths().every((p) => !p.startsWith('/') && !p.split('/').includes('..')),
      'nothing lands outside the root',
    );
    const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
    assert.match(database, /\nF:lib64\nR:libz\.so\.1\n/, 'the database lists the files as the package names them');
  });
});

describe('the installed database', () => {
  /** Each `R:` of a database as apk-tools reads it: under the last `F:`, which must come first. */
  function filesOf(database: string): string[] {
    const out: string[] = [];
    let folder: string | undefined;
    for (const line of database.split('\n')) {
      if (line.startsWith('F:')) folder = line.slice(2);
      else if (line.startsWith('R:')) {
        assert.ok(folder !== undefined, `R: before any F: in\n${database}`);
        out.push(folder === '' ? line.slice(2) : `${folder}/${line.slice(2)}`);
      }
    }
    return out;
  }

  const [info] = parseApkIndexText('P:p\nV:1.0-r0\nC:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\n', 'test');
  const stanza = (entries: readonly { path: string; type: string }[]): string => {
    const files = new ApkFiles(entries.length);
    for (const e of entries) files.push({ ...e, mode: e.type === 'dir' ? 0o755 : 0o644, uid: 0, gid: 0, sha1: undefined });
    const out = new ByteBuilder();
    installedStanza(out, { info: info!, files });
    return new TextDecoder().decode(out.bytes());
  };

  it("lists a file at the root under the root's empty F:, before or after a folder", () => {
    assert.match(
      stanza([
        { path: 'aaa', type: 'file' },
        { path: 'etc', type: 'dir' },
        { path: 'etc/a', type: 'file' },
      ]),
      /\nF:\nR:aaa\nF:etc\nR:a\n/,
    );
    assert.match(
      stanza([
        { path: 'etc', type: 'dir' },
        { path: 'etc/a', type: 'file' },
        { path: 'z', type: 'file' },
      ]),
      /\nF:etc\nR:a\nF:\nR:z\n/,
    );
  });

  it('gives back every file of any package, in order, as apk-tools reads it (property-based)', () => {
    const segment = fc.constantFrom('a', 'b', 'etc', 'usr', 'lib');
    const paths = fc.uniqueArray(
      fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join('/')),
      { minLength: 1, maxLength: 12 },
    );
    fc.assert(
      fc.property(paths, fc.boolean(), (list, sorted) => {
        const ordered = sorted ? [...list].sort() : list;
        // A path that is another's folder is a folder; the rest are files.
        const entries = ordered.map((path) => ({ path, type: list.some((q) => q.startsWith(`${path}/`)) ? 'dir' : 'file' }));
        const files = entries.filter((e) => e.type === 'file').map((e) => e.path);
        assert.deepEqual(filesOf(stanza(entries)), files);
      }),
      { numRuns: 300 },
    );
  });
});

describe("apk-tools' rules for a file two packages give", () => {
  const pkg = (name: string, fields: string): ApkPackageInfo =>
    parseApkIndexText(`P:${name}\nV:1.0-r0\nC:Q1${name.padEnd(27, 'A')}=\n${fields}`, 'test')[0]!;

  it('decides as apk_pkg_replaces_file does', () => {
    const cases: [string, ApkPackageInfo, ApkPackageInfo, 'yes' | 'no' | 'conflict'][] = [
      ['unrelated', pkg('a', 'o:a\n'), pkg('b', 'o:b\n'), 'conflict'],
      ['the same origin', pkg('foo', 'o:foo\n'), pkg('foo-doc', 'o:foo\n'), 'yes'],
      ['no origin is no shared origin', pkg('a', ''), pkg('b', ''), 'conflict'],
      ['the new one replaces the old', pkg('a', 'o:a\n'), pkg('b', 'o:b\nr:a\n'), 'yes'],
      ['the old one replaces the new', pkg('a', 'o:a\nr:b\n'), pkg('b', 'o:b\n'), 'no'],
      ['both replace each other: the new wins a tie', pkg('a', 'r:b\n'), pkg('b', 'r:a\n'), 'yes'],
      ['both, the old with the higher replaces_priority', pkg('a', 'r:b\nq:10\n'), pkg('b', 'r:a\nq:5\n'), 'no'],
      ['both, the new with the higher replaces_priority', pkg('a', 'r:b\nq:5\n'), pkg('b', 'r:a\nq:10\n'), 'yes'],
      ['the old replaces the new, of the same origin', pkg('a', 'o:x\nr:b\n'), pkg('b', 'o:x\n'), 'no'],
      ['a replaces whose version the other does not meet', pkg('a', ''), pkg('b', 'r:a<1.0\n'), 'conflict'],
      ['a replaces whose version the other meets', pkg('a', ''), pkg('b', 'r:a>=1.0\n'), 'yes'],
      ['a replaces of a name the other only provides', pkg('a', 'p:virt\n'), pkg('b', 'r:virt\n'), 'conflict'],
    ];
    for (const [what, old, next, want] of cases) assert.equal(replacesFile(old, next), want, what);
  });

  it('installs by them: the same origin overwrites, an earlier package that replaces the later keeps its file', async () => {
    const read = async (name: string, origin: string, text: string, replaces: string[] = []) => {
      const bytes = await buildApk({
        name,
        version: '1.0-r0',
        arch: 'x86_64',
        builddate: EPOCH,
        origin,
        replaces,
        files: [{ path: 'usr/share/x', type: 'file', body: new TextEncoder().encode(text) }],
      });
      const pkg = await readApkPackage(bytes, { where: `${name}.apk`, allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, name), pkg };
    };
    const install = async (packages: Awaited<ReturnType<typeof read>>[]) => {
      const tree = new Tree();
      await new ApkSource(options, new ApkKeyring()).install(tree, packages, 'x86_64', { mtime: EPOCH, clamp: undefined });
      const database = new TextDecoder().decode(readBody(tree.get('usr/lib/apk/db/installed')?.body));
      const owners = database
        .split('\n\n')
        .filter((stanza) => /\nR:x\n/.test(stanza))
        .map((stanza) => /^P:(.*)$/m.exec(stanza)?.[1]);
      return { text: new TextDecoder().decode(readBody(tree.get('usr/share/x')?.body)), owner: tree.get('usr/share/x')?.owner, owners };
    };
    assert.deepEqual(await install([await read('foo', 'foo', 'a'), await read('foo-extra', 'foo', 'b')]), {
      text: 'b',
      owner: 'foo-extra',
      owners: ['foo-extra'],
    });
    assert.deepEqual(await install([await read('aaa', 'aaa', 'a', ['bbb']), await read('bbb', 'bbb', 'b')]), {
      text: 'a',
      owner: 'aaa',
      owners: ['aaa'],
    });
    await assert.rejects(install([await read('aaa', 'aaa', 'a'), await read('bbb', 'bbb', 'b')]), (err: unknown) => {
      assert.ok(isProvenantError(err, 'FILE_CONFLICT'));
      assert.match(err.message, /^bbb-1\.0-r0 and aaa both install \/usr\/share\/x$/);
      return true;
    });
  });

  it('links a hardlink to its target itself, never through a symlink it names, and refuses one to a symlink', async () => {
    const enc = (text: string) => new TextEncoder().encode(text);
    const read = async (name: string, files: ApkSpec['files'], links: [string, string][]) => {
      const bytes = await buildApk({ name, version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files });
      const pkg = await readApkPackage(bytes, { where: `${name}.apk`, allowUntrusted: true });
      // buildApk writes no hardlinks: they are added as apk's tar holds them, after their file.
      for (const [path, target] of links)
        pkg.entries.push({ path, header: tarHeader({ name: path, type: 'hardlink', linkname: target }), body: new Uint8Array() });
      return { info: apkPackageInfo(pkg, bytes.length, name), pkg };
    };
    // link(2) makes usr/h a second name of the symlink usr/s, which the tree cannot hold: refused,
    // naming usr/s, not the file it points at (with s -> /etc/passwd, the image's passwd).
    for (const target of ['f', '/etc/passwd']) {
      const evil = await read(
        'evil',
        [
          { path: 'etc/passwd', type: 'file', body: enc('root:x:0:0::/root:/bin/sh\n') },
          { path: 'usr/f', type: 'file', body: enc('f\n') },
          { path: 'usr/s', type: 'symlink', target },
        ],
        [['usr/h', 'usr/s']],
      );
      assert.throws(
        () => installApk(new Tree(), evil.info, evil.pkg, {}),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') &&
          err.where === 'evil-1.0-r0' &&
          err.message === 'the hardlink /usr/h points at /usr/s, which is a symlink, not a file',
        target,
      );
    }
    // The target's folders are still resolved: lib -> usr/lib makes lib/b a link to usr/lib/a.
    const ok = await read(
      'ok',
      [
        { path: 'usr/lib/a', type: 'file', body: enc('a\n') },
        { path: 'lib', type: 'symlink', target: 'usr/lib' },
      ],
      [['usr/lib/b', 'lib/a']],
    );
    const tree = new Tree();
    installApk(tree, ok.info, ok.pkg, {});
    assert.equal(tree.get('usr/lib/b')?.type, 'hardlink');
    assert.equal(tree.get('usr/lib/b')?.linkname, 'usr/lib/a');
  });

  it('names the package and the entry in what the tree refuses, keeping its code', async () => {
    const read = async (name: string, files: ApkSpec['files']) => {
      const bytes = await buildApk({ name, version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, files });
      const pkg = await readApkPackage(bytes, { where: `${name}.apk`, allowUntrusted: true });
      return { info: apkPackageInfo(pkg, bytes.length, name), pkg };
    };
    const a = await read('a', [{ path: 'usr/d/x', type: 'file', body: new TextEncoder().encode('x') }]);
    const b = await read('b', [{ path: 'usr/d', type: 'file', body: new TextEncoder().encode('d') }]);
    const tree = new Tree();
    installApk(tree, a.info, a.pkg, {});
    assert.throws(
      () => installApk(tree, b.info, b.pkg, {}),
      (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') &&
        err.where === 'b-1.0-r0' &&
        /^b-1\.0-r0: cannot install \/usr\/d: cannot replace the folder "usr\/d", which is not empty, with a file/.test(err.message),
    );
  });

  it('names the package once where the error names it already (a hardlink climbing above the root)', async () => {
    const bytes = await buildApk({
      name: 'evil',
      version: '1.0-r0',
      arch: 'x86_64',
      builddate: EPOCH,
      files: [{ path: 'usr/f', type: 'file', body: new TextEncoder().encode('f') }],
    });
    const pkg = await readApkPackage(bytes, { where: 'evil.apk', allowUntrusted: true });
    pkg.entries.push({
      path: 'usr/h',
      header: tarHeader({ name: 'usr/h', type: 'hardlink', linkname: '../../../etc/passwd' }),
      body: new Uint8Array(),
    });
    const info = apkPackageInfo(pkg, bytes.length, 'evil');
    assert.throws(
      () => installApk(new Tree(), info, pkg, {}),
      (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') &&
        err.where === 'evil-1.0-r0: usr/h' &&
        `${err.message} ${err.where}`.split('evil-1.0-r0').length === 2,
    );
  });

  it('keeps the old file in a hardlink to a path a replacing package gives a symlink or a file, as apk-tools does', {
    skip: toolMissing('tar'),
  }, async () => {
    const enc = (text: string) => new TextEncoder().encode(text);
    const read = async (spec: Omit<ApkSpec, 'version' | 'arch' | 'builddate'>, links: [string, string][] = []) => {
      const bytes = await buildApk({ version: '1.0-r0', arch: 'x86_64', builddate: EPOCH, ...spec });
      const pkg = await readApkPackage(bytes, { where: `${spec.name}.apk`, allowUntrusted: true });
      // buildApk writes no hardlinks: they are added as apk's tar holds them, after their file.
      for (const [path, target] of links)
        pkg.entries.push({ path, header: tarHeader({ name: path, type: 'hardlink', linkname: target }), body: new Uint8Array() });
      return { info: apkPackageInfo(pkg, bytes.length, spec.name), pkg };
    };
    const dir = mkdtempSync(join(tmpdir(), 'apk-hardlink-'));
    try {
      for (const [what, z] of [
        ['a symlink', { path: 'bin/z', type: 'symlink', target: 'y' }],
        ['a file', { path: 'bin/z', type: 'file', body: enc('new\n') }],
      ] as const) {
        // `a` ships bin/z and bin/a, one file under two names; `b` replaces a and gives bin/z anew.
        const a = await read({ name: 'a', files: [{ path: 'bin/z', type: 'file', body: enc('old\n'), mode: 0o755 }] }, [
          ['bin/a', 'bin/z'],
        ]);
        const b = await read({ name: 'b', replaces: ['a'], files: [{ path: 'bin/y', type: 'file', body: enc('y\n') }, z] });
        const tree = new Tree();
        await new ApkSource(options, new ApkKeyring()).install(tree, [a, b], 'x86_64', { mtime: EPOCH, clamp: undefined });
        const tar = join(dir, `${z.type}.tar`);
        writeFileSync(tar, gunzipSync(await layerBytes(await treeLayer(tree))));
        const into = join(dir, z.type);
        mkdirSync(into);
        const r = sh('tar', ['-xf', tar, '-C', into]);
        assert.equal(r.status, 0, `${what}: GNU tar: ${r.stderr}`);
        assert.equal(readFileSync(join(into, 'bin/a'), 'utf8'), 'old\n', what);
        assert.ok(statSync(join(into, 'bin/a')).isFile(), what);
        assert.equal(statSync(join(into, 'bin/a')).mode & 0o777, 0o755, what);
        if (z.type === 'file') assert.equal(readFileSync(join(into, 'bin/z'), 'utf8'), 'new\n');
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('installApk of a large file', () => {
  it("hashes a file without apk's checksum piece by piece: one over 2 GiB is not read whole (Node refuses such a read)", async () => {
    // A sparse file: 2 GiB of zeros that take no disk, a body just over what one read may take.
    const dir = mkdtempSync(join(tmpdir(), 'provenant-apk-big-'));
    try {
      const size = 2 ** 31;
      const path = join(dir, 'data');
      const fd = openSync(path, 'w');
      ftruncateSync(fd, size);
      closeSync(fd);
      const zeros = new Uint8Array(16 << 20);
      const sha1 = createHash('sha1');
      let crc = 0;
      for (let at = 0; at < size; at += zeros.length) {
        sha1.update(zeros);
        crc = crc32(zeros, crc);
      }
      const bytes = await buildApk({
        name: 'big',
        version: '1.0-r0',
        arch: 'x86_64',
        builddate: EPOCH,
        files: [{ path: 'big', type: 'file', body: new Uint8Array(1) }],
      });
      const pkg = await readApkPackage(bytes, { where: 'big.apk', allowUntrusted: true });
      const info = apkPackageInfo(pkg, bytes.length, 'big.apk');
      pkg.entries = pkg.entries.map((e) =>
        e.path === 'big'
          ? { ...e, header: { ...e.header, size, pax: {} }, body: { path, offset: 0, size, sha256: '', crc32: crc >>> 0 } }
          : e,
      );
      const record = installApk(new Tree(), info, pkg, {});
      const i = Array.from({ length: record.files.length }, (_, n) => record.files.path(n)).indexOf('big');
      assert.equal(record.files.sha1(i), sha1.digest('hex'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
