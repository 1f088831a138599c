// An APKINDEX is inflated and counted a piece at a time (src/pkg/apk/apkindex.ts, readIndexText;
// src/pkg/apk/members.ts, inflateMembers): however the bytes are cut, the text, the counts and
// the refusals are those of reading them whole.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { concatBytes } from '../../../src/bytes.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { type IndexCounts, parseApkIndexText, readApkIndex, readIndexText } from '../../../src/pkg/apk/apkindex.ts';
import { DATA_MAX, inflateMembers, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';

/** `bytes` cut at `cuts` (offsets, taken modulo its length). */
function cutAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const to of [...at, bytes.length]) {
    pieces.push(bytes.subarray(from, to));
    from = to;
  }
  return pieces;
}

/** What reading gives: the text and counts, or the refusal's code, message and place. */
async function outcome(read: () => Promise<unknown>): Promise<unknown> {
  try {
    return await read();
  } catch (err) {
    assert.ok(isProvenantError(err), String(err));
    return { code: err.code, message: err.message, where: err.where };
  }
}

/** Index-like text: field lines of the letters that count, others, broken lines, Unicode spaces and bytes that are not UTF-8. */
const indexBytes = fc
  .array(
    fc.oneof(
      fc.constantFrom('P:a', 'P:', 'V:1.0-r0', 'C:Q1x=', 'D:so:libc.so.6 b  c', 'p:cmd:x\u00a0y\u2003z', 'i:a b', 'r:', 'x:q', ''),
      fc.string({ maxLength: 12 }),
    ),
    { maxLength: 40 },
  )
  .chain((lines) => fc.tuple(fc.constant(new TextEncoder().encode(lines.join('\n'))), fc.uint8Array({ maxLength: 4 }), fc.nat({ max: 40 })))
  .map(([text, junk, at]) => {
    // Bytes that are not UTF-8 (a lone lead byte, a cut sequence) somewhere in the text.
    const i = Math.min(at, text.length);
    return concatBytes([text.subarray(0, i), junk, text.subarray(i)]);
  });

describe('an APKINDEX read in pieces', () => {
  it('gives the text and counts it gives read whole, and the same refusal, cut anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(
        indexBytes,
        fc.array(fc.nat(), { maxLength: 8 }),
        // The text's cap refuses at the piece that goes over it, which the cuts decide: not drawn.
        fc.record({ packages: fc.nat({ max: 6 }), names: fc.nat({ max: 12 }), fields: fc.nat({ max: 30 }), text: fc.constant(1e9) }),
        async (bytes, cuts, caps: IndexCounts) => {
          const whole = await outcome(() => readIndexText([bytes], 'i', undefined, caps));
          assert.deepEqual(await outcome(() => readIndexText(cutAt(bytes, cuts), 'i', undefined, caps)), whole);
          const text = new TextDecoder().decode(bytes);
          const all = await readIndexText(cutAt(bytes, cuts), 'i', undefined, { packages: 1e9, names: 1e9, fields: 1e9, text: 1e9 });
          assert.equal(all.text, text);
          assert.equal(all.bytes, bytes.length);
          // The counts are the parser's: its packages, their names, their field lines.
          let parsed: ReturnType<typeof parseApkIndexText> | undefined;
          try {
            parsed = parseApkIndexText(text, 'i');
          } catch {
            // Not an index the parser takes (a line that is no field, a stanza without P:, V:, C:).
          }
          if (parsed !== undefined) {
            assert.equal(all.packages, parsed.length);
            const names = parsed.reduce((n, p) => n + p.depends.length + p.provides.length + p.installIf.length + p.replaces.length, 0);
            assert.equal(all.names, names);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('counts a stanza that names its package twice as one package, as the parser makes it, cut anywhere', async () => {
    const text = 'P:a\nV:1.0-r0\nC:Q1x=\n\nV:1.0-r0\nD:so:libc.so.6 b  c\nP:b\nC:Q1x=\nP:b\n';
    const bytes = new TextEncoder().encode(text);
    assert.equal(parseApkIndexText(text, 'i').length, 2);
    for (let at = 0; at <= bytes.length; at++) {
      const read = await readIndexText(cutAt(bytes, [at]), 'i');
      assert.equal(read.packages, 2, `cut at ${at}`);
      assert.equal(read.names, 3, `cut at ${at}`);
    }
  });

  it('counts what other indexes listed toward the caps, naming them', async () => {
    const text = new TextEncoder().encode('P:a\nV:1\nC:Q1x=\n\nP:b\nV:1\nC:Q1y=\n');
    const together = { packages: 4, names: 0, fields: 0, text: 0, indexes: ['one', 'two'] };
    await assert.rejects(readIndexText([text], 'three', together, { packages: 5, names: 10, fields: 100, text: 1000 }), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(err.message, /^the indexes one, two, three list more than 5 packages together/);
      assert.equal(err.where, 'three: APKINDEX:5');
      return true;
    });
  });

  it('counts the text other indexes hold toward its cap, at the line the piece that goes over starts on', async () => {
    // Parsed packages keep the text they were read from: each index a build holds holds its text.
    const line = new TextEncoder().encode('P:a\nV:1\nC:Q1x=\n\n');
    const caps = { packages: 100, names: 100, fields: 100, text: 100 };
    const together = { packages: 0, names: 0, fields: 0, text: 100 - 2 * line.length, indexes: ['one'] };
    const read = await readIndexText([line, line], 'two', { ...together, indexes: ['one'] }, caps);
    assert.equal(read.bytes, 2 * line.length);
    await assert.rejects(readIndexText([line, line, line], 'two', together, caps), (err) => {
      assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
      assert.match(
        err.message,
        new RegExp(`^the indexes one, two hold more than 100 bytes of text together \\(${together.text} before this one\\)`),
      );
      assert.equal(err.where, 'two: APKINDEX:9');
      return true;
    });
  });

  it('names a damaged member by its number and byte in the file, after the first member read alone', async () => {
    const text = new TextEncoder().encode(`P:a\nV:1-r0\nC:Q1${Buffer.alloc(20).toString('base64')}\nS:1\nI:1\nT:x\nU:x\nL:x\nA:x86_64\n\n`);
    const tar = await tarBytes([
      { header: tarHeader({ name: 'DESCRIPTION', size: 1 }), body: new Uint8Array([0x78]) },
      { header: tarHeader({ name: 'APKINDEX', size: text.length }), body: text },
    ]);
    // Unsigned, in two members; the second's CRC-32 changed.
    const first = gzipSync(tar.subarray(0, 1024));
    const second = Buffer.from(gzipSync(tar.subarray(1024)));
    second[second.length - 8]! ^= 0xff;
    await assert.rejects(
      readApkIndex(Buffer.concat([first, second]), { where: 'idx', keyring: new ApkKeyring(), allowUntrusted: true }),
      (err: unknown) =>
        isProvenantError(err, 'INVALID_PACKAGE') && err.message === `gzip member 2 at byte ${first.length} fails its CRC-32 check`,
    );
    // After a signature member (a key this keyring lacks, allowed), the same content is members 2 and 3.
    const signatureTar = await tarBytes([{ header: tarHeader({ name: '.SIGN.RSA256.other.rsa.pub', size: 4 }), body: new Uint8Array(4) }]);
    const signature = gzipSync(signatureTar.subarray(0, signatureTar.length - 1024));
    await assert.rejects(
      readApkIndex(Buffer.concat([signature, first, second]), { where: 'idx', keyring: new ApkKeyring(), allowUntrusted: true }),
      (err: unknown) =>
        isProvenantError(err, 'INVALID_PACKAGE') &&
        err.message === `gzip member 3 at byte ${signature.length + first.length} fails its CRC-32 check`,
    );
  });

  it('inflates the members it splits, to the same bytes or the same refusal, junk after them or cut short', async () => {
    const a = gzipSync(Buffer.from('one'));
    const b = gzipSync(Buffer.alloc(600_000, 'two'));
    const pieces = async (bytes: Uint8Array, maxOutput: number) => {
      const out: Uint8Array[] = [];
      for await (const p of inflateMembers(bytes, { maxOutput })) out.push(p);
      return Buffer.from(concatBytes(out)).toString('base64');
    };
    const whole = async (bytes: Uint8Array, maxOutput: number) =>
      Buffer.from(concatBytes(splitGzipMembers(bytes, { maxOutput }).map((m) => m.data))).toString('base64');
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 40 }), fc.nat(), fc.boolean(), async (junk, at, small) => {
        const input = Buffer.concat([a, b, junk]);
        const cut = input.subarray(0, at % (input.length + 1));
        // A cap the second member passes, or none it meets.
        const maxOutput = small ? 300_000 : DATA_MAX;
        for (const bytes of [input, cut, junk]) {
          const got = await outcome(() => pieces(bytes, maxOutput));
          const want = await outcome(() => whole(bytes, maxOutput));
          if (typeof want === 'string') {
            assert.equal(got, want);
            continue;
          }
          const codes = [(got as { code: string }).code, (want as { code: string }).code];
          // A member cut short after more than the cap: inflated whole, the end is found missing
          // first; in pieces, the cap is passed before the end is reached.
          if (codes[0] === 'TOO_LARGE' && codes[1] === 'TRUNCATED' && small) continue;
          assert.equal(codes[0], codes[1]);
        }
      }),
      { numRuns: 200 },
    );
  });
});
