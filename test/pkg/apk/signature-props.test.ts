// apk signature members of any entries (property-based): the first signature of a type apk
// verifies by a key of the keyring decides, as apk-tools decides; every other outcome is a typed
// error. And the keyring's reading of key texts: a typed refusal or the key, whatever the text.
import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { type ApkKeyPair, generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { DATA_MAX, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { streamApkFile } from '../../../src/pkg/apk/stream.ts';
import { buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';
import { DownloadCache } from '../../../src/pkg/fetch.ts';
import { useTempDir } from '../../helpers/temp.ts';

const utf8 = new TextEncoder();
const DIGESTS: Record<string, string> = { RSA: 'sha1', RSA256: 'sha256', RSA512: 'sha512' };

let trusted: ApkKeyPair;
let stranger: ApkKeyPair;
let keyring: ApkKeyring;
/** What an index signs (its content members) and what a package signs (its control member), and the unsigned files. */
let index: Uint8Array;
let pkg: { unsigned: Uint8Array; control: Uint8Array };

before(async () => {
  trusted = generateApkKeyPair('trusted', { bits: 2048 });
  stranger = generateApkKeyPair('stranger', { bits: 2048 });
  keyring = new ApkKeyring().add(trusted.name, trusted.publicKeyPem);
  const unsigned = await buildApk({
    name: 'hello',
    version: '1.0-r0',
    arch: 'x86_64',
    files: [{ path: 'usr/share/hello.txt', type: 'file', body: utf8.encode('hello\n') }],
  });
  index = (await buildApkIndex([unsigned])).bytes;
  const [control] = splitGzipMembers(unsigned, { maxOutput: DATA_MAX });
  pkg = { unsigned, control: control!.compressed };
});

/** What follows `.SIGN.` in an entry's name: anything, and near misses of the names apk-tools reads. */
const signName = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.constantFrom('RSA.', 'RSA256.', 'RSA512.', 'RSA', 'RSA256', 'DSA.', '.', '/', 'RSA./x', 'RSA.a/b', 'RSA..', 'RSA. '),
  fc.constantFrom('RSA256.', 'RSA.', 'RSA512.', 'DSA.', 'X.').map((t) => `${t}KEY`), // KEY: the trusted key's name
);

/** One `.SIGN.` entry as a test draws it: its type, the key it names, and what its body is. */
interface Entry {
  type: string;
  key: 'trusted' | 'stranger' | 'nobody';
  body: { kind: 'good' } | { kind: 'digest'; digest: string } | { kind: 'bytes'; bytes: Uint8Array };
}

const entry: fc.Arbitrary<Entry> = fc.record({
  type: fc.constantFrom('RSA', 'RSA256', 'RSA512', 'DSA', 'ECDSA', 'rsa256', 'RSA256x', 'RSA1024', 'EDDSA'),
  key: fc.constantFrom('trusted', 'stranger', 'nobody'),
  body: fc.oneof(
    fc.constant({ kind: 'good' as const }),
    fc.constantFrom('sha1', 'sha256', 'sha512').map((digest) => ({ kind: 'digest' as const, digest })),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => ({ kind: 'bytes' as const, bytes })),
  ),
});

function keyName(e: Entry): string {
  return e.key === 'nobody' ? 'nobody.rsa.pub' : (e.key === 'trusted' ? trusted : stranger).name;
}

/** The entry's body over `signed`: a signature by the key it names (by `trusted`'s for `nobody`), or its bytes. */
function body(e: Entry, signed: Uint8Array): Uint8Array {
  if (e.body.kind === 'bytes') return e.body.bytes;
  const digest = e.body.kind === 'digest' ? e.body.digest : (DIGESTS[e.type] ?? 'sha256');
  return new Uint8Array(sign(digest, signed, createPrivateKey((e.key === 'stranger' ? stranger : trusted).privateKeyPem)));
}

/** A signature member of `entries`, in their order, over `signed`; `signed` after it. */
async function signedFile(signed: Uint8Array, entries: readonly Entry[], before: Uint8Array = signed): Promise<Uint8Array> {
  const files = entries.map((e) => {
    const b = body(e, signed);
    return { header: tarHeader({ name: `.SIGN.${e.type}.${keyName(e)}`, size: b.length }), body: b };
  });
  return Buffer.concat([gzipSync(await tarBytes(files)), before]);
}

/**
 * What apk-tools makes of the entries: the first of a type it verifies (RSA, RSA256, RSA512) by a
 * key of the keyring decides; it verifies when its body is a signature with that type's digest by
 * that key. Undefined when no entry decides.
 */
function model(entries: readonly Entry[]): { type: string; keyName: string; good: boolean } | undefined {
  const deciding = entries.find((e) => DIGESTS[e.type] !== undefined && e.key === 'trusted');
  if (deciding === undefined) return undefined;
  const good = deciding.body.kind === 'good' || (deciding.body.kind === 'digest' && deciding.body.digest === DIGESTS[deciding.type]);
  // Random bytes that verify are not drawn.
  return { type: deciding.type, keyName: trusted.name, good };
}

/** Runs `read`; the outcome, or the code of the ProvenantError it failed with (any other failure fails the test). */
async function outcome<T>(read: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; code: string }> {
  try {
    return { ok: true, value: await read() };
  } catch (err) {
    assert.ok(isProvenantError(err), `not a ProvenantError: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.message.length > 0);
    return { ok: false, code: err.code };
  }
}

describe('apk signature members of any entries, as apk-tools decides (property-based)', () => {
  for (const kind of ['index', 'package'] as const) {
    it(`${kind === 'index' ? 'an index' : 'a package'}: the first signature of a known type by a trusted key decides; else UNTRUSTED_KEY, or nothing with allowUntrusted`, async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(entry, { minLength: 1, maxLength: 4 }), fc.boolean(), async (entries, allowUntrusted) => {
          const bytes = kind === 'index' ? await signedFile(index, entries) : await signedFile(pkg.control, entries, pkg.unsigned);
          const options = { keyring, where: kind, allowUntrusted };
          const got = await outcome(async () =>
            kind === 'index' ? (await readApkIndex(bytes, options)).signedBy : (await readApkPackage(bytes, options)).signedBy,
          );
          const expected = model(entries);
          if (expected === undefined) {
            if (allowUntrusted) assert.deepEqual(got, { ok: true, value: undefined });
            else assert.deepEqual(got, { ok: false, code: 'UNTRUSTED_KEY' });
          } else if (expected.good) {
            assert.deepEqual(got, { ok: true, value: { type: expected.type, keyName: expected.keyName } });
          } else {
            assert.deepEqual(got, { ok: false, code: 'SIGNATURE' });
          }
        }),
        { numRuns: kind === 'index' ? 200 : 150 },
      );
    });
  }

  it('an index whose signature member holds entries of any names and bodies: read, or refused with a typed error', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(signName, fc.uint8Array({ maxLength: 64 })), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (raw, allowUntrusted) => {
          const files = raw.map(([n, b]) => ({
            header: tarHeader({ name: `.SIGN.${n.replace('KEY', trusted.name)}`, size: b.length }),
            body: b,
          }));
          let tar: Uint8Array;
          try {
            tar = await tarBytes(files);
          } catch {
            return; // a name tar cannot carry
          }
          const bytes = Buffer.concat([gzipSync(tar), index]);
          const got = await outcome(() => readApkIndex(bytes, { keyring, where: 'index', allowUntrusted }));
          if (!got.ok) assert.ok(['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'].includes(got.code), got.code);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('an apk package whose signature member holds entries of any names and bodies (property-based)', () => {
  const tempDir = useTempDir('apk-sign-props');

  it('is read whole and streamed alike: the same signer, or the same typed refusal', async () => {
    const dir = await tempDir();
    const path = join(dir, 'p.apk');
    const cache = new DownloadCache(join(dir, 'cache'));
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(signName, fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.constant(undefined))), { minLength: 1, maxLength: 3 }),
        fc.boolean(),
        async (raw, allowUntrusted) => {
          const files = raw.map(([n, b]) => {
            const bytes = b ?? new Uint8Array(sign('sha256', pkg.control, createPrivateKey(trusted.privateKeyPem)));
            return { header: tarHeader({ name: `.SIGN.${n.replace('KEY', trusted.name)}`, size: bytes.length }), body: bytes };
          });
          let tar: Uint8Array;
          try {
            tar = await tarBytes(files);
          } catch {
            return; // a name tar cannot carry
          }
          const bytes = Buffer.concat([gzipSync(tar), pkg.unsigned]);
          await writeFile(path, bytes);
          const options = { keyring, where: 'p.apk', allowUntrusted };
          const whole = await outcome(async () => (await readApkPackage(bytes, options)).signedBy);
          const writer = await cache.writer();
          const streamed = await outcome(async () => (await streamApkFile(path, bytes.length, writer, options)).pkg.signedBy);
          await writer.abort();
          assert.deepEqual(streamed, whole);
          if (!whole.ok) assert.ok(['SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_PACKAGE'].includes(whole.code), whole.code);
        },
      ),
      { numRuns: 120 },
    );
  });
});

describe('the apk keyring on any key text (property-based)', () => {
  it('takes a key or refuses it with UNTRUSTED_KEY: any text, and a public key with one character changed, put in or taken out', () => {
    const pem = trusted.publicKeyPem;
    const text = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom('-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n', '-----BEGIN RSA PUBLIC KEY-----\nAAAA\n', '-----BEGIN '),
      fc.tuple(fc.nat(), fc.string({ minLength: 0, maxLength: 2 }), fc.nat({ max: 2 })).map(([at, s, cut]) => {
        const i = at % (pem.length + 1);
        return pem.slice(0, i) + s + pem.slice(i + cut);
      }),
    );
    fc.assert(
      fc.property(text, fc.boolean(), (t, asLocked) => {
        try {
          const k = new ApkKeyring();
          if (asLocked)
            k.add('trusted.rsa.pub', pem, 'keys/trusted.rsa.pub', { text: t, where: 'lock.json', entry: 'contents.keyring[0]' });
          else k.add('k.rsa.pub', t, 'keys/k.rsa.pub');
          // What it took is a public RSA key, and the text kept for /etc/apk/keys holds no private one.
          const name = asLocked ? 'trusted.rsa.pub' : 'k.rsa.pub';
          assert.equal(k.get(name)?.asymmetricKeyType, 'rsa');
          assert.doesNotMatch(k.pem(name) ?? '', /PRIVATE KEY/);
          if (asLocked) assert.ok(k.get(name)!.equals(createPublicKey(pem)));
        } catch (err) {
          if (err instanceof assert.AssertionError) throw err;
          assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), `not UNTRUSTED_KEY: ${(err as Error)?.stack ?? String(err)}`);
        }
      }),
      { numRuns: 500 },
    );
  });

  it('takes the same key in any wrapping and line ends as the same key, and a lock holding that text keeps it', () => {
    const b64 = trusted.publicKeyPem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.constantFrom('\n', '\r\n'),
        fc.stringMatching(/^([ \t]{0,2}\n){0,2}$/),
        (width, eol, around) => {
          const wrapped = b64.match(new RegExp(`.{1,${width}}`, 'g'))!.join(eol);
          const other = `${around}-----BEGIN PUBLIC KEY-----${eol}${wrapped}${eol}-----END PUBLIC KEY-----${eol}${around}`;
          const k = new ApkKeyring().add(trusted.name, trusted.publicKeyPem).add(trusted.name, other);
          assert.equal(k.pem(trusted.name), trusted.publicKeyPem);
          const locked = new ApkKeyring().add(trusted.name, trusted.publicKeyPem, 'keys', { text: other, where: 'lock.json', entry: 'e' });
          assert.equal(locked.pem(trusted.name), other);
        },
      ),
      { numRuns: 100 },
    );
  });
});
