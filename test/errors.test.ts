import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { maskCredentials, redactCredentials, urlWithoutUserInfo, userInfosIn, withoutUserInfo } from '../src/errors.ts';

describe('withoutUserInfo', () => {
  it('removes the user info of every http(s) URL in a text, and nothing else', () => {
    const cases: [string, string][] = [
      ['http://alice:s3cret@127.0.0.1:8080/repo', 'http://127.0.0.1:8080/repo'],
      ['  repositories: [https://TOKEN@apk.example/os, ./local]\n', '  repositories: [https://apk.example/os, ./local]\n'],
      // A Debian source line, apt's mirror+ scheme, and a password holding an "@".
      [
        'deb [signed-by=./k.asc] http://u:p@deb.example/debian bookworm main',
        'deb [signed-by=./k.asc] http://deb.example/debian bookworm main',
      ],
      ['deb mirror+https://u:p@m.example/list bookworm main', 'deb mirror+https://m.example/list bookworm main'],
      ['"https://u:p@ss@host/x"', '"https://host/x"'],
      // RFC 3986 allows ' in user info (a final review: it ended the authority, leaving ci:p'q@).
      ["https://ci:p'q@git.example/r", 'https://git.example/r'],
      // An @ in the path, a vcs-url's @commit, ssh's user, a reference's digest: no user info.
      ['https://host/a@b', 'https://host/a@b'],
      ['vcs-url: https://github.com/o/r@0123abc', 'vcs-url: https://github.com/o/r@0123abc'],
      ['ssh://git@github.com/o/r', 'ssh://git@github.com/o/r'],
      ['registry.example/a/b@sha256:abc', 'registry.example/a/b@sha256:abc'],
    ];
    for (const [text, want] of cases) assert.equal(withoutUserInfo(text), want, text);
  });

  // A cold review: Node's URL parser takes quotes, <, > and spaces in a password, and the provenance
  // published them, since the text's user info ended at any of those.
  it('removes a password of any characters the URL parser takes, from one URL and from a text that holds it', () => {
    for (const password of ["s3cr'et", 's3"cr', 'a<b>', 's3 cr', 'a@b']) {
      const url = `https://ci:${password}@apk.example/alpine/v3.20/main`;
      assert.equal(new URL(url).host, 'apk.example', url);
      assert.equal(urlWithoutUserInfo(url), 'https://apk.example/alpine/v3.20/main', url);
      const yaml = `contents:\n  repositories:\n    - ${url}\n    - "${url}"\n  packages: [busybox]\n`;
      const out = withoutUserInfo(yaml, [url]);
      assert.ok(!out.includes(password) && !out.includes('ci:'), out);
      assert.equal(out, yaml.split(`ci:${password}@`).join(''));
    }
    // Known, quotes and angle brackets are part of its password wherever the text holds it.
    const url = "https://ci:s3cr'et<b>@apk.example/main";
    assert.equal(withoutUserInfo(`- ${url}\n- x`, [url]), '- https://apk.example/main\n- x');
    // One URL: only its own authority, the rest as written; other schemes as before.
    assert.equal(urlWithoutUserInfo('  mirror+https://u:p@m.example/list?x=a@b'), '  mirror+https://m.example/list?x=a@b');
    assert.equal(urlWithoutUserInfo('https://host/a@b'), 'https://host/a@b');
    assert.equal(urlWithoutUserInfo('ssh://git@github.com/o/r'), 'ssh://git@github.com/o/r');
    assert.equal(urlWithoutUserInfo('./repo'), './repo');
  });
});

describe('redactCredentials', () => {
  it('hides user info before a host with a port, and keeps digests and the @ of a path', () => {
    const D = 'a'.repeat(64);
    const cases: [string, string][] = [
      // A one-word host with a port reads like algorithm:encoded; only hex of a digest's length is one.
      ['user:hunter2@registry:5000/app', '***@registry:5000/app'],
      ['http://user:hunter2@my-registry:8443/v2', 'http://***@my-registry:8443/v2'],
      ['https://user:pa/ss@host/x', 'https://***@host/x'],
      [`registry.example/a/b@sha256:${D}`, `registry.example/a/b@sha256:${D}`],
      [`user:pw@registry.example/a/b@sha256:${D}`, `***@registry.example/a/b@sha256:${D}`],
      // A certificate identity: the workflow's ref after an @ in the path.
      ['https://github.com/o/r/.github/workflows/x.yml@refs/heads/main', 'https://github.com/o/r/.github/workflows/x.yml@refs/heads/main'],
    ];
    for (const [text, want] of cases) assert.equal(redactCredentials(text), want, text);
  });
});

describe('one reader of user info', () => {
  // A final review: a URL that did not start the string kept a password with a quote.
  it('reads a URL anywhere in a value as the URL parser does: an apk @tag URL, Debian lines, signed-by=', () => {
    const cases: [string, string][] = [
      ['@edge http://alice:p"w@127.0.0.1:8080/repo', '@edge http://127.0.0.1:8080/repo'],
      [
        'deb [signed-by=https://k:s"x@k.invalid/a.asc] https://r.invalid/debian bookworm main',
        'deb [signed-by=https://k.invalid/a.asc] https://r.invalid/debian bookworm main',
      ],
      [
        'URIs: https://a:b"c@r.invalid/debian\nSigned-By: https://k:s x@k.invalid/a.asc\n',
        'URIs: https://r.invalid/debian\nSigned-By: https://k.invalid/a.asc\n',
      ],
      ['http:\\\\alice:pw@r.invalid/x', 'http:\\\\r.invalid/x'],
      ['http:alice:pw@r.invalid/x', 'http:r.invalid/x'],
    ];
    for (const [text, want] of cases) {
      assert.equal(withoutUserInfo(text, [text]), want, text);
      assert.equal(urlWithoutUserInfo(text), want, text);
    }
    assert.deepEqual(userInfosIn('@edge http://alice:p"w@h/x'), ['alice:p"w@']);
  });

  // A final review: a URL without a path followed later by any @ lost everything between, in a
  // value (an annotation, a deb822 source with an inline key) and in config.contents.
  it('keeps a clean value whole: a URL without a path, then an address, is no user info', () => {
    const values = [
      'Built by https://example.org, mail ops@example.org',
      'https://example.org team <ops@example.org>',
      'Types: deb\nURIs: https://apt.example.org\nSuites: stable\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n Comment: Ops <ops@example.org>\n .\n -----END PGP PUBLIC KEY BLOCK-----\n',
      "see https://example.org 'ops@example.org'",
    ];
    for (const v of values) {
      assert.equal(withoutUserInfo(v), v, v);
      assert.equal(withoutUserInfo(v, [], true), v, v);
    }
    // The deb822 source as a repository the configuration names: its URIs field ends at its line.
    const deb822 = values[2] as string;
    assert.deepEqual(userInfosIn(deb822), []);
    assert.equal(withoutUserInfo(deb822, [deb822]), deb822);
  });

  it('in free text, keeps what follows a URL that ends before an @ (a flow sequence, a comma)', () => {
    assert.equal(withoutUserInfo('[http://r.invalid:8080,foo@bar]', [], true), '[http://r.invalid:8080,foo@bar]');
    assert.equal(
      withoutUserInfo('# see http://a:b@r.invalid/x, "http://c@r.invalid"', [], true),
      '# see http://r.invalid/x, "http://r.invalid"',
    );
    // As a value, the parser's reading: that string is one URL whose user info is `r.invalid:8080,foo`.
    assert.equal(withoutUserInfo('http://r.invalid:8080,foo@bar'), 'http://bar');
  });
});

describe('maskCredentials', () => {
  it('masks JWTs, Authorization values, named tokens and user info, and keeps the words around them', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJjaSJ9.c2ln';
    const cases: [string, string][] = [
      [`invalid identity token: ${jwt}`, 'invalid identity token: <token>'],
      ['Authorization: Bearer abc.def', 'Authorization: Bearer …'],
      ['authorization=Basic%20YWxpY2U6czNjcmV0&x=1', 'authorization=…&x=1'],
      ['access_token=abc123&expires_in=60', 'access_token=…&expires_in=60'],
      ['{"token":"abc","refresh_token": "d\\"ef","expires_in":60}', '{"token":"…","refresh_token": "…","expires_in":60}'],
      ['request to https://u:p@fulcio.invalid/api failed', 'request to https://***@fulcio.invalid/api failed'],
      ['manifest unknown', 'manifest unknown'],
    ];
    for (const [text, want] of cases) assert.equal(maskCredentials(text), want, text);
  });
});
