// Image references and store locations.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isProvenantError } from '../../src/errors.ts';
import { formatLocation, parseLocation } from '../../src/ref/location.ts';
import { checkRegistryHost, formatReference, parseReference, repositoryName, statementImageName } from '../../src/ref/reference.ts';
import { cosignDockerReference } from '../../src/sign/payload.ts';

const HEX = 'a'.repeat(64);

describe('parseReference', () => {
  const cases: Array<[string, string, string, string | undefined, string | undefined]> = [
    ['alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['alpine:3.20', 'docker.io', 'library/alpine', '3.20', undefined],
    ['user/app', 'docker.io', 'user/app', 'latest', undefined],
    ['index.docker.io/library/alpine', 'docker.io', 'library/alpine', 'latest', undefined],
    ['registry.example/org/team/app:v1', 'registry.example', 'org/team/app', 'v1', undefined],
    ['localhost/app', 'localhost', 'app', 'latest', undefined],
    ['localhost:5000/app:x', 'localhost:5000', 'app', 'x', undefined],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000', 'a/b', 'latest', undefined],
    [`127.0.0.1:5000/a@sha256:${HEX}`, '127.0.0.1:5000', 'a', undefined, `sha256:${HEX}`],
    [`127.0.0.1:5000/a:t@sha256:${HEX}`, '127.0.0.1:5000', 'a', 't', `sha256:${HEX}`],
    ['[::1]:5000/a', '[::1]:5000', 'a', 'latest', undefined],
    ['Registry.Example/a', 'Registry.Example', 'a', 'latest', undefined],
  ];
  for (const [text, registry, repository, tag, digest] of cases) {
    it(`parses ${text}`, () => {
      const r = parseReference(text);
      assert.deepEqual({ ...r }, { registry, repository, tag, digest });
    });
  }

  const bad: Array<[string, RegExp]> = [
    ['', /empty/],
    ['docker.io/UPPER', /lower case/],
    ['app:', /tag/],
    ['app:-x', /tag/],
    ['app@sha256:abc', /digest/],
    ['app@md5:0123', /digest/],
    ['a//b', /repository path/],
    ['host:5000/', /repository/],
    [`x/${'a'.repeat(300)}`, /longer than 255/],
    ['a b', /repository path/],
    ['127.0.0.1:99999/x:1', /port of "127\.0\.0\.1:99999" is out of range/],
    ['localhost:0/x', /out of range/],
    ['[::1]:65536/x', /out of range/],
    ['999.1.1.1/x', /"999\.1\.1\.1" is not a host name or IP address/],
    ['[:::::]/x', /not a host name or IP address/],
    ['1.2.3:5000/x', /reads as the address 1\.2\.0\.3/],
    ['0x7f.0.0.1/x', /reads as the address 127\.0\.0\.1/],
  ];
  for (const [text, why] of bad) {
    it(`rejects ${JSON.stringify(text.slice(0, 30))} with a typed error`, () => {
      assert.throws(
        () => parseReference(text),
        (err: unknown) => isProvenantError(err, 'INVALID_REFERENCE') && why.test(err.message) && err.hint !== undefined,
      );
    });
  }

  const component = fc.stringMatching(/^[a-z0-9]+(?:[._-][a-z0-9]+)*$/).filter((s) => s.length > 0 && s.length < 30);
  const host = fc.oneof(fc.constantFrom('localhost', 'registry.example', '127.0.0.1', 'registry.example.com'), fc.constant(undefined));
  const port = fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined });
  const tag = fc.option(fc.stringMatching(/^[\w][\w.-]{0,20}$/), { nil: undefined });
  const digest = fc.option(
    fc.stringMatching(/^[a-f0-9]{64}$/).map((h) => `sha256:${h}`),
    { nil: undefined },
  );

  it('round-trips generated references through formatReference', () => {
    fc.assert(
      fc.property(host, port, fc.array(component, { minLength: 1, maxLength: 4 }), tag, digest, (h, p, parts, t, d) => {
        // Without a registry, a first component with a dot is a host name (as in Docker); keep it a path.
        if (h === undefined && (parts[0]!.includes('.') || parts[0] === 'localhost')) parts[0] = 'x';
        const registry = h === undefined ? undefined : p === undefined ? h : `${h}:${p}`;
        const text = `${registry === undefined ? '' : `${registry}/`}${parts.join('/')}${t === undefined ? '' : `:${t}`}${d === undefined ? '' : `@${d}`}`;
        const r = parseReference(text);
        assert.equal(r.digest, d);
        assert.equal(r.tag, t ?? (d === undefined ? 'latest' : undefined));
        assert.deepEqual(parseReference(formatReference(r)), r);
      }),
      { numRuns: 1000 },
    );
  });

  it('throws only INVALID_REFERENCE on arbitrary input, and every registry it accepts is a URL host', () => {
    // Host-like text (digits, dots, colons, brackets, hex) reaches the registry checks far more often than any string.
    const hostish = fc
      .array(fc.constantFrom(...'0123456789abcdefx.:[]-'.split('')), { minLength: 1, maxLength: 24 })
      .map((a) => `${a.join('')}/repo:1`);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 300 }), hostish), (text) => {
        try {
          const r = parseReference(text);
          assert.ok(r.repository.length > 0);
          // What the registry client will build its URLs from.
          assert.doesNotThrow(() => new URL(`https://${r.registry}/v2/`), r.registry);
        } catch (err) {
          assert.ok(isProvenantError(err, 'INVALID_REFERENCE'), String(err));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('never quotes the password of a reference pasted with credentials', () => {
    // What a password may hold; "/" only after a scheme (without one it ends the user info, as in a URL).
    const passwordChar = fc.constantFrom(..."abcXYZ0189!$&'()*+,;=~-._%:@".split(''));
    const scheme = fc.constantFrom('', 'https://', 'http://', 'docker://', 'ssh://');
    const registry = fc.constantFrom('registry.example', 'localhost:5000', '127.0.0.1:5000', 'registry.example.com', '[::1]:5000');
    const after = fc.constantFrom('', '/app', '/org/app:1', `/app@sha256:${HEX}`, '/org/app:v1.2@sha256:bad', '/UPPER', '/a//b');
    const user = fc.option(fc.constantFrom('user', 'oauth2accesstoken', 'x-access-token'), { nil: undefined });
    fc.assert(
      fc.property(
        scheme,
        user,
        fc.string({ unit: passwordChar, minLength: 1, maxLength: 16 }),
        fc.boolean(),
        registry,
        after,
        (sc, u, p, slash, r, a) => {
          // "Pw" marks the password: no other part of the text holds it.
          const password = `Pw${slash && sc !== '' ? '/' : ''}${p}`;
          const text = `${sc}${u === undefined ? '' : `${u}:`}${password}@${r}${a}`;
          for (const attempt of [
            () => parseReference(text),
            () => parseLocation(text),
            () => checkRegistryHost(`${u ?? 'u'}:${password}@${r}`),
          ]) {
            try {
              attempt();
              assert.fail(`accepted ${text}`);
            } catch (err) {
              assert.ok(isProvenantError(err, 'INVALID_REFERENCE'), String(err));
              for (const shown of [err.message, err.where ?? '', err.hint ?? '', String(err)]) {
                assert.ok(!shown.includes(password), `the password of ${text} is in: ${shown}`);
              }
            }
          }
        },
      ),
      { numRuns: 3000 },
    );
    assert.throws(
      () => parseReference('https://user:hunter2@registry.example/org/app:1'),
      (err: unknown) =>
        isProvenantError(err, 'INVALID_REFERENCE') &&
        err.message.startsWith('"https://***@registry.example/org/app:1" is not an image reference'),
    );
    // A mistyped digest is still quoted whole: there is nothing secret in it.
    assert.throws(
      () => parseReference('alpine:3@sha256:abc'),
      (err: unknown) => isProvenantError(err, 'INVALID_REFERENCE') && err.message.startsWith('"alpine:3@sha256:abc"'),
    );
  });

  it('accepts a port exactly when it is from 1 to 65535', () => {
    fc.assert(
      fc.property(fc.constantFrom('localhost', '127.0.0.1', 'registry.example.com', '[::1]'), fc.nat(200_000), (h, p) => {
        const ok = p >= 1 && p <= 65535;
        try {
          assert.equal(parseReference(`${h}:${p}/a/b:1`).registry, `${h}:${p}`);
          assert.ok(ok, `${h}:${p} accepted`);
        } catch (err) {
          assert.ok(!ok && isProvenantError(err, 'INVALID_REFERENCE') && /out of range/.test(err.message), String(err));
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('parseLocation', () => {
  it('reads the store prefixes skopeo uses', () => {
    assert.deepEqual(parseLocation('oci:out'), { kind: 'oci', path: 'out', tag: undefined, digest: undefined });
    assert.deepEqual(parseLocation('oci:./out:v1'), { kind: 'oci', path: './out', tag: 'v1', digest: undefined });
    assert.deepEqual(parseLocation(`oci:/tmp/x@sha256:${HEX}`), { kind: 'oci', path: '/tmp/x', tag: undefined, digest: `sha256:${HEX}` });
    assert.deepEqual(parseLocation('oci-archive:img.tar'), { kind: 'oci-archive', path: 'img.tar', tag: undefined, digest: undefined });
    // The first `:` ends the path before a digest too: a tag and a digest, as REPO:TAG@DIGEST.
    for (const kind of ['oci', 'oci-archive'] as const) {
      const both = parseLocation(`${kind}:out:t1@sha256:${HEX}`);
      assert.deepEqual(both, { kind, path: 'out', tag: 't1', digest: `sha256:${HEX}` });
      assert.equal(formatLocation(both), `${kind}:out:t1@sha256:${HEX}`);
    }
    assert.throws(
      () => parseLocation(`oci:out:bad tag@sha256:${HEX}`),
      (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE') && /tag/.test(e.message),
    );
    const da = parseLocation('docker-archive:img.tar:example.com/app:1');
    assert.equal(da.kind, 'docker-archive');
    assert.equal(da.kind === 'docker-archive' && da.reference?.tag, '1');
    const reg = parseLocation('docker://127.0.0.1:5000/x:y');
    assert.equal(reg.kind === 'registry' && reg.reference.registry, '127.0.0.1:5000');
  });

  it("takes everything after the path as a layout's tag, as skopeo's oci: transport does: ref.name may hold / : @", () => {
    for (const kind of ['oci', 'oci-archive'] as const) {
      for (const tag of ['example.org/app:v1', 'app@v2', 'a+b', 'x--y', 'registry.invalid:5000/team/app:1.0']) {
        const loc = parseLocation(`${kind}:out:${tag}`);
        assert.deepEqual(loc, { kind, path: 'out', tag, digest: undefined });
        assert.equal(formatLocation(loc), `${kind}:out:${tag}`);
        // A whole digest at the end is still a digest reference, not part of the tag.
        assert.deepEqual(parseLocation(`${kind}:out:${tag}@sha256:${HEX}`), { kind, path: 'out', tag, digest: `sha256:${HEX}` });
      }
    }
    // Outside the grammar: a space, an empty part, a separator at an end.
    for (const tag of ['a b', 'a//b', 'a/', 'a:', '@a', 'a::b']) {
      assert.throws(
        () => parseLocation(`oci:out:${tag}`),
        (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE') && e.message === `"${tag}" is not a valid tag`,
        tag,
      );
    }
  });

  it('says what is wrong with a bad location', () => {
    assert.throws(
      () => parseLocation('oci:'),
      (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE') && /path/.test(e.message),
    );
    assert.throws(
      () => parseLocation('oci:dir:bad tag'),
      (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE') && /tag/.test(e.message),
    );
    assert.throws(
      () => parseLocation('oci:dir@sha256:zz'),
      (e: unknown) => isProvenantError(e, 'INVALID_REFERENCE'),
    );
  });
});

describe('statementImageName', () => {
  it("is the repository without tag or digest, Docker Hub spelled docker.io where cosign's docker-reference spells it index.docker.io", () => {
    const hub = parseReference('alpine:3');
    assert.equal(statementImageName(hub), 'docker.io/library/alpine');
    assert.equal(cosignDockerReference(hub), 'index.docker.io/library/alpine');
    assert.equal(repositoryName(hub, 'ggcr'), 'index.docker.io/library/alpine');
    // Any other registry is named the same by both.
    const other = parseReference(`registry.example:5000/team/app:1@sha256:${'a'.repeat(64)}`);
    assert.equal(statementImageName(other), 'registry.example:5000/team/app');
    assert.equal(cosignDockerReference(other), 'registry.example:5000/team/app');
    assert.equal(repositoryName(other, 'ggcr'), 'registry.example:5000/team/app');
  });
});
