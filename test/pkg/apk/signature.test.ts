import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey, sign } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { gzipSync } from 'node:zlib';
import { tarBytes, tarHeader } from '../../../src/archive/tar.ts';
import { isProvenantError } from '../../../src/errors.ts';
import { readApkIndex } from '../../../src/pkg/apk/apkindex.ts';
import { type ApkKeyPair, generateApkKeyPair } from '../../../src/pkg/apk/keys.ts';
import { DATA_MAX, splitGzipMembers } from '../../../src/pkg/apk/members.ts';
import { readApkPackage } from '../../../src/pkg/apk/package.ts';
import { ApkKeyring } from '../../../src/pkg/apk/signature.ts';
import { type ApkSpec, buildApk, buildApkIndex } from '../../../src/pkg/apk/write.ts';

const utf8 = new TextEncoder();
const code = (c: string) => (err: unknown) => isProvenantError(err, c as never);

const hello: ApkSpec = {
  name: 'hello',
  version: '1.0-r0',
  arch: 'x86_64',
  files: [{ path: 'usr/share/hello.txt', type: 'file', body: utf8.encode('hello\n') }],
};

let trusted: ApkKeyPair;
let stranger: ApkKeyPair;
let keyring: ApkKeyring;

before(() => {
  trusted = generateApkKeyPair('trusted', { bits: 2048 });
  stranger = generateApkKeyPair('stranger', { bits: 2048 });
  keyring = new ApkKeyring().add(trusted.name, trusted.publicKeyPem);
});

/** Other texts of the PEM public key `pem` that hold the same key, by what differs. */
function otherTexts(pem: string): Record<string, string> {
  const body = pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
  const wrapped = body.match(/.{1,76}/g)!.join('\n');
  return {
    crlf: pem.replace(/\n/g, '\r\n'),
    rewrapped: `-----BEGIN PUBLIC KEY-----\n${wrapped}\n-----END PUBLIC KEY-----\n`,
    comment: `# the repository's key\n${pem}`,
  };
}

/** One `.SIGN.` entry: `type` signed over `signed` with `by`'s key and `digest`, or bytes that verify nothing. */
interface Entry {
  type: string;
  by: ApkKeyPair;
  digest?: string;
  corrupt?: boolean;
}

/** A signature member of `entries`, in their order, over `signed` (as abuild-sign makes one, one entry each). */
function signatureMember(signed: Uint8Array, entries: readonly Entry[]): Promise<Uint8Array> {
  const files = entries.map((e) => {
    const body =
      e.corrupt === true
        ? new Uint8Array(256).fill(7)
        : new Uint8Array(sign(e.digest ?? 'sha256', signed, createPrivateKey(e.by.privateKeyPem)));
    return { header: tarHeader({ name: `.SIGN.${e.type}.${e.by.name}`, size: body.length }), body };
  });
  return tarBytes(files).then((tar) => gzipSync(tar));
}

/** An index of one package, signed with `entries` in their order. */
async function index(entries: readonly Entry[]): Promise<Uint8Array> {
  const { bytes } = await buildApkIndex([await buildApk(hello)]);
  return Buffer.concat([await signatureMember(bytes, entries), bytes]);
}

/** The package, signed with `entries` in their order (over its control member). */
async function apk(entries: readonly Entry[]): Promise<Uint8Array> {
  const unsigned = await buildApk(hello);
  const [control] = splitGzipMembers(unsigned, { maxOutput: DATA_MAX });
  return Buffer.concat([await signatureMember(control!.compressed, entries), unsigned]);
}

describe('apk signature types, as apk-tools reads them', () => {
  it('passes over a signature of a type apk does not know, beside one by a trusted key', async () => {
    for (const skipped of [
      { type: 'ECDSA', by: trusted },
      { type: 'FOO', by: stranger },
    ]) {
      const read = await readApkIndex(await index([skipped, { type: 'RSA256', by: trusted }]), { keyring, where: 'index' });
      assert.deepEqual(read.signedBy, { type: 'RSA256', keyName: trusted.name });
      const pkg = await readApkPackage(await apk([skipped, { type: 'RSA256', by: trusted }]), { keyring, where: 'apk' });
      assert.deepEqual(pkg.signedBy, { type: 'RSA256', keyName: trusted.name });
    }
  });

  it('verifies RSA512 with SHA-512, by the key the name gives', async () => {
    const read = await readApkIndex(await index([{ type: 'RSA512', by: trusted, digest: 'sha512' }]), { keyring, where: 'index' });
    assert.deepEqual(read.signedBy, { type: 'RSA512', keyName: trusted.name });
    const pkg = await readApkPackage(await apk([{ type: 'RSA512', by: trusted, digest: 'sha512' }]), { keyring, where: 'apk' });
    assert.deepEqual(pkg.signedBy, { type: 'RSA512', keyName: trusted.name });
    // An RSA512 entry signed with SHA-256 is no RSA512 signature.
    await assert.rejects(readApkIndex(await index([{ type: 'RSA512', by: trusted }]), { keyring, where: 'index' }), code('SIGNATURE'));
    // Of an untrusted key, an RSA512 entry is passed over for the next.
    const read2 = await readApkIndex(
      await index([
        { type: 'RSA512', by: stranger, corrupt: true },
        { type: 'RSA256', by: trusted },
      ]),
      { keyring, where: 'index' },
    );
    assert.deepEqual(read2.signedBy, { type: 'RSA256', keyName: trusted.name });
  });

  it('passes over a DSA entry, as apk-tools does on OpenSSL 3 (which has no digest for its NID_dsa)', async () => {
    // A DSA entry that would verify as SHA-1 decides nothing: the forged RSA256 one after it does.
    const validDsaThenForged: Entry[] = [
      { type: 'DSA', by: trusted, digest: 'sha1' },
      { type: 'RSA256', by: trusted, corrupt: true },
    ];
    await assert.rejects(readApkIndex(await index(validDsaThenForged), { keyring, where: 'index' }), code('SIGNATURE'));
    await assert.rejects(readApkPackage(await apk(validDsaThenForged), { keyring, where: 'apk' }), code('SIGNATURE'));
    // A bad DSA entry fails nothing: the good RSA256 one after it decides.
    const badDsaThenGood: Entry[] = [
      { type: 'DSA', by: trusted, corrupt: true },
      { type: 'RSA256', by: trusted },
    ];
    assert.deepEqual((await readApkIndex(await index(badDsaThenGood), { keyring, where: 'index' })).signedBy, {
      type: 'RSA256',
      keyName: trusted.name,
    });
    assert.deepEqual((await readApkPackage(await apk(badDsaThenGood), { keyring, where: 'apk' })).signedBy, {
      type: 'RSA256',
      keyName: trusted.name,
    });
    // A DSA entry alone, valid or not, is no signature apk verifies.
    await assert.rejects(
      readApkIndex(await index([{ type: 'DSA', by: trusted, digest: 'sha1' }]), { keyring, where: 'index' }),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
        assert.match(err.message, /no signature of a type apk verifies \(RSA, RSA256, RSA512\) \(apk skips \.SIGN\.DSA\./);
        return true;
      },
    );
  });

  it('lets the first signature by a trusted key decide: one after it is not read', async () => {
    const goodThenBad: Entry[] = [
      { type: 'RSA256', by: trusted },
      { type: 'RSA', by: trusted, corrupt: true },
    ];
    assert.deepEqual((await readApkIndex(await index(goodThenBad), { keyring, where: 'index' })).signedBy, {
      type: 'RSA256',
      keyName: trusted.name,
    });
    assert.deepEqual((await readApkPackage(await apk(goodThenBad), { keyring, where: 'apk' })).signedBy, {
      type: 'RSA256',
      keyName: trusted.name,
    });
    // A bad first one fails the file, though a good one follows (apk-tools does not look further).
    const badThenGood = [...goodThenBad].reverse();
    await assert.rejects(readApkIndex(await index(badThenGood), { keyring, where: 'index' }), code('SIGNATURE'));
    await assert.rejects(readApkPackage(await apk(badThenGood), { keyring, where: 'apk' }), code('SIGNATURE'));
    // A bad one by a key the keyring lacks is passed over.
    const strangerFirst: Entry[] = [
      { type: 'RSA256', by: stranger, corrupt: true },
      { type: 'RSA256', by: trusted },
    ];
    assert.equal((await readApkIndex(await index(strangerFirst), { keyring, where: 'index' })).signedBy?.keyName, trusted.name);
  });

  it('still refuses a file that no trusted key signed, whatever types it carries', async () => {
    for (const entries of [
      [{ type: 'ECDSA', by: trusted }],
      [
        { type: 'RSA512', by: stranger, digest: 'sha512' },
        { type: 'FOO', by: trusted },
      ],
    ]) {
      await assert.rejects(readApkIndex(await index(entries), { keyring, where: 'index' }), (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
        assert.equal(err.where, 'index');
        return true;
      });
      await assert.rejects(readApkPackage(await apk(entries), { keyring, where: 'apk' }), code('UNTRUSTED_KEY'));
    }
  });
});

describe('the apk keyring', () => {
  it('refuses a PKCS#1 RSA PUBLIC KEY, which apk-tools and apko cannot read from /etc/apk/keys, naming the entry', () => {
    const pkcs1 = createPublicKey(trusted.publicKeyPem).export({ type: 'pkcs1', format: 'pem' }).toString();
    assert.match(pkcs1, /^-----BEGIN RSA PUBLIC KEY-----/);
    assert.throws(
      () => new ApkKeyring().add('k1.rsa.pub', pkcs1, 'keys/k1.rsa.pub'),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
        assert.equal(err.where, 'keys/k1.rsa.pub');
        assert.match(err.message, /"k1\.rsa\.pub" \(keys\/k1\.rsa\.pub\) is a PKCS#1 RSA PUBLIC KEY/);
        assert.match(err.hint ?? '', /openssl rsa -RSAPublicKey_in -in keys\/k1\.rsa\.pub -pubout -out keys\/k1\.rsa\.pub\.new && mv /);
        return true;
      },
    );
    // Neither is a certificate, which node:crypto would read a public key from.
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    assert.throws(
      () => new ApkKeyring().add('c.rsa.pub', cert),
      (err: unknown) => isProvenantError(err, 'UNTRUSTED_KEY') && /CERTIFICATE/.test(err.message),
    );
    // The SPKI text of the same key is taken.
    assert.deepEqual(new ApkKeyring().add('k1.rsa.pub', trusted.publicKeyPem).names(), ['k1.rsa.pub']);
  });

  it('refuses two different keys under one file name, naming both entries, and takes the same key twice as one', () => {
    assert.throws(
      () =>
        new ApkKeyring()
          .add('k1.rsa.pub', trusted.publicKeyPem, './keys/a/k1.rsa.pub')
          .add('k1.rsa.pub', stranger.publicKeyPem, './keys/b/k1.rsa.pub'),
      (err: unknown) => {
        assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
        assert.equal(err.message, 'the keyring holds two different keys named "k1.rsa.pub": ./keys/a/k1.rsa.pub and ./keys/b/k1.rsa.pub');
        assert.equal(err.where, './keys/b/k1.rsa.pub');
        return true;
      },
    );
    const kr = new ApkKeyring()
      .add('k1.rsa.pub', trusted.publicKeyPem, './keys/a/k1.rsa.pub')
      .add('k1.rsa.pub', `${trusted.publicKeyPem}\n`, './keys/b/k1.rsa.pub');
    assert.deepEqual(kr.names(), ['k1.rsa.pub']);
    assert.equal(kr.pem('k1.rsa.pub'), trusted.publicKeyPem);
  });

  it('takes the same key in another text as the same key: line endings, wrapping, a comment before it', () => {
    for (const [what, text] of Object.entries(otherTexts(trusted.publicKeyPem))) {
      assert.notEqual(text.trim(), trusted.publicKeyPem.trim(), what);
      const kr = new ApkKeyring().add('k1.rsa.pub', trusted.publicKeyPem, 'a/k1.rsa.pub').add('k1.rsa.pub', text, 'b/k1.rsa.pub');
      assert.deepEqual(kr.names(), ['k1.rsa.pub'], what);
      // The first entry's text is the one kept, for /etc/apk/keys and the lock.
      assert.equal(kr.pem('k1.rsa.pub'), trusted.publicKeyPem, what);
    }
  });
});

describe('untrusted packages allowed, as apk --allow-untrusted allows them', () => {
  it('takes a package no trusted key signed, never one whose trusted signature is bad', async () => {
    const theirs = await apk([{ type: 'RSA256', by: stranger }]);
    assert.equal((await readApkPackage(theirs, { keyring, where: 'apk', allowUntrusted: true })).signedBy, undefined);
    const bad = await apk([{ type: 'RSA256', by: trusted, corrupt: true }]);
    await assert.rejects(readApkPackage(bad, { keyring, where: 'apk', allowUntrusted: true }), code('SIGNATURE'));
  });

  it("takes a package an index's checksum vouches for, whoever signed it, unless a signature is required; never one whose trusted signature is bad", async () => {
    const theirs = await apk([{ type: 'RSA256', by: stranger }]);
    const mine = await apk([{ type: 'RSA256', by: trusted }]);
    const bad = await apk([{ type: 'RSA256', by: trusted, corrupt: true }]);
    const q1 = async (bytes: Uint8Array) => (await readApkPackage(bytes, { where: 'apk', allowUntrusted: true })).checksum;
    const vouched = async (bytes: Uint8Array, requireSignature?: boolean) =>
      readApkPackage(bytes, { keyring, where: 'apk', expectedChecksum: await q1(bytes), requireSignature });
    assert.equal((await vouched(theirs)).signedBy, undefined);
    assert.deepEqual((await vouched(mine)).signedBy, { type: 'RSA256', keyName: trusted.name });
    // A checksum from a lock no verified index confirms vouches for nothing: a trusted key must have signed.
    await assert.rejects(vouched(theirs, true), code('UNTRUSTED_KEY'));
    assert.deepEqual((await vouched(mine, true)).signedBy, { type: 'RSA256', keyName: trusted.name });
    for (const requireSignature of [false, true]) await assert.rejects(vouched(bad, requireSignature), code('SIGNATURE'));
    // Without a keyring, a package the checksum vouches for is taken, and a required signature is refused.
    const q = await q1(mine);
    assert.equal((await readApkPackage(mine, { where: 'apk', expectedChecksum: q })).signedBy, undefined);
    await assert.rejects(readApkPackage(mine, { where: 'apk', expectedChecksum: q, requireSignature: true }), code('UNTRUSTED_KEY'));
  });

  it('takes an index no trusted key signed, never one whose trusted signature is bad: the rule packages follow', async () => {
    const theirs = await index([{ type: 'RSA256', by: stranger }]);
    assert.equal((await readApkIndex(theirs, { keyring, where: 'index', allowUntrusted: true })).signedBy, undefined);
    // A good one after the bad one changes nothing: the first by a trusted key decides.
    for (const entries of [
      [{ type: 'RSA256', by: trusted, corrupt: true }],
      [
        { type: 'RSA256', by: trusted, corrupt: true },
        { type: 'RSA256', by: trusted },
      ],
    ]) {
      await assert.rejects(readApkIndex(await index(entries), { keyring, where: 'index', allowUntrusted: true }), code('SIGNATURE'));
      await assert.rejects(readApkPackage(await apk(entries), { keyring, where: 'apk', allowUntrusted: true }), code('SIGNATURE'));
    }
  });

  it('buildApkIndex refuses a package no key of its keyring signed, unless allowUntrusted, and a bad signature always', async () => {
    const good = await apk([{ type: 'RSA256', by: trusted }]);
    const theirs = await buildApk({ ...hello, name: 'theirs' }, { key: { privateKeyPem: stranger.privateKeyPem, name: stranger.name } });
    const bad = await apk([{ type: 'RSA256', by: trusted, corrupt: true }]);
    assert.equal((await buildApkIndex([good], { keyring })).packages.length, 1);
    await assert.rejects(buildApkIndex([good, theirs], { keyring, names: ['good.apk', 'theirs.apk'] }), (err: unknown) => {
      assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
      assert.equal(err.where, 'theirs.apk');
      assert.equal(
        err.message,
        `theirs.apk is signed by ${stranger.name}, which is not a trusted key: an index vouches for every package it lists, so it lists only packages a trusted key signed`,
      );
      // The library names no flag of the CLI's: the CLI adds those.
      assert.equal(err.hint, `trust the key that signs it, or allow untrusted packages (trusted now: ${trusted.name})`);
      return true;
    });
    const said = (bytes: Uint8Array) =>
      buildApkIndex([bytes], { keyring, names: ['p.apk'] }).then(
        () => assert.fail('indexed'),
        (err: unknown) => {
          assert.ok(isProvenantError(err, 'UNTRUSTED_KEY'), String(err));
          return err.message.slice(0, err.message.indexOf(':'));
        },
      );
    assert.equal(await said(await buildApk(hello)), 'p.apk is not signed');
    assert.equal(
      await said(await apk([{ type: 'DSA', by: trusted, digest: 'sha1' }])),
      `p.apk carries no signature apk verifies (apk skips .SIGN.DSA.${trusted.name})`,
    );
    assert.equal((await buildApkIndex([good, theirs], { keyring, allowUntrusted: true })).packages.length, 2);
    for (const allowUntrusted of [false, true]) {
      await assert.rejects(buildApkIndex([bad], { keyring, allowUntrusted }), code('SIGNATURE'));
    }
  });

  it('buildApkIndex reads packages with its own allowUntrusted: one no trusted key signed is refused before its data is read', async () => {
    const theirs = await buildApk({ ...hello, name: 'theirs' }, { key: { privateKeyPem: stranger.privateKeyPem, name: stranger.name } });
    // A byte of the data member's gzip trailer changed: its datahash no longer matches.
    const changed = new Uint8Array(theirs);
    changed[changed.length - 6]! ^= 0x01;
    await assert.rejects(buildApkIndex([changed], { keyring }), code('UNTRUSTED_KEY'));
    // Allowed, it is read through: its data does not match its datahash.
    await assert.rejects(buildApkIndex([changed], { keyring, allowUntrusted: true }), code('DIGEST_MISMATCH'));
  });
});
