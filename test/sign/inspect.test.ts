/**
 * What `inspect` says of a cosign 2 `.att` layer: signed, and by which key, only when its payload
 * is a DSSE envelope (read as verification reads it, parseEnvelope), not when it merely holds a
 * `"sig"` and a `"keyid"`.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarize } from '../../src/sign/inspect.ts';
import { encodeEnvelope } from '../../src/sign/payload.ts';
import type { FoundSignature } from '../../src/sign/storage.ts';

const utf8 = new TextEncoder();

/** A `.att` layer of `payload`, as findSignatures gives it. */
const attestation = (payload: Uint8Array): FoundSignature => ({
  storage: 'cosign',
  format: 'cosign-layer',
  kind: 'attestation',
  source: 'sha256-0.att',
  layer: { mediaType: 'application/vnd.dsse.envelope.v1+json', payload, annotations: {} },
});

describe('summarize, for a .att layer', () => {
  it('names the key of an envelope signed with one, and none of an envelope that names none (cosign 2)', () => {
    const envelope = (keyid: string) =>
      encodeEnvelope({
        payloadType: 'application/vnd.in-toto+json',
        payload: utf8.encode('{}'),
        signatures: [{ keyid, sig: utf8.encode('s') }],
      });
    const named = summarize(attestation(envelope('SHA256:abc')));
    assert.equal(named.signed, true);
    assert.equal(named.keyId, 'SHA256:abc');
    assert.equal(named.error, undefined);
    const unnamed = summarize(attestation(envelope('')));
    assert.equal(unnamed.signed, true);
    assert.equal(unnamed.keyId, undefined);
  });

  it('says a payload that is not a DSSE envelope is not signed by the key it names, and why', () => {
    const notEnvelopes = [
      // No payloadType, and a payload that is not base64: a "sig" and a "keyid" are not an envelope.
      '{"signatures":[{"keyid":"SHA256:abc","sig":"c2ln"}]}',
      '{"payloadType":"application/vnd.in-toto+json","payload":"!!","signatures":[{"keyid":"SHA256:abc","sig":"c2ln"}]}',
      '{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"SHA256:abc","sig":"not base64!"}]}',
    ];
    for (const text of notEnvelopes) {
      const s = summarize(attestation(utf8.encode(text)));
      assert.equal(s.signed, false, text);
      assert.equal(s.keyId, undefined, text);
      assert.match(s.error ?? '', /^not a DSSE envelope: /, text);
    }
  });
});
