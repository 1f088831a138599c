// The registry client's parsers: WWW-Authenticate, Link, Retry-After and HTTP dates, URLs for logs.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { isLoopbackHost } from '../../src/net.ts';
import { parseChallenges, quote } from '../../src/registry/challenge.ts';
import { maskSent, parseErrorBody, plainErrorText, RegistryResponseError, responseError } from '../../src/registry/errors.ts';
import { redactUrl } from '../../src/registry/http.ts';
import { nextLink, parseLinks } from '../../src/registry/link.ts';
import { backoffDelay, parseHttpDate, retryAfterWait } from '../../src/registry/retry.ts';

/** The wait a Retry-After value asks for, capped, in ms (undefined when it says nothing usable). */
const parseRetryAfter = (value: string | null, now: number, cap: number): number | undefined => retryAfterWait(value, now, cap)?.ms;

import { covers, scopeKey, scopeSet } from '../../src/registry/scope.ts';

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".split('');
const token = fc.array(fc.constantFrom(...TCHARS), { minLength: 1, maxLength: 12 }).map((a) => a.join(''));
// Header-ish text: the characters the parsers treat specially, and some others.
const headerChars = fc
  .array(fc.constantFrom(...' \t,;="\\<>=/:aBz09-_.~+'.split(''), fc.string({ maxLength: 1 })), { maxLength: 80 })
  .map((a) => a.join(''));

function neverThrowsExceptProvenant(f: () => unknown): void {
  try {
    f();
  } catch (err) {
    assert.ok(isProvenantError(err), `threw a non-ProvenantError: ${String(err)}`);
  }
}

describe('WWW-Authenticate parser', () => {
  it('reads the challenges registries send', () => {
    assert.deepEqual(
      parseChallenges(
        'Bearer realm="https://auth.registry.example/token",service="registry.example",scope="repository:library/alpine:pull,push"',
      ),
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.registry.example/token',
            service: 'registry.example',
            scope: 'repository:library/alpine:pull,push',
          },
        },
      ],
    );
    assert.deepEqual(parseChallenges('Basic realm="Registry Realm"'), [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]);
    assert.deepEqual(parseChallenges('Basic realm="a, b", Bearer realm="https://x/token", error="insufficient_scope"'), [
      { scheme: 'basic', params: { realm: 'a, b' } },
      { scheme: 'bearer', params: { realm: 'https://x/token', error: 'insufficient_scope' } },
    ]);
    assert.deepEqual(parseChallenges('Basic'), [{ scheme: 'basic', params: {} }]);
    assert.deepEqual(parseChallenges('Negotiate abc==, Basic realm=x'), [
      { scheme: 'negotiate', params: {}, token68: 'abc==' },
      { scheme: 'basic', params: { realm: 'x' } },
    ]);
    assert.deepEqual(parseChallenges('BEARER Realm = "q\\"uote\\\\d" ,Service=svc'), [
      { scheme: 'bearer', params: { realm: 'q"uote\\d', service: 'svc' } },
    ]);
    assert.deepEqual(parseChallenges(''), []);
  });

  it('never throws on arbitrary input (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), headerChars), (s) => {
        neverThrowsExceptProvenant(() => parseChallenges(s));
      }),
      { numRuns: 2000 },
    );
  });

  it('parses generated well-formed headers exactly (property)', () => {
    const param = fc.tuple(
      token,
      fc.oneof(
        token.map((v) => ({ v, quoted: false })),
        fc.string().map((v) => ({ v, quoted: true })),
      ),
    );
    const challenge = fc.record({
      scheme: token,
      params: fc.uniqueArray(param, { selector: ([name]) => name.toLowerCase(), maxLength: 5 }),
    });
    fc.assert(
      fc.property(fc.array(challenge, { minLength: 1, maxLength: 4 }), fc.constantFrom(',', ', ', ' , '), (challenges, sep) => {
        const header = challenges
          .map((c) =>
            c.params.length === 0
              ? c.scheme
              : `${c.scheme} ${c.params.map(([n, { v, quoted }]) => `${n}=${quoted ? quote(v) : v}`).join(sep)}`,
          )
          .join(sep);
        const parsed = parseChallenges(header);
        assert.deepEqual(
          parsed,
          challenges.map((c) => ({
            scheme: c.scheme.toLowerCase(),
            params: Object.fromEntries(c.params.map(([n, { v }]) => [n.toLowerCase(), v])),
          })),
          header,
        );
      }),
      { numRuns: 1000 },
    );
  });
});

describe('Link parser', () => {
  it('reads the pagination links registries send', () => {
    const base = 'http://127.0.0.1:5000/v2/a/tags/list?n=2';
    assert.equal(nextLink('</v2/a/tags/list?last=b&n=2>; rel="next"', base)?.href, 'http://127.0.0.1:5000/v2/a/tags/list?last=b&n=2');
    assert.equal(nextLink('<https://other.example/x?a=1,2>; rel=next', base)?.href, 'https://other.example/x?a=1,2');
    assert.equal(nextLink('</p1>; rel="prev", </p3>; rel="next"', base)?.pathname, '/p3');
    assert.equal(nextLink('</p3>; rel="prev next"', base)?.pathname, '/p3');
    assert.equal(nextLink('</p1>; rel="prev"', base), undefined);
    assert.equal(nextLink(null, base), undefined);
    assert.equal(nextLink('garbage', base), undefined);
    assert.deepEqual(parseLinks('<a;b,c>; title="x, y"; rel="next"'), [{ target: 'a;b,c', params: { title: 'x, y', rel: 'next' } }]);
  });

  it('never throws on arbitrary input, and nextLink never throws for any base (property)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), headerChars), (s) => {
        neverThrowsExceptProvenant(() => parseLinks(s));
        neverThrowsExceptProvenant(() => nextLink(s, 'http://127.0.0.1:5000/v2/'));
      }),
      { numRuns: 2000 },
    );
  });

  it('parses generated well-formed headers exactly (property)', () => {
    // Targets are URI references: no "<", ">" or whitespace, but commas and semicolons allowed.
    const target = fc
      .array(fc.constantFrom(...'abcXYZ019/?&=;,.-_~%:'.split('')), { minLength: 1, maxLength: 30 })
      .map((a) => `/v2/${a.join('')}`);
    const link = fc.record({
      target,
      params: fc.uniqueArray(fc.tuple(token, fc.oneof(token, fc.string({ maxLength: 10 }))), {
        selector: ([n]) => n.toLowerCase(),
        maxLength: 3,
      }),
    });
    fc.assert(
      fc.property(fc.array(link, { maxLength: 4 }), (links) => {
        const header = links.map((l) => `<${l.target}>${l.params.map(([n, v]) => `; ${n}=${quote(v)}`).join('')}`).join(', ');
        assert.deepEqual(
          parseLinks(header),
          links.map((l) => ({ target: l.target, params: Object.fromEntries(l.params.map(([n, v]) => [n.toLowerCase(), v])) })),
          header,
        );
        const next = links.find((l) =>
          l.params.some(([n, v]) => n.toLowerCase() === 'rel' && v.toLowerCase().split(/\s+/).includes('next')),
        );
        const got = nextLink(header, 'http://127.0.0.1:5000/v2/x');
        if (next === undefined) assert.equal(got, undefined);
        else assert.equal(got?.href, new URL(next.target, 'http://127.0.0.1:5000/v2/x').href);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('registry helpers', () => {
  it('Retry-After: seconds or an HTTP-date, capped', () => {
    const now = Date.UTC(2024, 0, 1, 0, 0, 0);
    assert.equal(parseRetryAfter('3', now, 60_000), 3000);
    assert.equal(parseRetryAfter('3600', now, 60_000), 60_000);
    assert.equal(parseRetryAfter(new Date(now + 5000).toUTCString(), now, 60_000), 5000);
    assert.equal(parseRetryAfter(new Date(now - 5000).toUTCString(), now, 60_000), 0);
    assert.equal(parseRetryAfter('soon', now, 60_000), undefined);
    assert.equal(parseRetryAfter(null, now, 60_000), undefined);
    // Only the three HTTP-date forms are dates; Date.parse would read these as dates too.
    for (const notADate of ['2024-01-01', '3.5', '-1', 'Jan 1 2024', 'Mon, 01 Jan 2024 00:00:05 UTC', '1e3']) {
      assert.equal(parseRetryAfter(notADate, now, 60_000), undefined, notADate);
    }
    // The obsolete forms a recipient must still read (RFC 9110 section 5.6.7), asctime in GMT.
    assert.equal(parseRetryAfter('Monday, 01-Jan-24 00:00:07 GMT', now, 60_000), 7000);
    assert.equal(parseRetryAfter('Mon Jan  1 00:00:09 2024', now, 60_000), 9000);
    assert.equal(parseRetryAfter('Wed, 31 Feb 2024 00:00:00 GMT', now, 60_000), undefined);
  });

  it('Retry-After: the wait says what was asked, and the cap when it applied', () => {
    const now = Date.UTC(2024, 0, 1);
    assert.deepEqual(retryAfterWait('2', now, 60_000), { ms: 2000, askedMs: 2000, note: 'the registry asked to wait 2 s (Retry-After)' });
    assert.deepEqual(retryAfterWait('3600', now, 60_000), {
      ms: 60_000,
      askedMs: 3_600_000,
      note: 'the registry asked to wait 3600 s (Retry-After), capped at 60 s',
    });
    assert.equal(retryAfterWait('0', now, 60_000)?.ms, 0);
    assert.equal(retryAfterWait('later', now, 60_000), undefined);
  });

  it('Retry-After: any header value gives nothing or a wait within [0, cap]; HTTP-dates round-trip', () => {
    const now = Date.UTC(2024, 5, 15, 12, 0, 0);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 40 }), fc.stringMatching(/^[0-9]{1,30}$/), headerChars), fc.nat(200_000), (v, cap) => {
        const ms = parseRetryAfter(v, now, cap);
        assert.ok(ms === undefined || (Number.isSafeInteger(ms) && ms >= 0 && ms <= cap), `${JSON.stringify(v)} -> ${ms}`);
        const wait = retryAfterWait(v, now, cap);
        assert.equal(wait?.ms, ms);
      }),
      { numRuns: 2000 },
    );
    const second = fc.integer({ min: Date.UTC(1970, 0, 1) / 1000, max: Date.UTC(9999, 11, 31) / 1000 }).map((s) => s * 1000);
    fc.assert(
      fc.property(second, (t) => {
        const d = new Date(t);
        assert.equal(parseHttpDate(d.toUTCString()), t);
        const [wd, mon] = [d.toUTCString().slice(0, 3), d.toUTCString().slice(8, 11)];
        const hms = d.toISOString().slice(11, 19);
        const asctime = `${wd} ${mon} ${String(d.getUTCDate()).padStart(2, ' ')} ${hms} ${d.getUTCFullYear()}`;
        assert.equal(parseHttpDate(asctime), t, asctime);
        const seconds = parseRetryAfter(d.toUTCString(), now, Number.MAX_SAFE_INTEGER);
        assert.equal(seconds, Math.max(0, t - now));
      }),
      { numRuns: 1000 },
    );
  });

  it('backoff grows, stays within [exp/2, exp] and under the cap', () => {
    const policy = { attempts: 10, baseDelayMs: 100, maxDelayMs: 1000 };
    for (let retry = 1; retry < 8; retry++) {
      const exp = Math.min(1000, 100 * 2 ** (retry - 1));
      assert.equal(
        backoffDelay(retry, policy, () => 0),
        exp / 2,
      );
      assert.equal(
        backoffDelay(retry, policy, () => 0.999999),
        Math.round(exp / 2 + (0.999999 * exp) / 2),
      );
    }
  });

  it('loopback hosts and URL redaction', () => {
    for (const h of ['localhost', 'localhost:5000', '127.0.0.1:5000', '127.9.9.9', '[::1]:5000', '[::1]']) assert.ok(isLoopbackHost(h), h);
    const elsewhere = ['registry.example.org', '10.0.0.1:5000', '127.0.0.1.evil.com', 'localhost.evil.com:80', '[::2]:5000'];
    // Resolved through DNS like any other name, whatever RFC 6761 hopes: not known to be this machine.
    elsewhere.push('foo.localhost', 'registry.localhost:5000', 'localhost.', '127.256.0.1', '127.999.0.1:5000');
    for (const h of elsewhere) {
      assert.ok(!isLoopbackHost(h), h);
    }
    const redacted = redactUrl(new URL('https://u:p@r.example/v2/a/blobs/uploads/x?_state=SECRET&digest=sha256:ab&token=t0k'));
    assert.ok(!redacted.includes('SECRET') && !redacted.includes('t0k') && !redacted.includes('u:p'), redacted);
    assert.ok(redacted.includes('digest=sha256'), redacted);
  });

  it('scopes: a pull,push token covers pull, not another repository', () => {
    const granted = scopeSet(['repository:a/b:pull,push']);
    assert.ok(covers(granted, scopeSet(['repository:a/b:pull'])));
    assert.ok(!covers(granted, scopeSet(['repository:a/b:pull', 'repository:c:pull'])));
    assert.ok(!covers(scopeSet(['repository:a/b:pull']), scopeSet(['repository:a/b:push'])));
    assert.equal(scopeKey(['repository:z:push,pull', 'repository:a:pull']), 'repository:a:pull repository:z:pull,push');
  });

  it('maps distribution error bodies to codes', () => {
    const ctx = { registry: 'r.example', where: 'r.example/a:b', what: 'get manifest b', hadCredentials: true };
    const body = (code: string) => JSON.stringify({ errors: [{ code, message: 'm', detail: { x: 1 } }] });
    assert.equal(responseError(404, body('MANIFEST_UNKNOWN'), ctx).code, 'NOT_FOUND');
    assert.equal(responseError(404, 'not json', ctx).code, 'NOT_FOUND');
    assert.equal(responseError(403, body('DENIED'), ctx).code, 'DENIED');
    assert.equal(responseError(429, body('TOOMANYREQUESTS'), ctx).code, 'TOO_MANY_REQUESTS');
    assert.equal(responseError(400, body('DIGEST_INVALID'), ctx).code, 'DIGEST_MISMATCH');
    assert.equal(responseError(400, body('MANIFEST_BLOB_UNKNOWN'), ctx).code, 'REGISTRY');
    assert.equal(responseError(500, '', ctx).code, 'REGISTRY');
    // distribution 2.8 with a blob link read while another push rewrites it: both entries kept, for
    // the pusher to act on, and the hint about the missing blob although it is not the first.
    const raced = responseError(
      400,
      JSON.stringify({
        errors: [
          { code: 'DIGEST_INVALID', message: 'm' },
          { code: 'MANIFEST_BLOB_UNKNOWN', message: 'm', detail: 'sha256:ab' },
        ],
      }),
      ctx,
    );
    assert.ok(raced instanceof RegistryResponseError);
    assert.deepEqual(
      raced.registryErrors.map((e) => e.code),
      ['DIGEST_INVALID', 'MANIFEST_BLOB_UNKNOWN'],
    );
    assert.equal(raced.status, 400);
    assert.match(raced.hint ?? '', /names a blob the registry does not have/);
    const u = responseError(401, '', ctx);
    assert.equal(u.code, 'UNAUTHORIZED');
    assert.match(u.message, /wrong username or password for r\.example/);
    assert.deepEqual(parseErrorBody('{"errors":[{"code":"X"}, 3]}'), [{ code: 'X', message: '' }]);
    // A body that is not the spec's: its first line, or an HTML page's title, never an Authorization value.
    const put = { ...ctx, what: 'start blob upload' };
    assert.equal(
      responseError(405, 'Method not allowed\n', put).message,
      'r.example refused start blob upload: Method not allowed (HTTP 405)',
    );
    const page = '<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';
    assert.equal(responseError(502, page, put).message, 'r.example refused start blob upload: 502 Bad Gateway (HTTP 502)');
    assert.equal(responseError(500, '<html><body>x</body></html>', put).message, 'r.example refused start blob upload: HTTP 500');
    const echoed = responseError(400, 'bad header Authorization: Basic YWxpY2U6czNjcmV0 here', put).message;
    assert.doesNotMatch(echoed, /YWxpY2U6czNjcmV0/);
    assert.match(echoed, /Basic …/);
    assert.equal(plainErrorText(`${'x'.repeat(300)}\nsecond line`), `${'x'.repeat(200)}…`);
    fc.assert(fc.property(fc.string(), (s) => Array.isArray(parseErrorBody(s))));
  });

  // A final review: the excerpt masked only `Basic|Bearer <value>`, and the spec's JSON branch nothing.
  it("masks a credential a registry or token server echoes, in a plain body and in the spec's entries", () => {
    const ctx = { registry: 'r.example', where: 'r.example/a:b', what: 'get a token', hadCredentials: true };
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2lnbmF0dXJlU0VDUkVU';
    const bodies = [
      `invalid token ${jwt}`,
      'upstream http://alice:SECRETpw@registry.invalid/v2/ failed',
      'bad request: authorization=Basic%20YWxpY2U6U0VDUkVU&scope=repository:a:pull',
      'refresh_token=SECRETrefresh&access_token=SECRETaccess rejected',
      '{"error":"invalid_grant","refresh_token":"SECRETrefresh"}',
    ];
    for (const body of bodies) {
      const spec = JSON.stringify({ errors: [{ code: 'DENIED', message: body }] });
      for (const message of [responseError(500, body, ctx).message, responseError(500, spec, ctx).message]) {
        assert.doesNotMatch(message, /SECRET|YWxpY2U6|eyJzdWIi/, message);
        assert.match(message, /r\.example (refused|denied) get a token: /);
      }
    }
    // What the masks leave: the words around, and the names of what was masked.
    assert.equal(plainErrorText('refresh_token=SECRETrefresh&scope=pull'), 'refresh_token=…&scope=pull');
    assert.equal(plainErrorText(`invalid token ${jwt}`), 'invalid token <token>');
    assert.equal(plainErrorText('blob unknown to registry'), 'blob unknown to registry');
  });

  // A final review: a password `test` made "tag latest" read "tag la…", and a secret with `"` in it
  // was masked in no error's detail (which is masked as JSON, where it is written escaped).
  it('masks a secret the client sent where it stands as a token, not inside a word, also JSON-escaped', () => {
    assert.equal(maskSent('manifest unknown: tag latest (test: attested)', ['test']), 'manifest unknown: tag latest (…: attested)');
    assert.equal(maskSent('wrong password test for alice', ['test']), 'wrong password … for alice');
    assert.equal(maskSent('user=alice&password=test&x=1', ['test']), 'user=alice&password=…&x=1');
    assert.equal(maskSent('"password":"test"', ['test']), '"password":"…"');
    // A secret that starts or ends with something other than a letter or digit stands apart there.
    assert.equal(maskSent('xx-pw-yy and -pw-', ['-pw-']), 'xx…yy and …');
    // Letters beyond ASCII are letters too.
    assert.equal(maskSent('testé é test', ['test']), 'testé é …');
    // A secret of eight characters or more is no word: masked wherever it is, even right after
    // an escape that ends in a letter or digit (a final read found these let through).
    const long = 's3cretPW';
    for (const around of [
      '?q=%22X%22',
      'password%3DX',
      'space%20X',
      'https%3A%2F%2Fuser%3AX%40registry.invalid',
      '{"detail":"line\\nX"}',
      '"\\u0022X"',
      'aXb',
    ]) {
      const masked = maskSent(around.replace('X', long), [long]);
      assert.ok(!masked.includes(long), masked);
      assert.equal(masked, around.replace('X', '…'));
    }
    // A short secret right after an escape that ends in a letter or digit stands apart there too.
    for (const around of ['password%3DX', 'x%22X%22', '{"detail":"bad\\nX"}', '"\\u0022X"', 'a%20X b']) {
      assert.equal(maskSent(around.replace('X', 'hunter2'), ['hunter2']), around.replace('X', '…'));
    }
    assert.equal(maskSent('%20latest tag', ['test']), '%20latest tag');
    // An escaped backslash before a letter, and the escape of a letter, continue a word.
    for (const word of ['{"p":"C:\\\\ntest"}', '\\u00e9test', 'caf%C3%A9test', '%41test']) assert.equal(maskSent(word, ['test']), word);
    assert.equal(maskSent('{"p":"C:\\\\\\ntest"}', ['test']), '{"p":"C:\\\\\\n…"}');
    const quoted = 'pa"ss\\wörd';
    for (const sent of [[quoted], ['latest-build', quoted]]) {
      const escaped = JSON.stringify(quoted).slice(1, -1);
      // Quoted from a JSON body in a plain message, and in a spec entry's message and detail.
      assert.equal(maskSent(`body {"password":"${escaped}"}`, sent), 'body {"password":"…"}');
      const body = JSON.stringify({
        errors: [{ code: 'DENIED', message: `bad ${quoted}`, detail: { said: `line\n${quoted}`, [quoted]: [quoted, 1, null] } }],
      });
      const [entry] = parseErrorBody(body, sent);
      assert.equal(entry?.message, 'bad …');
      assert.deepEqual(entry?.detail, { said: 'line\n…', '…': ['…', 1, null] });
      const message = responseError(500, body, { registry: 'r.example', where: 'w', what: 'x', hadCredentials: true, sent }).message;
      assert.ok(!message.includes(quoted) && !message.includes(escaped), message);
    }
  });
});
