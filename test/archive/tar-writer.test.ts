// writeTar: ustar with PAX only where needed, byte for byte.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cleanEntryPath } from '../../src/archive/paths.ts';
import { tarBytes, tarHeaderBytes, writeTar } from '../../src/archive/tar.ts';
import { F, field, hdr, readAll, rejectsWith, text } from './helpers.ts';

const f = (block: Uint8Array, k: keyof typeof F): string => field(block, F[k][0], F[k][1]);

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return Number.parseInt(f(block, 'chksum'), 8) === sum;
}

/** The PAX records of an archive whose first block is an `x` header. */
function paxRecords(bytes: Uint8Array): string {
  assert.equal(f(bytes, 'typeflag'), 'x');
  const size = Number.parseInt(f(bytes, 'size'), 8);
  return Buffer.from(bytes.subarray(512, 512 + size)).toString('utf8');
}

describe('writeTar', () => {
  it('writes a plain ustar header with the exact field layout', async () => {
    const bytes = await tarBytes([
      {
        header: hdr({ name: 'etc/hosts', mode: 0o640, uid: 1000, gid: 100, uname: 'u', gname: 'g', size: 3, mtime: 1700000000 }),
        body: text('abc'),
      },
    ]);
    assert.equal(bytes.length, 512 + 512 + 1024);
    assert.equal(f(bytes, 'name'), 'etc/hosts');
    assert.equal(f(bytes, 'mode'), '0000640');
    assert.equal(f(bytes, 'uid'), '0001750');
    assert.equal(f(bytes, 'gid'), '0000144');
    assert.equal(f(bytes, 'size'), '00000000003');
    assert.equal(f(bytes, 'mtime'), (1700000000).toString(8).padStart(11, '0'));
    assert.equal(f(bytes, 'typeflag'), '0');
    assert.equal(f(bytes, 'magic'), 'ustar');
    assert.equal(bytes[262], 0, 'magic is "ustar\\0"');
    assert.equal(f(bytes, 'version'), '00');
    assert.equal(f(bytes, 'uname'), 'u');
    assert.equal(f(bytes, 'gname'), 'g');
    assert.equal(f(bytes, 'devmajor'), '0000000');
    assert.ok(checksumOk(bytes));
    assert.equal(Buffer.from(bytes.subarray(512, 515)).toString(), 'abc');
    assert.ok(
      bytes.subarray(515).every((b) => b === 0),
      'padding and the end blocks are zeros',
    );
  });

  it('ends an empty archive with exactly two zero blocks', async () => {
    const bytes = await tarBytes([]);
    assert.equal(bytes.length, 1024);
    assert.ok(bytes.every((b) => b === 0));
  });

  it('writes each type with its typeflag, and drops file-type bits from the mode', async () => {
    const types = { file: '0', hardlink: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' } as const;
    for (const [type, flag] of Object.entries(types)) {
      const linkname = type === 'symlink' || type === 'hardlink' ? 'target' : '';
      const bytes = await tarBytes([
        { header: hdr({ name: 'x', type: type as keyof typeof types, linkname, mode: 0o104755, devmajor: 1, devminor: 3 }) },
      ]);
      assert.equal(f(bytes, 'typeflag'), flag, type);
      assert.equal(f(bytes, 'mode'), '0004755', type);
      assert.equal(f(bytes, 'linkname'), linkname);
      assert.equal(f(bytes, 'devminor'), '0000003');
    }
  });

  it('splits a long ASCII name into prefix and name without a PAX header', async () => {
    const name = `${'d'.repeat(150)}/${'f'.repeat(100)}`;
    const bytes = await tarBytes([{ header: hdr({ name }) }]);
    assert.equal(f(bytes, 'typeflag'), '0');
    assert.equal(f(bytes, 'prefix'), 'd'.repeat(150));
    assert.equal(f(bytes, 'name'), 'f'.repeat(100));
    assert.equal((await readAll([bytes]))[0]!.header.name, name);
  });

  const triggers: Array<[string, Parameters<typeof hdr>[0], string]> = [
    ['a name that cannot be split', { name: 'n'.repeat(101) }, `path=${'n'.repeat(101)}`],
    ['a non-ASCII name', { name: 'café' }, 'path=café'],
    ['a long linkname', { name: 'l', type: 'symlink', linkname: 't'.repeat(101) }, `linkpath=${'t'.repeat(101)}`],
    ['a non-ASCII linkname', { name: 'l', type: 'symlink', linkname: 'ü' }, 'linkpath=ü'],
    ['a uid over 0o7777777', { name: 'u', uid: 0o10000000 }, `uid=${0o10000000}`],
    ['a gid over 0o7777777', { name: 'g', gid: 2 ** 32 }, `gid=${2 ** 32}`],
    ['a negative mtime', { name: 'm', mtime: -1 }, 'mtime=-1'],
    ['an mtime past the octal range', { name: 'm', mtime: 0o100000000000 }, `mtime=${0o100000000000}`],
    ['a long uname', { name: 'u', uname: 'x'.repeat(33) }, `uname=${'x'.repeat(33)}`],
    ['a non-ASCII gname', { name: 'g', gname: 'grüppe' }, 'gname=grüppe'],
    ['extra pax records', { name: 'p', pax: { 'SCHILY.xattr.user.a': '1' } }, 'SCHILY.xattr.user.a=1'],
  ];
  for (const [what, over, record] of triggers) {
    it(`adds a PAX header for ${what}`, async () => {
      const bytes = await tarBytes([{ header: hdr(over) }]);
      const records = paxRecords(bytes);
      assert.ok(records.includes(` ${record}\n`), records);
      // The PAX header's own fields are fixed.
      assert.equal(f(bytes, 'mode'), '0000644');
      assert.equal(f(bytes, 'uid'), '0000000');
      assert.equal(f(bytes, 'mtime'), '00000000000');
      assert.ok(f(bytes, 'name').startsWith('PaxHeaders/'));
      assert.ok(checksumOk(bytes));
      const [entry] = await readAll([bytes]);
      assert.deepEqual(entry!.header, hdr(over));
    });
  }

  it('adds a PAX size record for a body of 8 GiB or more (header only, the body is not written)', async () => {
    const size = 8 * 1024 ** 3;
    const gen = writeTar([{ header: hdr({ name: 'big', size }), body: (async function* () {})() }]);
    const first = (await gen.next()).value as Uint8Array;
    await gen.return(undefined);
    assert.ok(paxRecords(first).includes(` size=${size}\n`));
    assert.equal(f(first.subarray(1024), 'size'), '00000000000');
    const below = await writeTar([{ header: hdr({ name: 'big', size: size - 1 }) }]).next();
    assert.equal(f(below.value as Uint8Array, 'size'), (size - 1).toString(8));
  });

  it('writes no PAX header for values that fit ustar', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'n'.repeat(100), uid: 0o7777777, gid: 0o7777777, mtime: 0o77777777777, uname: 'u'.repeat(32), linkname: '' }) },
    ]);
    assert.equal(f(bytes, 'typeflag'), '0');
    assert.equal(bytes.length, 512 + 1024);
  });

  it('sorts PAX records by key and gets each record length right', async () => {
    const bytes = await tarBytes([
      { header: hdr({ name: 'é'.repeat(60), mtime: -3, pax: { zz: 'last', 'SCHILY.xattr.b': 'x'.repeat(95), aa: 'first' } }) },
    ]);
    const records = paxRecords(bytes);
    const lines = records.split('\n').slice(0, -1);
    const keys = lines.map((l) => l.slice(l.indexOf(' ') + 1, l.indexOf('=')));
    assert.deepEqual(keys, ['SCHILY.xattr.b', 'aa', 'mtime', 'path', 'zz']);
    for (const line of lines) {
      const n = Number(line.slice(0, line.indexOf(' ')));
      assert.equal(Buffer.byteLength(`${line}\n`), n, line);
    }
  });

  it('gives identical bytes for identical input', async () => {
    const entries = () => [
      { header: hdr({ name: 'dir/', type: 'dir', mode: 0o755 }) },
      { header: hdr({ name: 'dir/ü'.repeat(30), size: 4, pax: { b: '2', a: '1' } }), body: text('data') },
      { header: hdr({ name: 'link', type: 'symlink', linkname: 'x'.repeat(200) }) },
    ];
    const a = await tarBytes(entries());
    const b = await tarBytes(entries());
    assert.deepEqual(a, b);
    // A golden digest pins the format: a change to the writer's output must be deliberate.
    assert.equal(createHash('sha256').update(a).digest('hex'), '988de16d515a231a74abfc2bd69c9979a231683305c0d90d89451641bec69276');
  });

  it('with reuseChunks, gives the same bytes to a consumer that reads each chunk before the next, writing every one-block header into one array', async () => {
    const entries = () => [
      { header: hdr({ name: 'dir/', type: 'dir', mode: 0o755 }) },
      { header: hdr({ name: 'dir/a', size: 3 }), body: text('abc') },
      { header: hdr({ name: 'dir/ü'.repeat(30), size: 4, pax: { b: '2', a: '1' } }), body: text('data') },
      { header: hdr({ name: 'dir/b', size: 700 }), body: new Uint8Array(700).fill(7) },
      { header: hdr({ name: 'link', type: 'symlink', linkname: 'dir/a' }) },
    ];
    const copied: Uint8Array[] = [];
    const seen = new Map<ArrayBufferLike, number>();
    for await (const chunk of writeTar(entries(), { reuseChunks: true })) {
      copied.push(chunk.slice());
      seen.set(chunk.buffer, (seen.get(chunk.buffer) ?? 0) + 1);
    }
    assert.deepEqual(Buffer.concat(copied), Buffer.from(await tarBytes(entries())));
    // Four one-block headers in one array, and the padding of three bodies in one other.
    assert.deepEqual([...seen.values()].filter((n) => n > 1).sort(), [3, 4]);
  });

  it('streams: a body chunk is yielded before the next chunk is asked for', async () => {
    const log: string[] = [];
    async function* body() {
      for (let i = 0; i < 3; i++) {
        log.push(`produce ${i}`);
        yield new Uint8Array(1000).fill(i);
      }
    }
    for await (const chunk of writeTar([{ header: hdr({ name: 'f', size: 3000 }), body: body() }])) {
      log.push(`consume ${chunk.length}`);
    }
    assert.deepEqual(log, [
      'consume 512',
      'produce 0',
      'consume 1000',
      'produce 1',
      'consume 1000',
      'produce 2',
      'consume 1000',
      'consume 72',
      'consume 1024',
    ]);
  });

  it('refuses a body shorter or longer than the header says', async () => {
    const short = await rejectsWith(() => tarBytes([{ header: hdr({ name: 'short', size: 5 }), body: text('abc') }]), 'SIZE_MISMATCH');
    assert.match(short.message, /"short" has 3 bytes, but its header says 5/);
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'long', size: 2 }), body: chunks(['ab', 'c']) }]), 'SIZE_MISMATCH');
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'none', size: 2 }) }]), 'SIZE_MISMATCH');
    await rejectsWith(() => tarBytes([{ header: hdr({ name: 'streamed-short', size: 4 }), body: chunks(['ab']) }]), 'SIZE_MISMATCH');
  });

  it('never yields the chunk that overflows the size', async () => {
    const out: Uint8Array[] = [];
    await rejectsWith(async () => {
      for await (const c of writeTar([{ header: hdr({ name: 'f', size: 2 }), body: chunks(['a', 'bc']) }])) out.push(c);
    }, 'SIZE_MISMATCH');
    assert.deepEqual(
      out.map((c) => c.length),
      [512, 1],
    );
  });

  const bad: Array<[string, Parameters<typeof hdr>[0], RegExp]> = [
    ['an empty name', { name: '' }, /name is empty/],
    ['a NUL in the name', { name: 'a\0b' }, /NUL/],
    ['a lone surrogate', { name: 'a\ud800' }, /well-formed/],
    ['a negative size', { name: 'n', size: -1 }, /size -1/],
    ['a fractional mtime', { name: 'n', mtime: 1.5 }, /mtime 1.5/],
    ['a negative uid', { name: 'n', uid: -1 }, /uid -1/],
    ['a dir with a size', { name: 'd/', type: 'dir', size: 1 }, /has size 0/],
    ['a symlink without a target', { name: 's', type: 'symlink' }, /needs a linkname/],
    ['an unknown type', { name: 'x', type: 'socket' as 'file' }, /unknown type/],
    ['a huge devmajor', { name: 'x', type: 'char', devmajor: 0o10000000 }, /devmajor/],
    ['a pax key naming a header field', { name: 'x', pax: { path: 'y' } }, /header field/],
    ['a pax key with "="', { name: 'x', pax: { 'a=b': 'y' } }, /holds "="/],
    ['an empty pax value', { name: 'x', pax: { a: '' } }, /empty/],
    ['a sparse pax record', { name: 'x', pax: { 'GNU.sparse.map': '0,1' } }, /sparse/],
    ['PAX records over 1 MiB', { name: 'x', pax: { big: 'x'.repeat(1024 * 1024) } }, /limit/],
  ];
  for (const [what, over, message] of bad) {
    it(`refuses ${what} with INVALID_ARCHIVE`, async () => {
      const err = await rejectsWith(() => tarBytes([{ header: hdr(over) }]), 'INVALID_ARCHIVE');
      assert.match(err.message, message);
      assert.match(err.message, /entry 0/);
    });
  }
});

describe('writeTar and names outside the root', () => {
  it('refuses a name a reader would refuse (absolute, or climbing above the root) with UNSAFE_PATH, in either format', async () => {
    for (const name of ['..', '../x', './..', 'a/../../x', '/etc/passwd', '//x', 'a/b/../../..']) {
      for (const format of ['provenant', 'go'] as const) {
        const err = await rejectsWith(
          () => tarBytes([{ header: hdr({ name: 'ok' }) }, { header: hdr({ name }) }], { format }),
          'UNSAFE_PATH',
        );
        assert.ok(err.message.includes(`${JSON.stringify(name)} (entry 1)`), err.message);
      }
      assert.throws(
        () => tarHeaderBytes(hdr({ name })),
        (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'UNSAFE_PATH',
      );
    }
  });

  it('writes names that stay inside, dots and all, byte for byte as before', async () => {
    for (const name of ['a..b', '..a/b', 'a/..b', 'a/../b', './x', 'x/', '.']) {
      const bytes = await tarBytes([{ header: hdr({ name }) }]);
      assert.equal(f(bytes, 'name'), name);
    }
  });

  it('writes them as given when asked to, for a hostile archive made on purpose', async () => {
    const bytes = await tarBytes([{ header: hdr({ name: '../x' }) }], { unsafeNames: true });
    assert.equal(f(bytes, 'name'), '../x');
  });
});

async function* chunks(parts: string[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield text(p);
}

/** Whether a reader takes the name (tarHeaderBytes refuses the others). */
function insideRoot(name: string): boolean {
  try {
    cleanEntryPath(name);
    return true;
  } catch {
    return false;
  }
}

describe('tarHeaderBytes with a scratch block', () => {
  it('gives the bytes of a fresh header, whatever the scratch held before, and leaves PAX headers their own array', () => {
    const arbHeader = fc.record({
      name: fc.oneof(fc.stringMatching(/^[a-z][a-z/]{0,150}$/), fc.string({ minLength: 1, maxLength: 120 })),
      type: fc.constantFrom('file' as const, 'dir' as const, 'symlink' as const),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.nat({ max: 2 ** 22 }),
      mtime: fc.integer({ min: -10, max: 2 ** 34 }),
      size: fc.nat({ max: 2 ** 20 }),
    });
    const scratch = new Uint8Array(512).fill(0xa5);
    fc.assert(
      fc.property(fc.array(arbHeader, { minLength: 1, maxLength: 6 }), (headers) => {
        for (const h of headers) {
          if (h.name.includes('\0') || /[\uD800-\uDFFF]/.test(h.name) || !insideRoot(h.name)) continue;
          const header = hdr({
            name: h.name,
            type: h.type,
            mode: h.mode,
            uid: h.uid,
            mtime: h.mtime,
            size: h.type === 'file' ? h.size : 0,
            linkname: h.type === 'symlink' ? 'target' : '',
          });
          const fresh = tarHeaderBytes(header);
          const reused = tarHeaderBytes(header, 'provenant', scratch);
          assert.deepEqual(Buffer.from(reused), Buffer.from(fresh));
          // One block is written into the scratch; a PAX header and its records are an array of their own.
          assert.equal(reused === scratch, fresh.length === 512);
        }
      }),
      { numRuns: 200 },
    );
  });
});
