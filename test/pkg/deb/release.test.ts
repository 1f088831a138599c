import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  armor,
  config,
  createCleartextMessage,
  createMessage,
  enums,
  generateKey,
  LiteralDataPacket,
  PacketList,
  type PrivateKey,
  type PublicKey,
  readSignature,
  revokeKey,
  SignaturePacket,
  sign,
} from 'openpgp';
import { planBuild } from '../../../src/builder/plan.ts';
import { isProvenantError, RepairableError } from '../../../src/errors.ts';
import { type DebCandidate, debCandidate } from '../../../src/pkg/deb/candidates.ts';
import { parseControlStanzas } from '../../../src/pkg/deb/control.ts';
import { fetchDebianIndex, MAX_RELEASE_FILE_SIZE } from '../../../src/pkg/deb/fetch-index.ts';
import { DEBIAN_ARCHIVE_KEYRING, DebKeyring, type DebKeyring as DebKeyringType, LazyDebKeyring } from '../../../src/pkg/deb/keyring.ts';
import {
  cacheablePackagesFile,
  checkReleaseFile,
  type DebRelease,
  debPinPriority,
  keepPackagesFile,
  readPackagesIndex,
  readRelease,
  selectPackagesFile,
} from '../../../src/pkg/deb/release.ts';
import { DebRepositorySource } from '../../../src/pkg/deb/source.ts';
import { type DebSource, formatSourceLine, parseSourceLine, parseSourcesList } from '../../../src/pkg/deb/sources.ts';
import { MAX_PACKAGES_STANZAS } from '../../../src/pkg/deb/stanza-index.ts';
import { decompressIndex, decompressIndexChunks, decompressXz, MAX_PACKAGES_INDEX_SIZE } from '../../../src/pkg/deb/xz.ts';
import { DownloadCache, fetchFile, MAX_TRUSTED_URL_SIZE } from '../../../src/pkg/fetch.ts';
import type { CandidateIndex } from '../../../src/pkg/resolve/resolve.ts';
import { MissingArchitectureError } from '../../../src/pkg/source.ts';
import { debianCacheDir, debianMirrorUrl, debianMissing } from '../../helpers/debian.ts';

const code = (c: string) => (err: unknown) => {
  assert.ok(isProvenantError(err), `expected a ProvenantError ${c}, got ${String(err)}`);
  assert.equal(err.code, c, err.message);
  return true;
};

describe('sources.list entries', () => {
  it('reads an entry with options', () => {
    const s = parseSourceLine(
      'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] http://mirror.invalid/debian/ bookworm main contrib',
    );
    assert.deepEqual(s, {
      url: 'http://mirror.invalid/debian',
      suite: 'bookworm',
      components: ['main', 'contrib'],
      signedBy: ['/usr/share/keyrings/debian-archive-keyring.gpg'],
      archs: ['amd64', 'arm64'],
    });
    assert.deepEqual(parseSourceLine('deb https://mirror.invalid/debian-security bookworm-security main # comment'), {
      url: 'https://mirror.invalid/debian-security',
      suite: 'bookworm-security',
      components: ['main'],
    });
    assert.deepEqual(parseSourceLine('  deb\t[ by-hash=force check-valid-until=no ]\thttp://m.invalid/d  sid   main  ').byHash, 'force');
  });

  it("reads apt's file:/path as file:///path, and writes it back so", () => {
    const s = parseSourceLine('deb [signed-by=/k.gpg] file:/srv/repo/ t main');
    assert.deepEqual(s, { url: 'file:///srv/repo', suite: 't', components: ['main'], signedBy: ['/k.gpg'] });
    assert.deepEqual(parseSourceLine('deb [signed-by=/k.gpg] FILE:/srv/repo t main').url, 'file:///srv/repo');
    assert.deepEqual(parseSourceLine('deb [signed-by=/k.gpg] file:///srv/repo t main'), s);
    assert.equal(formatSourceLine(s), 'deb [signed-by=/k.gpg] file:///srv/repo t main');
    // localhost is this machine, as a file URL reader takes it.
    assert.equal(parseSourceLine('deb [signed-by=/k.gpg] file://localhost/srv/repo t main').url, 'file://localhost/srv/repo');
  });

  it('refuses trusted=yes unless allowed, and says so', () => {
    assert.throws(() => parseSourceLine('deb [trusted=yes] http://m.invalid/d bookworm main'), code('INSECURE'));
    assert.equal(parseSourceLine('deb [trusted=yes] http://m.invalid/d bookworm main', { allowTrusted: true }).trusted, true);
    assert.equal(parseSourceLine('deb [trusted=no] http://m.invalid/d bookworm main').trusted, false);
  });

  it('names the text it does not understand', () => {
    const cases: [string, RegExp][] = [
      ['deb-src http://m.invalid/d bookworm main', /deb-src/],
      ['rpm http://m.invalid/d bookworm main', /does not start with "deb"/],
      ['deb [signed-by=/k.gpg http://m.invalid/d bookworm main', /never closes/],
      ['deb [sigend-by=/k.gpg] http://m.invalid/d bookworm main', /"sigend-by"/],
      ['deb [arch] http://m.invalid/d bookworm main', /"arch".*not name=value/],
      ['deb [arch=amd64,] http://m.invalid/d bookworm main', /empty value/],
      ['deb [arch=AMD64] http://m.invalid/d bookworm main', /"AMD64"/],
      ['deb [arch=amd64 arch=arm64] http://m.invalid/d bookworm main', /twice/],
      ['deb [by-hash=maybe] http://m.invalid/d bookworm main', /by-hash=maybe/],
      ['deb [signed-by=A0B1C2D3E4F5A6B7] http://m.invalid/d bookworm main', /fingerprint/],
      ['deb ftp://m.invalid/d bookworm main', /not http/],
      ['deb http:// bookworm main', /malformed/],
      ['deb file:/// bookworm main', /no host or path/],
      ['deb file:/ bookworm main', /the URL "file:\/", which names no host or path/],
      ['deb file:srv/repo bookworm main', /the URL "file:srv\/repo", which is not http.*file:\//],
      // apt's file method refuses a host ("local URIS must not start with //").
      ['deb file://host/srv/r bookworm main', /the URL "file:\/\/host\/srv\/r", which names the host "host"/],
      ['deb FILE://m.invalid/ bookworm main', /names the host "m\.invalid"/],
      ['deb http://m.invalid/d', /no suite/],
      ['deb http://m.invalid/d bookworm', /no component/],
      ['deb http://m.invalid/d ./', /flat repository/],
      ['deb http://m.invalid/d ../../etc main', /"..\/..\/etc"/],
      ['deb http://m.invalid/d bookworm ma$in', /"ma\$in"/],
    ];
    for (const [line, message] of cases) {
      assert.throws(
        () => parseSourceLine(line, { where: 'image.yaml' }),
        (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && message.test(err.message) && err.where === 'image.yaml',
        line,
      );
    }
  });

  it('never shows the credentials of a URL', () => {
    assert.throws(
      () => parseSourceLine('deb ftp://user:secret@m.invalid/d bookworm main'),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && !err.message.includes('secret'),
    );
    assert.throws(
      () => parseSourceLine('deb [bogus=1] https://user:secret@m.invalid/d bookworm main'),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && !err.message.includes('secret'),
    );
    // An unescaped @ in the password: everything up to the last @ goes.
    assert.throws(
      () => parseSourceLine('deb [bogus=1] https://user:p@ss-Secret@m.invalid/d bookworm main'),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && !err.message.includes('Secret') && err.message.includes('m.invalid/d'),
    );
  });

  it('reads a sources.list, naming the line of an error', () => {
    const text = '# Debian\n\ndeb http://m.invalid/d bookworm main\ndeb http://m.invalid/d bookworm-updates main\r\n';
    assert.deepEqual(
      parseSourcesList(text).map((s) => s.suite),
      ['bookworm', 'bookworm-updates'],
    );
    assert.throws(
      () => parseSourcesList('deb http://m.invalid/d bookworm main\ndeb http://m.invalid/d\n', { where: 'sources.list' }),
      (err: unknown) => isProvenantError(err, 'INVALID_CONFIG') && err.where === 'sources.list:2',
    );
  });

  const segment = fc.stringMatching(/^[a-z0-9][a-z0-9._+~-]{0,11}$/);
  const name = fc.array(segment, { minLength: 1, maxLength: 3 }).map((s) => s.join('/'));
  const source: fc.Arbitrary<DebSource> = fc.record(
    {
      url: fc
        .tuple(
          fc.constantFrom('http', 'https', 'HTTP', 'file'),
          fc.domain(),
          fc.array(fc.stringMatching(/^[A-Za-z0-9._~-]{1,10}$/), { maxLength: 3 }),
        )
        .map(([scheme, host, path]) =>
          scheme === 'file' ? `file:///${['srv', ...path].join('/')}` : `${scheme}://${[host, ...path].join('/')}`,
        ),
      suite: name,
      components: fc.array(name, { minLength: 1, maxLength: 4 }),
      archs: fc.array(fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,9}$/), { minLength: 1, maxLength: 3 }),
      signedBy: fc.array(
        fc.array(fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/), { minLength: 1, maxLength: 4 }).map((p) => `/${p.join('/')}`),
        { minLength: 1, maxLength: 2 },
      ),
      byHash: fc.constantFrom('yes' as const, 'no' as const, 'force' as const),
      checkValidUntil: fc.boolean(),
      trusted: fc.boolean(),
    },
    { requiredKeys: ['url', 'suite', 'components'] },
  );

  it('reads back what it writes (property)', () => {
    fc.assert(
      fc.property(source, (s) => {
        assert.deepEqual(parseSourceLine(formatSourceLine(s), { allowTrusted: true }), { ...s });
      }),
      { numRuns: 500 },
    );
  });

  it('reads the same entry whatever the spacing and option order (property)', () => {
    const space = fc.stringMatching(/^[ \t]{1,3}$/);
    fc.assert(
      fc.property(source, fc.array(space, { minLength: 8, maxLength: 8 }), fc.boolean(), (s, sp, reverse) => {
        const canonical = formatSourceLine(s);
        const open = canonical.indexOf('[');
        const close = canonical.indexOf(']');
        let line = canonical;
        if (open >= 0) {
          const opts = canonical.slice(open + 1, close).split(' ');
          if (reverse) opts.reverse();
          line = `${canonical.slice(0, open)}[${sp[0]}${opts.join(sp[1])}${sp[2]}]${canonical.slice(close + 1)}`;
        }
        line = `${sp[3]}${line.split(' ').join(sp[4])}${sp[5]}#${sp[6]}comment`;
        assert.deepEqual(parseSourceLine(line, { allowTrusted: true }), { ...s });
      }),
      { numRuns: 300 },
    );
  });

  it('throws only its own errors, whatever the text (property)', () => {
    const token = fc.oneof(
      fc.constantFrom(
        'deb',
        'deb-src',
        '[',
        ']',
        'arch=amd64',
        'signed-by=/k',
        'trusted=yes',
        'by-hash=yes',
        '=',
        'http://m.invalid/d',
        'main',
      ),
      fc.string({ maxLength: 12 }),
    );
    fc.assert(
      fc.property(fc.array(token, { maxLength: 8 }), fc.boolean(), (tokens, allowTrusted) => {
        const line = tokens.join(' ');
        try {
          const s = parseSourceLine(line, { allowTrusted });
          assert.ok(s.components.length > 0 && s.suite !== '' && /^(https?|file):\/\//i.test(s.url));
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_CONFIG', 'INSECURE'), String(err));
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('index decompression', () => {
  it('reads gzip and plain indexes within a size limit, and refuses data that is not xz', async () => {
    const text = new TextEncoder().encode('Package: a\nVersion: 1\n\n'.repeat(100));
    assert.deepEqual(await decompressIndex(gzipSync(text), 'gzip'), text);
    assert.deepEqual(await decompressIndex(text, 'none'), text);
    await assert.rejects(decompressIndex(gzipSync(text), 'gzip', { maxBytes: 100 }), code('INVALID_PACKAGE'));
    await assert.rejects(decompressIndex(gzipSync(text).subarray(0, 20), 'gzip'), code('INVALID_PACKAGE'));
    await assert.rejects(decompressXz(gzipSync(text)), code('INVALID_PACKAGE'));
  });

  it('decodes gzip indexes chunk by chunk as decompressIndex decodes them whole, refusals included', async () => {
    const collect = async (chunks: AsyncIterable<Uint8Array>) => {
      const parts: Uint8Array[] = [];
      for await (const c of chunks) parts.push(c);
      return { data: Buffer.concat(parts), pieces: parts.length };
    };
    const text = new TextEncoder().encode('Package: a\nVersion: 1\n\n'.repeat(100_000));
    const gz = gzipSync(text);
    const { data, pieces } = await collect(decompressIndexChunks(gz, 'gzip'));
    assert.deepEqual(data, Buffer.from(await decompressIndex(gz, 'gzip')));
    assert.ok(pieces > 1, 'in pieces');
    // Two members, as `cat a.gz b.gz` makes them.
    assert.deepEqual((await collect(decompressIndexChunks(Buffer.concat([gz, gzipSync(text)]), 'gzip'))).data, Buffer.concat([text, text]));
    await assert.rejects(collect(decompressIndexChunks(gz, 'gzip', { maxBytes: 100_000 })), code('INVALID_PACKAGE'));
    await assert.rejects(collect(decompressIndexChunks(gz.subarray(0, 2000), 'gzip')), code('INVALID_PACKAGE'));
    await assert.rejects(collect(decompressIndexChunks(Buffer.concat([gz, Buffer.from('garbage')]), 'gzip')), code('INVALID_PACKAGE'));
    assert.deepEqual((await collect(decompressIndexChunks(text, 'none'))).data, Buffer.from(text));
  });
});

describe('a Packages index over 256 MiB unpacked', () => {
  /** A stanza, then line feeds to `size` bytes: what a 386 KB Packages.xz unpacked to 2047 MiB. */
  const bomb = (size: number): Buffer => {
    const out = Buffer.alloc(size, 0x0a);
    out.write('Package: a\nVersion: 1\nArchitecture: amd64\n');
    return out;
  };
  const collect = async (chunks: AsyncIterable<Uint8Array>) => {
    let total = 0;
    for await (const c of chunks) total += c.length;
    return total;
  };
  const tooLarge = (where: string) => (err: unknown) => {
    assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
    assert.equal(err.where, where);
    assert.match(err.message, new RegExp(`^${where} is more than ${MAX_PACKAGES_INDEX_SIZE} bytes unpacked \\(256 MiB\\)`));
    return true;
  };

  it('is refused as it inflates, whatever size the Release gives it: TOO_LARGE naming it and the limit', async () => {
    assert.equal(MAX_PACKAGES_INDEX_SIZE, 256 * 1024 * 1024);
    const where = 'http://127.0.0.1/debian/dists/stable/main/binary-amd64/Packages.gz';
    const gz = gzipSync(bomb(MAX_PACKAGES_INDEX_SIZE + 1), { level: 1 });
    // One of exactly the limit is taken.
    assert.equal(
      await collect(decompressIndexChunks(gzipSync(bomb(MAX_PACKAGES_INDEX_SIZE), { level: 1 }), 'gzip')),
      MAX_PACKAGES_INDEX_SIZE,
    );
    for (const maxBytes of [undefined, 2 ** 31 - 1]) {
      await assert.rejects(decompressIndex(gz, 'gzip', { where, maxBytes }), tooLarge(where));
      await assert.rejects(collect(decompressIndexChunks(gz, 'gzip', { where, maxBytes })), tooLarge(where));
      await assert.rejects(decompressIndex(bomb(MAX_PACKAGES_INDEX_SIZE + 1), 'none', { where, maxBytes }), tooLarge(where));
    }
    // A smaller size the Release gives is still the limit, as before.
    await assert.rejects(decompressIndex(gz, 'gzip', { where, maxBytes: 1000 }), code('INVALID_PACKAGE'));
  });

  it('is refused as xz as it inflates', { skip: spawnSync('xz', ['--version']).status !== 0 }, async () => {
    const where = 'http://127.0.0.1/debian/dists/stable/main/binary-amd64/Packages.xz';
    const xz = new Uint8Array(execFileSync('xz', ['-c', '-0'], { input: bomb(MAX_PACKAGES_INDEX_SIZE + 1), maxBuffer: 1 << 24 }));
    await assert.rejects(decompressIndex(xz, 'xz', { where }), tooLarge(where));
    await assert.rejects(collect(decompressIndexChunks(xz, 'xz', { where, maxBytes: 2 ** 31 - 1 })), tooLarge(where));
  });
});

/** A Release's text for `suite` with one uncompressed Packages index of `packages`, dated `date`. */
function releaseText(suite: string, packages: Uint8Array, date = 'Wed, 01 Jan 2020 12:00:00 UTC'): string {
  const sha = createHash('sha256').update(packages).digest('hex');
  return `Origin: Test\nSuite: ${suite}\nCodename: ${suite}\nDate: ${date}\nArchitectures: amd64\nComponents: main\nSHA256:\n ${sha} ${packages.length} main/binary-amd64/Packages\n`;
}

/** `text` cleartext-signed by each of `keys` (by its first subkey with `subkey`), dated `date`. */
async function clearsign(text: string, keys: PrivateKey[], options: { date?: Date; subkey?: boolean } = {}): Promise<Uint8Array> {
  const message = await createCleartextMessage({ text });
  const signed = await sign({
    message,
    signingKeys: keys,
    ...(options.date === undefined ? {} : { date: options.date }),
    ...(options.subkey === true ? { signingKeyIDs: keys.map((k) => (k.subkeys[0] ?? k).getKeyID()) } : {}),
  });
  return new TextEncoder().encode(signed);
}

/**
 * An armored signature over `text` as an InRelease signs it, by the key packet `keyPacket` at
 * `date`, made by hand with the packet methods openpgp.js's types keep private, for what its
 * sign() does not make: one that expires `seconds` later (gpg's --default-sig-expire), one with
 * another digest, one by a key not meant to sign.
 */
async function signatureByHand(
  keyPacket: PrivateKey['keyPacket'] | NonNullable<PrivateKey['subkeys'][number]>['keyPacket'],
  text: string,
  date: Date,
  options: { seconds?: number; hash?: number } = {},
): Promise<string> {
  const packet = new SignaturePacket();
  packet.signatureType = enums.signature.text;
  packet.publicKeyAlgorithm = keyPacket.algorithm;
  packet.hashAlgorithm = options.hash ?? enums.hash.sha256;
  if (options.seconds !== undefined) {
    packet.signatureExpirationTime = options.seconds;
    packet.signatureNeverExpires = false;
  }
  const literal = new LiteralDataPacket();
  Reflect.apply(Reflect.get(literal, 'setText'), literal, [(await createCleartextMessage({ text })).getText()]);
  await Reflect.apply(packet.sign, packet, [keyPacket, literal, date, true, { ...config, nonDeterministicSignaturesViaNotation: false }]);
  const packets = new PacketList<SignaturePacket>();
  packets.push(packet);
  return armor(enums.armor.signature, packets.write());
}

/** {@link signatureByHand} by `key`, expiring `seconds` after `date`. */
function expiringSignature(key: PrivateKey, text: string, date: Date, seconds: number): Promise<string> {
  return signatureByHand(key.keyPacket, text, date, { seconds });
}

/** An Ed25519 key pair created at `date` (past dates give keys that expired long before this run, whatever the clock). */
async function pgpKey(name: string, options: { date?: Date; keyExpirationTime?: number; subkeys?: object[] } = {}) {
  return generateKey({ type: 'ecc', curve: 'ed25519Legacy', userIDs: [{ name }], format: 'object', ...options });
}

/** A repository at `dir` with the suite `stable`: its InRelease and main's Packages for amd64. */
async function writeRepo(dir: string, packages: Uint8Array, inRelease: Uint8Array): Promise<void> {
  await mkdir(join(dir, 'dists', 'stable', 'main', 'binary-amd64'), { recursive: true });
  await writeFile(join(dir, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), packages);
  await writeFile(join(dir, 'dists', 'stable', 'InRelease'), inRelease);
}

/**
 * A repository signed by an archive key made for it: the key's public half at `dir`/archive.gpg,
 * and at `dir`/repo the suite `stable` with `packages` and an InRelease of `release` (by default
 * releaseText's) signed by the key.
 */
async function signedRepo(dir: string, packages: Uint8Array, release = releaseText('stable', packages)) {
  const key = await pgpKey('archive', { date: new Date('2020-01-01T00:00:00Z') });
  const keyringFile = join(dir, 'archive.gpg');
  await writeFile(keyringFile, key.publicKey.write());
  const repo = join(dir, 'repo');
  await writeRepo(repo, packages, await clearsign(release, [key.privateKey], { date: new Date('2020-01-01T12:00:00Z') }));
  return { keyringFile, repo };
}

describe("Release signatures and the keys' validity now", () => {
  const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
  const text = releaseText('stable', packages);
  // Created at the start of 2020, for one day: expired at 2020-01-02, long before any run of this.
  const created = new Date('2020-01-01T00:00:00Z');
  const during = new Date('2020-01-01T12:00:00Z');

  it('refuses a signature by a key that has expired since it signed (apt: EXPKEYSIG): UNTRUSTED_KEY naming the key and its expiry', async () => {
    const old = await pgpKey('old', { date: created, keyExpirationTime: 86400 });
    const keyring = new DebKeyring([old.publicKey as PublicKey], ['old.gpg']);
    const signed = await clearsign(text, [old.privateKey], { date: during });
    const keyID = old.publicKey.getKeyID().toHex();
    await assert.rejects(readRelease(signed, keyring, 'InRelease'), (err: unknown) => {
      code('UNTRUSTED_KEY')(err);
      assert.ok(isProvenantError(err));
      assert.match(err.message, new RegExp(`${keyID} \\(expired at 2020-01-02T00:00:00.000Z\\)`));
      return true;
    });
    // The same signature read at a time when the key was valid: good.
    const r = await readRelease(signed, keyring, 'InRelease', { now: new Date('2020-01-01T13:00:00Z'), checkValidUntil: false });
    assert.deepEqual(
      r.signers.map((s) => s.keyID),
      [keyID],
    );
  });

  it('refuses a signature by a signing subkey that has expired, its primary key still valid', async () => {
    const k = await pgpKey('sub', { date: created, subkeys: [{ sign: true, keyExpirationTime: 86400 }] });
    const subkeyID = k.publicKey.subkeys[0]?.getKeyID().toHex() ?? '';
    const keyring = new DebKeyring([k.publicKey as PublicKey], ['sub.gpg']);
    const signed = await clearsign(text, [k.privateKey], { date: during, subkey: true });
    await assert.rejects(readRelease(signed, keyring, 'InRelease'), (err: unknown) => {
      code('UNTRUSTED_KEY')(err);
      assert.ok(isProvenantError(err));
      assert.match(err.message, new RegExp(`${subkeyID} \\(expired at 2020-01-02T00:00:00.000Z\\)`));
      return true;
    });
  });

  it('counts a signature by an expired key as neither good nor bad beside a good one', async () => {
    // Signed by a current key and by an expired one, as a repository does while it moves to a new key.
    const old = await pgpKey('old', { date: created, keyExpirationTime: 86400 });
    const current = await pgpKey('current', { date: created });
    const both = new DebKeyring([old.publicKey as PublicKey, current.publicKey as PublicKey], ['both.gpg']);
    const r = await readRelease(await clearsign(text, [current.privateKey, old.privateKey], { date: during }), both, 'InRelease');
    assert.deepEqual(
      r.signers.map((s) => s.keyID),
      [current.publicKey.getKeyID().toHex()],
    );
  });

  it('refuses an InRelease with text outside its signed message, as apt does: SIGNATURE naming the line', async () => {
    const k = await pgpKey('frame');
    const keyring = new DebKeyring([k.publicKey as PublicKey], ['frame.gpg']);
    const signed = new TextDecoder().decode(await clearsign(text, [k.privateKey]));
    const other = new TextDecoder().decode(await clearsign(text.replace('Origin: Test', 'Origin: Other'), [k.privateKey]));
    const read = (t: string) => readRelease(new TextEncoder().encode(t), keyring, 'InRelease', { checkValidUntil: false });
    const refused = (pattern: RegExp) => (err: unknown) => {
      code('SIGNATURE')(err);
      assert.ok(isProvenantError(err));
      assert.equal(err.where, 'InRelease');
      assert.match(err.message, pattern);
      return true;
    };
    const lines = signed.split('\n').length;
    // openpgp.js alone took each of these, reading the first signed message only.
    await assert.rejects(
      read(`Origin: Other\n\n${signed}`),
      refused(/unsigned text before its signed message \(line 1\), which apt refuses$/),
    );
    await assert.rejects(read(`${signed}Origin: Other\n`), refused(new RegExp(`unsigned text after its signature \\(line ${lines}\\)`)));
    await assert.rejects(read(`${signed}${other}`), refused(new RegExp(`a second signed message after its signature \\(line ${lines}\\)`)));
    // A blank line (spaces, tabs, a CR) before or after it is refused too, as apt refuses it (NOSPLIT, "unsigned lines").
    await assert.rejects(read(`\n \t\r\n${signed}`), refused(/a blank line before its signed message \(line 1\)/));
    await assert.rejects(read(`${signed} \r\n`), refused(new RegExp(`a blank line after its signature \\(line ${lines}\\)`)));
    // Trailing blanks on a line, and CRLF line ends, are not: apt strips them.
    assert.equal((await read(signed)).origin, 'Test');
    assert.equal((await read(signed.replaceAll('\n', ' \t\r\n'))).origin, 'Test');
    // A line of the signed text starting with a dash must be dash-escaped (gpg writes "- -X"), as apt wants it.
    const dashed = (line: string) => signed.replace('\n-----BEGIN PGP SIGNATURE-----', `\n${line}\n-----BEGIN PGP SIGNATURE-----`);
    await assert.rejects(read(dashed('-X-Foo: bar')), refused(/a line of its signed text starting with a dash that is not dash-escaped/));
    // (escaped, it is signed text: the signature no longer matches it, which is another refusal)
    await assert.rejects(read(dashed('- -X-Foo: bar')), refused(/signature by key [0-9a-f]{16} does not verify/));
    await assert.rejects(read(dashed('-')), refused(/not dash-escaped/));
    // What is no signed message at all is still said so.
    await assert.rejects(read('<html>404</html>'), refused(/is not an OpenPGP-signed message/));
  });

  // A final review: a dash-escaped line (`- -----BEGIN PGP SIGNATURE-----x`, as gpg escapes it)
  // after the Release's paragraph was refused; apt 2.6.1 reads the first paragraph only (checked
  // with apt-get update against such a repository: it takes it, and refuses the line in the first).
  it("reads the Release's first paragraph only, as apt does: a dash-escaped line after it is not read, one in it is refused", async () => {
    const k = await pgpKey('paragraph');
    const keyring = new DebKeyring([k.publicKey as PublicKey], ['paragraph.gpg']);
    const read = async (t: string) => readRelease(await clearsign(t, [k.privateKey]), keyring, 'InRelease', { checkValidUntil: false });
    const line = '-----BEGIN PGP SIGNATURE-----x';
    const signed = await clearsign(`${text}\n${line}\n`, [k.privateKey]);
    assert.match(new TextDecoder().decode(signed), /\n- -----BEGIN PGP SIGNATURE-----x\r?\n/, 'dash-escaped in the InRelease');
    const r = await readRelease(signed, keyring, 'InRelease', { checkValidUntil: false });
    assert.equal(r.origin, 'Test');
    assert.deepEqual([...r.files.keys()], ['main/binary-amd64/Packages']);
    // Nor is any other text there, a field or not.
    assert.equal((await read(`${text}\nOrigin: Other\nno field\n`)).origin, 'Test');
    // A blank line before the fields is not an empty first paragraph: apt 2.6.1 reads the fields
    // after it, in a signed InRelease and in a Release alike (measured: its policy showed their
    // origin and suite, and it checked the index against the hash they list).
    const late = await read(`\n${text}`);
    assert.equal(late.origin, 'Test');
    assert.deepEqual([...late.files.keys()], ['main/binary-amd64/Packages']);
    // In the paragraph, apt refuses it ("No Hash entry in Release file": its parse stops there).
    await assert.rejects(read(text.replace('SHA256:', `${line}\nSHA256:`)), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_PACKAGE'), String(err));
      assert.match(err.message, /^line 7 is not a "Field: value" line: "-----BEGIN PGP SIGNATURE-----x"$/);
      return true;
    });
  });

  it('keeps a signature check in the cache only until the signing subkey expires', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-expiry-'));
    try {
      const k = await pgpKey('sub', { date: created, subkeys: [{ sign: true, keyExpirationTime: 86400 }] });
      const repo = join(dir, 'repo');
      await writeRepo(repo, packages, await clearsign(text, [k.privateKey], { date: during, subkey: true }));
      const keyringFile = join(dir, 'sub.gpg');
      await writeFile(keyringFile, k.publicKey.write());
      const fetchAt = async (now?: Date) =>
        fetchDebianIndex({
          url: repo,
          suite: 'stable',
          components: ['main'],
          arch: 'amd64',
          keyring: await LazyDebKeyring.read([keyringFile]),
          cacheDir: join(dir, 'cache'),
          ...(now === undefined ? {} : { now }),
        });
      // Checked and kept while the subkey was valid (its primary key never expires) ...
      assert.equal((await fetchAt(new Date('2020-01-01T13:00:00Z'))).packages.length, 1);
      // ... and not taken from the cache once it has expired.
      await assert.rejects(fetchAt(), code('UNTRUSTED_KEY'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('keeps a signature check in the cache only until a signature of its own expires, and takes the Release while a good one is left (apt: EXPSIG)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-sigexpiry-'));
    try {
      // Keys that never expire; their signatures do, one after a day, the other after two.
      const a = await pgpKey('a', { date: created });
      const b = await pgpKey('b', { date: created });
      const signed = new TextDecoder().decode(await clearsign(text, [a.privateKey], { date: during }));
      const message = signed.slice(0, signed.indexOf('-----BEGIN PGP SIGNATURE-----'));
      const repo = join(dir, 'repo');
      const inRelease =
        message +
        (await expiringSignature(a.privateKey, text, during, 86400)) +
        (await expiringSignature(b.privateKey, text, during, 2 * 86400));
      await writeRepo(repo, packages, new TextEncoder().encode(inRelease));
      const keyringFile = join(dir, 'ab.gpg');
      await writeFile(keyringFile, Buffer.concat([a.publicKey.write(), b.publicKey.write()]));
      const fetchAt = async (now: Date) =>
        fetchDebianIndex({
          url: repo,
          suite: 'stable',
          components: ['main'],
          arch: 'amd64',
          keyring: await LazyDebKeyring.read([keyringFile]),
          cacheDir: join(dir, 'cache'),
          now,
        });
      const signers = async (now: Date) => (await fetchAt(now)).release.signers.map((s) => s.userID);
      // Both good, and kept so ...
      assert.deepEqual(await signers(new Date('2020-01-01T13:00:00Z')), ['a', 'b']);
      // ... until a's signature expires: checked again, b's alone is good, and enough.
      assert.deepEqual(await signers(new Date('2020-01-02T13:00:00Z')), ['b']);
      // Once b's has expired too, the Release is refused, the kept check notwithstanding.
      await assert.rejects(fetchAt(new Date('2020-01-03T13:00:00Z')), (err: unknown) => {
        code('UNTRUSTED_KEY')(err);
        assert.ok(isProvenantError(err));
        assert.match(
          err.message,
          /\(the signature expired at 2020-01-02T12:00:00\.000Z\); [0-9a-f]{16} \(the signature expired at 2020-01-03T12:00:00\.000Z\)/,
        );
        assert.match(err.hint ?? '', /^the mirror may be stale \(the repository made this signature to be good only until then\)/);
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('Release signatures as apt counts them: good, bad (BADSIG) or worthless', () => {
  const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
  const text = releaseText('stable', packages);
  const enc = (t: string) => new TextEncoder().encode(t);
  const dec = (b: Uint8Array) => new TextDecoder().decode(b);
  const created = new Date('2020-01-01T00:00:00Z');
  const during = new Date('2020-01-01T11:00:00Z');
  // The clock of these reads: the Release's Date, 2020-01-01T12:00:00Z.
  const now = new Date('2020-01-01T12:00:00Z');
  const read = (bytes: Uint8Array, keys: object[], options: { detachedSignature?: Uint8Array; detachedSignatureWhere?: string } = {}) =>
    readRelease(bytes, new DebKeyring(keys as PublicKey[], ['keys.gpg']), 'InRelease', { now, ...options });
  /** `text` clearsigned by `key` at `date`, its armored signature block appended to `inRelease` when given: apt takes several blocks. */
  const signedBy = async (key: PrivateKey, date: Date, inRelease?: Uint8Array, config?: object) => {
    const signed = await sign({
      message: await createCleartextMessage({ text }),
      signingKeys: key,
      date,
      ...(config === undefined ? {} : { config }),
    });
    return inRelease === undefined ? enc(signed) : enc(dec(inRelease) + signed.slice(signed.indexOf('-----BEGIN PGP SIGNATURE-----')));
  };
  const refused = (c: string, pattern: RegExp) => (err: unknown) => {
    code(c)(err);
    assert.ok(isProvenantError(err));
    assert.match(err.message, pattern);
    assert.doesNotMatch(err.hint ?? '', /changed after it was signed/);
    return true;
  };

  it('ignores a worthless signature beside a good one, and names why it is worthless when it is alone (UNTRUSTED_KEY)', async () => {
    const good = await pgpKey('good', { date: created });
    const revoking = await pgpKey('revoked', { date: created });
    const { publicKey: revoked } = await revokeKey({ key: revoking.privateKey, date: during, format: 'object' });
    const weak = await generateKey({
      type: 'rsa',
      rsaBits: 1024,
      userIDs: [{ name: 'weak' }],
      date: created,
      format: 'object',
      config: { minRSABits: 1024 },
    });
    // A strong primary key whose signing subkey is weak: the subkey's size is named.
    const weakSub = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      subkeys: [{ type: 'rsa', rsaBits: 1024, sign: true }],
      userIDs: [{ name: 'weak subkey' }],
      date: created,
      format: 'object',
      config: { minRSABits: 1024 },
    });
    const weakSubSigned = await sign({
      message: await createCleartextMessage({ text }),
      signingKeys: weakSub.privateKey,
      signingKeyIDs: [weakSub.privateKey.subkeys[0]?.getKeyID() ?? weakSub.privateKey.getKeyID()],
      date: during,
      config: { minRSABits: 1024 },
    });
    const ahead = await pgpKey('ahead', { date: created });
    // openpgp.js signs with SHA-1 no more: the packet is made by hand (with the packet methods its
    // types keep private), by an RSA key, since EdDSA takes no hash that short.
    const sha1 = await generateKey({ type: 'rsa', rsaBits: 2048, userIDs: [{ name: 'sha1' }], date: created, format: 'object' });
    const sha1Signature = await signatureByHand(sha1.privateKey.keyPacket, text, during, { hash: enums.hash.sha1 });
    // Expired at 11:30, after it signed at 11:00 and before the reads' 12:00.
    const expired = await pgpKey('expired', { date: created, keyExpirationTime: 41_400 });
    // An RSA key's encryption subkey signs (by hand, as openpgp.js would not): its key flags do not allow it.
    const encrypting = await generateKey({
      type: 'rsa',
      rsaBits: 2048,
      userIDs: [{ name: 'encrypting' }],
      date: created,
      format: 'object',
    });
    const encryptingSubkey = encrypting.privateKey.subkeys[0]?.keyPacket;
    assert.ok(encryptingSubkey !== undefined);
    const byEncrypting = await signatureByHand(encryptingSubkey, text, during);
    // A key made 5 s after the reads' clock, within the 10 s a signature may be ahead: not valid
    // yet at 12:00, for no reason the others name.
    const later = await pgpKey('later', { date: new Date('2020-01-01T12:00:05Z') });
    const block = (inRelease: Uint8Array) => dec(inRelease).slice(dec(inRelease).indexOf('-----BEGIN PGP SIGNATURE-----'));
    // A signature whose hash algorithm octet is 100, a number no digest has (byte 5 of the packet
    // after its 2-byte header: version, type, public-key algorithm, hash algorithm): gpgv answers
    // ERRSIG for it, which apt counts as worthless (checked with apt 2.6.1 after a good signature).
    const unknownHashKey = await pgpKey('unknown hash', { date: created });
    const unknownHash = async (armored: string) => {
      const packets = (await readSignature({ armoredSignature: armored })).packets.write();
      assert.ok(packets[0] === 0xc2 && (packets[1] ?? 255) < 192 && packets[2] === 4, 'one v4 signature packet, of a 2-byte header');
      packets[5] = 100;
      return armor(enums.armor.signature, packets);
    };
    // Each with the reason named and a hint true of it: a stale mirror explains a revoked key, not a weak one.
    const cases: [string, object, string, RegExp, RegExp][] = [
      [
        'revoked',
        revoked,
        block(await signedBy(revoking.privateKey, during)),
        /the key is revoked/,
        /^the repository must sign with another key/,
      ],
      [
        'weak',
        weak.publicKey,
        block(await signedBy(weak.privateKey, during, undefined, { minRSABits: 1024 })),
        /an RSA key of 1024 bits, too weak/,
        /^the repository must sign with a stronger key \(openpgp\.js refuses RSA under 2047 bits\); trusted: keys\.gpg$/,
      ],
      [
        'weak subkey',
        weakSub.publicKey,
        block(enc(weakSubSigned)),
        /an RSA key of 1024 bits, too weak/,
        /^the repository must sign with a stronger key/,
      ],
      [
        'ahead',
        ahead.publicKey,
        block(await signedBy(ahead.privateKey, new Date('2020-01-01T13:00:00Z'))),
        /made at 2020-01-01T13:00:00.000Z, after 2020-01-01T12:00:00.000Z/,
        /^check this machine's clock: a signature made more than 10 s after it is refused here \(apt takes it/,
      ],
      [
        'sha1',
        sha1.publicKey,
        sha1Signature,
        /made with SHA1, a digest too weak to trust/,
        /^the repository must sign with SHA-256 or a stronger digest/,
      ],
      [
        'unknown hash',
        unknownHashKey.publicKey,
        await unknownHash(block(await signedBy(unknownHashKey.privateKey, during))),
        /made with hash algorithm 100, which is unknown/,
        /^the signature is damaged \(the mirror or a proxy changed it\), or made with a digest neither gpgv nor openpgp\.js knows; trusted: keys\.gpg$/,
      ],
      [
        'expired',
        expired.publicKey,
        block(await signedBy(expired.privateKey, during)),
        /expired at 2020-01-01T11:30:00\.000Z/,
        /^the keyring may be out of date \(update it: debian-archive-keyring for Debian\), or the mirror stale, still serving a Release signed with an old key; trusted: keys\.gpg$/,
      ],
      [
        'not a signing key',
        encrypting.publicKey,
        byEncrypting,
        /not a signing key: its key flags do not allow signing/,
        /^the keyring may hold an old copy of the key, without the signing subkey \(update it\), or the repository signs with a key not meant to; trusted: keys\.gpg$/,
      ],
      [
        'not valid yet',
        later.publicKey,
        block(await signedBy(later.privateKey, new Date('2020-01-01T12:00:05Z'))),
        /not valid for signing at 2020-01-01T12:00:00\.000Z: Could not find valid self-signature in key [0-9a-f]{16}: Signature creation time is in the future/,
        /^the mirror may be stale, or the keyring out of date \(update it: debian-archive-keyring for Debian\); trusted: keys\.gpg$/,
      ],
    ];
    const goodOne = dec(await signedBy(good.privateKey, during));
    const message = goodOne.slice(0, goodOne.indexOf('-----BEGIN PGP SIGNATURE-----'));
    for (const [name, pub, signature, why, hint] of cases) {
      // The (sub)key that signed.
      const keyID = (await readSignature({ armoredSignature: signature })).getSigningKeyIDs()[0]?.toHex() ?? '';
      await assert.rejects(
        read(enc(message + signature), [good.publicKey, pub]),
        (err: unknown) => {
          refused('UNTRUSTED_KEY', new RegExp(`no good signature by a key of the keyring: ${keyID} \\(${why.source}`))(err);
          assert.match((err as Error & { hint?: string }).hint ?? '', hint, name);
          return true;
        },
        name,
      );
      // Beside a good signature (before it or after it), as gpgv's EXPKEYSIG, REVKEYSIG and ERRSIG are to apt: the good one counts.
      for (const both of [goodOne + signature, message + signature + block(enc(goodOne))]) {
        const r = await read(enc(both), [good.publicKey, pub]);
        assert.deepEqual(
          r.signers.map((s) => s.keyID),
          [good.publicKey.getKeyID().toHex()],
          name,
        );
      }
    }
    // A Release.gpg of the same, as apt reads one: an unknown hash beside a good signature is worthless too.
    const detachedBy = async (key: PrivateKey) =>
      sign({ message: await createMessage({ binary: enc(text) }), signingKeys: key, date: during, detached: true });
    const goodDetached = await detachedBy(good.privateKey);
    const unknownDetached = await unknownHash(await detachedBy(unknownHashKey.privateKey));
    const keys = [good.publicKey, unknownHashKey.publicKey];
    const r = await read(enc(text), keys, { detachedSignature: enc(goodDetached + unknownDetached) });
    assert.deepEqual(
      r.signers.map((s) => s.keyID),
      [good.publicKey.getKeyID().toHex()],
    );
    await assert.rejects(
      read(enc(text), keys, { detachedSignature: enc(unknownDetached) }),
      refused('UNTRUSTED_KEY', /: [0-9a-f]{16} \(made with hash algorithm 100, which is unknown\)$/),
    );
  });

  it('refuses a signature that does not match the text (BADSIG) even beside a good one: SIGNATURE', async () => {
    const good = await pgpKey('good', { date: created });
    const other = await pgpKey('other', { date: created });
    const good1 = await signedBy(good.privateKey, during);
    // other's signature over another text, spliced under good's.
    const forged = await sign({
      message: await createCleartextMessage({ text: text.replace('Test', 'Evil') }),
      signingKeys: other.privateKey,
      date: during,
    });
    const spliced = enc(dec(good1) + forged.slice(forged.indexOf('-----BEGIN PGP SIGNATURE-----')));
    await assert.rejects(read(spliced, [good.publicKey, other.publicKey]), (err: unknown) => {
      code('SIGNATURE')(err);
      assert.ok(isProvenantError(err));
      assert.match(err.message, new RegExp(`signature by key ${other.publicKey.getKeyID().toHex()} does not verify`));
      assert.match(err.hint ?? '', /changed after it was signed/);
      return true;
    });
    // By a key not in the keyring, it is not looked at, as with apt.
    assert.equal((await read(spliced, [good.publicKey])).signers.length, 1);
  });

  it('takes a signature made up to 10 s ahead of the clock, as a Date is taken', async () => {
    const good = await pgpKey('good', { date: created });
    const r = await read(await signedBy(good.privateKey, new Date(now.getTime() + 5000)), [good.publicKey]);
    assert.equal(r.signers.length, 1);
    await assert.rejects(
      read(await signedBy(good.privateKey, new Date(now.getTime() + 11_000)), [good.publicKey]),
      refused('UNTRUSTED_KEY', /made at 2020-01-01T12:00:11.000Z, after 2020-01-01T12:00:00.000Z/),
    );
  });

  it("ignores the armor headers, as apt does: a Comment, a Hash that is not the signature's; refuses one starting with a dash", async () => {
    const good = await pgpKey('good', { date: created });
    const signed = dec(await signedBy(good.privateKey, during));
    assert.match(signed, /^Hash: SHA512$/m);
    const headers = signed.replace(/^Hash: .*$/m, 'Hash: SHA1\nComment: signed by hand');
    assert.equal((await read(enc(headers), [good.publicKey])).origin, 'Test');
    await assert.rejects(
      read(enc(signed.replace(/^Hash: .*$/m, '$&\n-Comment: x')), [good.publicKey]),
      refused('SIGNATURE', /an armor header starting with a dash \(line 3\), which apt refuses/),
    );
  });

  // A final review: a line of spaces and tabs in a Release (with a Release.gpg) ended its paragraph,
  // so the fields after it were lost; apt 2.6.1 reads it as a continuation (checked with apt-get
  // update: it took the Packages listed after it, and pinned a NotAutomatic suite after it at 1).
  it('reads a line of spaces and tabs in a Release as a continuation, as apt: the fields after it are kept', async () => {
    const good = await pgpKey('good', { date: created });
    const sha = text.match(/ ([0-9a-f]{64}) /)?.[1] as string;
    const listed = text.replace(`SHA256:\n ${sha}`, `SHA256:\n ${'0'.repeat(64)} 1 main/binary-amd64/Release\n \t\n ${sha}`);
    const release = enc(`${listed}NotAutomatic: yes\n`);
    const detached = await sign({
      message: await createMessage({ binary: release }),
      signingKeys: good.privateKey,
      date: during,
      detached: true,
    });
    const r = await read(release, [good.publicKey], { detachedSignature: enc(detached) });
    assert.deepEqual([...r.files.keys()], ['main/binary-amd64/Release', 'main/binary-amd64/Packages']);
    assert.equal(debPinPriority(r), 1);
    // And adds nothing to the field it continues, as apt trims it (a final review: `Suite: stable`
    // then such a line was "stable\n " and refused as another suite; Acquire-By-Hash was not yes).
    const trailing = enc(`${text.replace('Suite: stable\n', 'Suite: stable\n  \n')}Acquire-By-Hash: yes\n \t\n`);
    const again = await sign({
      message: await createMessage({ binary: trailing }),
      signingKeys: good.privateKey,
      date: during,
      detached: true,
    });
    const t = await readRelease(trailing, new DebKeyring([good.publicKey as PublicKey], ['keys.gpg']), 'InRelease', {
      now,
      detachedSignature: enc(again),
      suite: 'stable',
    });
    assert.equal(t.suite, 'stable');
    assert.equal(t.acquireByHash, true);
  });

  it('takes an armored Release.gpg of one or more blocks alone, as apt: not a binary one, nor text around it', async () => {
    const good = await pgpKey('good', { date: created });
    const other = await pgpKey('other', { date: created });
    const release = enc(text);
    const detach = async (key: PrivateKey) =>
      sign({ message: await createMessage({ binary: release }), signingKeys: key, date: during, detached: true });
    const armored = await detach(good.privateKey);
    const keys = [good.publicKey, other.publicKey];
    const withSig = (sig: string | Uint8Array) => read(release, keys, { detachedSignature: typeof sig === 'string' ? enc(sig) : sig });
    assert.equal((await withSig(armored)).signers.length, 1);
    assert.equal((await withSig(armored + (await detach(other.privateKey)))).signers.length, 2);
    const binary = await sign({
      message: await createMessage({ binary: release }),
      signingKeys: good.privateKey,
      date: during,
      detached: true,
      format: 'binary',
    });
    await assert.rejects(withSig(binary as Uint8Array), refused('SIGNATURE', /the Release.gpg is a binary signature, which apt refuses/));
    // Its refusals name the Release.gpg, not the Release.
    await assert.rejects(withSig(binary as Uint8Array), (err: unknown) => isProvenantError(err) && err.where === 'InRelease.gpg');
    await assert.rejects(
      read(release, keys, { detachedSignature: enc(`junk\n${armored}`), detachedSignatureWhere: 'x/Release.gpg' }),
      (err: unknown) => isProvenantError(err, 'SIGNATURE') && err.where === 'x/Release.gpg',
    );
    const lines = armored.split('\n').length;
    await assert.rejects(
      withSig(`${armored}junk\n`),
      refused('SIGNATURE', new RegExp(`Release.gpg holds unsigned text after its signature \\(line ${lines}\\)`)),
    );
    await assert.rejects(withSig(`${armored}\n`), refused('SIGNATURE', /Release.gpg holds a blank line after its signature/));
    await assert.rejects(
      withSig(`comment\n${armored}`),
      refused('SIGNATURE', /Release.gpg holds unsigned text before its signature \(line 1\)/),
    );
  });

  it('reads every key block of an armored keyring, and skips text around them, as gpg does', async () => {
    const a = await pgpKey('a');
    const b = await pgpKey('b');
    const file = `Keys of the repository, from example.org\n\n${a.publicKey.armor()}${b.publicKey.armor()}\n`;
    const keyring = await DebKeyring.fromBytes(enc(file), 'keys.asc');
    assert.deepEqual(
      keyring.keys.map((k) => k.getFingerprint()),
      [a.publicKey.getFingerprint(), b.publicKey.getFingerprint()],
    );
    await assert.rejects(DebKeyring.fromBytes(enc('no key here\n'), 'keys.asc'), code('UNTRUSTED_KEY'));
  });

  it('reads a Release that lists only SHA512 checksums, as apt does, checking the index against them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-sha512-'));
    try {
      const k = await pgpKey('archive', { date: created });
      const sha512 = createHash('sha512').update(packages).digest('hex');
      const only512 = releaseText('stable', packages).replace(
        /^SHA256:\n.*$/m,
        `SHA512:\n ${sha512} ${packages.length} main/binary-amd64/Packages`,
      );
      assert.doesNotMatch(only512, /SHA256/);
      const signed = await sign({ message: await createCleartextMessage({ text: only512 }), signingKeys: k.privateKey, date: during });
      await writeRepo(dir, packages, enc(signed));
      const fetchIt = (cacheDir?: string) =>
        fetchDebianIndex({
          url: dir,
          suite: 'stable',
          components: ['main'],
          arch: 'amd64',
          keyring: new DebKeyring([k.publicKey as PublicKey], ['archive.gpg']),
          now,
          ...(cacheDir === undefined ? {} : { cacheDir }),
        });
      for (const cacheDir of [undefined, join(dir, 'cache'), join(dir, 'cache')]) {
        const index = await fetchIt(cacheDir);
        assert.deepEqual(
          index.packages.map((p) => p.package),
          ['a'],
        );
        // Its provenance still names the file by its SHA-256, of the bytes checked against the SHA-512.
        assert.equal(index.files[1]?.sha256, createHash('sha256').update(packages).digest('hex'));
      }
      await writeFile(join(dir, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), enc(dec(packages).replace('1', '2')));
      await assert.rejects(
        fetchIt(join(dir, 'cache')),
        refused('DIGEST_MISMATCH', /Packages has SHA-512 [0-9a-f]{128}, but the Release says [0-9a-f]{128}/),
      );
      // MD5Sum and SHA1 alone are refused, as apt refuses them.
      const weak = releaseText('stable', packages).replace(
        /^SHA256:\n.*$/m,
        `SHA1:\n ${createHash('sha1').update(packages).digest('hex')} ${packages.length} main/binary-amd64/Packages`,
      );
      const weakSigned = await sign({ message: await createCleartextMessage({ text: weak }), signingKeys: k.privateKey, date: during });
      await writeRepo(dir, packages, enc(weakSigned));
      await assert.rejects(fetchIt(), refused('INVALID_PACKAGE', /the Release has no SHA256 or SHA512 section/));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('says a repository with a Release but neither InRelease nor Release.gpg is not signed: UNTRUSTED_KEY', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-unsigned-'));
    try {
      const k = await pgpKey('archive');
      await mkdir(join(dir, 'dists', 'stable', 'main', 'binary-amd64'), { recursive: true });
      await writeFile(join(dir, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'), packages);
      await writeFile(join(dir, 'dists', 'stable', 'Release'), text);
      const fetchIt = (allowUnsigned?: boolean) =>
        fetchDebianIndex({
          url: dir,
          suite: 'stable',
          components: ['main'],
          arch: 'amd64',
          keyring: new DebKeyring([k.publicKey as PublicKey], ['archive.gpg']),
          now,
          ...(allowUnsigned === undefined ? {} : { allowUnsigned }),
        });
      await assert.rejects(
        fetchIt(),
        refused('UNTRUSTED_KEY', /the suite stable is not signed: it has a Release but neither InRelease nor Release\.gpg/),
      );
      // trusted=yes reads it.
      assert.equal((await fetchIt(true)).packages.length, 1);
      // A Release.gpg that is refused is named, not the Release.
      const signatureFile = join(dir, 'dists', 'stable', 'Release.gpg');
      for (const content of [
        'comment\n-----BEGIN PGP SIGNATURE-----\n',
        '-----BEGIN PGP SIGNATURE-----\n\nnot base64\n-----END PGP SIGNATURE-----\n',
      ]) {
        await writeFile(signatureFile, content);
        await assert.rejects(fetchIt(), (err: unknown) => {
          code('SIGNATURE')(err);
          assert.ok(isProvenantError(err));
          assert.equal(err.where, signatureFile);
          assert.match(err.message, /the Release\.gpg /);
          return true;
        });
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("a fetched index's stanzas", () => {
  // They were parsed from the whole file's text at once; now a piece at a time, cut as a build's
  // stanza index cuts them, and counted: past the most a build takes, refused as a build refuses.
  it('refuse a Packages of more than 1,000,000 stanzas: TOO_LARGE naming its URL', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-stanzas-'));
    try {
      const packages = new TextEncoder().encode('Package: a\n\n'.repeat(MAX_PACKAGES_STANZAS + 1));
      const { keyringFile, repo } = await signedRepo(dir, packages);
      const index = await fetchDebianIndex({
        url: repo,
        suite: 'stable',
        components: ['main'],
        arch: 'amd64',
        keyring: await LazyDebKeyring.read([keyringFile]),
      });
      const tooMany = (err: unknown) => {
        assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
        assert.equal(err.where, join(repo, 'dists', 'stable', 'main', 'binary-amd64', 'Packages'));
        assert.match(err.message, /has more than 1000000 stanzas/);
        return true;
      };
      assert.throws(() => index.indexes[0]?.packages, tooMany);
      assert.throws(() => index.packages, tooMany);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('a decompressed Packages file the cache keeps', () => {
  it('an architecture the Release does not list: the repository, its suite and the architecture are named', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-archs-'));
    try {
      const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
      const { keyringFile, repo } = await signedRepo(dir, packages);
      const source = new DebRepositorySource({
        repositories: [`deb [signed-by=${keyringFile}] file://${repo} stable main`],
        keyring: [],
        packages: ['a'],
        configPath: 'image.yaml',
        baseDir: dir,
        cache: undefined,
        logger: { debug() {}, info() {}, warn() {} },
      });
      assert.equal((await source.readIndex('x86_64')).files.length, 2, 'the Release and the Packages it lists');
      await assert.rejects(source.readIndex('aarch64'), (err: unknown) => {
        assert.ok(err instanceof MissingArchitectureError, String(err));
        assert.ok(isProvenantError(err, 'NOT_FOUND'));
        assert.equal(err.repository, `file://${repo} stable`);
        assert.equal(err.architecture, 'aarch64');
        assert.equal(err.where, 'image.yaml');
        assert.equal(
          err.message,
          `the repository file://${repo} stable has no index for arm64 (Debian's name for aarch64, linux/arm64): its Release lists no arm64 (it lists amd64)`,
        );
        return true;
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an architecture every source line rules out ([arch=...]): named as missing, without a fetch', async () => {
    const source = new DebRepositorySource({
      // Nothing listens there: a fetch would fail with NETWORK.
      repositories: ['deb [arch=amd64] http://127.0.0.1:9/debian bookworm main'],
      keyring: [],
      packages: ['a'],
      configPath: 'image.yaml',
      baseDir: '.',
      cache: undefined,
      logger: { debug() {}, info() {}, warn() {} },
    });
    await assert.rejects(source.readIndex('aarch64'), (err: unknown) => {
      assert.ok(err instanceof MissingArchitectureError, String(err));
      assert.equal(err.architecture, 'aarch64');
      assert.equal(err.where, 'image.yaml');
      assert.equal(
        err.message,
        "the repository http://127.0.0.1:9/debian bookworm has no index for arm64 (Debian's name for aarch64, linux/arm64): its line is limited to amd64 ([arch=...]), not arm64",
      );
      return true;
    });
  });

  it('is read a stanza at a time, each checked: a damaged one stops the build, naming it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-kept-'));
    try {
      // Stanzas as a build takes them: with where each .deb is and its size and digest.
      const stanza = (name: string, extra = '') =>
        `Package: ${name}\nVersion: 1\nArchitecture: amd64\n${extra}Filename: pool/${name}.deb\nSize: 1\nSHA256: ${'0'.repeat(64)}\n`;
      const packages = new TextEncoder().encode(`${stanza('a', 'Depends: b\n')}\n${stanza('b')}`);
      const gz = gzipSync(packages);
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      // The Release lists the uncompressed file too, as Debian's do: its digest is what the kept file is stored under.
      const text = `${releaseText('stable', packages)} ${sha(gz)} ${gz.length} main/binary-amd64/Packages.gz\n`;
      const { keyringFile, repo } = await signedRepo(dir, packages, text);
      await writeFile(join(repo, 'dists', 'stable', 'main', 'binary-amd64', 'Packages.gz'), gz);
      const cache = new DownloadCache(join(dir, 'cache'));
      const sourceOf = () =>
        new DebRepositorySource({
          repositories: [`deb [signed-by=${keyringFile}] file://${repo} stable main`],
          keyring: [],
          packages: ['a'],
          configPath: join(dir, 'image.yaml'),
          baseDir: dir,
          cache,
          logger: { debug() {}, info() {}, warn() {} },
        });
      const index = async (): Promise<CandidateIndex<DebCandidate>> => {
        const { candidates } = await sourceOf().readIndex('x86_64');
        assert.ok(!Array.isArray(candidates), 'looked up by name');
        return candidates as CandidateIndex<DebCandidate>;
      };
      const depends = (c: { depends: readonly (readonly { name: string }[])[] } | undefined) => c?.depends.flat().map((r) => r.name);
      // Decompressed and indexed, then found in the cache and read from there.
      assert.deepEqual(depends((await index()).named('a')[0]), ['b']);
      assert.deepEqual(depends((await index()).named('a')[0]), ['b']);
      const kept = join(cache.dir, 'sha256', sha(packages));
      assert.deepEqual(new Uint8Array(await readFile(kept)), packages);
      // One byte changed, the size kept: the stanza is refused where it is read, the others still read.
      await writeFile(kept, new TextDecoder().decode(packages).replace('Depends:', 'Xepends:'));
      const damaged = await index();
      assert.throws(
        () => damaged.named('a'),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'IO'));
          assert.match(err.message, /the stanza of "a" differs from the one indexed: the download cache is damaged/);
          // Repairable: a build drops the kept file and its index, and reads the index again.
          assert.ok(err instanceof RepairableError);
          return true;
        },
      );
      assert.equal(damaged.named('b').length, 1);
      // A build's plan does so, says so, and resolves from the index the Release checks.
      const warnings: string[] = [];
      const source = sourceOf();
      const logger = { debug() {}, info() {}, warn: (m: string) => warnings.push(m) };
      const plan = await planBuild(source, ['x86_64'], { packages: ['a'], configPath: join(dir, 'image.yaml'), logger });
      assert.deepEqual(
        plan.packages.get('x86_64')?.map((p) => p.name),
        ['a', 'b'],
      );
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /the stanza of "a" differs from the one indexed.*; dropped from the cache and read again$/);
      assert.deepEqual(new Uint8Array(await readFile(kept)), packages, 'kept again as the Release gives it');
      // Damaged again, for what follows.
      await writeFile(kept, new TextDecoder().decode(packages).replace('Depends:', 'Xepends:'));
      // Read whole through the library, the file is checked whole.
      const fetched = await fetchDebianIndex({
        url: repo,
        suite: 'stable',
        components: ['main'],
        arch: 'amd64',
        keyring: await LazyDebKeyring.read([keyringFile]),
        cacheDir: cache.dir,
      });
      assert.throws(() => fetched.indexes[0]?.packages, /has not the SHA-256 the Release gives it/);
      // Without its stanza index, the file is indexed again, checked whole against the Release's SHA-256.
      assert.ok(await cache.has(`deb-stanza-index:v5:${sha(packages)}`));
      await rm(join(cache.dir, 'keys', sha(new TextEncoder().encode(`deb-stanza-index:v5:${sha(packages)}`))));
      await assert.rejects(index(), (err: unknown) => {
        assert.ok(isProvenantError(err, 'IO'));
        assert.match(err.message, /has not the SHA-256 the Release gives it/);
        assert.ok(err instanceof RepairableError);
        return true;
      });
      // That too a plan repairs.
      const again = await planBuild(source, ['x86_64'], { packages: ['a'], configPath: join(dir, 'image.yaml'), logger });
      assert.deepEqual(
        again.packages.get('x86_64')?.map((p) => p.name),
        ['a', 'b'],
      );
      assert.match(warnings[1]!, /has not the SHA-256 the Release gives it.*; dropped from the cache and read again$/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('downloads stop at the size they may have', () => {
  /**
   * A server on this machine: `files` by path, and for a path of `floods`, bytes sent 64 KiB at a
   * time until 64 MiB or the client drops the connection. `sent` counts what each flood sent.
   */
  async function serve(files: Record<string, Uint8Array>, floods: readonly string[]) {
    const sent = new Map<string, number>();
    const chunk = new Uint8Array(64 * 1024).fill(0x41);
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      const file = files[path];
      if (file !== undefined) {
        res.writeHead(200, { 'content-length': file.length });
        res.end(file);
        return;
      }
      if (!floods.includes(path)) {
        res.writeHead(404);
        res.end();
        return;
      }
      res.writeHead(200);
      sent.set(path, 0);
      const pump = () => {
        while ((sent.get(path) ?? 0) < 64 * 1024 * 1024 && !res.destroyed) {
          sent.set(path, (sent.get(path) ?? 0) + chunk.length);
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as AddressInfo;
    return { url: `http://127.0.0.1:${port}`, sent, close: () => new Promise<void>((r) => server.close(() => r())) };
  }

  it("stops an InRelease, a Release or a Release.gpg at apt's 10 MB: TOO_LARGE naming it and the limit", async () => {
    const release = new TextEncoder().encode(releaseText('stable', new Uint8Array()));
    for (const [files, flood] of [
      [{}, '/debian/dists/stable/InRelease'],
      [{}, '/debian/dists/stable/Release'],
      [{ '/debian/dists/stable/Release': release }, '/debian/dists/stable/Release.gpg'],
    ] as const) {
      const server = await serve(files, [flood]);
      try {
        const keyring = new DebKeyring([], []);
        await assert.rejects(
          fetchDebianIndex({ url: `${server.url}/debian`, suite: 'stable', components: ['main'], arch: 'amd64', keyring }),
          (err: unknown) => {
            assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
            assert.equal(err.where, `${server.url}${flood}`);
            assert.match(err.message, /larger than 10000000 bytes/);
            return true;
          },
        );
        assert.equal(MAX_RELEASE_FILE_SIZE, 10_000_000);
        // Dropped at the limit, not read to the end.
        assert.ok((server.sent.get(flood) ?? 0) < 32 * 1024 * 1024, `${flood}: ${server.sent.get(flood)} bytes sent`);
      } finally {
        await server.close();
      }
    }
  });

  it('stops a signed-by keyring fetched by URL at 1 MiB: TOO_LARGE naming the URL and the limit; takes one of 1 MiB', async () => {
    const k = await pgpKey('archive', { date: new Date('2020-01-01T00:00:00Z') });
    const armored = new TextEncoder().encode(k.publicKey.armor());
    // A real key's armor padded with comment lines (text around the armor is skipped) to `size` bytes.
    const padded = (size: number) => {
      const out = new Uint8Array(size).fill(0x23);
      for (let i = 1023; i < size; i += 1024) out[i] = 0x0a;
      out.set(armored, size - armored.length);
      out[size - armored.length - 1] = 0x0a;
      return out;
    };
    const server = await serve({ '/exact.asc': padded(MAX_TRUSTED_URL_SIZE), '/over.asc': padded(MAX_TRUSTED_URL_SIZE + 1) }, [
      '/flood.asc',
    ]);
    try {
      assert.equal(MAX_TRUSTED_URL_SIZE, 1024 * 1024);
      const exact = await (await LazyDebKeyring.read([`${server.url}/exact.asc`])).load();
      assert.deepEqual(
        exact.keys.map((key) => key.getFingerprint()),
        [k.publicKey.getFingerprint()],
      );
      for (const path of ['/over.asc', '/flood.asc']) {
        await assert.rejects(LazyDebKeyring.read([`${server.url}${path}`], { configPath: 'image.yaml' }), (err: unknown) => {
          assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
          assert.equal(err.where, `image.yaml: ${server.url}${path}`);
          assert.match(
            err.message,
            new RegExp(
              `^the signed-by keyring ${server.url}${path} is larger than 1048576 bytes \\(1 MiB\\), the most a key fetched by URL may be`,
            ),
          );
          return true;
        });
      }
      // Dropped at the limit, not read to the end.
      assert.ok((server.sent.get('/flood.asc') ?? 0) < 32 * 1024 * 1024, `${server.sent.get('/flood.asc')} bytes sent`);
    } finally {
      await server.close();
    }
  });

  // A final review asked whether a corrupt plain Packages whose by-hash copy is good is taken
  // where apt refuses it: apt 2.6.1 (apt-get update against such a repository) asks for the
  // by-hash copy alone where the Release says Acquire-By-Hash, and takes it; with
  // Acquire::By-Hash=no, or a Release that does not say it, it asks for the plain file and
  // refuses it (a hash sum mismatch). This reads it the same way.
  it('takes the good by-hash copy as apt does, never asking for the corrupt plain file; refuses the plain one when by-hash is off', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-by-hash-'));
    try {
      const k = await pgpKey('archive', { date: new Date('2020-01-01T00:00:00Z') });
      const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
      const corrupt = new TextEncoder().encode('Package: b\nVersion: 1\nArchitecture: amd64\n');
      const sha256 = createHash('sha256').update(packages).digest('hex');
      const base = '/debian/dists/stable';
      for (const acquireByHash of [true, false]) {
        const text = releaseText('stable', packages).replace(
          'Components: main\n',
          `Components: main\n${acquireByHash ? 'Acquire-By-Hash: yes\n' : ''}`,
        );
        const served = {
          [`${base}/InRelease`]: await clearsign(text, [k.privateKey], { date: new Date('2020-01-01T12:00:00Z') }),
          [`${base}/main/binary-amd64/Packages`]: corrupt,
          [`${base}/main/binary-amd64/by-hash/SHA256/${sha256}`]: packages,
        };
        const server = await serve(served, []);
        try {
          for (const cached of [false, true]) {
            for (const byHash of ['yes', 'no'] as const) {
              // A cache of its own: one that holds the index already asks for nothing.
              const cacheDir = cached ? join(dir, `cache-${acquireByHash}-${byHash}`) : undefined;
              const urls: string[] = [];
              const fetching = fetchDebianIndex({
                url: `${server.url}/debian`,
                suite: 'stable',
                components: ['main'],
                arch: 'amd64',
                keyring: new DebKeyring([k.publicKey], ['archive.gpg']),
                cacheDir,
                byHash,
                onProgress: (u) => urls.push(u.url.slice(server.url.length)),
              });
              const label = `Acquire-By-Hash: ${acquireByHash}, by-hash=${byHash}, cache: ${cacheDir !== undefined}`;
              if (acquireByHash && byHash === 'yes') {
                assert.deepEqual(
                  (await fetching).packages.map((p) => p.package),
                  ['a'],
                  label,
                );
                assert.ok(urls.includes(`${base}/main/binary-amd64/by-hash/SHA256/${sha256}`), `${label}: ${urls.join(', ')}`);
              } else {
                await assert.rejects(fetching, (err: unknown) => isProvenantError(err, 'DIGEST_MISMATCH'), label);
              }
            }
          }
        } finally {
          await server.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops a Packages file as soon as it passes the size the Release gives, with and without a cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-flood-'));
    try {
      const k = await pgpKey('archive', { date: new Date('2020-01-01T00:00:00Z') });
      const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
      const inRelease = await clearsign(releaseText('stable', packages), [k.privateKey], { date: new Date('2020-01-01T12:00:00Z') });
      const flood = '/debian/dists/stable/main/binary-amd64/Packages';
      for (const cacheDir of [undefined, join(dir, 'cache')]) {
        const server = await serve({ '/debian/dists/stable/InRelease': inRelease }, [flood]);
        try {
          const keyring = new DebKeyring([k.publicKey], ['archive.gpg']);
          const fetching = fetchDebianIndex({
            url: `${server.url}/debian`,
            suite: 'stable',
            components: ['main'],
            arch: 'amd64',
            keyring,
            cacheDir,
          });
          await assert.rejects(fetching, (err: unknown) => {
            assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
            assert.match(err.message, new RegExp(`longer than the ${packages.length} bytes`));
            return true;
          });
          assert.ok((server.sent.get(flood) ?? 0) < 32 * 1024 * 1024, `${server.sent.get(flood)} bytes sent`);
        } finally {
          await server.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a Packages index over 256 MiB unpacked, with and without a cache: before it is fetched when the Release says so, else as it inflates', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-index-bomb-'));
    try {
      const k = await pgpKey('archive', { date: new Date('2020-01-01T00:00:00Z') });
      const unpacked = Buffer.alloc(MAX_PACKAGES_INDEX_SIZE + 1, 0x0a);
      unpacked.write('Package: a\nVersion: 1\nArchitecture: amd64\n');
      const gz = gzipSync(unpacked, { level: 1 });
      const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
      const base = '/debian/dists/stable';
      const gzPath = `${base}/main/binary-amd64/Packages.gz`;
      const head =
        'Origin: Test\nSuite: stable\nCodename: stable\nDate: Wed, 01 Jan 2020 12:00:00 UTC\nArchitectures: amd64\nComponents: main\nSHA256:\n';
      // The Release lists the compressed file alone (so its size unpacked is found as it
      // inflates), or with the uncompressed one too (so it is refused before it is fetched).
      for (const listed of [false, true]) {
        const text = `${head} ${sha(gz)} ${gz.length} main/binary-amd64/Packages.gz\n${listed ? ` ${sha(unpacked)} ${unpacked.length} main/binary-amd64/Packages\n` : ''}`;
        const inRelease = await clearsign(text, [k.privateKey], { date: new Date('2020-01-01T12:00:00Z') });
        for (const cacheDir of [undefined, join(dir, `cache-${listed}`)]) {
          // Listed too large, Packages.gz is not served but flooded, so that a fetch of it shows.
          const server = await serve({ [`${base}/InRelease`]: inRelease, ...(listed ? {} : { [gzPath]: gz }) }, [gzPath]);
          try {
            const keyring = new DebKeyring([k.publicKey], ['archive.gpg']);
            await assert.rejects(
              fetchDebianIndex({ url: `${server.url}/debian`, suite: 'stable', components: ['main'], arch: 'amd64', keyring, cacheDir }),
              (err: unknown) => {
                assert.ok(isProvenantError(err, 'TOO_LARGE'), String(err));
                assert.equal(err.where, `${server.url}${gzPath}`);
                assert.match(
                  err.message,
                  listed
                    ? new RegExp(
                        `is ${unpacked.length} bytes unpacked, as the Release gives it: more than ${MAX_PACKAGES_INDEX_SIZE} bytes \\(256 MiB\\)`,
                      )
                    : new RegExp(`is more than ${MAX_PACKAGES_INDEX_SIZE} bytes unpacked \\(256 MiB\\)`),
                );
                return true;
              },
            );
            if (listed) assert.equal(server.sent.get(gzPath), undefined, 'Packages.gz was asked for');
          } finally {
            await server.close();
          }
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('stops a .deb as soon as it passes the size its Packages stanza gives, with and without a cache', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-flood-'));
    try {
      for (const cache of [undefined, new DownloadCache(join(dir, 'cache'))]) {
        const server = await serve({}, ['/debian/pool/a.deb']);
        try {
          const source = new DebRepositorySource({
            repositories: [`deb ${server.url}/debian stable main`],
            keyring: [],
            packages: ['a'],
            configPath: join(dir, 'image.yaml'),
            baseDir: dir,
            cache,
            logger: { debug() {}, info() {}, warn() {} },
          });
          const repo = { url: `${server.url}/debian`, suite: 'stable', component: 'main', order: 0 };
          const stanza = {
            package: 'a',
            version: '1',
            architecture: 'amd64',
            filename: 'pool/a.deb',
            size: '1000',
            sha256: '0'.repeat(64),
          };
          const locked = source.lockEntry(debCandidate(stanza, repo, 'amd64'), 'x86_64');
          assert.equal(locked.size, 1000);
          await assert.rejects(source.fetch(locked), (err: unknown) => {
            assert.ok(isProvenantError(err, 'DIGEST_MISMATCH'), String(err));
            assert.match(err.message, /longer than the 1000 bytes/);
            return true;
          });
          assert.ok((server.sent.get('/debian/pool/a.deb') ?? 0) < 32 * 1024 * 1024, `${server.sent.get('/debian/pool/a.deb')} bytes sent`);
        } finally {
          await server.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('an old Release replayed, or one from the future', () => {
  const packages = new TextEncoder().encode('Package: a\nVersion: 1\nArchitecture: amd64\n');
  const created = new Date('2020-01-01T00:00:00Z');

  it('refuses a Release older than one read before from the same repository, suite and keyring', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'provenant-deb-replay-'));
    try {
      const k = await pgpKey('archive', { date: created });
      const keyringFile = join(dir, 'archive.gpg');
      await writeFile(keyringFile, k.publicKey.write());
      const older = await clearsign(releaseText('stable', packages, 'Wed, 01 Jan 2020 12:00:00 UTC'), [k.privateKey], {
        date: new Date('2020-01-01T12:00:00Z'),
      });
      const newer = await clearsign(releaseText('stable', packages, 'Thu, 02 Jan 2020 12:00:00 UTC'), [k.privateKey], {
        date: new Date('2020-01-02T12:00:00Z'),
      });
      const repo = join(dir, 'repo');
      const fetchFrom = async (url: string, cacheDir = join(dir, 'cache')) =>
        fetchDebianIndex({
          url,
          suite: 'stable',
          components: ['main'],
          arch: 'amd64',
          keyring: await LazyDebKeyring.read([keyringFile]),
          cacheDir,
        });
      await writeRepo(repo, packages, older);
      await fetchFrom(repo);
      await writeRepo(repo, packages, newer);
      assert.equal((await fetchFrom(repo)).release.date, 'Thu, 02 Jan 2020 12:00:00 UTC');
      // The mirror serves the older Release again: refused, naming both dates.
      await writeRepo(repo, packages, older);
      await assert.rejects(fetchFrom(repo), (err: unknown) => {
        code('SIGNATURE')(err);
        assert.ok(isProvenantError(err));
        assert.match(err.message, /dated Wed, 01 Jan 2020 12:00:00 UTC, older than .*\(Thu, 02 Jan 2020 12:00:00 UTC\)/);
        return true;
      });
      // And again: the refusal did not lower the record.
      await assert.rejects(fetchFrom(repo), code('SIGNATURE'));
      // An older snapshot on purpose is another URL, with a record of its own.
      const snapshot = join(dir, 'snapshot-20200101');
      await writeRepo(snapshot, packages, older);
      assert.equal((await fetchFrom(snapshot)).release.date, 'Wed, 01 Jan 2020 12:00:00 UTC');
      // The newer one is still good where it was seen.
      await writeRepo(repo, packages, newer);
      await fetchFrom(repo);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses a Release dated after the clock it is given (apt: not valid yet), within apt's 10 s", async () => {
    const k = await pgpKey('archive', { date: created });
    const keyring = new DebKeyring([k.publicKey as PublicKey], ['archive.gpg']);
    const signed = await clearsign(releaseText('stable', packages, 'Wed, 01 Jan 2020 12:00:00 UTC'), [k.privateKey], {
      date: new Date('2020-01-01T11:00:00Z'),
    });
    await assert.rejects(readRelease(signed, keyring, 'InRelease', { now: new Date('2020-01-01T11:30:00Z') }), (err: unknown) => {
      code('SIGNATURE')(err);
      return (
        isProvenantError(err) && /dated 2020-01-01T12:00:00.000Z, after 2020-01-01T11:30:00.000Z: it is not valid yet/.test(err.message)
      );
    });
    await readRelease(signed, keyring, 'InRelease', { now: new Date('2020-01-01T11:59:55Z') });
  });
});

describe('Debian repository metadata (the real mirror)', { skip: debianMissing }, () => {
  const mirror = debianMirrorUrl ?? '';
  let debian: DebKeyringType;
  let inRelease: Uint8Array;
  let release: DebRelease;

  before(async () => {
    debian = await DebKeyring.load([DEBIAN_ARCHIVE_KEYRING]);
    inRelease = await fetchFile(`${mirror}/dists/bookworm/InRelease`);
    release = await readRelease(inRelease, debian, 'bookworm/InRelease', { suite: 'bookworm', arch: 'amd64' });
  });

  it("verifies bookworm's InRelease with Debian's archive keyring", () => {
    assert.equal(release.codename, 'bookworm');
    assert.equal(release.origin, 'Debian');
    assert.ok(release.architectures.includes('amd64') && release.architectures.includes('arm64'));
    assert.ok(release.components.includes('main'));
    assert.ok(release.signers.length >= 1);
    assert.ok(
      release.signers.some((s) => /bookworm/.test(s.userID)),
      JSON.stringify(release.signers),
    );
    assert.match(release.digest, /^sha256:[0-9a-f]{64}$/);
    const xz = release.files.get('main/binary-amd64/Packages.xz');
    assert.ok(xz !== undefined && /^[0-9a-f]{64}$/.test(xz.sha256 ?? '') && xz.size > 1_000_000);
    assert.ok(release.files.size > 100);
  });

  it('rejects an InRelease with one byte of its body changed: SIGNATURE', async () => {
    const tampered = inRelease.slice();
    const text = new TextDecoder().decode(inRelease);
    const at = text.indexOf('Codename: bookworm') + 'Codename: '.length;
    assert.ok(at > 100);
    tampered[at] = 'c'.charCodeAt(0); // "bookworm" → "cookworm"
    await assert.rejects(readRelease(tampered, debian, 'tampered'), code('SIGNATURE'));
    // A changed checksum is caught the same way.
    const sum = text.indexOf(release.files.get('main/binary-amd64/Packages.xz')?.sha256 ?? '!');
    const tampered2 = inRelease.slice();
    tampered2[sum] = tampered2[sum] === 0x30 ? 0x31 : 0x30;
    await assert.rejects(readRelease(tampered2, debian, 'tampered'), code('SIGNATURE'));
    // And bytes that are no signed message at all.
    await assert.rejects(readRelease(new TextEncoder().encode('<html>404</html>'), debian, 'html'), code('SIGNATURE'));
  });

  it('rejects an InRelease verified with an unrelated keyring: UNTRUSTED_KEY', async () => {
    const removed = await DebKeyring.load(['/usr/share/keyrings/debian-archive-removed-keys.gpg']);
    assert.ok(removed.keys.length > 0);
    await assert.rejects(readRelease(inRelease, removed, 'bookworm/InRelease'), (err: unknown) => {
      code('UNTRUSTED_KEY')(err);
      return isProvenantError(err) && /signed by [0-9a-f]{16}/.test(err.message);
    });
    // ... unless unsigned content is allowed explicitly, and then no signer is claimed.
    const unsigned = await readRelease(inRelease, removed, 'bookworm/InRelease', { allowUnsigned: true });
    assert.equal(unsigned.codename, 'bookworm');
    assert.deepEqual(unsigned.signers, []);
  });

  it('verifies Release with its detached Release.gpg, and rejects a changed one', async () => {
    const plain = await fetchFile(`${mirror}/dists/bookworm/Release`);
    const gpg = await fetchFile(`${mirror}/dists/bookworm/Release.gpg`);
    const r = await readRelease(plain, debian, 'bookworm/Release', { detachedSignature: gpg, suite: 'bookworm' });
    assert.deepEqual([...r.files.entries()], [...release.files.entries()]);
    const changed = plain.slice();
    changed[10] = (changed[10] ?? 0) ^ 1;
    await assert.rejects(readRelease(changed, debian, 'bookworm/Release', { detachedSignature: gpg }), code('SIGNATURE'));
  });

  it('checks Valid-Until against the clock it is given, the suite and the architecture', async (t) => {
    // Which suites carry a Valid-Until changes over a release's life: take the first that does.
    let updates: Uint8Array | undefined;
    let validUntil: Date | undefined;
    for (const suite of ['bookworm-backports', 'trixie-updates', 'bookworm-updates', 'sid']) {
      const bytes = await fetchFile(`${mirror}/dists/${suite}/InRelease`).catch(() => undefined);
      if (bytes === undefined) continue;
      const r = await readRelease(bytes, debian, `${suite}/InRelease`, { checkValidUntil: false });
      if (r.validUntil !== undefined) {
        updates = bytes;
        validUntil = r.validUntil;
        break;
      }
    }
    if (updates === undefined || validUntil === undefined) {
      t.skip('no suite of the mirror has a Valid-Until');
      return;
    }
    const before = new Date(validUntil.getTime() - 1000);
    const afterwards = new Date(validUntil.getTime() + 1000);
    await readRelease(updates, debian, 'u', { now: before });
    await assert.rejects(readRelease(updates, debian, 'u', { now: afterwards }), (err: unknown) => {
      code('SIGNATURE')(err);
      return isProvenantError(err) && /Valid-Until/.test(err.message);
    });
    await readRelease(updates, debian, 'u', { now: afterwards, checkValidUntil: false });
    await assert.rejects(readRelease(inRelease, debian, 'b', { suite: 'trixie' }), code('INVALID_PACKAGE'));
    await readRelease(inRelease, debian, 'b', { suite: release.suite });
    await assert.rejects(readRelease(inRelease, debian, 'b', { arch: 'm68k' }), code('NOT_FOUND'));
  });

  it('fetches bookworm main amd64 (> 60,000 stanzas), with its files for provenance', async () => {
    const index = await fetchDebianIndex({
      url: mirror,
      suite: 'bookworm',
      components: ['main'],
      arch: 'amd64',
      keyring: debian,
      cacheDir: debianCacheDir,
    });
    assert.ok(index.packages.length > 60_000, `${index.packages.length} stanzas`);
    // Parsed a stanza at a time, they are the stanzas of the whole text parsed at once.
    assert.deepEqual(index.packages, parseControlStanzas(new TextDecoder().decode(index.indexes[0]?.bytes), 'Packages'));
    assert.equal(index.indexes.length, 1);
    assert.equal(index.indexes[0]?.packages.length, index.packages.length);
    const bash = index.packages.find((p) => p.package === 'bash');
    assert.ok(bash !== undefined);
    assert.match(bash.filename ?? '', /^pool\/main\/b\/bash\/bash_.*_amd64\.deb$/);
    assert.match(bash.sha256 ?? '', /^[0-9a-f]{64}$/);
    const xz = index.release.files.get('main/binary-amd64/Packages.xz');
    assert.deepEqual(
      index.files.map((f) => f.url.slice(mirror.length)),
      ['/dists/bookworm/InRelease', '/dists/bookworm/main/binary-amd64/Packages.xz'],
    );
    assert.equal(index.files[1]?.sha256, xz?.sha256);
    assert.equal(`sha256:${index.files[0]?.sha256}`, index.release.digest);
  });

  it('refuses a Packages file that does not match its Release: DIGEST_MISMATCH', async () => {
    const file = selectPackagesFile(release, 'main', 'amd64');
    assert.equal(file.path, 'main/binary-amd64/Packages.xz');
    const cache = new DownloadCache(debianCacheDir);
    let xz = await cache.get(`sha256:${file.entry.sha256}`);
    if (xz === undefined) {
      xz = await fetchFile(`${mirror}/dists/bookworm/${file.path}`);
      await cache.put(`sha256:${file.entry.sha256}`, xz);
    }
    const truncated = xz.subarray(0, xz.length - 1);
    await assert.rejects(readPackagesIndex(truncated, release, file, { where: 'truncated' }), code('DIGEST_MISMATCH'));
    const modified = xz.slice();
    const mid = modified.length >> 1;
    modified[mid] = (modified[mid] ?? 0) ^ 0x01;
    await assert.rejects(readPackagesIndex(modified, release, file, { where: 'modified' }), code('DIGEST_MISMATCH'));
    assert.throws(() => checkReleaseFile(xz, release, 'main/binary-arm64/Packages.xz', 'swapped'), code('DIGEST_MISMATCH'));
    // The decoder refuses more than the limit and a cut stream, and is usable afterwards (it
    // decodes one stream at a time behind a lock, which a refusal must release).
    await assert.rejects(decompressXz(xz, { maxBytes: 1_000_000 }), code('INVALID_PACKAGE'));
    await assert.rejects(decompressXz(xz.subarray(0, 100_000)), code('INVALID_PACKAGE'));
    // The checked file itself decompresses (and matches the uncompressed entry) and parses.
    const packages = await readPackagesIndex(xz, release, file, { where: 'Packages.xz' });
    assert.ok(packages.length > 60_000);
  });

  describe('a small index, without the shared cache', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'provenant-deb-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('downloads by hash, caches, and ignores a corrupt cache entry', async () => {
      const urls: string[] = [];
      const options = {
        url: mirror,
        suite: 'bookworm',
        components: ['non-free-firmware'],
        arch: 'arm64',
        keyring: debian,
        cacheDir: dir,
        onProgress: (u: { url: string; cached: boolean }) => urls.push(`${u.cached ? 'cache' : 'net'} ${u.url.slice(mirror.length)}`),
      };
      const first = await fetchDebianIndex(options);
      assert.ok(first.packages.length > 10);
      const entry = first.release.files.get('non-free-firmware/binary-arm64/Packages.xz');
      assert.ok(entry !== undefined);
      assert.ok(urls.includes(`net /dists/bookworm/non-free-firmware/binary-arm64/by-hash/SHA256/${entry.sha256}`), urls.join('\n'));
      urls.length = 0;
      const second = await fetchDebianIndex(options);
      assert.deepEqual(second.packages, first.packages);
      assert.ok(
        urls.some((u) => u.startsWith('cache ')),
        urls.join('\n'),
      );
      // Corrupt every cached blob: they are checked against the Release and fetched again.
      for (const blob of await readdir(join(dir, 'sha256'))) await writeFile(join(dir, 'sha256', blob), 'garbage');
      urls.length = 0;
      const third = await fetchDebianIndex(options);
      assert.deepEqual(third.packages, first.packages);
      assert.ok(!urls.some((u) => u.startsWith('cache ')), urls.join('\n'));
    });

    it('decompresses an index into the cache as it decodes it, and keeps nothing but the file the Release names', async () => {
      const file = cacheablePackagesFile(selectPackagesFile(release, 'non-free-firmware', 'amd64'));
      assert.ok(file !== undefined);
      assert.equal(file.compression, 'xz');
      assert.ok(file.uncompressed !== undefined);
      const xz = await fetchFile(`${mirror}/dists/bookworm/${file.path}`);
      const cacheDir = await mkdtemp(join(dir, 'keep-'));
      const cache = new DownloadCache(cacheDir);
      const uncompressed = { ...file, uncompressed: file.uncompressed };
      const kept = await keepPackagesFile(xz, release, uncompressed, cache, { where: 'Packages.xz' });
      assert.equal(kept.path, join(cacheDir, 'sha256', file.uncompressed.entry.sha256));
      assert.deepEqual(new Uint8Array(await readFile(kept.path)), await decompressXz(xz));
      // A Release whose uncompressed entry says otherwise: refused, and nothing left in the cache.
      const other = join(dir, 'keep-other');
      const wrong = { ...file.uncompressed, entry: { ...file.uncompressed.entry, sha256: '0'.repeat(64) } };
      const lying: DebRelease = { ...release, files: new Map([...release.files, [wrong.path, wrong.entry]]) };
      await assert.rejects(
        keepPackagesFile(xz, lying, { ...file, uncompressed: wrong }, new DownloadCache(other), { where: 'Packages.xz' }),
        code('DIGEST_MISMATCH'),
      );
      assert.deepEqual(await readdir(join(other, 'sha256')), []);
      // Cut short: refused as corrupt, nothing kept.
      const cut = {
        ...release,
        files: new Map([
          ...release.files,
          [file.path, { sha256: createHash('sha256').update(xz.subarray(0, 2000)).digest('hex'), size: 2000 }],
        ]),
      };
      await assert.rejects(
        keepPackagesFile(xz.subarray(0, 2000), cut, uncompressed, new DownloadCache(other), { where: 'Packages.xz' }),
        code('INVALID_PACKAGE'),
      );
      assert.deepEqual(await readdir(join(other, 'sha256')), []);
      // A build reads the kept file a stanza at a time: the index says where it is.
      const fetched = await fetchDebianIndex({
        url: mirror,
        suite: 'bookworm',
        components: ['non-free-firmware'],
        arch: 'amd64',
        keyring: debian,
        cacheDir: await mkdtemp(join(dir, 'fetch-')),
      });
      assert.ok(fetched.indexes[0]?.path !== undefined, 'read from the cache, not held in memory');
      assert.deepEqual(fetched.indexes[0]?.packages, await readPackagesIndex(xz, release, file, { where: 'x' }));
    });

    it('checks a Release signature once per Release and keyring, and again for another keyring', async () => {
      const cacheDir = await mkdtemp(join(tmpdir(), 'provenant-deb-verified-'));
      const loads: string[] = [];
      const load = LazyDebKeyring.prototype.load;
      LazyDebKeyring.prototype.load = function (this: LazyDebKeyring) {
        loads.push(this.id);
        return load.call(this);
      };
      try {
        const fetchWith = async (keyring: LazyDebKeyring) =>
          fetchDebianIndex({ url: mirror, suite: 'bookworm', components: ['non-free-firmware'], arch: 'arm64', keyring, cacheDir });
        const archive = await LazyDebKeyring.read([DEBIAN_ARCHIVE_KEYRING]);
        const first = await fetchWith(archive);
        assert.equal(loads.length, 1, 'the first fetch parses the keyring to check the signature');
        const second = await fetchWith(await LazyDebKeyring.read([DEBIAN_ARCHIVE_KEYRING]));
        assert.equal(loads.length, 1, 'the second finds the check it made and parses nothing');
        assert.deepEqual(second.release.signers, first.release.signers);
        assert.equal(second.release.digest, first.release.digest);

        // The kept check damaged (a letter of the signed text it holds, the JSON still whole): the
        // cache refuses it by its CRC, and the signature is checked again.
        let damaged = 0;
        for (const blob of await readdir(join(cacheDir, 'sha256'))) {
          const path = join(cacheDir, 'sha256', blob);
          const text = await readFile(path, 'latin1');
          if (!text.startsWith('{"text":')) continue;
          await writeFile(path, text.replace('Origin: Debian', 'Origin: Debiam'), 'latin1');
          damaged++;
        }
        assert.equal(damaged, 1);
        const third = await fetchWith(await LazyDebKeyring.read([DEBIAN_ARCHIVE_KEYRING]));
        assert.equal(loads.length, 2, 'the damaged check is made again');
        assert.equal(third.release.origin, 'Debian');
        assert.equal(third.release.digest, first.release.digest);

        // A keyring of another key: the kept check does not count for it.
        const { publicKey } = await generateKey({ userIDs: [{ name: 'not debian' }], format: 'binary' });
        const other = join(cacheDir, 'other.gpg');
        await writeFile(other, publicKey);
        await assert.rejects(fetchWith(await LazyDebKeyring.read([other])), code('UNTRUSTED_KEY'));
        assert.equal(loads.length, 3);
      } finally {
        LazyDebKeyring.prototype.load = load;
        await rm(cacheDir, { recursive: true, force: true });
      }
    });

    it('stops when cancelled: ABORTED', async () => {
      const controller = new AbortController();
      controller.abort();
      await assert.rejects(
        fetchDebianIndex({
          url: mirror,
          suite: 'bookworm',
          components: ['main'],
          arch: 'amd64',
          keyring: debian,
          signal: controller.signal,
        }),
        code('ABORTED'),
      );
    });

    it('says NOT_FOUND for a suite the mirror does not have', async () => {
      await assert.rejects(
        fetchDebianIndex({ url: mirror, suite: 'no-such-suite', components: ['main'], arch: 'amd64', keyring: debian }),
        code('NOT_FOUND'),
      );
    });
  });
});
