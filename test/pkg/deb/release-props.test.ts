// The InRelease / Release.gpg splitter and the armored keyring reader on random and damaged input
// (property-based): typed errors only, and what a signature covers read the same or refused.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, it } from 'node:test';
import fc from 'fast-check';
import { createCleartextMessage, createMessage, generateKey, type PrivateKey, type PublicKey, sign } from 'openpgp';
import { isProvenantError } from '../../../src/errors.ts';
import { armoredKeyBlocks, DebKeyring, unverifiedText } from '../../../src/pkg/deb/keyring.ts';
import { type DebRelease, readRelease } from '../../../src/pkg/deb/release.ts';

const enc = (t: string) => new TextEncoder().encode(t);

const packages = enc('Package: a\nVersion: 1\nArchitecture: amd64\n');
const sha = createHash('sha256').update(packages).digest('hex');
const text = `Origin: Test\nSuite: stable\nCodename: stable\nDate: Wed, 01 Jan 2020 12:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha} ${packages.length} main/binary-amd64/Packages\n`;
const created = new Date('2020-01-01T00:00:00Z');
const now = new Date('2020-01-01T12:00:00Z');

const SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN = '-----BEGIN PGP SIGNATURE-----';
const END = '-----END PGP SIGNATURE-----';
const KEY_BEGIN = '-----BEGIN PGP PUBLIC KEY BLOCK-----';
const KEY_END = '-----END PGP PUBLIC KEY BLOCK-----';

let keys: { privateKey: PrivateKey; publicKey: PublicKey }[];
let keyring: DebKeyring;
let inRelease: string;
let detached: string;
let expected: DebRelease;

before(async () => {
  keys = await Promise.all(
    ['a', 'b', 'c'].map((name) =>
      generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name }], date: created, format: 'object' }),
    ),
  );
  keyring = new DebKeyring(
    keys.map((k) => k.publicKey),
    ['keys.gpg'],
  );
  const signingKeys = keys.slice(0, 2).map((k) => k.privateKey);
  inRelease = await sign({ message: await createCleartextMessage({ text }), signingKeys, date: created });
  detached = await sign({ message: await createMessage({ binary: enc(text) }), signingKeys, date: created, detached: true });
  expected = await read(enc(inRelease));
});

function read(bytes: Uint8Array, options: { detachedSignature?: Uint8Array; allowUnsigned?: boolean } = {}): Promise<DebRelease> {
  return readRelease(bytes, keyring, 'InRelease', { now, checkValidUntil: false, ...options });
}

/** What a Release's signature covers, and who made it. */
function signedPart(r: DebRelease) {
  return { fields: r.fields, files: [...r.files], signers: r.signers };
}

/**
 * What a read of a changed file must give, if it reads: the same signed text, by some of the same
 * signers (a change that makes one signature worthless, or another key's, leaves the other good:
 * apt takes that too).
 */
function sameSignedText(r: DebRelease): void {
  assert.deepEqual({ fields: r.fields, files: [...r.files] }, { fields: expected.fields, files: [...expected.files] });
  assert.ok(r.signers.length > 0);
  for (const s of r.signers) assert.ok(expected.signers.some((e) => e.keyID === s.keyID && e.fingerprint === s.fingerprint));
}

/** Runs `read`; passes when it reads (then `check`s the result) or fails with a ProvenantError of `codes`. */
async function readsOrRefuses<T>(run: () => Promise<T>, codes: readonly string[], check: (value: T) => void = () => {}): Promise<void> {
  let value: T;
  try {
    value = await run();
  } catch (err) {
    assert.ok(isProvenantError(err), `not a ProvenantError: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`);
    assert.ok(err.message.length > 0);
    return;
  }
  check(value);
}

/** Lines a clearsigned file is framed with, and near misses of them, for the splitter. */
const frameLine = fc.oneof(
  fc.constantFrom(SIGNED, BEGIN, END, '', 'Hash: SHA256', '- -X: y', '-X: y', '-', '- ', ' ', '\t', 'Origin: Test', 'wsBdBAEWCAAQ'),
  fc.constantFrom(`${SIGNED} `, `${BEGIN}\r`, ` ${END}`, `${END}x`),
  fc.string({ maxLength: 20 }),
);
const lineEnd = fc.constantFrom('\n', '\r\n', ' \n', '\r\r\n', '\t \r\n');

describe('an InRelease or Release.gpg of any lines, as apt splits it (property-based)', () => {
  it('reads or refuses with a typed error: any arrangement of frame lines, checked or trusted=yes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(frameLine, lineEnd), { maxLength: 14 }), fc.boolean(), async (lines, allowUnsigned) => {
        const bytes = enc(lines.map(([l, e]) => l + e).join(''));
        await readsOrRefuses(() => read(bytes, { allowUnsigned }), ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE']);
        await readsOrRefuses(() => unverifiedText(bytes, false, 'InRelease'), ['SIGNATURE']);
        await readsOrRefuses(
          () => read(enc(text), { detachedSignature: bytes, allowUnsigned }),
          ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'],
        );
      }),
      { numRuns: 500 },
    );
  });

  it('reads or refuses with a typed error: a signed InRelease with frame lines put in anywhere', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.nat(), frameLine), { minLength: 1, maxLength: 3 }), async (inserts) => {
        const lines = inRelease.split('\n');
        for (const [at, line] of inserts) lines.splice(at % (lines.length + 1), 0, line);
        await readsOrRefuses(() => read(enc(lines.join('\n'))), ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'], sameSignedText);
      }),
      { numRuns: 150 },
    );
  });

  it('reads or refuses with a typed error: any bytes, as an InRelease or a Release.gpg', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 400 }), fc.boolean(), async (bytes, allowUnsigned) => {
        await readsOrRefuses(() => read(bytes, { allowUnsigned }), ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE']);
        await readsOrRefuses(() => read(enc(text), { detachedSignature: bytes }), ['SIGNATURE', 'UNTRUSTED_KEY']);
      }),
      { numRuns: 200 },
    );
  });
});

describe('a Release of any fields, taken unsigned (trusted=yes) (property-based)', () => {
  const fieldLine = fc.oneof(
    fc.constantFrom(
      'SHA256:',
      'SHA512:',
      'MD5Sum:',
      `SHA256: ${sha} 1 x`,
      ` ${sha} ${packages.length} main/binary-amd64/Packages`,
      ` ${sha} -1 main/binary-amd64/Packages`,
      ` ${sha} 1e3 main/binary-amd64/Packages`,
      ` ${sha.slice(1)} 12 main/binary-amd64/Packages`,
      ` ${sha} 12`,
      ' ',
      ' .',
      '',
      'Valid-Until: Sat, 01 Jan 2000 00:00:00 UTC',
      'Valid-Until: never',
      'Date: tomorrow',
      'Date: Sat, 01 Jan 2100 00:00:00 UTC',
      'Architectures: amd64 arm64',
      'Components:',
      'Suite: stable',
      'Acquire-By-Hash: yes',
      'NotAutomatic: yes',
      '#comment',
      ':',
      'No colon',
    ),
    fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,8}$/), fc.string({ maxLength: 20 })).map(([k, v]) => `${k}: ${v}`),
    fc.string({ maxLength: 30 }).map((v) => ` ${v}`),
  );

  it('is read, or refused with a typed error: any fields, hash lines and dates, any line ends', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fieldLine, lineEnd), { maxLength: 12 }), fc.boolean(), async (lines, asInRelease) => {
        const body = lines.map(([l, e]) => l + e).join('');
        // Unsigned as a plain Release, or framed as an InRelease whose signature is no good.
        const bytes = enc(asInRelease ? `${SIGNED}\n\n${body.replace(/^-/gm, '- -')}\n${BEGIN}\n\nAAAA\n${END}\n` : body);
        await readsOrRefuses(
          () => read(bytes, { allowUnsigned: true }),
          ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE', 'NOT_FOUND'],
          (r) => {
            for (const [, f] of r.files) assert.ok(Number.isSafeInteger(f.size) && f.size >= 0);
          },
        );
      }),
      { numRuns: 400 },
    );
  });
});

describe('a signed Release changed by one byte (property-based)', () => {
  const mutation = (length: () => number) =>
    fc.record({ at: fc.nat({ max: 1_000_000 }).map((n) => n % length()), xor: fc.integer({ min: 1, max: 255 }) });
  const mutate = (bytes: Uint8Array, m: { at: number; xor: number }) => {
    const out = bytes.slice();
    out[m.at] = (out[m.at] as number) ^ m.xor;
    return out;
  };

  it('an InRelease changed in its signed text or armor headers: refused with a typed error, or read as the same text by signers among the same', async () => {
    const bytes = enc(inRelease);
    const framed = inRelease.indexOf(BEGIN);
    await fc.assert(
      fc.asyncProperty(
        mutation(() => framed),
        async (m) => {
          await readsOrRefuses(() => read(mutate(bytes, m)), ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'], sameSignedText);
        },
      ),
      { numRuns: 600 },
    );
  });

  it('a Release changed beside its Release.gpg: refused with a typed error, or read the same', async () => {
    const release = enc(text);
    const gpg = enc(detached);
    await fc.assert(
      fc.asyncProperty(
        mutation(() => release.length),
        async (m) => {
          await readsOrRefuses(
            () => read(mutate(release, m), { detachedSignature: gpg }),
            ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'],
            sameSignedText,
          );
        },
      ),
      { numRuns: 600 },
    );
  });
});

describe('a signature block changed by one byte (property-based)', () => {
  const mutate = (bytes: Uint8Array, m: { at: number; xor: number }) => {
    const out = bytes.slice();
    out[m.at] = (out[m.at] as number) ^ m.xor;
    return out;
  };

  // Two signatures by keys of the keyring: a change to one's bytes leaves the other good, or makes
  // the changed one bad (refused), worthless (ignored) or another key's (ignored).
  it('an InRelease or a Release.gpg changed in its signatures: refused with a typed error, or read the same by signers among the same', async () => {
    const inReleaseBytes = enc(inRelease);
    const signatures = inRelease.indexOf(BEGIN);
    const release = enc(text);
    const gpg = enc(detached);
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (isInRelease, at, xor) => {
        const run = isInRelease
          ? () => read(mutate(inReleaseBytes, { at: signatures + (at % (inReleaseBytes.length - signatures)), xor }))
          : () => read(release, { detachedSignature: mutate(gpg, { at: at % gpg.length, xor }) });
        await readsOrRefuses(run, ['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'], sameSignedText);
      }),
      {
        numRuns: 150,
        // The hash algorithm octet of the first signature made unknown (base64 digit 6 of the
        // Release.gpg, of its first signature in the InRelease): once openpgp.js's raw
        // 'Invalid enum value.' (keyring.ts, whyRefused).
        examples: [
          [false, 37, 3],
          [true, 37, 3],
        ],
      },
    );
  });
});

describe('a signed InRelease with other line ends and trailing blanks (property-based)', () => {
  it('reads the same text, signed by the same keys, as apt strips them', async () => {
    const lines = inRelease.split('\n');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.stringMatching(/^[ \t]{0,3}$/), fc.stringMatching(/^\r{0,2}$/)), {
          minLength: lines.length,
          maxLength: lines.length,
        }),
        async (ends) => {
          const changed = lines.map((l, i) => (i === lines.length - 1 ? l : l + ends[i]![0] + ends[i]![1])).join('\n');
          assert.deepEqual(signedPart(await read(enc(changed))), signedPart(expected));
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('an armored keyring of several key blocks (property-based)', () => {
  const comment = fc.stringMatching(/^[A-Za-z0-9 #:.=]{0,30}$/);

  it('reads every block, in order, whatever text, blank lines and line ends are around and between them', async () => {
    const blocks = keys.map((k) => k.publicKey.armor());
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.nat({ max: blocks.length - 1 }), fc.array(comment, { maxLength: 3 })), { minLength: 1, maxLength: 4 }),
        fc.array(comment, { maxLength: 3 }),
        fc.constantFrom('\n', '\r\n'),
        async (picked, tail, eol) => {
          const parts = picked.flatMap(([i, before]) => [...before, blocks[i]!.trimEnd()]);
          const file = [...parts, ...tail].join('\n').replaceAll('\n', eol);
          const read = await DebKeyring.fromBytes(enc(file), 'keys.asc');
          assert.deepEqual(
            read.keys.map((k) => k.getFingerprint()),
            picked.map(([i]) => keys[i]!.publicKey.getFingerprint()),
          );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('a keyring changed by one byte is refused, or checks the InRelease with a typed answer, good only by a key it holds', async () => {
    const armored = enc(keys.map((k) => k.publicKey.armor()).join(''));
    const binary = new Uint8Array(Buffer.concat(keys.map((k) => k.publicKey.write())));
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.nat(), fc.integer({ min: 1, max: 255 }), async (isBinary, at, xor) => {
        const bytes = (isBinary ? binary : armored).slice();
        const i = at % bytes.length;
        bytes[i] = (bytes[i] as number) ^ xor;
        let changed: DebKeyring;
        try {
          changed = await DebKeyring.fromBytes(bytes, 'keys.gpg');
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), `not UNTRUSTED_KEY: ${(err as Error)?.stack ?? String(err)}`);
          return;
        }
        await readsOrRefuses(
          () => readRelease(enc(inRelease), changed, 'InRelease', { now, checkValidUntil: false }),
          ['SIGNATURE', 'UNTRUSTED_KEY'],
          (r) => {
            assert.deepEqual(r.fields, expected.fields);
            for (const s of r.signers) assert.ok(changed.keys.some((k) => k.getFingerprint() === s.fingerprint));
          },
        );
      }),
      { numRuns: 300 },
    );
  });

  it('finds the blocks the lazy regex it replaced found, on any arrangement of armor lines, blanks and line ends', () => {
    const regex = (t: string) =>
      [...t.matchAll(/^-----BEGIN PGP PUBLIC KEY BLOCK-----[ \t\r]*\n[\s\S]*?^-----END PGP PUBLIC KEY BLOCK-----[ \t\r]*$/gm)].map(
        (m) => m[0],
      );
    const piece = fc.oneof(
      fc.constantFrom(
        KEY_BEGIN,
        KEY_END,
        KEY_BEGIN.slice(1),
        KEY_END.slice(0, -1),
        '\n',
        '\r',
        '\r\n',
        ' ',
        '\t',
        '\u2028',
        '\u2029',
        'x',
        '-',
      ),
      fc.string({ maxLength: 3 }),
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 30 }), (pieces) => {
        const t = pieces.join('');
        assert.deepEqual(armoredKeyBlocks(t), regex(t));
      }),
      { numRuns: 3000 },
    );
  });

  it('reads 100,000 BEGIN lines with no END line as no block, and with an END after them as one (the regex took minutes)', async () => {
    const begins = `${KEY_BEGIN}\n`.repeat(100_000);
    assert.deepEqual(armoredKeyBlocks(begins), []);
    await assert.rejects(DebKeyring.fromBytes(enc(begins), 'keys.asc'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'));
      assert.match(err.message, /neither binary OpenPGP packets nor holds a -----BEGIN PGP PUBLIC KEY BLOCK----- armor/);
      return true;
    });
    // From the first BEGIN line, to the END line with its blanks (a CR is one, as the regex took it).
    assert.deepEqual(armoredKeyBlocks(`${begins}${KEY_END}\r\n${begins}`), [`${begins}${KEY_END}\r`]);
  });

  it('reads or refuses with UNTRUSTED_KEY: any bytes, and armor lines put anywhere in a keyring', async () => {
    const armored = keys.map((k) => k.publicKey.armor()).join('');
    const keyLine = fc.oneof(fc.constantFrom(KEY_BEGIN, KEY_END, '', '=abcd', 'Comment: x'), fc.string({ maxLength: 16 }));
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.array(fc.tuple(fc.nat(), keyLine), { minLength: 1, maxLength: 3 }).map((inserts) => {
            const lines = armored.split('\n');
            for (const [at, line] of inserts) lines.splice(at % (lines.length + 1), 0, line);
            return enc(lines.join('\n'));
          }),
          fc.array(fc.tuple(keyLine, fc.constantFrom('\n', '\r\n')), { maxLength: 10 }).map((l) => enc(l.map(([a, b]) => a + b).join(''))),
        ),
        async (bytes) => {
          await readsOrRefuses(
            () => DebKeyring.fromBytes(bytes, 'keys.asc'),
            ['UNTRUSTED_KEY'],
            (k) => assert.ok(k.keys.length > 0),
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});
