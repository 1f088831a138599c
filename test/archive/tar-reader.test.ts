// readTar, indexTarFile and openTarMember.
import assert from 'node:assert/strict';
import { createReadStream } from 'node:fs';
import { rm, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { indexTarFile, openTarMember, readTar, tarBytes } from '../../src/archive/tar.ts';
import { useTempDir } from '../helpers/temp.ts';
import { chunked, collect, concat, F, fixChecksum, hdr, readAll, rejectsWith, setField, text } from './helpers.ts';

const tempDir = useTempDir('tar');

/** One header block of our writer, to be edited. */
async function block(over: Parameters<typeof hdr>[0]): Promise<Uint8Array> {
  return (await tarBytes([{ header: hdr(over) }])).slice(0, 512);
}

const END = new Uint8Array(1024);
const pad = (b: Uint8Array): Uint8Array => concat([b, new Uint8Array((512 - (b.length % 512)) % 512)]);

/** A raw meta header (PAX x/g or GNU L/K) with its data. */
async function meta(flag: string, data: string | Uint8Array, gnu = false): Promise<Uint8Array> {
  const bytes = typeof data === 'string' ? text(data) : data;
  const b = await block({ name: gnu ? '././@LongLink' : 'PaxHeaders/x' });
  setField(b, ...F.typeflag, flag);
  setField(b, ...F.size, bytes.length.toString(8).padStart(11, '0'));
  if (gnu) {
    setField(b, ...F.magic, 'ustar ');
    setField(b, ...F.version, ' ');
  }
  return concat([b, pad(bytes)]);
}

const rec = (key: string, value: string): string => {
  const rest = ` ${key}=${value}\n`;
  let n = Buffer.byteLength(rest) + 1;
  while (String(n).length + Buffer.byteLength(rest) !== n) n = String(n).length + Buffer.byteLength(rest);
  return `${n}${rest}`;
};

describe('readTar', () => {
  it('reads entries and bodies from 1-byte chunks and from one chunk alike', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'a/', type: 'dir', mode: 0o755 }) },
      {
        header: hdr({ name: 'a/b.txt', size: 700, uid: 7, gid: 8, uname: 'me', gname: 'us', mtime: 12345 }),
        body: new Uint8Array(700).fill(7),
      },
      { header: hdr({ name: 'a/ü'.repeat(50), size: 1 }), body: text('x') },
      { header: hdr({ name: 'dev', type: 'char', devmajor: 1, devminor: 5, mode: 0o666 }) },
    ]);
    const whole = await readAll([bytes]);
    const bytewise = await readAll(chunked(bytes));
    const odd = await readAll(chunked(bytes, [511, 3, 1024, 7]));
    assert.deepEqual(bytewise, whole);
    assert.deepEqual(odd, whole);
    assert.deepEqual(
      whole.map((e) => e.header.name),
      ['a/', 'a/b.txt', 'a/ü'.repeat(50), 'dev'],
    );
    assert.deepEqual(whole[1]!.header, hdr({ name: 'a/b.txt', size: 700, uid: 7, gid: 8, uname: 'me', gname: 'us', mtime: 12345 }));
    assert.deepEqual(whole[1]!.body, new Uint8Array(700).fill(7));
    assert.equal(whole[3]!.header.devminor, 5);
  });

  it('skips bodies the consumer does not read, in whole or in part', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'one', size: 1500 }), body: new Uint8Array(1500).fill(1) },
      { header: hdr({ name: 'two', size: 3 }), body: text('two') },
      { header: hdr({ name: 'three', size: 600 }), body: new Uint8Array(600).fill(3) },
      { header: hdr({ name: 'four', size: 4 }), body: text('four') },
    ]);
    const seen: Array<[string, string]> = [];
    for await (const { header, body } of readTar(chunked(bytes, [100]))) {
      if (header.name === 'two' || header.name === 'four') seen.push([header.name, Buffer.from(await collect(body)).toString()]);
      if (header.name === 'three') {
        for await (const _ of body) break; // reads one chunk only
      }
    }
    assert.deepEqual(seen, [
      ['two', 'two'],
      ['four', 'four'],
    ]);
  });

  it('refuses to read a body after moving to the next entry', async () => {
    const bytes = await tarBytes([{ header: hdr({ name: 'first', size: 3 }), body: text('abc') }, { header: hdr({ name: 'second' }) }]);
    const it = readTar([bytes]);
    const first = (await it.next()).value!;
    await it.next();
    const err = await rejectsWith(() => collect(first.body), 'USAGE');
    assert.match(err.message, /"first"/);
  });

  it('reads base-256 numbers (GNU) for size, uid and a negative mtime', async () => {
    const b = await block({ name: 'big' });
    setField(b, ...F.size, Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5));
    setField(b, ...F.uid, Uint8Array.of(0x80, 0, 0, 1, 0, 0, 0, 0)); // 2^32
    setField(b, ...F.mtime, new Uint8Array(12).fill(0xff)); // -1
    setField(b, ...F.gid, Uint8Array.of(0x80, 0, 0, 0, 0, 0, 0, 9));
    const [e] = await readAll([concat([b, pad(text('hello')), END])]);
    assert.equal(e!.header.size, 5);
    assert.equal(e!.header.uid, 2 ** 32);
    assert.equal(e!.header.gid, 9);
    assert.equal(e!.header.mtime, -1);
    assert.equal(Buffer.from(e!.body).toString(), 'hello');
  });

  it('refuses a negative base-256 size and a base-256 number past 2^53', async () => {
    const neg = await block({ name: 'neg' });
    setField(neg, ...F.size, new Uint8Array(12).fill(0xff));
    const err = await rejectsWith(() => readAll([concat([neg, END])], 'neg.tar'), 'INVALID_ARCHIVE');
    assert.match(err.message, /size field of the tar header at byte 0 is negative/);
    assert.equal(err.where, 'neg.tar');
    const huge = await block({ name: 'huge' });
    setField(huge, ...F.size, Uint8Array.of(0x80, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff));
    await rejectsWith(() => readAll([concat([huge, END])]), 'INVALID_ARCHIVE');
  });

  it('reads octal fields padded with spaces or NULs, and refuses other characters', async () => {
    const b = await block({ name: 'f' });
    setField(b, ...F.mode, '  644 \0');
    setField(b, ...F.uid, '\0\0\0\0\0\0\0\0');
    const [e] = await readAll([concat([b, END])]);
    assert.equal(e!.header.mode, 0o644);
    assert.equal(e!.header.uid, 0);
    setField(b, ...F.mode, '0x644');
    const err = await rejectsWith(() => readAll([concat([b, END])]), 'INVALID_ARCHIVE');
    assert.match(err.message, /mode field of the tar header at byte 0 is not a number/);
    setField(b, ...F.mode, '0000648');
    await rejectsWith(() => readAll([concat([b, END])]), 'INVALID_ARCHIVE');
  });

  it('shows a malformed field with its bytes escaped, never raw', async () => {
    const b = await block({ name: 'f' });
    b.set([0x37, 0xc2, 0x1b, 0x22, 0x5c, 0x00, 0xff, 0x30], F.mode[0]);
    fixChecksum(b);
    const err = await rejectsWith(() => readAll([concat([b, END])]), 'INVALID_ARCHIVE');
    assert.ok(
      err.message.endsWith(String.raw`mode field of the tar header at byte 0 is not a number: "7\xc2\x1b\"\\\x00\xff0"`),
      err.message,
    );
  });

  it('says that compressed input is compressed, not a corrupt tar', async () => {
    const { gzipSync } = await import('node:zlib');
    const tar = await tarBytes([{ header: hdr({ name: 'f', size: 1 }), body: text('x') }]);
    const err = await rejectsWith(() => readAll([gzipSync(tar)]), 'INVALID_ARCHIVE');
    assert.equal(err.message, 'the input is gzip-compressed, not a tar archive');
    assert.match(err.hint ?? '', /gzip -dc/);
    const xz = new Uint8Array(1024);
    xz.set([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00, 0x00, 0x04]);
    assert.equal((await rejectsWith(() => readAll([xz]), 'INVALID_ARCHIVE')).message, 'the input is xz-compressed, not a tar archive');
  });

  it('masks file-type bits out of the mode', async () => {
    const b = await block({ name: 'f' });
    setField(b, ...F.mode, '0104755');
    assert.equal((await readAll([concat([b, END])]))[0]!.header.mode, 0o4755);
  });

  it('reads old v7 headers: no magic, a trailing slash makes a directory', async () => {
    const v7 = async (name: string, flag: string) => {
      const b = await block({ name, uname: 'ignored', gname: 'ignored' });
      b.fill(0, 257, 512); // no magic, no owner names, no prefix
      setField(b, ...F.typeflag, flag);
      return b;
    };
    const bytes = concat([await v7('old/', '\0'), await v7('old/file', '\0'), await v7('old/reg', '0'), END]);
    const entries = await readAll([bytes]);
    assert.deepEqual(
      entries.map((e) => [e.header.name, e.header.type, e.header.uname]),
      [
        ['old/', 'dir', ''],
        ['old/file', 'file', ''],
        ['old/reg', 'file', ''],
      ],
    );
  });

  it('reads GNU long names (L) and long link names (K), ignoring the prefix area of GNU headers', async () => {
    const longName = `${'n'.repeat(300)}/ü`;
    const longLink = 'l'.repeat(250);
    const b = await block({ name: 'truncated', type: 'symlink', linkname: 'truncated' });
    setField(b, ...F.magic, 'ustar ');
    setField(b, ...F.version, ' ');
    setField(b, ...F.prefix, 'atime-and-ctime-live-here-in-gnu');
    const bytes = concat([await meta('L', `${longName}\0`, true), await meta('K', `${longLink}\0`, true), b, END]);
    const [e] = await readAll(chunked(bytes, [13]));
    assert.equal(e!.header.name, longName);
    assert.equal(e!.header.linkname, longLink);
    assert.equal(e!.header.type, 'symlink');
    // Without a long name, a GNU header's name is its name field alone.
    const [plain] = await readAll([concat([b, END])]);
    assert.equal(plain!.header.name, 'truncated');
  });

  it('applies global PAX records to every later entry, with local records and empty values overriding them', async () => {
    const g = await meta('g', rec('comment', 'from-git') + rec('uname', 'globaluser'));
    const one = await block({ name: 'one' });
    const xTwo = await meta('x', rec('comment', '') + rec('uname', 'local') + rec('SCHILY.xattr.user.k', 'v'));
    const two = await block({ name: 'two' });
    const three = await block({ name: 'three' });
    const entries = await readAll([concat([g, one, xTwo, two, three, END])]);
    assert.deepEqual(
      entries.map((e) => [e.header.name, e.header.uname, e.header.pax]),
      [
        ['one', 'globaluser', { comment: 'from-git' }],
        ['two', 'local', { 'SCHILY.xattr.user.k': 'v' }],
        ['three', 'globaluser', { comment: 'from-git' }],
      ],
    );
  });

  it('drops the local records and GNU long names pending before a global header, so an entry carries at most 1 MiB of them', async () => {
    // x (600 KiB of distinct keys), L, K, g, three times: together far over the 1 MiB cap, each
    // pair under it. What the reader kept for the entry is what the entry carries.
    const parts: Uint8Array[] = [];
    let n = 0;
    for (let pair = 0; pair < 3; pair++) {
      let data = '';
      while (data.length < 600 * 1024) data += rec(`k${n++}`, 'v');
      parts.push(await meta('x', data), await meta('L', `long-${pair}\0`, true), await meta('K', `link-${pair}\0`, true));
      parts.push(await meta('g', rec('comment', `g${pair}`)));
    }
    const entries = await readAll(chunked(concat([...parts, await block({ name: 'f', type: 'symlink', linkname: 't' }), END]), [4096]));
    // Counted first: a failure then says how many records were held, not all of them.
    assert.equal(Object.keys(entries[0]?.header.pax ?? {}).length, 1, 'records the entry carries');
    assert.deepEqual(
      entries.map((e) => [e.header.name, e.header.linkname, e.header.pax]),
      [['f', 't', { comment: 'g2' }]],
    );
  });

  it('gives each entry the global records so far and the local ones since the last global header (property)', async () => {
    const key = fc.constantFrom('comment', 'k1', 'k2', 'SCHILY.xattr.user.a');
    const records = fc.array(fc.tuple(key, fc.constantFrom('', 'a', 'b')), { maxLength: 3 });
    const op = fc.oneof(
      fc.record({ flag: fc.constant('x' as const), records }),
      fc.record({ flag: fc.constant('g' as const), records }),
      fc.record({ flag: fc.constant('L' as const), text: fc.constantFrom('n1', 'n2/ü') }),
      fc.record({ flag: fc.constant('K' as const), text: fc.constantFrom('l1', 'l2') }),
      fc.record({ flag: fc.constant('entry' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 12 }), async (ops) => {
        // The model: what POSIX and Go's archive/tar give each entry.
        const global = new Map<string, string>();
        let local = new Map<string, string>();
        let name: string | undefined;
        let linkname: string | undefined;
        const want: unknown[] = [];
        const parts: Uint8Array[] = [];
        for (const [i, o] of ops.entries()) {
          if (o.flag === 'entry') {
            const pax = new Map(global);
            for (const [k, v] of local) pax.set(k, v);
            const extra = Object.fromEntries([...pax].filter(([, v]) => v !== '').sort(([a], [b]) => (a < b ? -1 : 1)));
            want.push([name ?? `e${i}`, linkname ?? 't', Object.keys(extra).length > 0 ? extra : undefined]);
            parts.push(await block({ name: `e${i}`, type: 'symlink', linkname: 't' }));
            [local, name, linkname] = [new Map(), undefined, undefined];
          } else if (o.flag === 'L' || o.flag === 'K') {
            parts.push(await meta(o.flag, `${o.text}\0`, true));
            if (o.flag === 'L') name = o.text;
            else linkname = o.text;
          } else {
            parts.push(await meta(o.flag, o.records.map(([k, v]) => rec(k, v)).join('')));
            const last = new Map(o.records);
            if (o.flag === 'x') for (const [k, v] of last) local.set(k, v);
            else {
              for (const [k, v] of last) v === '' ? global.delete(k) : global.set(k, v);
              [local, name, linkname] = [new Map(), undefined, undefined];
            }
          }
        }
        // Extended headers with no entry after them are a truncated archive: end on an entry.
        if (local.size > 0 || name !== undefined || linkname !== undefined || ops.at(-1)?.flag === 'x') return;
        const got = await readAll([concat([...parts, END])]);
        assert.deepEqual(
          got.map((e) => [e.header.name, e.header.linkname, e.header.pax]),
          want,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('keeps a binary xattr (a file capability, NULs and invalid UTF-8) byte for byte and writes it back', async () => {
    // vfs_cap_data v2 for cap_setuid+ep, as `setcap` stores it and GNU tar, libarchive and Go write it.
    const cap = Uint8Array.from([1, 0, 0, 2, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const recordOf = (key: string, value: Uint8Array): Uint8Array => {
      const rest = concat([text(` ${key}=`), value, text('\n')]);
      let n = rest.length + 1;
      while (String(n).length + rest.length !== n) n = String(n).length + rest.length;
      return concat([text(String(n)), rest]);
    };
    const records = concat([recordOf('SCHILY.xattr.security.capability', cap), recordOf('SCHILY.xattr.user.note', text('é'))]);
    const x = await meta('x', records);
    const file = await block({ name: 'usr/bin/newuidmap', mode: 0o755 });
    const [entry] = await readAll(chunked(concat([x, file, END]), [100]));
    const pax = entry?.header.pax ?? {};
    assert.deepEqual([...Buffer.from(pax['SCHILY.xattr.security.capability'] ?? '', 'latin1')], [...cap]);
    assert.equal(pax['SCHILY.xattr.user.note'], Buffer.from('é').toString('latin1'), 'a UTF-8 value is its bytes too');
    for (const format of ['provenant', 'go'] as const) {
      const again = await tarBytes([{ header: entry!.header }], { format });
      assert.ok(Buffer.from(again.subarray(512, 512 + records.length)).equals(records), `${format}: the records are written back as read`);
      assert.deepEqual((await readAll([again]))[0]?.header.pax, pax);
    }
  });

  it('refuses to write an xattr value with a character that is not a byte', async () => {
    const header = hdr({ name: 'f', pax: { 'SCHILY.xattr.user.a': '\u20ac' } });
    await rejectsWith(() => tarBytes([{ header }]), 'INVALID_ARCHIVE');
    await rejectsWith(() => tarBytes([{ header }], { format: 'go' }), 'INVALID_ARCHIVE');
  });

  it('reads PAX times with fractions as whole seconds', async () => {
    for (const [value, want] of [
      ['1700000000.987654321', 1700000000],
      ['-1.5', -1],
      ['42', 42],
      ['7.', 7],
    ] as const) {
      const bytes = concat([await meta('x', rec('mtime', value)), await block({ name: 't' }), END]);
      assert.equal((await readAll([bytes]))[0]!.header.mtime, want, value);
    }
  });

  it('takes path, linkpath, size, uid, gid from PAX records over the ustar fields', async () => {
    const x = await meta(
      'x',
      rec('path', 'real/ñame') + rec('linkpath', 'real-target') + rec('size', '3') + rec('uid', '99999999') + rec('gid', '5'),
    );
    const b = await block({ name: 'fake', type: 'hardlink', linkname: 'fake' });
    let [e] = await readAll([concat([x, b, END])]);
    assert.equal(e!.header.name, 'real/ñame');
    assert.equal(e!.header.linkname, 'real-target');
    assert.equal(e!.header.uid, 99999999);
    assert.equal(e!.header.gid, 5);
    assert.equal(e!.header.size, 0, 'a hardlink has no body whatever its size says');
    const f = await block({ name: 'fake' });
    [e] = await readAll([concat([x, f, pad(text('abc')), END])]);
    assert.equal(e!.header.size, 3);
    assert.equal(Buffer.from(e!.body).toString(), 'abc');
  });

  it('refuses a name or link target that is not UTF-8, rather than merge two entries under U+FFFD', async () => {
    const named = async (name: Uint8Array): Promise<Uint8Array> => {
      const b = await block({ name: 'x' });
      setField(b, ...F.name, name);
      return b;
    };
    const refused = async (bytes: Uint8Array, message: RegExp): Promise<void> => {
      const err = await rejectsWith(() => readAll([bytes], 'layer'), 'INVALID_ARCHIVE');
      assert.match(err.message, message);
      assert.equal(err.where, 'layer');
    };
    /** A PAX record whose key and value are bytes. */
    const rawRec = (key: Uint8Array, value: Uint8Array): Uint8Array => {
      const n = key.length + value.length + 3;
      const len = String(n + String(n).length).length === String(n).length ? n + String(n).length : n + String(n).length + 1;
      return concat([text(`${len} `), key, text('='), value, text('\n')]);
    };
    // Two names that lenient decoding made one, the second entry silently in the first's place.
    const two = concat([await named(Uint8Array.of(0x75, 0x2f, 0xff)), await named(Uint8Array.of(0x75, 0x2f, 0xfe)), END]);
    await refused(two, /^the tar entry at byte 0 has a name that is not UTF-8: "u\/\\xff"$/);
    // In the ustar prefix, a GNU long name, a symlink's or hardlink's target, a PAX path, linkpath or key.
    const prefixed = await block({ name: 'f' });
    setField(prefixed, ...F.prefix, Uint8Array.of(0x64, 0xc3));
    await refused(concat([prefixed, END]), /has a name that is not UTF-8: "d\\xc3\/f"/);
    await refused(
      concat([await meta('L', Uint8Array.of(0xfe, 0), true), await block({ name: 'f' }), END]),
      /has a name that is not UTF-8: "\\xfe"/,
    );
    for (const type of ['symlink', 'hardlink'] as const) {
      const link = await block({ name: 'l', type, linkname: 'x' });
      setField(link, ...F.linkname, Uint8Array.of(0x80));
      await refused(concat([link, END]), /^the tar entry "l" at byte 0 has a link target that is not UTF-8: "\\x80"$/);
    }
    const gnuLink = await meta('K', Uint8Array.of(0xfe, 0), true);
    await refused(concat([gnuLink, await block({ name: 'l', type: 'symlink', linkname: 'short' }), END]), /link target that is not UTF-8/);
    const symlink = await block({ name: 'f', type: 'symlink', linkname: 't' });
    for (const key of ['path', 'linkpath']) {
      const x = await meta('x', rawRec(text(key), Uint8Array.of(0xff)));
      await refused(concat([x, symlink, END]), new RegExp(`has a ${key} record that is not UTF-8: "\\\\xff"`));
    }
    const badKey = await meta('x', rawRec(Uint8Array.of(...text('SCHILY.xattr.u.'), 0xff), text('v')));
    await refused(concat([badKey, await block({ name: 'f' }), END]), /has a key that is not UTF-8: "SCHILY.xattr.u.\\xff"/);
  });

  it('reads names exactly: a leading byte order mark stays, and a ustar name cut inside a character is fine under a PAX path', async () => {
    const bom = await block({ name: 'x' });
    setField(bom, ...F.name, Uint8Array.of(0xef, 0xbb, 0xbf, 0x61));
    const entries = await readAll([concat([bom, await block({ name: 'a' }), END])]);
    assert.deepEqual(
      entries.map((e) => e.header.name),
      ['\ufeffa', 'a'],
      'two names, not one',
    );
    // GNU tar truncates a long name into the ustar field, possibly inside a UTF-8 character; the
    // PAX path is the name. Likewise a GNU long name, and the link field of an entry that is no link.
    const cut = await block({ name: 'x', linkname: 'y' });
    setField(cut, ...F.name, Uint8Array.of(0x61, 0xc3));
    setField(cut, ...F.linkname, Uint8Array.of(0xc3));
    const [e1] = await readAll([concat([await meta('x', rec('path', 'aé')), cut, END])]);
    assert.equal(e1!.header.name, 'aé');
    const [e2] = await readAll([concat([await meta('L', 'aé\0', true), cut, END])]);
    assert.equal(e2!.header.name, 'aé');
  });

  it('reads no data after header-only entries even when their size field is set', async () => {
    const d = await block({ name: 'd/', type: 'dir' });
    setField(d, ...F.size, '00000000005');
    const entries = await readAll([concat([d, await block({ name: 'next' }), END])]);
    assert.deepEqual(
      entries.map((e) => [e.header.name, e.header.size]),
      [
        ['d/', 0],
        ['next', 0],
      ],
    );
  });

  const badPax: Array<[string, string]> = [
    ['a length that overruns the data', '99 path=x\n'],
    ['a length that is too short', '3 a=b\n'],
    ['no newline at the end', '9 path=xy'],
    ['no space after the length', '10path=xy\n'],
    ['no key', '7 =abc\n'],
    ['no "="', '9 pathxy\n'],
    ['a number that is not one', `${rec('size', '12abc')}`],
    ['a negative size', `${rec('size', '-1')}`],
    ['a uid past 2^53', `${rec('uid', '99999999999999999')}`],
  ];
  for (const [what, data] of badPax) {
    it(`refuses a PAX header with ${what}`, async () => {
      const bytes = concat([await meta('x', data), await block({ name: 'f' }), END]);
      const err = await rejectsWith(() => readAll([bytes]), 'INVALID_ARCHIVE');
      assert.match(err.message, /PAX/);
    });
  }

  it('refuses a GNU sparse file rather than misreading it', async () => {
    const bytes = concat([await meta('x', rec('GNU.sparse.major', '1')), await block({ name: 'f' }), END]);
    assert.match((await rejectsWith(() => readAll([bytes]), 'INVALID_ARCHIVE')).message, /sparse/);
  });

  it('refuses absurd extended-header sizes before allocating', async () => {
    const b = await block({ name: 'PaxHeaders/x' });
    setField(b, ...F.typeflag, 'x');
    setField(b, ...F.size, '77777777777');
    const err = await rejectsWith(() => readAll([concat([b, END])]), 'INVALID_ARCHIVE');
    assert.match(err.message, /PAX header at byte 0 claims 8589934591 bytes/);
    const L = Uint8Array.from(b);
    setField(L, ...F.typeflag, 'L');
    await rejectsWith(() => readAll([concat([L, END])]), 'INVALID_ARCHIVE');
    // Many headers that are each under the cap but together over it.
    const part = await meta('x', rec('comment', 'c'.repeat(600 * 1024)));
    const f = await block({ name: 'f' });
    await rejectsWith(() => readAll([concat([part, part, f, END])]), 'INVALID_ARCHIVE');
  });

  it('verifies the checksum, accepting signed sums', async () => {
    const b = await block({ name: 'f' });
    b.set([0xfc, 0xe9], 265); // uname bytes above 127: the signed and unsigned sums differ
    fixChecksum(b, true);
    assert.equal((await readAll([concat([b, END])])).length, 1);
    fixChecksum(b, false);
    assert.equal((await readAll([concat([b, END])])).length, 1);
    b[0] = 0x67; // 'g': one byte changed, checksum stale
    const ok = await block({ name: 'ok' });
    const err = await rejectsWith(() => readAll([concat([ok, b, END])], 'x.tar'), 'INVALID_ARCHIVE');
    assert.match(err.message, /tar header at byte 512 has a bad checksum/);
  });

  it('refuses entry types it does not support', async () => {
    for (const flag of ['S', 'V', 'D', 'M', 'Z']) {
      const b = await block({ name: 'odd' });
      setField(b, ...F.typeflag, flag);
      const err = await rejectsWith(() => readAll([concat([b, END])]), 'INVALID_ARCHIVE');
      assert.match(err.message, /"odd" at byte 0 has type/);
    }
  });

  it('accepts a clean end without zero blocks, or with a single zero block', async () => {
    const bytes = await tarBytes([{ header: hdr({ name: 'f', size: 2 }), body: text('hi') }]);
    const body = bytes.subarray(0, 1024);
    assert.equal((await readAll([body])).length, 1);
    assert.equal((await readAll([bytes.subarray(0, 1536)])).length, 1);
    assert.equal((await readAll([new Uint8Array(0)])).length, 0);
  });

  it('stops at the end marker: trailing data is neither parsed nor pulled from the input', async () => {
    const bytes = await tarBytes([{ header: hdr({ name: 'f' }) }]);
    let pulled = 0;
    let closed = false;
    async function* input() {
      try {
        yield bytes;
        pulled++;
        yield new Uint8Array(512).fill(0x41); // garbage after the end
        pulled++;
      } finally {
        closed = true;
      }
    }
    assert.equal((await readAll(input())).length, 1);
    assert.equal(pulled, 0);
    assert.ok(closed, 'the input is closed so a file stream releases its handle');
  });

  it('refuses a zero block followed by a header', async () => {
    const f = await block({ name: 'f' });
    const err = await rejectsWith(() => readAll([concat([f, new Uint8Array(512), f, END])]), 'INVALID_ARCHIVE');
    assert.match(err.message, /zero block at byte 512/);
  });

  it('reports truncation inside a header, a body, an end marker and after an extended header', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'first', size: 600 }), body: new Uint8Array(600) },
      { header: hdr({ name: 'ü-second', size: 10 }), body: new Uint8Array(10) },
    ]);
    // Entry 2 is a PAX header (at 1536), its data (2048) and its ustar header (2560); body at 3072.
    let err = await rejectsWith(() => readAll([bytes.subarray(0, 100)], 'cut.tar'), 'TRUNCATED');
    assert.match(err.message, /inside the header at byte 0 \(100 of 512 bytes\)/);
    assert.equal(err.where, 'cut.tar');
    err = await rejectsWith(() => readAll([bytes.subarray(0, 700)]), 'TRUNCATED');
    assert.match(err.message, /body of "first" \(entry at byte 0\)/);
    err = await rejectsWith(() => readAll([bytes.subarray(0, 1500)]), 'TRUNCATED'); // in the padding, body unread
    err = await rejectsWith(async () => {
      for await (const _ of readTar([bytes.subarray(0, 1500)]));
    }, 'TRUNCATED');
    assert.match(err.message, /"first"/);
    err = await rejectsWith(() => readAll([bytes.subarray(0, 2560)]), 'TRUNCATED');
    assert.match(err.message, /after an extended header at byte 1536/);
    err = await rejectsWith(() => readAll([bytes.subarray(0, 3075)]), 'TRUNCATED');
    assert.match(err.message, /"ü-second" \(entry at byte 1536\)/);
    err = await rejectsWith(() => readAll([bytes.subarray(0, bytes.length - 100)]), 'TRUNCATED');
    assert.match(err.message, /end-of-archive marker/);
  });

  it('wraps a failing input as IO and a missing file as NOT_FOUND', async () => {
    async function* failing() {
      yield new Uint8Array(10);
      throw new Error('disk on fire');
    }
    const err = await rejectsWith(() => readAll(failing(), 'x.tar'), 'IO');
    assert.match(err.message, /disk on fire/);
    await rejectsWith(() => readAll(createReadStream('/nonexistent/provenant.tar')), 'NOT_FOUND');
  });

  it('does not blame the archive for a write its input failed (a full disk where it is unpacked to)', async () => {
    async function* writing() {
      yield new Uint8Array(10);
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    }
    const err = await rejectsWith(() => readAll(writing(), 'x.apk'), 'IO');
    assert.equal(err.message, 'cannot write what the tar archive gave: ENOSPC: no space left on device, write');
    assert.equal(err.where, 'x.apk');
  });

  it('refuses input that yields strings', async () => {
    await rejectsWith(() => readAll(['not bytes' as unknown as Uint8Array]), 'INVALID_ARCHIVE');
  });
});

describe('indexTarFile and openTarMember', () => {
  it('find each body by offset and stream the same bytes readTar gives', async () => {
    const file = join(await tempDir(), 'a.tar');
    const big = new Uint8Array(200_000).map((_, i) => i % 251);
    const bytes = await tarBytes([
      { header: hdr({ name: 'dir/', type: 'dir' }) },
      { header: hdr({ name: 'dir/big', size: big.length }), body: big },
      { header: hdr({ name: `dir/${'long'.repeat(40)}`, size: 3 }), body: text('abc') },
      { header: hdr({ name: 'empty' }) },
      { header: hdr({ name: 'link', type: 'symlink', linkname: 'dir/big' }) },
    ]);
    await writeFile(file, bytes);
    const index = await indexTarFile(file);
    const streamed = await readAll(createReadStream(file));
    assert.deepEqual(
      [...index.keys()],
      streamed.map((e) => e.header.name),
    );
    for (const e of streamed) {
      const entry = index.get(e.header.name)!;
      assert.deepEqual(entry.header, e.header);
      assert.equal(entry.size, e.body.length);
      assert.deepEqual(await collect(openTarMember(file, entry)), e.body);
      assert.deepEqual(bytes.subarray(entry.offset, entry.offset + entry.size), e.body);
    }
  });

  it('keeps the last of repeated names, as extraction would', async () => {
    const file = join(await tempDir(), 'dup.tar');
    await writeFile(
      file,
      await tarBytes([
        { header: hdr({ name: 'x', size: 3 }), body: text('old') },
        { header: hdr({ name: 'y' }) },
        { header: hdr({ name: 'x', size: 3 }), body: text('new') },
      ]),
    );
    const index = await indexTarFile(file);
    assert.deepEqual([...index.keys()], ['y', 'x']);
    assert.equal(Buffer.from(await collect(openTarMember(file, index.get('x')!))).toString(), 'new');
  });

  it('report a truncated file and a missing one', async () => {
    const dir = await tempDir();
    const file = join(dir, 'cut.tar');
    const bytes = await tarBytes([{ header: hdr({ name: 'f', size: 1000 }), body: new Uint8Array(1000) }]);
    await writeFile(file, bytes.subarray(0, 900));
    const err = await rejectsWith(() => indexTarFile(file), 'TRUNCATED');
    assert.equal(err.where, file);
    assert.match(err.message, /"f"/);
    await rejectsWith(() => indexTarFile(join(dir, 'missing.tar')), 'NOT_FOUND');

    // A file cut after it was indexed.
    await writeFile(file, bytes);
    const index = await indexTarFile(file);
    await truncate(file, 600);
    await rejectsWith(() => collect(openTarMember(file, index.get('f')!)), 'TRUNCATED');
    await rm(file);
    await rejectsWith(() => collect(openTarMember(file, index.get('f')!)), 'NOT_FOUND');
  });
});
