// cosign key files: reading theirs, writing ours, and key files on disk.
import assert from 'node:assert/strict';
import {
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  verify as cryptoVerify,
  generateKeyPairSync,
  randomBytes,
  scryptSync,
} from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import nacl from 'tweetnacl';
import { isProvenantError } from '../../src/errors.ts';
import {
  COSIGN_PRIVATE_KEY_PEM,
  decryptPrivateKey,
  encryptPrivateKey,
  generateSigningKeyPair,
  keyId,
  parsePublicKey,
  pemDecode,
  pemEncode,
  publicKeyPem,
  SIGSTORE_PRIVATE_KEY_PEM,
} from '../../src/sign/keys.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

const sig = (name: string) => fixture('sig', name);

/**
 * cosign's algorithm written out independently of src/sign/keys.ts: scrypt from node:crypto and
 * NaCl secretbox from tweetnacl (the code under test uses @noble/ciphers).
 */
function independentDecrypt(pem: string, password: string): Buffer {
  const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const doc = JSON.parse(Buffer.from(body, 'base64').toString('utf8'));
  const { N, r, p } = doc.kdf.params;
  const key = scryptSync(password, Buffer.from(doc.kdf.salt, 'base64'), 32, { N, r, p, maxmem: 256 * N * r });
  const opened = nacl.secretbox.open(Buffer.from(doc.ciphertext, 'base64'), Buffer.from(doc.cipher.nonce, 'base64'), key);
  if (opened === null) throw new Error('secretbox: wrong key');
  return Buffer.from(opened);
}

function independentEncrypt(pkcs8: Buffer, password: string, type: string): string {
  const salt = randomBytes(32);
  const nonce = randomBytes(24);
  const key = scryptSync(password, salt, 32, { N: 32768, r: 8, p: 1, maxmem: 256 * 32768 * 8 });
  const ciphertext = nacl.secretbox(pkcs8, nonce, key);
  const doc = {
    kdf: { name: 'scrypt', params: { N: 32768, r: 8, p: 1 }, salt: salt.toString('base64') },
    cipher: { name: 'nacl/secretbox', nonce: nonce.toString('base64') },
    ciphertext: Buffer.from(ciphertext).toString('base64'),
  };
  const b64 = Buffer.from(JSON.stringify(doc)).toString('base64');
  return `-----BEGIN ${type}-----\n${b64.match(/.{1,64}/g)!.join('\n')}\n-----END ${type}-----\n`;
}

describe('cosign key files', { skip: fixturesMissing }, () => {
  it('loads cosign test keys of both PEM types with their passwords (SOURCES.md §3)', async () => {
    for (const [file, password] of [
      ['cosign-keys_test-pemsigstorekey.key', 'hello'],
      ['cosign-keys_test-pemcosignkey.key', 'hello'],
      ['policy-controller-examples-cosign.key', ''],
    ] as const) {
      const key = await decryptPrivateKey(await readFile(sig(file), 'utf8'), password, file);
      assert.equal(key.type, 'private', file);
      assert.equal(key.asymmetricKeyDetails?.namedCurve, 'prime256v1', file);
    }
  });

  it('the policy-controller key is the private half of its .pub', async () => {
    const key = await decryptPrivateKey(await readFile(sig('policy-controller-examples-cosign.key'), 'utf8'), '');
    const pub = parsePublicKey(await readFile(sig('policy-controller-examples-cosign.pub'), 'utf8'));
    const s = cryptoSign('sha256', Buffer.from('x'), key);
    assert.ok(cryptoVerify('sha256', Buffer.from('x'), pub, s));
    assert.equal(publicKeyPem(key), await readFile(sig('policy-controller-examples-cosign.pub'), 'utf8'));
  });

  it('a wrong password is a CREDENTIALS error that names the file', async () => {
    const file = 'cosign-keys_test-pemsigstorekey.key';
    await assert.rejects(decryptPrivateKey(await readFile(sig(file), 'utf8'), 'wrong', file), (err: unknown) => {
      assert.ok(isProvenantError(err, 'CREDENTIALS'), String(err));
      assert.equal(err.where, file);
      assert.match(err.message, /password/);
      return true;
    });
  });

  it('refuses, as cosign does, a key whose plaintext is SEC1 rather than PKCS#8', async () => {
    const file = 'cosign-keys_test-pemcosigneckey.key';
    const pem = await readFile(sig(file), 'utf8');
    // The password is right (the box opens) ...
    assert.ok(independentDecrypt(pem, 'hello').length > 0);
    // ... but the key inside is not PKCS#8.
    await assert.rejects(decryptPrivateKey(pem, 'hello', file), (err: unknown) => {
      assert.ok(isProvenantError(err, 'INVALID_CONFIG'), String(err));
      assert.match(err.message, /PKCS#8/);
      return true;
    });
  });

  it('refuses other PEM types and malformed documents with their own messages', async () => {
    await assert.rejects(decryptPrivateKey(await readFile(sig('cimage-cosign.pub'), 'utf8'), ''), /"PUBLIC KEY" PEM block, not a cosign/);
    await assert.rejects(decryptPrivateKey('nothing here', ''), /no PEM block/);
    const bogus = pemEncode(SIGSTORE_PRIVATE_KEY_PEM, Buffer.from('{"kdf":{"name":"pbkdf2"}}'));
    await assert.rejects(decryptPrivateKey(bogus, ''), /not scrypt/);
    const huge = pemEncode(
      SIGSTORE_PRIVATE_KEY_PEM,
      Buffer.from(
        JSON.stringify({
          kdf: { name: 'scrypt', params: { N: 2 ** 30, r: 8, p: 1 }, salt: 'AAAA' },
          cipher: { name: 'nacl/secretbox', nonce: Buffer.alloc(24).toString('base64') },
          ciphertext: Buffer.alloc(32).toString('base64'),
        }),
      ),
    );
    await assert.rejects(decryptPrivateKey(huge, ''), /not usable parameters/);
  });
});

describe('public keys', () => {
  it('are PUBLIC KEY or RSA PUBLIC KEY PEMs, as cosign reads them; a certificate or a private key is a USAGE error', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pkcs1 = rsa.publicKey.export({ format: 'pem', type: 'pkcs1' }) as string;
    assert.match(pkcs1, /^-----BEGIN RSA PUBLIC KEY-----/);
    assert.equal(keyId(parsePublicKey(pkcs1)), keyId(rsa.publicKey));
    const ec = generateSigningKeyPair();
    assert.equal(keyId(parsePublicKey(publicKeyPem(ec.publicKey))), keyId(ec.publicKey));
    for (const [pem, type] of [
      [ec.privateKey.export({ format: 'pem', type: 'pkcs8' }) as string, 'PRIVATE KEY'],
      [ec.privateKey.export({ format: 'pem', type: 'sec1' }) as string, 'EC PRIVATE KEY'],
      [rsa.privateKey.export({ format: 'pem', type: 'pkcs1' }) as string, 'RSA PRIVATE KEY'],
      [pemEncode('ENCRYPTED SIGSTORE PRIVATE KEY', Buffer.from('x')), 'ENCRYPTED SIGSTORE PRIVATE KEY'],
    ]) {
      const article = type!.startsWith('E') ? 'an' : 'a';
      assert.throws(
        () => parsePublicKey(pem!, 'k.pem'),
        (e: unknown) =>
          isProvenantError(e, 'USAGE') && e.message === `${article} ${type} PEM block, not a public key (PUBLIC KEY or RSA PUBLIC KEY)`,
      );
    }
    assert.throws(
      () => parsePublicKey(pemEncode('PUBLIC KEY', Buffer.from('junk'))),
      (e: unknown) => isProvenantError(e, 'INVALID_CONFIG'),
    );
    assert.throws(
      () => parsePublicKey('no PEM here'),
      (e: unknown) => isProvenantError(e, 'INVALID_CONFIG'),
    );
  });

  it('a certificate is refused, its key never trusted without the checks a certificate stands for', { skip: fixturesMissing }, async () => {
    const cert = await readFile(sig('derived-cimage-dir-img-cosign-fulcio-rekor-valid.cert.pem'), 'utf8');
    assert.throws(
      () => parsePublicKey(cert, 'leaf.pem'),
      (e: unknown) => isProvenantError(e, 'USAGE') && /^a CERTIFICATE PEM block/.test(e.message) && /keyless/.test(e.hint ?? ''),
    );
  });
});

describe('keys we write', () => {
  it('round-trip through our own decryption, with the SIGSTORE PEM type and cosign scrypt parameters', async () => {
    const { privateKey, publicKey } = generateSigningKeyPair();
    const pem = await encryptPrivateKey(privateKey, 'pw');
    assert.match(pem, /^-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n/);
    const doc = JSON.parse(Buffer.from(pemDecode(pem)!.bytes).toString('utf8'));
    assert.deepEqual(doc.kdf.params, { N: 65536, r: 8, p: 1 });
    assert.equal(Buffer.from(doc.kdf.salt, 'base64').length, 32);
    assert.deepEqual(Object.keys(doc), ['kdf', 'cipher', 'ciphertext']);
    const back = await decryptPrivateKey(pem, 'pw');
    assert.equal(publicKeyPem(back), publicKeyPem(publicKey));
  });

  it('decrypt with an independent implementation of cosign’s algorithm (node scrypt + tweetnacl)', async () => {
    const { privateKey } = generateSigningKeyPair();
    const pem = await encryptPrivateKey(privateKey, 'correct horse', { pemType: COSIGN_PRIVATE_KEY_PEM });
    assert.match(pem, /ENCRYPTED COSIGN PRIVATE KEY/);
    const pkcs8 = independentDecrypt(pem, 'correct horse');
    assert.deepEqual(pkcs8, privateKey.export({ format: 'der', type: 'pkcs8' }));
    assert.throws(() => independentDecrypt(pem, 'wrong'));
  });

  it('decrypts keys an independent implementation encrypted', async () => {
    const { privateKey } = generateSigningKeyPair();
    const pem = independentEncrypt(privateKey.export({ format: 'der', type: 'pkcs8' }) as Buffer, 'pw', SIGSTORE_PRIVATE_KEY_PEM);
    const back = await decryptPrivateKey(pem, 'pw');
    assert.deepEqual(back.export({ format: 'der', type: 'pkcs8' }), privateKey.export({ format: 'der', type: 'pkcs8' }));
  });

  it('key id is base64(sha256(SPKI DER)), the hint cosign 3 writes', { skip: fixturesMissing }, async () => {
    // sigstore-conformance's managed-key bundle carries that hint for its key.pub.
    const pub = parsePublicKey(await readFile(sig('conf-managed-key-happy-path.key.pub'), 'utf8'));
    const bundle = JSON.parse(await readFile(sig('conf-managed-key-happy-path.sigstore.json'), 'utf8'));
    assert.equal(keyId(pub), bundle.verificationMaterial.publicKey.hint);
    const { privateKey } = generateSigningKeyPair();
    assert.equal(keyId(privateKey), keyId(createPublicKey(privateKey)));
  });

  it('the PEM reader accepts what the writer writes, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
        const back = pemDecode(pemEncode('SOME TYPE', bytes));
        assert.deepEqual(back, { type: 'SOME TYPE', bytes });
      }),
    );
  });

  it('the key-file parser fails with a typed error, never anything else, on arbitrary documents', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const pem = pemEncode(SIGSTORE_PRIVATE_KEY_PEM, Buffer.from(JSON.stringify(value)));
        await assert.rejects(decryptPrivateKey(pem, 'pw'), (err: unknown) => isProvenantError(err, 'INVALID_CONFIG', 'CREDENTIALS'));
      }),
      { numRuns: 200 },
    );
  });

  it('createPrivateKey accepts what we export (sanity of the PKCS#8 path)', () => {
    const { privateKey } = generateSigningKeyPair();
    const again = createPrivateKey({ key: privateKey.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
    assert.equal(again.asymmetricKeyType, 'ec');
  });
});

describe('key files on disk', { skip: fixturesMissing }, () => {
  it('load with their password; a missing file and a wrong password each name the file', async () => {
    const { loadPrivateKeyFile, loadPublicKeyFile } = await import('../../src/sign/keys.ts');
    const file = sig('policy-controller-examples-cosign.key');
    const key = await loadPrivateKeyFile(file, '');
    const pub = await loadPublicKeyFile(sig('policy-controller-examples-cosign.pub'));
    assert.equal(keyId(key), keyId(pub));
    await assert.rejects(loadPrivateKeyFile(file, 'nope'), (e: unknown) => isProvenantError(e, 'CREDENTIALS') && e.where === file);
    await assert.rejects(
      loadPrivateKeyFile(`${file}.missing`, ''),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.where === `${file}.missing`,
    );
    // A path through a file (ENOTDIR) names no file either: not found, as a missing one.
    await assert.rejects(
      loadPublicKeyFile(`${file}/cosign.pub`),
      (e: unknown) => isProvenantError(e, 'NOT_FOUND') && e.message.startsWith('the key file does not exist'),
    );
    // A folder: a usage error saying so, not the system's EISDIR.
    await assert.rejects(
      loadPublicKeyFile(import.meta.dirname),
      (e: unknown) => isProvenantError(e, 'USAGE') && e.message === 'the key file cannot be read: it is a folder',
    );
    await assert.rejects(loadPublicKeyFile(sig('conf-managed-key-wrong-key_fail.key.pub')), (e: unknown) =>
      isProvenantError(e, 'INVALID_CONFIG'),
    );
  });

  it('generateEncryptedKeyPair writes a pair that loads back', async () => {
    const { generateEncryptedKeyPair } = await import('../../src/sign/keys.ts');
    const pair = await generateEncryptedKeyPair('pw');
    const key = await decryptPrivateKey(pair.privateKeyPem, 'pw');
    assert.equal(publicKeyPem(key), pair.publicKeyPem);
  });
});
