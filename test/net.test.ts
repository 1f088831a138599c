// Failures retrying cannot fix, recognised in the cause chains fetch and node:http produce.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { certificateError, certificateFailure, isBlockedPort } from '../src/net.ts';

/** As Node reports a TLS verification failure: an Error with OpenSSL's code. */
function tlsError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** As undici's fetch wraps it. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

describe('certificate failures', () => {
  it('finds the certificate error under fetch and node:http, and says what kind it is', () => {
    const self = tlsError(
      'DEPTH_ZERO_SELF_SIGNED_CERT',
      'self-signed certificate; if the root CA is installed locally, try running Node.js with --use-system-ca',
    );
    assert.deepEqual(certificateFailure(fetchFailed(self)), {
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      problem: 'untrusted',
      message: 'self-signed certificate',
    });
    assert.equal(certificateFailure(self)?.problem, 'untrusted');
    for (const [code, problem] of [
      ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'untrusted'],
      ['SELF_SIGNED_CERT_IN_CHAIN', 'untrusted'],
      ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'untrusted'],
      ['CERT_HAS_EXPIRED', 'expired'],
      ['CERT_NOT_YET_VALID', 'not-yet-valid'],
      ['ERR_TLS_CERT_ALTNAME_INVALID', 'wrong-name'],
      ['CERT_REVOKED', 'invalid'],
    ] as const) {
      assert.equal(certificateFailure(fetchFailed(tlsError(code, 'x')))?.problem, problem, code);
    }
    // Connection failures and other TLS failures (a plain HTTP port answering a TLS hello) are not certificates.
    for (const code of ['ECONNRESET', 'ECONNREFUSED', 'ERR_SSL_WRONG_VERSION_NUMBER', 'UND_ERR_SOCKET']) {
      assert.equal(certificateFailure(fetchFailed(tlsError(code, 'x'))), undefined, code);
    }
  });

  it('makes TLS_CERTIFICATE with a hint that fits the problem', () => {
    const untrusted = certificateError(
      fetchFailed(tlsError('SELF_SIGNED_CERT_IN_CHAIN', 'self-signed certificate in certificate chain')),
      'r.example:5000',
      'r.example:5000/a:1',
    );
    assert.equal(untrusted?.code, 'TLS_CERTIFICATE');
    assert.match(
      untrusted?.message ?? '',
      /^the TLS certificate of r\.example:5000 is not signed by a CA this machine trusts \(SELF_SIGNED_CERT_IN_CHAIN: /,
    );
    assert.match(untrusted?.hint ?? '', /NODE_EXTRA_CA_CERTS=/);
    assert.equal(untrusted?.where, 'r.example:5000/a:1');
    const expired = certificateError(tlsError('CERT_HAS_EXPIRED', 'certificate has expired'), 'r.example', 'r.example/a');
    assert.match(expired?.message ?? '', /has expired/);
    assert.match(expired?.hint ?? '', /renew/);
    const name = certificateError(
      tlsError('ERR_TLS_CERT_ALTNAME_INVALID', "Hostname/IP does not match certificate's altnames"),
      'r.example',
      'r.example/a',
    );
    assert.match(name?.hint ?? '', /subjectAltName/);
    assert.equal(certificateError(fetchFailed(tlsError('ECONNRESET', 'reset')), 'r', 'r'), undefined);
  });

  it('knows the port fetch refuses', () => {
    assert.ok(isBlockedPort(fetchFailed(new Error('bad port'))));
    assert.ok(!isBlockedPort(fetchFailed(tlsError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5000'))));
  });

  it('never throws and never loops, whatever the error value (property)', () => {
    const cyclic = new Error('a') as Error & { cause?: unknown };
    cyclic.cause = cyclic;
    assert.equal(certificateFailure(cyclic), undefined);
    fc.assert(
      fc.property(fc.anything(), (value) => {
        certificateFailure(value);
        isBlockedPort(value);
        certificateError(value, 'h', 'w');
      }),
      { numRuns: 2000 },
    );
  });
});
