/**
 * What gives a keyless signature its time, against @sigstore/mock on 127.0.0.1: signing without
 * the transparency log (cosign's --tlog-upload=false) and what it then needs, timestamps that do
 * not verify counting for nothing rather than failing a signature the log vouches for, a changed
 * signature named as such when a timestamp is bound to it, and a certificate's every SAN as the
 * identity cosign matches.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { X509Certificate } from '@sigstore/core';
import { statement } from '../../src/attest/storage.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { generateSigningKeyPair } from '../../src/sign/keys.ts';
import { certificateNames } from '../../src/sign/material.ts';
import { attestImage, signImage } from '../../src/sign/sign.ts';
import { KeylessSigner, KeySigner } from '../../src/sign/signer.ts';
import { appendCosignLayer, CosignAnnotation, findSignatures, writeBundleReferrer } from '../../src/sign/storage.ts';
import { parseTrustedRoot, type TrustedRoot } from '../../src/sign/trust.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import type { ContentStore } from '../../src/store/types.ts';
import { makeImage } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';
import { tempLayout } from './helpers.ts';
import { MOCK_ISSUER, type MockSigstore, mockSigner, startMockSigstore } from './mock-sigstore.ts';

const REF = 'registry.test/keyless/app';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const policy = { certificateIdentity: IDENTITY, certificateOidcIssuer: MOCK_ISSUER };

describe('keyless signatures: what gives them their time', () => {
  const tempDir = useTempDir('keyless-witnesses');
  let mock: MockSigstore;
  /** The mock's trusted root without its timestamp authority. */
  let noTsa: TrustedRoot;
  before(async () => {
    mock = await startMockSigstore({ dir: await tempDir() });
    const root = JSON.parse(await readFile(mock.trustedRootPath, 'utf8')) as { timestampAuthorities: unknown[] };
    root.timestampAuthorities = [];
    noTsa = parseTrustedRoot(Buffer.from(JSON.stringify(root)), 'no-tsa.json');
  });
  after(async () => {
    await mock?.stop();
  });

  async function signedWith(signer: KeylessSigner | KeySigner): Promise<{ layout: ContentStore; digest: Digest }> {
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    await signImage(layout, 'v1', { signer, dockerReference: REF });
    return { layout, digest: made.root.digest };
  }

  it('without a Rekor URL a timestamp authority is required: refused before any request, as nothing else would date the certificate', () => {
    const before = { ...mock.requests };
    assert.throws(
      () => new KeylessSigner({ fulcioURL: mock.url, rekorURL: undefined, identityToken: mock.token(IDENTITY) }),
      (e: unknown) => isProvenantError(e, 'USAGE') && /without a transparency log needs a timestamp authority/.test(e.message),
    );
    assert.deepEqual(mock.requests, before);
  });

  it('without a Rekor URL nothing is logged; a verifier then needs the log waived and a timestamp of a listed authority', async () => {
    const signer = new KeylessSigner({
      fulcioURL: mock.url,
      rekorURL: undefined,
      tsaURL: mock.url,
      identityToken: mock.token(IDENTITY),
      trustedRoot: mock.trustedRoot,
    });
    assert.equal(signer.transparencyLog, false);
    const before = { ...mock.requests };
    const { layout, digest } = await signedWith(signer);
    assert.equal(mock.requests.rekor, before.rekor, 'no request to the log');
    assert.equal(mock.requests.tsa - before.tsa, 2);
    for (const f of await findSignatures(layout, digest)) {
      if (f.format === 'bundle') assert.deepEqual(f.bundle?.verificationMaterial.tlogEntries, []);
      else assert.equal(f.layer?.annotations[CosignAnnotation.Bundle], undefined);
    }
    // A log entry is required by default, as cosign requires one unless --insecure-ignore-tlog.
    const strict = await verifyImage(layout, digest, { policy, trustedRoot: mock.trustedRoot });
    assert.deepEqual(
      strict.checked.map((c) => [c.storage, c.verified, c.reason]),
      [
        ['cosign', false, 'transparency-log'],
        ['referrers', false, 'transparency-log'],
      ],
    );
    const waived = await verifyImage(layout, digest, { policy, trustedRoot: mock.trustedRoot, requireTransparencyLog: false });
    assert.deepEqual(
      waived.checked.map((c) => [c.storage, c.verified, c.transparencyLog]),
      [
        ['cosign', true, false],
        ['referrers', true, false],
      ],
    );
    // Waived, with a root that does not list the authority: its timestamps count for nothing, and nothing dates the certificate.
    const unlisted = await verifyImage(layout, digest, { policy, trustedRoot: noTsa, requireTransparencyLog: false });
    for (const c of unlisted.checked) {
      assert.equal(c.reason, 'timestamp', c.message);
      assert.match(
        c.message!,
        /^no verified time of signing: its RFC 3161 timestamp does not verify \(signed by "CN=tsa" \(certificate serial [0-9a-f]+\), which the trusted root does not list\) and does not count/,
      );
    }
    // Waived, with a root that lists the authority only up to a day before: the timestamp counts
    // for nothing, and the reason is its authority's window, not an authority left out.
    const root = JSON.parse(await readFile(mock.trustedRootPath, 'utf8')) as {
      timestampAuthorities: { validFor: { start: string; end?: string } }[];
    };
    const end = new Date(Date.now() - 86_400_000).toISOString();
    for (const a of root.timestampAuthorities) a.validFor.end = end;
    const ended = parseTrustedRoot(Buffer.from(JSON.stringify(root)), 'ended-tsa.json');
    const expired = await verifyImage(layout, digest, { policy, trustedRoot: ended, requireTransparencyLog: false });
    assert.equal(expired.checked.length, 2);
    for (const c of expired.checked) {
      assert.equal(c.reason, 'timestamp', c.message);
      assert.match(
        c.message!,
        /its RFC 3161 timestamp does not verify \(made at \S+ by "CN=tsa" \(certificate serial [0-9a-f]+\), which the trusted root trusts only from \S+ to \S+\) and does not count/,
      );
      assert.ok(c.message!.includes(end), c.message);
    }
  });

  it('attestations without a Rekor URL: the .att layer timestamped over its bytes, the bundle over its signature; both verify with the log waived', async () => {
    const signer = new KeylessSigner({ fulcioURL: mock.url, rekorURL: undefined, tsaURL: mock.url, identityToken: mock.token(IDENTITY) });
    const layout = await tempLayout();
    const made = await makeImage(layout, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
    const st = statement('https://example.org/p/v1', { n: 1 }, [{ name: 'app', digest: made.root.digest }]);
    const before = mock.requests.rekor;
    for (const storage of ['cosign', 'referrers'] as const) await attestImage(layout, 'v1', [st], { signer, storage });
    assert.equal(mock.requests.rekor, before, 'no request to the log');
    const report = await verifyImage(layout, made.root.digest, {
      policy,
      trustedRoot: mock.trustedRoot,
      kind: 'attestation',
      requireTransparencyLog: false,
    });
    assert.deepEqual(
      report.checked.map((c) => [c.storage, c.verified, c.reason]),
      [
        ['cosign', true, undefined],
        ['referrers', true, undefined],
      ],
    );
  });

  it('a timestamp by an authority the trusted root does not list counts for nothing: the verified log entry dates the signature', async () => {
    const { layout, digest } = await signedWith(mockSigner(mock, IDENTITY));
    const report = await verifyImage(layout, digest, { policy, trustedRoot: noTsa });
    assert.deepEqual(
      report.checked.map((c) => [c.storage, c.verified, c.reason, c.transparencyLog]),
      [
        ['cosign', true, undefined, true],
        ['referrers', true, undefined, true],
      ],
    );
  });

  it('a changed signature that carries a timestamp: the signature does not match, not an untrusted authority', async () => {
    const flip = (bytes: Uint8Array): Buffer => {
      const b = Buffer.from(bytes);
      b[20]! ^= 1;
      return b;
    };
    for (const signer of [mockSigner(mock, IDENTITY), new KeySigner(generateSigningKeyPair().privateKey, { tsaURL: mock.url })]) {
      const keyed = signer instanceof KeySigner;
      const { layout, digest } = await signedWith(signer);
      const found = await findSignatures(layout, digest);
      const store = await tempLayout();
      await store.putManifest(await layout.getManifest(digest), { tags: ['v1'] });
      const sig = found.find((f) => f.format === 'cosign-layer');
      assert.ok(sig?.format === 'cosign-layer' && sig.layer !== undefined);
      const a = sig.layer.annotations;
      assert.ok(a[CosignAnnotation.RFC3161Timestamp], 'the layer carries a timestamp');
      await appendCosignLayer(store, digest, 'sig', {
        ...sig.layer,
        annotations: { ...a, [CosignAnnotation.Signature]: flip(Buffer.from(a[CosignAnnotation.Signature]!, 'base64')).toString('base64') },
      });
      const bundled = found.find((f) => f.format === 'bundle');
      assert.ok(bundled?.format === 'bundle' && bundled.bundle?.content.$case === 'dsseEnvelope');
      const b = bundled.bundle;
      assert.equal(b.verificationMaterial.timestampVerificationData?.rfc3161Timestamps.length, 1);
      const env = b.content.$case === 'dsseEnvelope' ? b.content.dsseEnvelope : undefined;
      const forged = {
        ...b,
        content: {
          $case: 'dsseEnvelope',
          dsseEnvelope: { ...env!, signatures: [{ ...env!.signatures[0]!, sig: flip(env!.signatures[0]!.sig) }] },
        },
      } as Bundle;
      const m = await layout.getManifest(digest);
      await writeBundleReferrer(
        store,
        { mediaType: m.mediaType, digest, size: m.bytes.length },
        forged,
        'https://sigstore.dev/cosign/sign/v1',
      );
      const report = await verifyImage(store, digest, {
        policy: keyed ? { key: signer.publicKey, validFor: { start: new Date(0) } } : policy,
        trustedRoot: mock.trustedRoot,
      });
      assert.equal(report.checked.length, 2);
      for (const c of report.checked) {
        assert.equal(c.reason, 'signature', `${keyed ? 'key' : 'keyless'} ${c.storage}: ${c.message}`);
        assert.match(c.message!, /does not match/);
        assert.doesNotMatch(c.message!, /trusted timestamp authority/);
      }
    }
  });
});

// ---- every SAN ---------------------------------------------------------------------------------

/** DER: a tag and its contents. */
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

function oid(text: string): Buffer {
  const [a, b, ...rest] = text.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [a * 40 + b];
  for (const arc of rest) {
    const groups = [arc & 0x7f];
    for (let v = arc >> 7; v > 0; v >>= 7) groups.unshift((v & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** A certificate (its signature not valid: only parsed) whose SAN extension holds `names`, GeneralNames as DER. */
function certificateWithNames(...names: Buffer[]): X509Certificate {
  const alg = tlv(0x30, oid('1.2.840.10045.4.3.2'));
  const name = tlv(0x30, tlv(0x31, tlv(0x30, oid('2.5.4.3'), tlv(0x0c, Buffer.from('test')))));
  const validity = tlv(0x30, tlv(0x17, Buffer.from('250101000000Z')), tlv(0x17, Buffer.from('250101001000Z')));
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  const san = tlv(0x30, oid('2.5.29.17'), tlv(0x04, tlv(0x30, ...names)));
  const tbs = tlv(
    0x30,
    tlv(0xa0, tlv(0x02, Buffer.from([2]))),
    tlv(0x02, Buffer.from([1])),
    alg,
    name,
    validity,
    name,
    spki,
    tlv(0xa3, tlv(0x30, san)),
  );
  return X509Certificate.parse(Buffer.from(tlv(0x30, tbs, alg, tlv(0x03, Buffer.from([0, 1, 2]))).toString('base64'), 'base64'));
}

describe('certificateNames: every SAN, as cosign matches an identity against them', () => {
  it('the identity, then DNS names, emails, IP addresses, URIs, a Fulcio username, as cryptoutils.GetSubjectAlternateNames lists them', () => {
    const text = (tag: number, s: string) => tlv(tag, Buffer.from(s));
    const ipv6 = Buffer.alloc(16);
    ipv6[0] = 0x20;
    ipv6[1] = 0x01;
    ipv6[2] = 0x0d;
    ipv6[3] = 0xb8;
    ipv6[15] = 1;
    const mapped = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1]);
    const username = tlv(0xa0, oid('1.3.6.1.4.1.57264.1.7'), tlv(0xa0, tlv(0x0c, Buffer.from('alice!example.org'))));
    const cert = certificateWithNames(
      text(0x86, 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'),
      text(0x81, 'alice@example.org'),
      username,
      tlv(0x87, Buffer.from([127, 0, 0, 1])),
      text(0x82, 'example.org'),
      tlv(0x87, ipv6),
      tlv(0x87, mapped),
      text(0x81, 'bob@example.org'),
    );
    const uri = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    assert.deepEqual(certificateNames(cert).names, [
      uri,
      'example.org',
      'alice@example.org',
      'bob@example.org',
      '127.0.0.1',
      '2001:db8::1',
      '10.0.0.1',
      'alice!example.org',
    ]);
    assert.deepEqual(certificateNames(certificateWithNames()).names, []);
  });

  it('certificateNames: the name @sigstore/verify gives first (a URI, else an email, else a username), then the others once', () => {
    const text = (tag: number, s: string) => tlv(tag, Buffer.from(s));
    const username = (who: string, type = 0x0c) => tlv(0xa0, oid('1.3.6.1.4.1.57264.1.7'), tlv(0xa0, tlv(type, Buffer.from(who))));
    const uri = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    assert.deepEqual(certificateNames(certificateWithNames(text(0x82, 'example.org'), text(0x81, 'a@example.org'), text(0x86, uri))), {
      identity: uri,
      names: [uri, 'example.org', 'a@example.org'],
    });
    assert.deepEqual(certificateNames(certificateWithNames(text(0x82, 'example.org'), username('alice!example.org'))), {
      identity: 'alice!example.org',
      names: ['alice!example.org', 'example.org'],
    });
    // An otherName that does not parse (no OID first) ends the search for a username, not the others.
    const broken = tlv(0xa0, tlv(0x0c, Buffer.from('x')));
    assert.deepEqual(certificateNames(certificateWithNames(broken, username('alice!example.org'), text(0x81, 'a@example.org'))), {
      identity: 'a@example.org',
      names: ['a@example.org'],
    });
    // A username of another string type names nobody; the next one is taken.
    assert.deepEqual(certificateNames(certificateWithNames(username('x!y', 0x16), username('alice!example.org'))), {
      identity: 'alice!example.org',
      names: ['alice!example.org'],
    });
    assert.deepEqual(certificateNames(certificateWithNames()), { identity: '', names: [] });
  });
});
