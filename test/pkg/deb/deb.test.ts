// The ar reader (properties over what writeAr writes, and every malformation refused), and the
// .deb reader on real packages from the machine's apt sources and on crafted ones for the faults
// a real archive cannot show.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { type ArWriteMember, readAr, writeAr } from '../../../src/pkg/deb/ar.ts';
import { type DebMemberCache, parseMd5sums, readDeb } from '../../../src/pkg/deb/deb.ts';
import { bodySize, readBody } from '../../../src/vfs/body.ts';
import { realDebs as realDebsOf } from '../../helpers/debian.ts';

const code = (c: string) => (err: unknown) => isProvenantError(err) && err.code === c;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const md5 = (b: Uint8Array | string): string => createHash('md5').update(b).digest('hex');

// ---------------------------------------------------------------------------------------------
// Real packages: fetched once with `apt-get download` (the machine's apt sources), kept in a
// folder under the OS temp dir across runs.
// ---------------------------------------------------------------------------------------------

const { debs: realDebs, missing: noRealDebs } = realDebsOf([
  'base-files',
  'netbase',
  'tzdata',
  'ca-certificates',
  'libc6',
  'busybox-static',
]);
const haveDpkgDeb = spawnSync('dpkg-deb', ['--version'], { stdio: 'ignore' }).status === 0;
const haveXz = spawnSync('xz', ['--version'], { stdio: 'ignore' }).status === 0;

// ---------------------------------------------------------------------------------------------
// Crafting packages
// ---------------------------------------------------------------------------------------------

interface CraftOptions {
  control?: string;
  files?: TarWriteEntry[];
  md5sums?: string | undefined;
  controlExtra?: TarWriteEntry[];
  members?: ((parts: { debianBinary: ArWriteMember; control: ArWriteMember; data: ArWriteMember }) => ArWriteMember[]) | undefined;
  compress?: 'gzip' | 'zstd' | 'none';
}

const file = (name: string, body: string, over: Partial<Parameters<typeof tarHeader>[0]> = {}): TarWriteEntry => ({
  header: tarHeader({ name, size: enc(body).length, ...over }),
  body: enc(body),
});
const dir = (name: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'dir', mode: 0o755 }) });

async function craftDeb(o: CraftOptions = {}): Promise<Uint8Array> {
  const files = o.files ?? [dir('./'), dir('./usr/'), dir('./usr/bin/'), file('./usr/bin/hello', '#!/bin/sh\necho hi\n', { mode: 0o755 })];
  const md5sums =
    'md5sums' in o
      ? o.md5sums
      : files
          .filter((f) => f.header.type === 'file')
          .map((f) => `${md5(f.body as Uint8Array)}  ${f.header.name.replace(/^\.\//, '')}\n`)
          .join('');
  const control = o.control ?? 'Package: hello\nVersion: 1.0-1\nArchitecture: all\nMaintainer: A <a@example.org>\nDescription: says hi\n';
  const controlEntries = [dir('./'), file('./control', control), ...(o.controlExtra ?? [])];
  if (md5sums !== undefined) controlEntries.push(file('./md5sums', md5sums));
  const compress = o.compress ?? 'gzip';
  const z = (b: Uint8Array): Uint8Array =>
    compress === 'gzip'
      ? zlib.gzipSync(b)
      : compress === 'zstd'
        ? (zlib as unknown as { zstdCompressSync: (b: Uint8Array) => Uint8Array }).zstdCompressSync(b)
        : b;
  const ext = compress === 'gzip' ? '.gz' : compress === 'zstd' ? '.zst' : '';
  const parts = {
    debianBinary: { name: 'debian-binary', data: enc('2.0\n') },
    control: { name: `control.tar${ext}`, data: z(await tarBytes(controlEntries)) },
    // Hostile names too: the reader is what must refuse them.
    data: { name: `data.tar${ext}`, data: z(await tarBytes(files, { unsafeNames: true })) },
  };
  return writeAr(o.members?.(parts) ?? [parts.debianBinary, parts.control, parts.data]);
}

// ---------------------------------------------------------------------------------------------
// ar
// ---------------------------------------------------------------------------------------------

const arName = fc.stringMatching(/^[!-.0-~]{1,16}$/);
const arMember = fc.record({
  name: arName,
  data: fc.uint8Array({ maxLength: 300 }),
  mtime: fc.nat({ max: 999_999_999_999 }),
  uid: fc.nat({ max: 999_999 }),
  gid: fc.nat({ max: 999_999 }),
  mode: fc.nat({ max: 0o77777777 }),
});

describe('readAr', () => {
  it('reads back every member writeAr writes, byte for byte, with even padding', () => {
    fc.assert(
      fc.property(fc.array(arMember, { maxLength: 6 }), (members) => {
        const bytes = writeAr(members);
        assert.equal(bytes.length % 2, 0);
        const read = readAr(bytes);
        assert.deepEqual(
          read.map(({ name, data, mtime, uid, gid, mode }) => ({ name, data: [...data], mtime, uid, gid, mode })),
          members.map(({ name, data, mtime, uid, gid, mode }) => ({ name, data: [...data], mtime, uid, gid, mode })),
        );
      }),
    );
  });

  it('refuses every cut that is not at a member boundary, with TRUNCATED', () => {
    fc.assert(
      fc.property(fc.array(arMember, { minLength: 1, maxLength: 4 }), fc.nat(), (members, cut) => {
        const bytes = writeAr(members);
        const boundaries = new Set<number>([8]);
        let pos = 8;
        for (const m of members) {
          pos += 60 + m.data.length + (m.data.length % 2);
          boundaries.add(pos);
        }
        const at = 8 + (cut % (bytes.length - 8));
        if (boundaries.has(at)) {
          assert.ok(readAr(bytes.subarray(0, at)).length < members.length);
        } else {
          assert.throws(() => readAr(bytes.subarray(0, at)), code('TRUNCATED'));
        }
      }),
    );
  });

  it('throws only ProvenantErrors on corrupted input', () => {
    fc.assert(
      fc.property(
        fc.array(arMember, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        (members, flips) => {
          const bytes = writeAr(members).slice();
          for (const [i, v] of flips) bytes[i % bytes.length] = v;
          try {
            readAr(bytes);
          } catch (err) {
            assert.ok(isProvenantError(err, 'INVALID_ARCHIVE', 'TRUNCATED'), String(err));
          }
        },
      ),
    );
  });

  it('refuses a missing magic, a bad header end, bad numbers, bad padding and GNU/BSD name forms', () => {
    const good = writeAr([{ name: 'odd', data: enc('abc') }]);
    const patch = (at: number, text: string): Uint8Array => {
      const b = good.slice();
      b.set(enc(text), at);
      return b;
    };
    assert.throws(() => readAr(enc('!<arch>')), code('INVALID_ARCHIVE'));
    assert.throws(() => readAr(enc('<arch>\n!')), code('INVALID_ARCHIVE'));
    assert.throws(() => readAr(patch(8 + 58, 'x\n')), code('INVALID_ARCHIVE'));
    assert.throws(() => readAr(patch(8 + 48, '1x        ')), /size field/);
    assert.throws(() => readAr(patch(8 + 48, '          ')), /size field .* blank/);
    assert.throws(() => readAr(patch(8 + 48, ' 3        ')), /size field/);
    assert.throws(() => readAr(patch(8 + 40, '9       ')), /mode field .* octal/);
    assert.throws(() => readAr(patch(8 + 60 + 3, 'X')), /padding byte/);
    assert.throws(() => readAr(good.subarray(0, good.length - 1)), code('TRUNCATED'));
    for (const name of [
      '/               ',
      '//              ',
      '/12             ',
      '#1/20           ',
      '                ',
      'a/b             ',
      'a b             ',
    ]) {
      assert.throws(() => readAr(patch(8, name)), code('INVALID_ARCHIVE'), name);
    }
    // GNU ar's short-name form "name/" and blank optional numbers are read.
    const gnu = readAr(patch(8, 'odd/            ').fill(0x20, 8 + 16, 8 + 48));
    assert.deepEqual(
      gnu.map((m) => [m.name, m.mtime, m.uid, m.gid, m.mode]),
      [['odd', 0, 0, 0, 0]],
    );
  });

  it('refuses names writeAr cannot write', () => {
    for (const name of ['', 'a/b', 'a b', 'x'.repeat(17), 'é']) {
      assert.throws(() => writeAr([{ name, data: new Uint8Array() }]), code('USAGE'), name);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// readDeb: real packages
// ---------------------------------------------------------------------------------------------

describe('readDeb on real packages', { skip: noRealDebs }, () => {
  it('reads base-files, netbase, tzdata, ca-certificates, libc6 and busybox-static, checking SHA-256 and md5sums', async () => {
    for (const [name, path] of realDebs) {
      const bytes = new Uint8Array(readFileSync(path!));
      const sha256 = createHash('sha256').update(bytes).digest('hex');
      const pkg = await readDeb(bytes, { where: path!, expectedSha256: sha256 });
      assert.equal(pkg.name, name);
      assert.equal(pkg.sha256, sha256);
      assert.equal(pkg.formatVersion, '2.0');
      assert.match(pkg.members.data.name, /^data\.tar(\.xz|\.zst|\.gz)?$/);
      assert.ok(pkg.entries.length > 0 && pkg.md5sums.size > 0, name);
      // Every md5sums path is a file of the package (readDeb checked each MD5).
      for (const p of pkg.md5sums.keys())
        assert.ok(
          pkg.entries.some((e) => e.path === p),
          `${name}: ${p}`,
        );
      assert.ok(pkg.entries.every((e) => !e.path.startsWith('/') && !e.path.split('/').includes('..')));
      assert.equal(new TextDecoder().decode(pkg.controlBytes).split('\n')[0], `Package: ${name}`);
    }
    const libc = await readDeb(readFileSync(realDebs.get('libc6')!), { where: 'libc6' });
    assert.equal(libc.multiArch, 'same');
    assert.deepEqual([...libc.scripts.keys()].sort(), ['postinst', 'postrm', 'preinst', 'triggers']);
    assert.ok(libc.controlFiles.has('shlibs') && libc.controlFiles.has('symbols'));
    assert.ok(libc.conffiles.some((c) => c.startsWith('/etc/ld.so.conf.d/')));
    const busybox = await readDeb(readFileSync(realDebs.get('busybox-static')!), { where: 'busybox-static' });
    assert.match(busybox.version, /^1:/);
  });

  it('lists the same entries, types and targets as dpkg-deb -c', { skip: !haveDpkgDeb && 'dpkg-deb is not installed' }, async () => {
    for (const [name, path] of realDebs) {
      const pkg = await readDeb(readFileSync(path!), { where: name });
      const listing = execFileSync('dpkg-deb', ['-c', path!], { encoding: 'utf8', maxBuffer: 1 << 26 })
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => {
          const m = /^(\S)\S+ \S+ +(\d+) \S+ \S+ \.\/(.*?)(?: -> (.*)| link to \.\/(.*))?$/.exec(l);
          assert.ok(m, l);
          const type = m[5] !== undefined ? 'hardlink' : ({ d: 'dir', l: 'symlink', '-': 'file' } as Record<string, string>)[m[1]!];
          return { path: m[3]!.replace(/\/$/, ''), type, size: type === 'file' ? Number(m[2]) : 0, link: m[4] ?? m[5] ?? '' };
        })
        .filter((e) => e.path !== '');
      assert.deepEqual(
        pkg.entries.map((e) => ({
          path: e.path,
          type: e.header.type,
          size: bodySize(e.body),
          link: e.hardlinkTarget ?? e.header.linkname,
        })),
        listing,
        name,
      );
    }
  });

  it('refuses a tampered package with DIGEST_MISMATCH before reading it', async () => {
    const bytes = new Uint8Array(readFileSync(realDebs.get('base-files')!));
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const tampered = bytes.slice();
    tampered[tampered.length - 100]! ^= 0x01;
    await assert.rejects(readDeb(tampered, { where: 'base-files', expectedSha256: sha256 }), code('DIGEST_MISMATCH'));
    // Cut short: same code, and the message names both digests.
    await assert.rejects(readDeb(bytes.subarray(0, 1000), { where: 'base-files', expectedSha256: sha256 }), (err: unknown) => {
      return code('DIGEST_MISMATCH')(err) && (err as Error).message.includes(sha256);
    });
    await assert.rejects(readDeb(bytes, { where: 'base-files', expectedSha256: 'abc' }), code('USAGE'));
    // Upper-case hex from an index is fine.
    await readDeb(bytes, { where: 'base-files', expectedSha256: sha256.toUpperCase() });
  });

  it('uses a given xz decoder', { skip: !haveXz && 'xz is not installed' }, async () => {
    let calls = 0;
    const pkg = await readDeb(readFileSync(realDebs.get('netbase')!), {
      where: 'netbase',
      decompressXz: async (b) => {
        calls++;
        return new Uint8Array(execFileSync('xz', ['-dc'], { input: b }));
      },
    });
    assert.equal(calls, 2);
    assert.equal(pkg.name, 'netbase');
    // A decoder's own failure becomes INVALID_PACKAGE naming the member.
    await assert.rejects(
      readDeb(readFileSync(realDebs.get('netbase')!), {
        where: 'netbase',
        decompressXz: async () => {
          throw new Error('boom');
        },
      }),
      (err: unknown) => isProvenantError(err, 'INVALID_PACKAGE') && /control\.tar\.xz .*boom/.test(err.message),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// readDeb: crafted packages
// ---------------------------------------------------------------------------------------------

describe('readDeb on crafted packages', () => {
  it('reads a gzip package: control fields, md5sums, scripts kept as data, entries with clean paths', async () => {
    const deb = await craftDeb({
      controlExtra: [file('./postinst', '#!/bin/sh\nexit 0\n', { mode: 0o755 }), file('./conffiles', '/etc/hello.conf\n')],
    });
    const pkg = await readDeb(deb, { where: 'hello.deb' });
    assert.equal(pkg.name, 'hello');
    assert.equal(pkg.version, '1.0-1');
    assert.equal(pkg.architecture, 'all');
    assert.equal(pkg.multiArch, undefined);
    assert.equal(pkg.control.maintainer, 'A <a@example.org>');
    assert.deepEqual([...pkg.scripts.keys()], ['postinst']);
    assert.equal(new TextDecoder().decode(pkg.scripts.get('postinst')), '#!/bin/sh\nexit 0\n');
    assert.deepEqual(pkg.conffiles, ['/etc/hello.conf']);
    assert.deepEqual(
      pkg.entries.map((e) => [e.path, e.header.type]),
      [
        ['usr', 'dir'],
        ['usr/bin', 'dir'],
        ['usr/bin/hello', 'file'],
      ],
    );
    assert.deepEqual([...pkg.md5sums], [['usr/bin/hello', md5('#!/bin/sh\necho hi\n')]]);
    assert.deepEqual(pkg.members.ignored, []);
    assert.equal(pkg.members.control.compression, 'gzip');
  });

  it('reads zstd and uncompressed members', async (t) => {
    if (typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync !== 'function') return t.skip('this Node.js has no zstd');
    for (const compress of ['zstd', 'none'] as const) {
      const pkg = await readDeb(await craftDeb({ compress }), { where: compress });
      assert.equal(pkg.members.data.compression, compress);
      assert.equal(pkg.entries.length, 3);
    }
  });

  it('refuses a symlink whose target is empty or holds a NUL as it reads the package, naming it and the entry', async () => {
    // The tar writer refuses both: each is made from a good target, its bytes then changed.
    const patched = async (linkname: string, patch: (tar: Uint8Array) => void): Promise<Uint8Array> => {
      const files = [dir('./'), { header: tarHeader({ name: './usr/lib/libfoo.so', type: 'symlink', linkname }) }];
      const tar = await tarBytes(files);
      patch(tar);
      return craftDeb({
        files,
        md5sums: undefined,
        compress: 'none',
        members: (p) => [p.debianBinary, p.control, { ...p.data, data: tar }],
      });
    };
    // A PAX linkpath (its target is not ASCII) whose X becomes a NUL: a record has no checksum.
    const nul = await patched('libfoo.so.1X/../../etc/shadow\u00e9', (tar) => {
      const at = Buffer.from(tar).indexOf('linkpath=libfoo.so.1X') + 'linkpath=libfoo.so.1'.length;
      tar[at] = 0;
    });
    // The ustar linkname field emptied, and the header's checksum made again.
    const empty = await patched('X', (tar) => {
      const header = tar.subarray(512, 1024);
      header[157] = 0;
      header.fill(0x20, 148, 156);
      const sum = header.reduce((n, b) => n + b, 0);
      header.set(enc(`${sum.toString(8).padStart(6, '0')}\0 `), 148);
    });
    for (const [deb, why] of [
      [nul, /holds a NUL byte/],
      [empty, /is empty/],
    ] as const) {
      await assert.rejects(
        readDeb(deb, { where: 'evil.deb' }),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && why.test(err.message) && err.where === 'evil.deb: "./usr/lib/libfoo.so"',
      );
    }
  });

  it('refuses a path that climbs out of the root with UNSAFE_PATH', async () => {
    for (const name of ['./../etc/passwd', '../x', './usr/../../x', '/etc/passwd']) {
      const deb = await craftDeb({ files: [dir('./'), file(name, 'x')], md5sums: undefined });
      await assert.rejects(readDeb(deb, { where: 'evil.deb' }), code('UNSAFE_PATH'), name);
    }
    // A hardlink out of the root, or to something the package did not put there before it.
    for (const linkname of ['../../etc/shadow', './etc/shadow']) {
      const deb = await craftDeb({
        files: [dir('./'), { header: tarHeader({ name: './x', type: 'hardlink', linkname }) }],
        md5sums: undefined,
      });
      await assert.rejects(readDeb(deb, { where: 'evil.deb' }), code('UNSAFE_PATH'), linkname);
    }
    // ...but `a/../b` stays inside and is cleaned.
    const ok = await readDeb(await craftDeb({ files: [file('./usr/../x', 'x')], md5sums: undefined }), { where: 'ok.deb' });
    assert.deepEqual(
      ok.entries.map((e) => e.path),
      ['x'],
    );
  });

  it('keeps hardlinks to earlier files of the package, cleaned', async () => {
    const deb = await craftDeb({
      files: [file('./usr/bin/a', 'same'), { header: tarHeader({ name: './usr/bin/b', type: 'hardlink', linkname: './usr/bin/a' }) }],
      md5sums: `${md5('same')}  usr/bin/a\n${md5('same')}  usr/bin/b\n`,
    });
    const pkg = await readDeb(deb, { where: 'links.deb' });
    assert.equal(pkg.entries[1]?.hardlinkTarget, 'usr/bin/a');
  });

  it('refuses files that md5sums does not match, and md5sums naming missing files', async () => {
    await assert.rejects(readDeb(await craftDeb({ md5sums: `${md5('other')}  usr/bin/hello\n` }), { where: 'x' }), code('DIGEST_MISMATCH'));
    await assert.rejects(readDeb(await craftDeb({ md5sums: `${md5('x')}  usr/bin/nothere\n` }), { where: 'x' }), code('INVALID_PACKAGE'));
    await assert.rejects(readDeb(await craftDeb({ md5sums: 'not a line\n' }), { where: 'x' }), code('INVALID_PACKAGE'));
  });

  it('refuses what is not a 2.x .deb, with members out of order or missing', async () => {
    const cases: [string, CraftOptions['members'], RegExp][] = [
      ['no debian-binary', (p) => [p.control, p.data], /first member/],
      ['format 1', (p) => [{ ...p.debianBinary, data: enc('1.0\n') }, p.control, p.data], /not format 2/],
      ['format 3', (p) => [{ ...p.debianBinary, data: enc('3.0\n') }, p.control, p.data], /not format 2/],
      ['no newline', (p) => [{ ...p.debianBinary, data: enc('2.0') }, p.control, p.data], /not format 2/],
      ['data before control', (p) => [p.debianBinary, p.data, p.control], /control\.tar/],
      ['no data', (p) => [p.debianBinary, p.control], /no member where data\.tar/],
      ['control.tar.bz2', (p) => [p.debianBinary, { ...p.control, name: 'control.tar.bz2' }, p.data], /compression/],
      ['data.tar.lz4', (p) => [p.debianBinary, p.control, { ...p.data, name: 'data.tar.lz4' }], /compression/],
      ['data.tar.bz2', (p) => [p.debianBinary, p.control, { ...p.data, name: 'data.tar.bz2' }], /bzip2, which Provenant does not support/],
      ['data.tar.lzma', (p) => [p.debianBinary, p.control, { ...p.data, name: 'data.tar.lzma' }], /lzma/],
      ['gzip named xz', (p) => [p.debianBinary, p.control, { ...p.data, name: 'data.tar.xz' }], /xz/],
      ['gzip named plain', (p) => [p.debianBinary, p.control, { ...p.data, name: 'data.tar' }], /./],
    ];
    for (const [label, members, message] of cases) {
      await assert.rejects(
        readDeb(await craftDeb({ members }), { where: label }),
        (err: unknown) => isProvenantError(err) && message.test(err.message),
        label,
      );
    }
  });

  it('accepts a newer 2.x format and ignores _members and members after data, as deb(5) asks', async () => {
    const pkg = await readDeb(
      await craftDeb({
        members: (p) => [
          { ...p.debianBinary, data: enc('2.1\nsomething new\n') },
          { name: '_extra', data: enc('x') },
          p.control,
          { name: '_more', data: enc('') },
          p.data,
          { name: '_gpgorigin', data: enc('sig') },
        ],
      }),
      { where: 'x' },
    );
    assert.equal(pkg.formatVersion, '2.1');
    assert.deepEqual(pkg.members.ignored, ['_extra', '_more', '_gpgorigin']);
  });

  it('refuses control files without a valid name, version or architecture, or with more than one stanza', async () => {
    const bad = [
      'Package: ../../etc/x\nVersion: 1\nArchitecture: all\n',
      'Package: a/b\nVersion: 1\nArchitecture: all\n',
      'Version: 1\nArchitecture: all\n',
      'Package: ok\nVersion: 1 2\nArchitecture: all\n',
      'Package: ok\nVersion: 1\nArchitecture: ../x\n',
      'Package: ok\nVersion: 1\nArchitecture: all\n\nPackage: two\n',
      'not a control file\n',
    ];
    for (const control of bad) {
      await assert.rejects(readDeb(await craftDeb({ control }), { where: 'x' }), code('INVALID_PACKAGE'), control);
    }
  });

  it('refuses a member that unpacks past maxUnpackedSize, and corrupt compressed data', async () => {
    await assert.rejects(readDeb(await craftDeb(), { where: 'x', maxUnpackedSize: 1000 }), /more than 1000 bytes/);
    await assert.rejects(
      readDeb(await craftDeb({ members: (p) => [p.debianBinary, p.control, { ...p.data, data: p.data.data.subarray(0, 20) }] }), {
        where: 'x',
      }),
      code('INVALID_PACKAGE'),
    );
  });

  it('passes ar errors through', async () => {
    await assert.rejects(readDeb(enc('not an archive'), { where: 'x' }), code('INVALID_ARCHIVE'));
  });
});

describe('parseMd5sums', () => {
  it('reads md5sum text lines, binary-mode stars included, and cleans paths', () => {
    const m = parseMd5sums(`${'a'.repeat(32)}  usr/a\n${'B'.repeat(32)} *./usr/b\n\n`, 'x');
    assert.deepEqual(
      [...m],
      [
        ['usr/a', 'a'.repeat(32)],
        ['usr/b', 'b'.repeat(32)],
      ],
    );
    assert.throws(() => parseMd5sums(`${'a'.repeat(32)}  ../x\n`, 'x'), code('UNSAFE_PATH'));
    assert.throws(() => parseMd5sums(`${'a'.repeat(32)}  ${'a/'.repeat(3000)}f\n`, 'x'), /PATH_MAX/);
    assert.throws(() => parseMd5sums(`${'a'.repeat(31)}  x\n`, 'x'), code('INVALID_PACKAGE'));
  });
});

// ---------------------------------------------------------------------------------------------
// readDeb with a member cache
// ---------------------------------------------------------------------------------------------

/** A member cache in memory that records what was asked of it. */
function memoryMemberCache(): DebMemberCache & { entries: Map<string, Uint8Array>; gets: string[]; puts: string[] } {
  const entries = new Map<string, Uint8Array>();
  const gets: string[] = [];
  const puts: string[] = [];
  return {
    entries,
    gets,
    puts,
    async get(sha256, member) {
      gets.push(`${member}:${sha256}`);
      return entries.get(`${member}:${sha256}`);
    },
    async put(sha256, member, tar) {
      puts.push(`${member}:${sha256}`);
      entries.set(`${member}:${sha256}`, tar.slice());
    },
  };
}

describe('readDeb with a member cache', () => {
  const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
  const view = (p: Awaited<ReturnType<typeof readDeb>>) => ({
    name: p.name,
    control: p.control,
    entries: p.entries.map((e) => ({ path: e.path, header: e.header, body: Buffer.from(readBody(e.body)).toString('hex') })),
    scripts: [...p.scripts.keys()],
  });

  it('stores both unpacked members once the package has been read, and reads them back the same', async () => {
    const deb = await craftDeb({ controlExtra: [file('./postinst', '#!/bin/sh\n', { mode: 0o755 })] });
    const cache = memoryMemberCache();
    const first = await readDeb(deb, { where: 'hello.deb', memberCache: cache });
    assert.deepEqual(cache.puts.sort(), [`control:${sha(deb)}`, `data:${sha(deb)}`]);
    const second = await readDeb(deb, { where: 'hello.deb', memberCache: cache });
    assert.deepEqual(view(second), view(first));
    assert.equal(cache.puts.length, 2, 'nothing is stored again');
    // The members really come from the cache (which is trusted as the download cache is): a data
    // member put there by hand is what the third read unpacks.
    cache.entries.set(`data:${sha(deb)}`, await tarBytes([dir('./'), file('./usr/bin/hello', 'other\n')]));
    const third = await readDeb(deb, { where: 'hello.deb', memberCache: cache });
    assert.equal(Buffer.from(readBody(third.entries.find((e) => e.path === 'usr/bin/hello')!.body)).toString(), 'other\n');
  });

  it('uses cached members instead of decompressing', { skip: !haveXz && 'xz is not installed' }, async () => {
    const bytes = readFileSync(realDebs.get('netbase')!);
    const cache = memoryMemberCache();
    let decoded = 0;
    const decompressXz = async (b: Uint8Array): Promise<Uint8Array> => {
      decoded++;
      return new Uint8Array(execFileSync('xz', ['-dc'], { input: b }));
    };
    const first = await readDeb(bytes, { where: 'netbase', memberCache: cache, decompressXz });
    assert.equal(decoded, 2);
    const second = await readDeb(bytes, { where: 'netbase', memberCache: cache, decompressXz });
    assert.equal(decoded, 2, 'no member was decompressed the second time');
    assert.deepEqual(view(second), view(first));
  });

  it('stores nothing for a package that fails its md5sums, nor for uncompressed members', async () => {
    const cache = memoryMemberCache();
    const bad = await craftDeb({ md5sums: `${md5('other')}  usr/bin/hello\n` });
    await assert.rejects(readDeb(bad, { where: 'x', memberCache: cache }), code('DIGEST_MISMATCH'));
    assert.deepEqual(cache.puts, []);
    cache.gets.length = 0;
    await readDeb(await craftDeb({ compress: 'none' }), { where: 'x', memberCache: cache });
    assert.deepEqual(cache.puts, []);
    assert.deepEqual(cache.gets, [], 'uncompressed members are never looked up');
  });

  it('keys members by the package: another package never gets them', async () => {
    const cache = memoryMemberCache();
    const a = await craftDeb();
    const b = await craftDeb({ files: [dir('./'), file('./b', 'bee\n')] });
    await readDeb(a, { where: 'a', memberCache: cache });
    const pb = await readDeb(b, { where: 'b', memberCache: cache });
    assert.deepEqual(
      pb.entries.map((e) => e.path),
      ['b'],
    );
    assert.equal(cache.entries.size, 4);
  });
});
