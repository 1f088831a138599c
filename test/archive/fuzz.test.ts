// The tar reader on random and damaged input: typed errors, never a crash or a hang.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { indexTarFile, tarBytes } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';
import { useTempDir } from '../helpers/temp.ts';
import { chunked, concat, F, fixChecksum, hdr, readAll, setField, text } from './helpers.ts';

/** Parses `bytes`; passes when they parse consistently or fail with INVALID_ARCHIVE or TRUNCATED. */
async function parsesOrFailsCleanly(bytes: Uint8Array, sizes: readonly number[] = [bytes.length || 1]): Promise<'ok' | 'error'> {
  try {
    const entries = await readAll(chunked(bytes, sizes));
    for (const e of entries) {
      assert.equal(e.body.length, e.header.size, `body of ${e.header.name} matches its size`);
      assert.ok(Number.isSafeInteger(e.header.size) && e.header.size >= 0);
      assert.ok(e.header.mode >= 0 && e.header.mode <= 0o7777);
    }
    return 'ok';
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isProvenantError(err, 'INVALID_ARCHIVE', 'TRUNCATED'), `unexpected error: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.message.length > 0);
    return 'error';
  }
}

/** A valid archive with every feature the reader handles: PAX, GNU long names, all types. */
async function sample(): Promise<Uint8Array> {
  const ours = await tarBytes([
    { header: hdr({ name: 'dir/', type: 'dir', mode: 0o755 }) },
    {
      header: hdr({ name: 'dir/file.txt', size: 700, uname: 'user', gname: 'group', mtime: 1700000000 }),
      body: new Uint8Array(700).fill(0x61),
    },
    {
      header: hdr({ name: `dir/${'ü'.repeat(70)}`, size: 5, uid: 2 ** 31, mtime: -10, pax: { 'SCHILY.xattr.user.k': 'v' } }),
      body: text('hello'),
    },
    { header: hdr({ name: 'dir/link', type: 'symlink', linkname: 't'.repeat(120) }) },
    { header: hdr({ name: 'dir/hard', type: 'hardlink', linkname: 'dir/file.txt' }) },
    { header: hdr({ name: 'dev/null', type: 'char', devmajor: 1, devminor: 3 }) },
  ]);
  // A GNU long-name entry in front, as GNU tar writes it.
  const longName = 'g'.repeat(200);
  const L = ours.slice(0, 512).fill(0);
  setField(L, ...F.name, '././@LongLink');
  setField(L, ...F.typeflag, 'L');
  setField(L, ...F.size, (longName.length + 1).toString(8).padStart(11, '0'));
  setField(L, ...F.magic, 'ustar ');
  setField(L, ...F.version, ' ');
  setField(L, ...F.mode, '0000644');
  const data = new Uint8Array(512);
  data.set(text(longName));
  const real = (await tarBytes([{ header: hdr({ name: 'short', size: 2 }), body: text('hi') }])).slice(0, 1024);
  return concat([L, data, real, ours]);
}

let valid: Uint8Array;
before(async () => {
  valid = await sample();
});

const tempDir = useTempDir('fuzz');

describe('tar reader fuzzing', { timeout: 120_000 }, () => {
  it('the sample archive itself parses', async () => {
    assert.equal(await parsesOrFailsCleanly(valid), 'ok');
    assert.equal((await readAll([valid])).length, 7);
  });

  it('a truncation at every offset parses (at an entry boundary) or fails with TRUNCATED', async () => {
    let ok = 0;
    for (let n = 0; n < valid.length; n++) {
      const cut = valid.subarray(0, n);
      try {
        await readAll([cut]);
        ok++;
        // Only clean cuts between entries (or inside the end marker's first block) may parse.
        assert.equal(n % 512, 0, `the cut at ${n} parsed`);
      } catch (err) {
        if (err instanceof assert.AssertionError) throw err;
        assert.ok(isProvenantError(err, 'TRUNCATED'), `cut at ${n}: ${(err as Error)?.stack ?? String(err)}`);
      }
    }
    assert.ok(ok > 0);
  });

  it('random bytes fail cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 4 }),
        async (bytes, sizes) => {
          await parsesOrFailsCleanly(bytes, sizes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('random header blocks with a valid checksum parse or fail cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 512, maxLength: 512 }),
        fc.constantFrom('0', '1', '2', '5', 'x', 'g', 'L', 'K', 'S', '\0'),
        fc.uint8Array({ maxLength: 1500 }),
        fc.boolean(),
        async (block, flag, rest, ustar) => {
          const b = Uint8Array.from(block);
          b[156] = flag.charCodeAt(0);
          if (ustar) b.set(text('ustar\x0000'), 257);
          fixChecksum(b);
          await parsesOrFailsCleanly(concat([b, rest]), [77]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('single-byte changes of a valid archive parse or fail cleanly', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        fc.array(fc.integer({ min: 1, max: 1024 }), { minLength: 1, maxLength: 4 }),
        async (at, value, recomputeChecksum, sizes) => {
          const b = Uint8Array.from(valid);
          b[at] = value;
          // With the checksum fixed up, the change reaches the field parsers instead of the checksum check.
          if (recomputeChecksum) {
            const start = at - (at % 512);
            fixChecksum(b.subarray(start, start + 512));
          }
          await parsesOrFailsCleanly(b, sizes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('reads each name as exactly its bytes or refuses it: two names never become one (property)', async () => {
    const base = (await tarBytes([{ header: hdr({ name: 'x' }) }])).slice(0, 512);
    const named = (name: Uint8Array): Uint8Array => {
      const b = Uint8Array.from(base);
      b.set(name, 0);
      fixChecksum(b);
      return b;
    };
    // Names of bytes without NUL, mostly ASCII with the bytes that UTF-8 decoding trips on.
    const nameBytes = fc
      .array(fc.oneof(fc.integer({ min: 0x61, max: 0x63 }), fc.constantFrom(0x80, 0xbf, 0xc3, 0xe2, 0xef, 0xbb, 0xfe, 0xff)), {
        minLength: 1,
        maxLength: 8,
      })
      .map((a) => Uint8Array.from(a));
    await fc.assert(
      fc.asyncProperty(nameBytes, nameBytes, async (a, b) => {
        fc.pre(Buffer.compare(a, b) !== 0);
        let names: string[];
        try {
          names = (await readAll([concat([named(a), named(b), new Uint8Array(1024)])])).map((e) => e.header.name);
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_ARCHIVE'), String((err as Error)?.stack ?? err));
          assert.match(err.message, /not UTF-8/);
          return;
        }
        assert.deepEqual(
          names.map((n) => [...Buffer.from(n)]),
          [[...a], [...b]],
          'each name encodes back to its bytes',
        );
      }),
      { numRuns: 500 },
    );
  });

  it('indexTarFile fails cleanly on changed and truncated files too', async () => {
    const dir = await tempDir();
    const file = join(dir, 'f.tar');
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: valid.length - 1 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        async (at, value, cut) => {
          const b = Uint8Array.from(valid);
          b[at] = value;
          const start = at - (at % 512);
          fixChecksum(b.subarray(start, start + 512));
          await writeFile(file, cut ? valid.subarray(0, at) : b);
          try {
            for (const entry of (await indexTarFile(file)).values()) assert.ok(entry.offset + entry.size <= valid.length);
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(isProvenantError(err, 'INVALID_ARCHIVE', 'TRUNCATED'), String((err as Error)?.stack ?? err));
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
