import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { isProvenantError } from '../../../src/errors.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { type ApkKeyPair, generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { DATA_MAX, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { parseApkSpecYaml } from '../../../src/pkg/apk/spec.ts';
import { tarFiles } from '../../../src/pkg/apk/tarfiles.ts';
import { type ApkFileSpec, type ApkSpec, buildApk, buildApkFromDirectory, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { readBody } from '../../../src/vfs/body.ts';

const run = promisify(execFile);
const utf8 = new TextEncoder();
const code = (c: string) => (err: unknown) => isProvenantError(err, c as never);

const hello: ApkSpec = {
  name: 'hello',
  version: '1.2.3-r0',
  arch: 'x86_64',
  description: 'says hello',
  url: 'https://example.com/hello',
  license: 'MIT',
  depends: ['musl', 'so:libc.musl-x86_64.so.1'],
  provides: ['cmd:hello=1.2.3-r0'],
  replaces: ['hello-old'],
  builddate: 1700000000,
  files: [
    { path: 'usr/bin/hello', type: 'file', mode: 0o755, body: utf8.encode('#!/bin/sh\necho hello\n') },
    { path: 'usr/bin/hi', type: 'symlink', target: 'hello' },
    { path: 'etc/hello.conf', type: 'file', body: utf8.encode('greeting = hi\n') },
    { path: 'var/lib/hello', type: 'dir', mode: 0o700, uid: 100, gid: 101 },
  ],
};

let key: ApkKeyPair;
let other: ApkKeyPair;
let tmp: string;

before(async () => {
  key = generateApkKeyPair('test', { bits: 2048 });
  other = generateApkKeyPair('other', { bits: 2048 });
  tmp = await mkdtemp(join(tmpdir(), 'provenant-apk-write-'));
});
after(async () => {
  await rm(tmp, { recursive: true, force: true });
});

function keyring(...pairs: ApkKeyPair[]): ApkKeyring {
  const kr = new ApkKeyring();
  for (const p of pairs) kr.add(p.name, p.publicKeyPem);
  return kr;
}

describe('generateApkKeyPair', () => {
  it('names keys as abuild-keygen does and makes RSA keys of the size asked', () => {
    assert.match(key.name, /^test-[0-9a-f]{8}\.rsa\.pub$/);
    assert.equal(key.privateKeyName, key.name.replace(/\.pub$/, ''));
    assert.match(key.privateKeyPem, /^-----BEGIN RSA PRIVATE KEY-----/);
    assert.match(key.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    assert.notEqual(key.name, other.name);
    assert.equal(generateApkKeyPair('me@example.com-0badf00d.rsa', { bits: 2048 }).name, 'me@example.com-0badf00d.rsa.pub');
    assert.throws(() => generateApkKeyPair('a/b', { bits: 2048 }), code('USAGE'));
  });
});

describe('buildApk', () => {
  it('writes a package that readApkPackage verifies, with RSA256 and RSA signatures', async () => {
    for (const signatureType of ['RSA256', 'RSA'] as const) {
      const bytes = await buildApk(hello, { key: { privateKeyPem: key.privateKeyPem, name: key.name }, signatureType });
      const pkg = await readApkPackage(bytes, { where: 'hello.apk', keyring: keyring(key) });
      assert.deepEqual(pkg.signedBy, { type: signatureType, keyName: key.name });
      assert.equal(pkg.pkginfo.get('pkgname')?.[0], 'hello');
      assert.equal(pkg.pkginfo.get('pkgver')?.[0], '1.2.3-r0');
      assert.equal(pkg.pkginfo.get('builddate')?.[0], '1700000000');
      assert.equal(pkg.pkginfo.get('origin')?.[0], 'hello');
      assert.deepEqual(pkg.pkginfo.get('depend'), ['musl', 'so:libc.musl-x86_64.so.1']);
      assert.deepEqual(pkg.pkginfo.get('replaces'), ['hello-old']);
      const size = 'greeting = hi\n'.length + '#!/bin/sh\necho hello\n'.length;
      assert.equal(pkg.pkginfo.get('size')?.[0], String(size));
      assert.deepEqual(
        pkg.entries.map((e) => [e.path, e.header.type, e.header.mode.toString(8), e.header.uid]),
        [
          ['etc', 'dir', '755', 0],
          ['etc/hello.conf', 'file', '644', 0],
          ['usr', 'dir', '755', 0],
          ['usr/bin', 'dir', '755', 0],
          ['usr/bin/hello', 'file', '755', 0],
          ['usr/bin/hi', 'symlink', '777', 0],
          ['var', 'dir', '755', 0],
          ['var/lib', 'dir', '755', 0],
          ['var/lib/hello', 'dir', '700', 100],
        ],
      );
      const link = pkg.entries.find((e) => e.path === 'usr/bin/hi');
      assert.equal(link?.header.linkname, 'hello');
      assert.equal(link?.header.pax?.['APK-TOOLS.checksum.SHA1'], createHash('sha1').update('hello').digest('hex'));
      assert.equal(pkg.entries.find((e) => e.path === 'usr/bin/hello')?.header.mtime, 1700000000);
    }
  });

  it("gives the same bytes for the same spec, and a datahash that is the data member's SHA-256", async () => {
    const opts = { key: { privateKeyPem: key.privateKeyPem, name: key.name } };
    const a = await buildApk(hello, opts);
    const b = await buildApk(hello, { ...opts, workers: 0 });
    assert.deepEqual(a, b);
    const reversed = await buildApk({ ...hello, files: [...hello.files].reverse() }, opts);
    assert.deepEqual(a, reversed);
    const pkgA = await readApkPackage(a, { where: 'a', keyring: keyring(key) });
    const pkgB = await readApkPackage(b, { where: 'b', keyring: keyring(key) });
    assert.equal(pkgA.checksum, pkgB.checksum);
    const members = splitGzipMembers(a, { maxOutput: DATA_MAX });
    assert.equal(members.length, 3);
    const data = members[2]?.compressed ?? new Uint8Array();
    assert.equal(pkgA.pkginfo.get('datahash')?.[0], createHash('sha256').update(data).digest('hex'));
    // Signature and control tars have no end blocks; the data tar has them.
    for (const m of members.slice(0, 2)) assert.notDeepEqual(m.data.subarray(-1024), new Uint8Array(1024));
    assert.deepEqual(members[2]?.data.subarray(-1024), new Uint8Array(1024));
  });

  it('is refused by a keyring without its key and by a key of the same name', async () => {
    const bytes = await buildApk(hello, { key: { privateKeyPem: key.privateKeyPem, name: key.name } });
    await assert.rejects(readApkPackage(bytes, { where: 'x', keyring: keyring(other) }), code('UNTRUSTED_KEY'));
    const impostor = new ApkKeyring().add(key.name, other.publicKeyPem);
    await assert.rejects(readApkPackage(bytes, { where: 'x', keyring: impostor }), code('SIGNATURE'));
    const unsigned = await buildApk(hello);
    assert.equal(splitGzipMembers(unsigned, { maxOutput: DATA_MAX }).length, 2);
    await assert.rejects(readApkPackage(unsigned, { where: 'x', keyring: keyring(key) }), code('SIGNATURE'));
    assert.equal((await readApkPackage(unsigned, { where: 'x', allowUntrusted: true })).entries.length, 9);
  });

  it('refuses bad paths and specs, naming the path', async () => {
    const bad = async (files: ApkFileSpec[], match: RegExp): Promise<void> => {
      await assert.rejects(buildApk({ ...hello, files }), (err: unknown) => isProvenantError(err, 'USAGE') && match.test(err.message));
    };
    await bad([{ path: '/usr/bin/x', type: 'file' }], /"\/usr\/bin\/x" is absolute/);
    await bad([{ path: 'usr/../../etc/x', type: 'file' }], /"usr\/..\/..\/etc\/x" has a "\.\." part/);
    await bad([{ path: './x', type: 'file' }], /"\.\/x" has an empty or "\." part/);
    await bad([{ path: 'a//b', type: 'file' }], /"a\/\/b"/);
    await bad([{ path: '', type: 'file' }], /is empty/);
    await bad([{ path: 'etc/a\nR:evil', type: 'file' }], /holds a line break/);
    // In a layer, `.wh.NAME` deletes NAME from the layers below: another package's file.
    await bad([{ path: 'etc/.wh.passwd', type: 'file' }], /"etc\/\.wh\.passwd" has the part "\.wh\.passwd", an OCI whiteout name/);
    await bad([{ path: 'usr/.wh..wh..opq', type: 'file' }], /an OCI whiteout name/);
    await bad([{ path: '.wh.etc', type: 'dir' }], /an OCI whiteout name/);
    // Each dependency atom as the resolver reads it, or .PKGINFO holds what apk cannot read.
    const atom = async (field: 'depends' | 'provides' | 'replaces' | 'installIf', value: string, match: RegExp): Promise<void> => {
      await assert.rejects(
        buildApk({ ...hello, [field]: [value] }),
        (err: unknown) =>
          isProvenantError(err, 'USAGE') &&
          err.message.startsWith(`the package's ${field} has ${JSON.stringify(value)}: `) &&
          match.test(err.message),
      );
    };
    await atom('depends', 'foo>=??', /the atom has an invalid version "\?\?"/);
    await atom('depends', 'foo=abc', /the atom has an invalid version "abc"/);
    await atom('depends', 'foo#x', /characters apk does not allow in a name/);
    await atom('depends', 'foo<>=1', /matches every version/);
    await atom('provides', 'foo>=1', /provides a name or name=version/);
    await atom('provides', 'foo@edge', /provides a name or name=version/);
    await atom('provides', '!foo', /a conflict \("!"\), which provides cannot hold/);
    await atom('replaces', 'foo=1.0.x', /invalid version/);
    await atom('installIf', 'a=', /no version after "="/);
    assert.ok(await buildApk({ ...hello, depends: ['!busybox', 'musl>=1.2.5-r0', 'curl@edge', 'so:libz.so.1'], installIf: ['a', '!b'] }));
    // apk reads a hidden top-level name as a control file: apk-tools 2 skips it (or runs it, for
    // .pre-install), apko skips the first ones, Provenant installed it: one package, three images.
    for (const path of ['.profile', '.pre-install', '.PKGINFO', '.config/x'])
      await bad(
        [{ path, type: 'file' }],
        new RegExp(`"${path.replace('.', '\\.')}" starts with "\\.", a name apk reads as a control file`),
      );
    assert.ok(await buildApk({ ...hello, files: [{ path: 'etc/skel/.profile', type: 'file' }] }));
    // Past 7 octal digits an id goes to a PAX record, which apk-tools does not read.
    await bad(
      [{ path: 'etc/big', type: 'file', uid: 2097152 }],
      /has uid 2097152; apk reads ids from the tar header, which holds 0 to 2097151/,
    );
    assert.ok(await buildApk({ ...hello, files: [{ path: 'etc/ok', type: 'file', uid: 2097151, gid: 2097151 }] }));
    await bad(
      [
        { path: 'x', type: 'file' },
        { path: 'x', type: 'dir' },
      ],
      /"x" is given twice/,
    );
    await bad(
      [
        { path: 'x', type: 'file' },
        { path: 'x/y', type: 'file' },
      ],
      /"x\/y" is under "x", which is a file/,
    );
    await bad([{ path: 'l', type: 'symlink' }], /"l" is a symlink without a target/);
    await bad([{ path: 'd', type: 'dir', body: new Uint8Array(1) }], /"d" is a dir and cannot have a body/);
    await bad([{ path: 'f', type: 'file', mode: 0o10644 }], /"f" has mode/);
    await assert.rejects(buildApk({ ...hello, version: '1.x' }), code('USAGE'));
    await assert.rejects(buildApk({ ...hello, name: 'has space' }), code('USAGE'));
    await assert.rejects(buildApk({ ...hello, description: 'two\nlines' }), code('USAGE'));
    await assert.rejects(buildApk({ ...hello, depends: ['a b'] }), code('USAGE'));
  });

  it('is accepted by tar, gzip and openssl', async () => {
    const dir = await mkdtemp(join(tmp, 'tools-'));
    const bytes = await buildApk(hello, { key: { privateKeyPem: key.privateKeyPem, name: key.name } });
    const apk = join(dir, 'hello-1.2.3-r0.apk');
    await writeFile(apk, bytes);
    await run('gzip', ['-t', apk]);
    const { stdout } = await run('tar', ['-tzf', apk]);
    assert.deepEqual(stdout.trim().split('\n'), [
      `.SIGN.RSA256.${key.name}`,
      '.PKGINFO',
      'etc/',
      'etc/hello.conf',
      'usr/',
      'usr/bin/',
      'usr/bin/hello',
      'usr/bin/hi',
      'var/',
      'var/lib/',
      'var/lib/hello/',
    ]);
    // The signature as tar extracts it, checked by openssl against the compressed control member.
    const out = join(dir, 'x');
    await mkdir(out);
    await run('tar', ['-xzf', apk, '-C', out, `.SIGN.RSA256.${key.name}`]);
    const control = join(dir, 'control.tar.gz');
    await writeFile(control, splitGzipMembers(bytes, { maxOutput: DATA_MAX })[1]?.compressed ?? new Uint8Array());
    const pub = join(dir, 'pub.pem');
    const wrong = join(dir, 'wrong.pem');
    await writeFile(pub, key.publicKeyPem);
    await writeFile(wrong, other.publicKeyPem);
    const sig = join(out, `.SIGN.RSA256.${key.name}`);
    const ok = await run('openssl', ['dgst', '-sha256', '-verify', pub, '-signature', sig, control]);
    assert.match(ok.stdout, /Verified OK/);
    // OpenSSL 3 reports a wrong key as a padding error, older ones as "Verification failure".
    await assert.rejects(run('openssl', ['dgst', '-sha256', '-verify', wrong, '-signature', sig, control]), (err: Error) => {
      assert.doesNotMatch(String((err as { stdout?: string }).stdout), /Verified OK/);
      return true;
    });
    // And the other way round: a signature openssl makes with our private key verifies here.
    const priv = join(dir, key.privateKeyName);
    await writeFile(priv, key.privateKeyPem);
    const opensslSig = join(dir, 'openssl.sig');
    await run('openssl', ['dgst', '-sha256', '-sign', priv, '-out', opensslSig, control]);
    assert.deepEqual(new Uint8Array(await readFile(opensslSig)), new Uint8Array(await readFile(sig)));
  });

  it('round-trips random specs through readApkPackage', async () => {
    const segment = fc.constantFrom('a', 'b', 'c', 'dé', 'x'.repeat(60));
    const pathArb = fc.array(segment, { minLength: 1, maxLength: 3 }).map((p) => p.join('/'));
    const specArb = fc
      .tuple(
        fc.uniqueArray(pathArb, { minLength: 0, maxLength: 8 }),
        fc.array(
          fc.tuple(fc.constantFrom('file', 'symlink', 'dir'), fc.uint8Array({ maxLength: 600 }), fc.integer({ min: 0, max: 0o7777 })),
          {
            minLength: 8,
            maxLength: 8,
          },
        ),
      )
      .map(([paths, kinds]): ApkFileSpec[] =>
        paths.map((path, i) => {
          const [kind, body, mode] = kinds[i] ?? ['file', new Uint8Array(), 0o644];
          // A path with another path under it is a folder.
          const isParent = paths.some((p) => p.startsWith(`${path}/`));
          if (isParent || kind === 'dir') return { path, type: 'dir', mode };
          if (kind === 'symlink') return { path, type: 'symlink', target: `../t${body.length}` };
          return { path, type: 'file', mode, body };
        }),
      );
    await fc.assert(
      fc.asyncProperty(specArb, async (files) => {
        const spec: ApkSpec = { name: 'p', version: '1-r0', arch: 'noarch', files };
        const bytes = await buildApk(spec, { key: { privateKeyPem: key.privateKeyPem, name: key.name }, workers: 0 });
        assert.deepEqual(await buildApk(spec, { key: { privateKeyPem: key.privateKeyPem, name: key.name }, workers: 0 }), bytes);
        const pkg = await readApkPackage(bytes, { where: 'p', keyring: keyring(key) });
        const byPath = new Map(pkg.entries.map((e) => [e.path, e]));
        for (const f of files) {
          const e = byPath.get(f.path);
          assert.ok(e, f.path);
          assert.equal(e.header.type, f.type);
          if (f.mode !== undefined) assert.equal(e.header.mode, f.mode);
          if (f.type === 'file') assert.deepEqual(e.body, f.body);
          if (f.type === 'symlink') assert.equal(e.header.linkname, f.target);
        }
        // Every entry is given or a parent of one, and parents come first.
        const paths = pkg.entries.map((e) => e.path);
        for (const [i, p] of paths.entries()) {
          assert.ok(
            files.some((f) => f.path === p || f.path.startsWith(`${p}/`)),
            p,
          );
          const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '';
          if (parent !== '') assert.ok(paths.indexOf(parent) < i && paths.indexOf(parent) >= 0, p);
        }
        const size = files.reduce((n, f) => n + (f.body?.length ?? 0), 0);
        assert.equal(pkg.pkginfo.get('size')?.[0], String(size));
      }),
      { numRuns: 30 },
    );
  });
});

describe('buildApkFromDirectory', () => {
  it('reads files, folders and symlinks with their modes, owned by root', async () => {
    const root = await mkdtemp(join(tmp, 'dir-'));
    await mkdir(join(root, 'usr/bin'), { recursive: true });
    await writeFile(join(root, 'usr/bin/tool'), 'tool\n', { mode: 0o750 });
    await symlink('tool', join(root, 'usr/bin/t'));
    await mkdir(join(root, 'empty'), { mode: 0o711 });
    const bytes = await buildApkFromDirectory(root, { name: 'tool', version: '2-r1', arch: 'aarch64' });
    const pkg = await readApkPackage(bytes, { where: 'tool', allowUntrusted: true });
    assert.deepEqual(
      pkg.entries.map((e) => [e.path, e.header.type, e.header.mode.toString(8), e.header.uid, e.header.linkname]),
      [
        ['empty', 'dir', '711', 0, ''],
        ['usr', 'dir', '755', 0, ''],
        ['usr/bin', 'dir', '755', 0, ''],
        ['usr/bin/t', 'symlink', '777', 0, 'tool'],
        ['usr/bin/tool', 'file', '750', 0, ''],
      ],
    );
    assert.equal(new TextDecoder().decode(readBody(pkg.entries.at(-1)?.body)), 'tool\n');
    assert.deepEqual(await buildApkFromDirectory(root, { name: 'tool', version: '2-r1', arch: 'aarch64' }), bytes);
  });

  it('refuses a hidden name at the top of the folder, naming it on disk; takes one below', async () => {
    const root = await mkdtemp(join(tmp, 'dir-'));
    await mkdir(join(root, 'etc/skel'), { recursive: true });
    await writeFile(join(root, 'etc/skel/.profile'), 'x\n');
    assert.ok(await buildApkFromDirectory(root, { name: 'tool', version: '2-r1', arch: 'aarch64' }));
    await writeFile(join(root, '.pre-install'), '#!/bin/sh\n');
    await assert.rejects(
      buildApkFromDirectory(root, { name: 'tool', version: '2-r1', arch: 'aarch64' }),
      (err: unknown) => isProvenantError(err, 'USAGE') && err.where === join(root, '.pre-install') && /starts with "\."/.test(err.message),
    );
  });
});

describe('buildApkIndex', () => {
  it("writes a signed index that readApkIndex verifies, whose C: is each package's checksum", async () => {
    const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
    const apks = [
      await buildApk({ ...hello, version: '1.10-r0' }, { key: signing }),
      await buildApk(hello, { key: signing }),
      await buildApk({ name: 'aaa', version: '1-r0', arch: 'x86_64', files: [] }, { key: signing }),
      await buildApk({ ...hello, version: '1.9-r0' }, { key: signing }),
    ];
    for (const signatureType of ['RSA256', 'RSA'] as const) {
      const { bytes, packages } = await buildApkIndex(apks, { key: signing, signatureType, description: 'v1.0', keyring: keyring(key) });
      const index = await readApkIndex(bytes, { keyring: keyring(key), where: 'APKINDEX.tar.gz' });
      assert.deepEqual(index.signedBy, { type: signatureType, keyName: key.name });
      assert.equal(index.description, 'v1.0');
      assert.deepEqual(
        index.packages.map((p) => `${p.name}-${p.version}`),
        ['aaa-1-r0', 'hello-1.2.3-r0', 'hello-1.9-r0', 'hello-1.10-r0'],
      );
      assert.deepEqual(index.packages, packages);
      for (const apk of apks) {
        const pkg = await readApkPackage(apk, { where: 'apk', keyring: keyring(key) });
        const entry = index.packages.find((p) => p.checksum === pkg.checksum);
        assert.ok(entry);
        assert.equal(entry.size, apk.length);
        // The index vouches for the package by its checksum alone.
        await readApkPackage(apk, { where: 'apk', expectedChecksum: entry.checksum });
      }
      const hi = index.packages.find((p) => p.version === '1.2.3-r0');
      assert.deepEqual(hi?.depends, ['musl', 'so:libc.musl-x86_64.so.1']);
      assert.deepEqual(hi?.provides, ['cmd:hello=1.2.3-r0']);
      assert.equal(hi?.buildTime, 1700000000);
      await assert.rejects(readApkIndex(bytes, { keyring: keyring(other), where: 'x' }), code('UNTRUSTED_KEY'));
    }
    const again = await buildApkIndex(apks, { key: signing, description: 'v1.0' });
    assert.deepEqual(again.bytes, (await buildApkIndex([...apks].reverse(), { key: signing, description: 'v1.0' })).bytes);
    // A package not signed by a key of the given keyring is refused.
    await assert.rejects(buildApkIndex(apks, { keyring: keyring(other) }), code('UNTRUSTED_KEY'));
    // One package given twice is listed once; two packages under one name and version are refused.
    assert.deepEqual((await buildApkIndex([...apks, apks[1]!], { key: signing, description: 'v1.0' })).bytes, again.bytes);
    const rebuilt = await buildApk({ ...hello, description: 'another build' }, { key: signing });
    await assert.rejects(
      buildApkIndex([apks[1]!, rebuilt], { names: ['a.apk', 'b.apk'] }),
      (e: unknown) =>
        isProvenantError(e, 'USAGE') &&
        /(a\.apk and b\.apk|b\.apk and a\.apk) are two packages named hello-1\.2\.3-r0/.test((e as Error).message),
    );
  });

  it('is accepted by tar, gzip and openssl', async () => {
    const dir = await mkdtemp(join(tmp, 'index-'));
    const signing = { privateKeyPem: key.privateKeyPem, name: key.name };
    const { bytes } = await buildApkIndex([await buildApk(hello)], { key: signing, description: 'd' });
    const file = join(dir, 'APKINDEX.tar.gz');
    await writeFile(file, bytes);
    await run('gzip', ['-t', file]);
    const { stdout } = await run('tar', ['-tzf', file]);
    assert.deepEqual(stdout.trim().split('\n'), [`.SIGN.RSA256.${key.name}`, 'DESCRIPTION', 'APKINDEX']);
    const members = splitGzipMembers(bytes, { maxOutput: DATA_MAX });
    const [sig] = await tarFiles(members[0]?.data ?? new Uint8Array(), 'sig');
    await writeFile(join(dir, 'sig'), sig?.body ?? new Uint8Array());
    await writeFile(join(dir, 'signed'), bytes.subarray(members[0]?.end ?? 0));
    await writeFile(join(dir, 'pub.pem'), key.publicKeyPem);
    const ok = await run('openssl', [
      'dgst',
      '-sha256',
      '-verify',
      join(dir, 'pub.pem'),
      '-signature',
      join(dir, 'sig'),
      join(dir, 'signed'),
    ]);
    assert.match(ok.stdout, /Verified OK/);
  });
});

describe('parseApkSpecYaml', () => {
  it('reads a spec with sources relative to the file, inline content, symlinks and folders', async () => {
    const dir = await mkdtemp(join(tmp, 'yaml-'));
    await mkdir(join(dir, 'build'));
    await writeFile(join(dir, 'build/hello'), 'binary');
    const yamlFile = join(dir, 'pkg.yaml');
    const text = [
      'name: hello',
      'version: 1.0-r0',
      'arch: x86_64',
      'description: says hello',
      'license: MIT',
      'depends: [musl]',
      'provides:',
      '  - cmd:hello=1.0-r0',
      'files:',
      '  - { path: usr/bin/hello, source: build/hello, mode: "0755" }',
      '  - path: etc/hello.conf',
      '    content: "greeting = hi\\n"',
      '    mode: 0600',
      '  - { path: usr/bin/hi, type: symlink, target: hello }',
      '  - { path: var/lib/hello, type: dir }',
      '',
    ].join('\n');
    const spec = await parseApkSpecYaml(text, yamlFile);
    assert.equal(spec.name, 'hello');
    assert.deepEqual(spec.depends, ['musl']);
    assert.deepEqual(spec.provides, ['cmd:hello=1.0-r0']);
    assert.deepEqual(spec.files, [
      { path: 'usr/bin/hello', type: 'file', mode: 0o755, body: utf8.encode('binary') },
      { path: 'etc/hello.conf', type: 'file', mode: 0o600, body: utf8.encode('greeting = hi\n') },
      { path: 'usr/bin/hi', type: 'symlink', target: 'hello' },
      { path: 'var/lib/hello', type: 'dir' },
    ]);
    const pkg = await readApkPackage(await buildApk(spec), { where: 'x', allowUntrusted: true });
    assert.equal(pkg.entries.length, 9);
  });

  it('names the file and line of a mistake', async () => {
    const file = '/nowhere/pkg.yaml';
    const fails = async (text: string, where: string, message: RegExp): Promise<void> => {
      await assert.rejects(parseApkSpecYaml(text, file), (err: unknown) => {
        assert.ok(isProvenantError(err), String(err));
        assert.equal(err.where, where, err.message);
        assert.match(err.message, message);
        return true;
      });
    };
    const head = 'name: a\nversion: 1-r0\narch: x86_64\n';
    await fails(`${head}licence: MIT\n`, `${file}:4:1`, /licence: is not a known key/);
    await fails(`${head}files:\n  - path: x\n    body: y\n`, `${file}:6:5`, /files\[0\]\.body: is not a known key/);
    await fails(`${head}files:\n  - path: /etc/x\n`, `${file}:5:11`, /files\[0\]\.path: .*"\/etc\/x" is absolute/);
    await fails(`${head}files:\n  - { path: x, mode: 0999 }\n`, `${file}:5:22`, /mode: "0999" is not an octal mode/);
    await fails(`${head}files:\n  - { path: x, type: link }\n`, `${file}:5:22`, /type: is "link"/);
    await fails(`${head}files:\n  - { path: x, source: missing }\n`, `${file}:5:24`, /files\[0\]\.source: .*does not exist/);
    await fails(`${head}depends: musl\n`, `${file}:4:10`, /depends: expected a list/);
    await fails('name: a\narch: x\n', `${file}:1:1`, /version: is required/);
    await fails(`${head}name: b\n`, `${file}:4:1`, /invalid YAML/);
    await fails(`${head}files:\n  - { path: x, type: dir, content: y }\n`, `${file}:5:36`, /a dir has no content/);
    // Each atom as the resolver reads it, at its own line.
    await fails(
      `${head}depends:\n  - musl\n  - foo>=??\n`,
      `${file}:6:5`,
      /depends\[1\]: "foo>=\?\?": apk cannot read it; the atom has an invalid version "\?\?"/,
    );
    await fails(
      `${head}provides: [cmd:a=1, foo>=1]\n`,
      `${file}:4:21`,
      /provides\[1\]: "foo>=1": a package provides a name or name=version/,
    );
    await fails(`${head}install-if: [a b]\n`, `${file}:4:14`, /install-if\[0\]: "a b" is not one atom/);
  });

  it('reads anchors and aliases as the image configuration does, and names an alias with no anchor', async () => {
    const file = '/nowhere/pkg.yaml';
    const spec = await parseApkSpecYaml('name: a\nversion: 1-r0\narch: x86_64\ndepends: &deps [musl, zlib]\nreplaces: *deps\n', file);
    assert.deepEqual(spec.replaces, ['musl', 'zlib']);
    await assert.rejects(parseApkSpecYaml('name: a\nversion: 1-r0\narch: x86_64\ndepends: *nope\n', file), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.equal(err.where, `${file}:4:10`);
      assert.match(err.message, /^depends: the alias \*nope names no anchor/);
      return true;
    });
  });
});
