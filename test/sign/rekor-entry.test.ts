/**
 * Verifying with a key and no trusted root: a Rekor entry's body is untrusted JSON. It must record
 * this signature and payload, in a kind and version it can be checked in; any other shape fails
 * that one signature, never the whole verification.
 */
import assert from 'node:assert/strict';
import { createHash, sign as cryptoSign, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Bundle } from '@sigstore/bundle';
import { digestOf } from '../../src/oci/digest.ts';
import { cosignSignStatement, pae, simpleSigningPayload } from '../../src/sign/payload.ts';
import { appendCosignLayer, writeBundleReferrer } from '../../src/sign/storage.ts';
import { type CheckedSignature, verifyImage } from '../../src/sign/verify.ts';
import { makeImage } from '../helpers/images.ts';
import { tempLayout } from './helpers.ts';

const REF = '127.0.0.1:5000/provenant/app';
const IN_TOTO = 'application/vnd.in-toto+json';
const alice = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64');

async function image() {
  const store = await tempLayout();
  return makeImage(store, { tag: 'v1', platforms: [{ os: 'linux', architecture: 'amd64' }] });
}

/** The one signature checked, which must fail for its Rekor entry with a message matching `message`. */
function refused(checked: CheckedSignature, message: RegExp): void {
  assert.equal(checked.verified, false, `${checked.message}`);
  assert.equal(checked.reason, 'transparency-log');
  assert.match(checked.message!, message);
}

describe('a cosign 2 layer’s Rekor entry, verified with a key and no trusted root', () => {
  it('a body of an unknown kind or version, or of a kind’s wrong shape, fails the signature (not the verification)', async () => {
    const made = await image();
    const d = made.root.digest;
    const payload = simpleSigningPayload(REF, d);
    const mine = cryptoSign('sha256', payload, alice.privateKey);
    const hash = { algorithm: 'sha256', value: sha256(payload) };
    const verifyWith = async (body: unknown) => {
      const layout = await tempLayout();
      await layout.putManifest(made.root, { tags: ['v1'] });
      const rekor = {
        SignedEntryTimestamp: b64('not checked'),
        Payload: { body: b64(JSON.stringify(body)), integratedTime: 1700000000, logIndex: 1, logID: 'ab'.repeat(32) },
      };
      await appendCosignLayer(layout, d, 'sig', {
        mediaType: 'application/vnd.dev.cosign.simplesigning.v1+json',
        payload,
        annotations: { 'dev.cosignproject.cosign/signature': b64(mine), 'dev.sigstore.cosign/bundle': JSON.stringify(rekor) },
      });
      const checked = (await verifyImage(layout, d, { policy: { key: alice.publicKey } })).checked;
      assert.equal(checked.length, 1);
      return checked[0]!;
    };
    const hashedrekord = (apiVersion: string, kind = 'hashedrekord') => ({
      apiVersion,
      kind,
      spec: { data: { hash }, signature: { content: b64(mine), publicKey: { content: b64('k') } } },
    });
    // Its own entry passes, said unchecked (no root for its SET).
    const own = await verifyWith(hashedrekord('0.0.1'));
    assert.equal(own.verified, true, own.message);
    assert.deepEqual(own.notChecked, ['its Rekor entry']);
    // cosign 1's rekord records the same facts: its own passes, another signature's does not.
    const rekord = await verifyWith(hashedrekord('0.0.1', 'rekord'));
    assert.equal(rekord.verified, true, rekord.message);
    const other = cryptoSign('sha256', Buffer.from('another payload'), alice.privateKey);
    refused(
      await verifyWith({ apiVersion: '0.0.1', kind: 'rekord', spec: { data: { hash }, signature: { content: b64(other) } } }),
      /its Rekor entry records another signature than this one/,
    );
    // Kinds and versions nothing here (nor @sigstore/verify) can compare: refused, not passed.
    for (const [kind, version] of [
      ['hashedrekord', '0.0.3'],
      ['rekord', '0.0.2'],
      ['bogus', '0.0.1'],
    ] as const) {
      refused(
        await verifyWith(hashedrekord(version, kind)),
        new RegExp(`is of kind "${kind}" version "${version}", which is not supported`),
      );
    }
    // Shapes a crafted entry can take: each the failure of this signature.
    const dsse = (signatures: unknown) => ({
      apiVersion: '0.0.1',
      kind: 'dsse',
      spec: { envelopeHash: { algorithm: 'sha256', value: sha256(payload) }, payloadHash: hash, signatures },
    });
    for (const signatures of ['abc', [null], [], [{ signature: 42 }], [{ signature: b64(mine) }, { signature: b64(mine) }]]) {
      refused(await verifyWith(dsse(signatures)), /does not record one signature and a payload digest/);
    }
    refused(await verifyWith({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: null }), /records no hash of what was logged/);
    refused(
      await verifyWith({ apiVersion: '0.0.1', kind: 'hashedrekord', spec: { data: { hash: { algorithm: 'sha256', value: ['x'] } } } }),
      /records no hash of what was logged/,
    );
  });
});

describe('a cosign 3 bundle’s Rekor entries, verified with a key and no trusted root', () => {
  it('each must record this signature and payload digest in a kind it can be checked in', async () => {
    const made = await image();
    const d = made.root.digest;
    const subject = { mediaType: made.root.mediaType, digest: d, size: made.root.bytes.length };
    const statement = Buffer.from(cosignSignStatement(d));
    const mine = cryptoSign('sha256', pae(IN_TOTO, statement), alice.privateKey);
    const another = cryptoSign('sha256', pae(IN_TOTO, statement), alice.privateKey);
    const payloadHash = { algorithm: 'sha256', value: sha256(statement) };
    const verifyWith = async (kind: string, version: string, spec: unknown) => {
      const store = await tempLayout();
      await store.putManifest(made.root, { tags: ['v1'] });
      const body = Buffer.from(JSON.stringify({ apiVersion: version, kind, spec }));
      const bundle = {
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {
          content: { $case: 'publicKey', publicKey: { hint: '' } },
          tlogEntries: [
            {
              logIndex: '1',
              logId: { keyId: Buffer.alloc(32, 0xab) },
              kindVersion: { kind, version },
              integratedTime: '1700000000',
              inclusionProof: {
                logIndex: '1',
                rootHash: Buffer.alloc(32),
                treeSize: '2',
                hashes: [Buffer.alloc(32)],
                checkpoint: { envelope: 'not checked' },
              },
              canonicalizedBody: body,
            },
          ],
          timestampVerificationData: { rfc3161Timestamps: [] },
        },
        content: {
          $case: 'dsseEnvelope',
          dsseEnvelope: { payloadType: IN_TOTO, payload: statement, signatures: [{ keyid: '', sig: mine }] },
        },
      } as unknown as Bundle;
      await writeBundleReferrer(store, subject, bundle, 'https://sigstore.dev/cosign/sign/v1');
      const checked = (await verifyImage(store, d, { policy: { key: alice.publicKey } })).checked;
      assert.equal(checked.length, 1);
      return checked[0]!;
    };
    const dsse = (sig: Buffer, hash = payloadHash) => ({
      envelopeHash: { algorithm: 'sha256', value: '00'.repeat(32) },
      payloadHash: hash,
      signatures: [{ signature: b64(sig), verifier: b64('k') }],
    });
    const own = await verifyWith('dsse', '0.0.1', dsse(mine));
    assert.equal(own.verified, true, own.message);
    refused(await verifyWith('dsse', '0.0.1', dsse(another)), /records another signature than this one/);
    refused(
      await verifyWith('dsse', '0.0.1', dsse(mine, { algorithm: 'sha256', value: digestOf(Buffer.from('other')).slice(7) })),
      /records another payload digest than this signature’s/,
    );
    refused(await verifyWith('dsse', '0.0.1', { ...dsse(mine), signatures: [null] }), /does not record one signature/);
    // Rekor v2's dsse: base64 digests and signatures.
    const v2 = (sig: Buffer) => ({
      dsseV002: {
        payloadHash: { algorithm: 'SHA2_256', digest: b64(Buffer.from(payloadHash.value, 'hex')) },
        signatures: [{ content: b64(sig), verifier: {} }],
      },
    });
    assert.equal((await verifyWith('dsse', '0.0.2', v2(mine))).verified, true);
    refused(await verifyWith('dsse', '0.0.2', v2(another)), /records another signature than this one/);
    // intoto 0.0.2 (sigstore-js's) records the envelope's signature, base64 of its base64.
    const intoto = (sig: Buffer) => ({
      content: {
        envelope: { payloadType: IN_TOTO, signatures: [{ sig: b64(b64(sig)), publicKey: b64('k') }] },
        hash: { algorithm: 'sha256', value: '00'.repeat(32) },
        payloadHash,
      },
    });
    assert.equal((await verifyWith('intoto', '0.0.2', intoto(mine))).verified, true);
    refused(await verifyWith('intoto', '0.0.2', intoto(another)), /records another signature than this one/);
    // intoto 0.0.1 records no signature: in a bundle, with no layer whose hash it records, it binds nothing.
    refused(
      await verifyWith('intoto', '0.0.1', { content: { hash: { algorithm: 'sha256', value: '00'.repeat(32) }, payloadHash } }),
      /records no signature to compare with this one’s/,
    );
    refused(await verifyWith('bogus', '0.0.1', {}), /is of kind "bogus" version "0.0.1", which is not supported/);
  });
});
