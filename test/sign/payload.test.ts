// Simple-signing payloads, DSSE envelopes and in-toto statements, byte for byte as cosign makes them.
import assert from 'node:assert/strict';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { parseReference } from '../../src/ref/reference.ts';
import {
  cosignDockerReference,
  cosignSignStatement,
  encodeEnvelope,
  goJson,
  pae,
  parseEnvelope,
  parsePredicateType,
  parseSimpleSigning,
  parseStatement,
  simpleSigningPayload,
  statementNames,
} from '../../src/sign/payload.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';

const read = (dir: string, name: string) => readFile(fixture(dir, name));

describe('simple-signing payload', { skip: fixturesMissing }, () => {
  it('is byte for byte what cosign wrote, given the same reference and digest', async () => {
    for (const name of [
      'derived-cimage-dir-img-cosign-valid.payload.json',
      'derived-cimage-dir-img-cosign-key-rekor-valid.payload.json',
      'derived-cimage-dir-img-cosign-fulcio-rekor-valid.payload.json',
      'cimage-internal-rekor-payload',
    ]) {
      const bytes = await read('sig', name);
      const parsed = parseSimpleSigning(bytes);
      assert.equal(parsed.optional, null);
      const ours = simpleSigningPayload(parsed.dockerReference, parsed.digest);
      assert.equal(Buffer.from(ours).toString(), bytes.toString(), name);
    }
    const fromOci = await read('oci', 'cosign-simplesigning-payload_decoded-from-containers-image-fixture.json');
    const p = parseSimpleSigning(fromOci);
    assert.deepEqual(Buffer.from(simpleSigningPayload(p.dockerReference, p.digest)), fromOci);
  });

  it('writes -a annotations as cosign does: keys sorted, Go string escapes', () => {
    const digest = `sha256:${'a'.repeat(64)}` as Digest;
    const bytes = Buffer.from(simpleSigningPayload('r.example/x', digest, { z: '1', a: '<b>&' })).toString();
    assert.equal(
      bytes,
      `{"critical":{"identity":{"docker-reference":"r.example/x"},"image":{"docker-manifest-digest":"${digest}"},"type":"cosign container image signature"},"optional":{"a":"\\u003cb\\u003e\\u0026","z":"1"}}`,
    );
    assert.deepEqual(parseSimpleSigning(Buffer.from(bytes)).optional, { a: '<b>&', z: '1' });
  });

  it('names Docker Hub as go-containerregistry does', () => {
    assert.equal(cosignDockerReference(parseReference('alpine:3')), 'index.docker.io/library/alpine');
    assert.equal(cosignDockerReference(parseReference(`127.0.0.1:5000/a/b@sha256:${'b'.repeat(64)}`)), '127.0.0.1:5000/a/b');
  });

  it('refuses payloads of another type, each with its reason', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const doc = (type: string, d: string) =>
      Buffer.from(JSON.stringify({ critical: { identity: { 'docker-reference': 'x' }, image: { 'docker-manifest-digest': d }, type } }));
    assert.throws(() => parseSimpleSigning(doc('atomic container signature', digest)), /critical.type/);
    assert.throws(() => parseSimpleSigning(doc('cosign container image signature', 'sha256:zz')), /not a digest/);
    assert.throws(() => parseSimpleSigning(Buffer.from('[]')), /not a JSON object/);
  });

  it('the parser only ever answers with a payload or a SIGNATURE error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue().map((v) => JSON.stringify(v)),
          fc.string(),
        ),
        (text) => {
          try {
            parseSimpleSigning(Buffer.from(text));
          } catch (err) {
            assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
          }
        },
      ),
    );
  });
});

describe('DSSE', { skip: fixturesMissing }, () => {
  it('PAE and the envelope of the DSSE spec test vector', async () => {
    const v = JSON.parse((await read('sig', 'dsse-protocol-testvector.json')).toString());
    const body = new TextEncoder().encode(v.body);
    assert.equal(Buffer.from(pae(v.payloadType, body)).toString(), v.pae);
    const env = parseEnvelope(Buffer.from(JSON.stringify(v.envelope)));
    assert.equal(env.payloadType, v.payloadType);
    assert.equal(Buffer.from(env.payload).toString(), v.body);
    assert.equal(env.signatures[0]?.keyid, '');
    // The spec's signature is IEEE P1363 (r||s) over the PAE.
    const key = createPublicKey(v.publicKeyPem);
    assert.ok(
      cryptoVerify('sha256', pae(env.payloadType, env.payload), { key, dsaEncoding: 'ieee-p1363' }, env.signatures[0]!.sig),
      'the test vector signature verifies over our PAE',
    );
    assert.ok(!cryptoVerify('sha256', body, { key, dsaEncoding: 'ieee-p1363' }, env.signatures[0]!.sig));
  });

  it('PAE counts bytes, not characters', () => {
    assert.equal(Buffer.from(pae('t', new TextEncoder().encode('é'))).toString(), 'DSSEv1 1 t 2 é');
    assert.equal(Buffer.from(pae('ü', new Uint8Array())).toString(), 'DSSEv1 2 ü 0 ');
  });

  it('writes envelopes in cosign 2’s field order and reads both writers’', async () => {
    const env = {
      payloadType: 'application/vnd.in-toto+json',
      payload: new TextEncoder().encode('{}'),
      signatures: [{ keyid: '', sig: new Uint8Array([1, 2]) }],
    };
    const bytes = Buffer.from(encodeEnvelope(env)).toString();
    assert.equal(bytes, '{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"keyid":"","sig":"AQI="}]}');
    assert.deepEqual(parseEnvelope(Buffer.from(bytes)), env);
    // cosign 2's own .att envelope and a protobuf-ordered one (cosign 3's legacy writer).
    for (const name of ['cosign-policy-valid-custom.dsse.json', 'derived-cosign-oci-attestation.dsse-envelope.json']) {
      const e = parseEnvelope(await read('sig', name));
      assert.equal(e.payloadType, 'application/vnd.in-toto+json');
      assert.equal(parseStatement(e.payload).predicateType, 'https://cosign.sigstore.dev/attestation/v1');
    }
  });

  it('refuses envelopes without signatures or with broken base64', () => {
    assert.throws(() => parseEnvelope(Buffer.from('{"payloadType":"t","payload":"e30=","signatures":[]}')), /no signatures/);
    assert.throws(
      () => parseEnvelope(Buffer.from('{"payloadType":"t","payload":"!!","signatures":[{"sig":"AA=="}]}')),
      /payload is not base64/,
    );
    // An empty signature is valid base64 and still no signature: said as such, not as broken base64.
    assert.throws(
      () => parseEnvelope(Buffer.from('{"payloadType":"t","payload":"e30=","signatures":[{"sig":""}]}')),
      /a signature is empty/,
    );
    assert.throws(
      () => parseEnvelope(Buffer.from('{"payloadType":"t","payload":"e30=","signatures":[{"sig":"!!"}]}')),
      /a signature is not base64/,
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseEnvelope(Buffer.from(JSON.stringify(v)));
        } catch (err) {
          assert.ok(isProvenantError(err, 'SIGNATURE'), String(err));
        }
      }),
    );
  });
});

describe('in-toto statements', { skip: fixturesMissing }, () => {
  it('the cosign/sign/v1 statement is byte for byte cosign 3.0.2’s', async () => {
    const bundle = JSON.parse((await read('oci', 'cosign-v3-sigstore-bundle-v0.3_dsse-cosign-sign-v1.json')).toString());
    const payload = Buffer.from(bundle.dsseEnvelope.payload, 'base64');
    const s = parseStatement(payload);
    const digest = `sha256:${s.subjects[0]!.digest.sha256}` as Digest;
    assert.deepEqual(Buffer.from(cosignSignStatement(digest)), payload);
    assert.ok(statementNames(s, digest));
    assert.ok(!statementNames(s, `sha256:${'0'.repeat(64)}`));
  });

  it('refuses a statement nesting deeper than every reader walks, as the unverified readers do', () => {
    const statement = (predicate: string) =>
      Buffer.from(
        `{"_type":"https://in-toto.io/Statement/v1","predicateType":"https://spdx.dev/Document","subject":[{"digest":{"sha256":"${'a'.repeat(64)}"}}],"predicate":${predicate}}`,
      );
    // The statement's object is one level: a predicate of 255 is read, of 256 or 5,000 refused.
    assert.equal(parseStatement(statement(`${'['.repeat(255)}${']'.repeat(255)}`)).predicateType, 'https://spdx.dev/Document');
    for (const depth of [256, 5000]) {
      assert.throws(
        () => parseStatement(statement(`${'['.repeat(depth)}${']'.repeat(depth)}`)),
        (err: unknown) => isProvenantError(err, 'SIGNATURE') && /nests lists and objects more than 256 levels deep/.test(err.message),
      );
    }
  });

  it('refuses a statement that is not UTF-8 as a statement, not with a TypeError', () => {
    const bytes = Buffer.concat([Buffer.from('{"_type":"https://in-toto.io/Statement/v1","x":"'), Buffer.from([0xff]), Buffer.from('"}')]);
    assert.throws(
      () => parseStatement(bytes),
      (err: unknown) => isProvenantError(err, 'SIGNATURE') && /not an in-toto Statement: not UTF-8/.test(err.message),
    );
  });

  it('puts -a annotations on the subject', () => {
    const digest = `sha256:${'c'.repeat(64)}` as Digest;
    const s = JSON.parse(Buffer.from(cosignSignStatement(digest, { b: '2', a: '1' })).toString());
    assert.deepEqual(s.subject, [{ digest: { sha256: 'c'.repeat(64) }, annotations: { a: '1', b: '2' } }]);
  });

  it('matches subjects by algorithm, including sha512 ones', async () => {
    const s = parseStatement(await read('sig', 'sjs-statement.json'));
    const [alg, hex] = Object.entries(s.subjects[0]!.digest)[0]!;
    assert.equal(alg, 'sha512');
    assert.ok(statementNames(s, `sha512:${hex}` as Digest));
  });
});

describe('predicate types', () => {
  it('knows cosign’s short names and takes URIs as they are', () => {
    assert.equal(parsePredicateType('slsaprovenance'), 'https://slsa.dev/provenance/v0.2');
    assert.equal(parsePredicateType('slsaprovenance02'), 'https://slsa.dev/provenance/v0.2');
    assert.equal(parsePredicateType('slsaprovenance1'), 'https://slsa.dev/provenance/v1');
    assert.equal(parsePredicateType('spdx'), 'https://spdx.dev/Document');
    assert.equal(parsePredicateType('spdxjson'), 'https://spdx.dev/Document');
    assert.equal(parsePredicateType('cyclonedx'), 'https://cyclonedx.org/bom');
    assert.equal(parsePredicateType('vuln'), 'https://cosign.sigstore.dev/attestation/vuln/v1');
    assert.equal(parsePredicateType('custom'), 'https://cosign.sigstore.dev/attestation/v1');
    assert.equal(parsePredicateType('https://example.com/p/v1'), 'https://example.com/p/v1');
    assert.throws(
      () => parsePredicateType('not a type'),
      (e: unknown) => isProvenantError(e, 'USAGE'),
    );
    // Names on Object's prototype are not short names.
    for (const name of ['constructor', 'toString', '__proto__', 'hasOwnProperty'])
      assert.throws(
        () => parsePredicateType(name),
        (e: unknown) => isProvenantError(e, 'USAGE'),
        name,
      );
  });

  it('goJson sorts keys by UTF-8 bytes as Go does', () => {
    assert.equal(goJson({ b: 1, a: [true, null], '\u00e9': 'x', Z: 'y' }), '{"Z":"y","a":[true,null],"b":1,"é":"x"}');
  });
});
