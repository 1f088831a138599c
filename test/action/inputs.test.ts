import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parseProvenanceInput, readInputs, splitList, unreadSigningInputs } from '../../src/action/inputs.ts';
import { isProvenantError } from '../../src/errors.ts';

const inputs =
  (values: Record<string, string>) =>
  (name: string): string =>
    values[name] ?? '';

/** A USAGE error that names the input. */
const namesInput = (input: string) => (err: unknown) =>
  isProvenantError(err) && err.code === 'USAGE' && err.where === `with: ${input}` && err.message.includes(`input ${input} `);

describe('the Action’s inputs', () => {
  it('warns of a key that the chosen sign does not read (a cold review: the image went out unsigned without a word)', () => {
    const unread = (values: Record<string, string>) => {
      const get = inputs({ config: 'image.yaml', ...values });
      return unreadSigningInputs(get, readInputs(get).sign);
    };
    assert.equal(
      unread({ key: 'PEM', 'key-password': 'pw' }),
      'key and key-password are given but sign is none: the image is not signed, and they are not read; set sign: key to sign with the key',
    );
    assert.equal(
      unread({ key: 'PEM', sign: 'keyless' }),
      'key is given but sign is keyless: the image is signed keyless, and it is not read; set sign: key to sign with the key',
    );
    assert.equal(unread({ key: 'PEM', sign: 'key' }), undefined);
    assert.equal(unread({}), undefined);
    assert.equal(unread({ sign: 'keyless' }), undefined);
  });

  it('reads a full set, as build-push-action writes lists', () => {
    const read = readInputs(
      inputs({
        config: 'image.yaml',
        tags: 'registry.example/acme/app:1.0\n# a comment\nregistry.example/acme/app:latest, registry.example.org:5000/acme/app:1.0\n',
        push: 'true',
        platforms: 'linux/amd64,linux/arm64, linux/arm/v7',
        provenance: 'mode=max,version=v0.2',
        sbom: 'false',
        attestations: 'buildkit',
        sign: 'key',
        key: '-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\nabc\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n',
        'key-password': 'pw',
        targets: 'ghcr,artifactory@6.23.38',
        fix: 'TRUE',
      }),
    );
    assert.deepEqual(
      read.tags.map((t) => `${t.registry}/${t.repository}:${t.tag}`),
      ['registry.example/acme/app:1.0', 'registry.example/acme/app:latest', 'registry.example.org:5000/acme/app:1.0'],
    );
    assert.deepEqual(read.archs, ['x86_64', 'aarch64', 'armv7']);
    assert.deepEqual(read.provenance, { mode: 'max', version: 'v0.2' });
    assert.equal(read.sbom, false);
    assert.equal(read.attestations, 'buildkit');
    assert.equal(read.sign.kind, 'key');
    assert.deepEqual(read.targets, ['ghcr', 'artifactory@6.23.38']);
    assert.equal(read.fix, true);
    assert.equal(read.cacheDir, undefined);
  });

  it('builds each architecture once however often platforms names it, as the CLI’s --platform does', () => {
    const read = (platforms: string) => readInputs(inputs({ config: 'image.yaml', platforms })).archs;
    // linux/arm64/v8 is Docker's spelling of linux/arm64: one image, listed once in the index.
    assert.deepEqual(read('linux/arm64,linux/arm64/v8'), ['aarch64']);
    assert.deepEqual(read('linux/amd64\nlinux/arm64/v8, linux/amd64,linux/arm64'), ['x86_64', 'aarch64']);
    assert.deepEqual(read('linux/arm/v7,linux/arm,linux/arm/v6'), ['armv7', 'armhf']);
    // An OS alone is the runner's architecture, as on the command line.
    const host = { x64: 'x86_64', arm64: 'aarch64' }[process.arch as string];
    if (host !== undefined) assert.deepEqual(read('linux'), [host]);
  });

  it('defaults as action.yml documents them', () => {
    const read = readInputs(inputs({ config: 'image.yaml' }));
    assert.equal(read.push, false);
    assert.deepEqual(read.tags, []);
    assert.deepEqual(read.archs, []);
    assert.deepEqual(read.provenance, { mode: 'min', version: 'v1' });
    assert.equal(read.sbom, true);
    assert.equal(read.attestations, 'referrers');
    assert.deepEqual(read.sign, { kind: 'none' });
    const keyless = readInputs(inputs({ config: 'image.yaml', sign: 'keyless' }));
    assert.equal(keyless.sign.kind === 'keyless' && keyless.sign.fulcioURL, 'https://fulcio.sigstore.dev');
  });

  it('refuses each mistake with the input named', () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'config'],
      [{ config: 'c.yaml', push: 'true' }, 'tags'],
      [{ config: 'c.yaml', push: 'yes' }, 'push'],
      [{ config: 'c.yaml', tags: 'Not A Reference' }, 'tags'],
      [{ config: 'c.yaml', tags: `registry.example/a/b@sha256:${'0'.repeat(64)}` }, 'tags'],
      [{ config: 'c.yaml', platforms: 'windows/amd64' }, 'platforms'],
      [{ config: 'c.yaml', platforms: 'linux/sparc' }, 'platforms'],
      [{ config: 'c.yaml', provenance: 'mode=maximal' }, 'provenance'],
      [{ config: 'c.yaml', attestations: 'oci' }, 'attestations'],
      [{ config: 'c.yaml', attestations: 'cosign' }, 'attestations'],
      [{ config: 'c.yaml', sign: 'gpg' }, 'sign'],
      [{ config: 'c.yaml', sign: 'key' }, 'key'],
      [{ config: 'c.yaml', sign: 'keyless', 'fulcio-url': 'ftp://x' }, 'fulcio-url'],
    ];
    for (const [values, input] of cases) assert.throws(() => readInputs(inputs(values)), namesInput(input), JSON.stringify(values));
    // `sign: true`, as the boolean inputs are written: the hint says which values say how.
    assert.throws(
      () => readInputs(inputs({ config: 'c.yaml', sign: 'true' })),
      (err: unknown) => namesInput('sign')(err) && isProvenantError(err) && /sign: key .*sign: keyless/.test(err.hint ?? ''),
    );
  });

  it('fixes only for targets the workflow names: fix without targets fails, before anything is written', () => {
    // The default targets only fill the summary's table (a cold review: fix: true alone wrote,
    // and would have pushed, TAG-aws-lambda and the others for targets nobody named).
    for (const fix of ['true', 'True', 'TRUE']) {
      assert.throws(
        () => readInputs(inputs({ config: 'c.yaml', tags: 'registry.example/acme/app:1.0', push: 'true', fix })),
        (err: unknown) => namesInput('fix')(err) && isProvenantError(err) && /targets: aws-lambda/.test(err.hint ?? ''),
        fix,
      );
    }
    assert.deepEqual(readInputs(inputs({ config: 'c.yaml', fix: 'true', targets: 'aws-lambda' })).targets, ['aws-lambda']);
    assert.equal(readInputs(inputs({ config: 'c.yaml', fix: 'false' })).fix, false);
  });

  it('takes sign: false, in each spelling of a boolean input, as none; sign: true asks how to sign', () => {
    // A cold review: `false` was none but `False` and `FALSE` failed, unlike every boolean input.
    for (const sign of ['none', 'false', 'False', 'FALSE', '']) {
      assert.deepEqual(readInputs(inputs({ config: 'c.yaml', sign })).sign, { kind: 'none' }, sign);
    }
    for (const sign of ['fAlse', 'no', 'off', '0']) {
      assert.throws(() => readInputs(inputs({ config: 'c.yaml', sign })), namesInput('sign'), sign);
    }
    for (const sign of ['true', 'True', 'TRUE']) {
      assert.throws(
        () => readInputs(inputs({ config: 'c.yaml', sign })),
        (err: unknown) => namesInput('sign')(err) && isProvenantError(err) && /sign: key .*sign: keyless/.test(err.hint ?? ''),
        sign,
      );
    }
  });

  it('reads booleans as core.getBooleanInput does, every boolean input alike, provenance too', () => {
    for (const name of ['push', 'sbom', 'fix'] as const) {
      const extra = name === 'push' ? { tags: 'registry.example/acme/app:1.0' } : name === 'fix' ? { targets: 'aws-lambda' } : {};
      for (const [text, value] of [
        ['true', true],
        ['True', true],
        ['TRUE', true],
        ['false', false],
        ['False', false],
        ['FALSE', false],
      ] as const) {
        assert.equal(readInputs(inputs({ config: 'c.yaml', ...extra, [name]: text }))[name], value, `${name}: ${text}`);
      }
      for (const text of ['1', '0', 'yes', 'tRuE', 'on']) {
        assert.throws(() => readInputs(inputs({ config: 'c.yaml', ...extra, [name]: text })), namesInput(name), `${name}: ${text}`);
      }
    }
    for (const text of ['True', 'TRUE']) assert.deepEqual(parseProvenanceInput(text), { mode: 'min', version: 'v1' });
    for (const text of ['False', 'FALSE']) assert.equal(parseProvenanceInput(text), false);
    for (const text of ['1', '0', 'yes']) {
      assert.throws(() => readInputs(inputs({ config: 'c.yaml', provenance: text })), namesInput('provenance'), text);
    }
  });

  it('reads lists as build-push-action’s CSV reader does: quotes around an item go', () => {
    assert.deepEqual(splitList('"linux/amd64","linux/arm64"'), ['linux/amd64', 'linux/arm64']);
    assert.deepEqual(splitList('"linux/amd64", "linux/arm64"\n"linux/arm/v7"'), ['linux/amd64', 'linux/arm64', 'linux/arm/v7']);
    assert.deepEqual(splitList('"a""b",c'), ['a"b', 'c']);
    assert.deepEqual(splitList('"a,b",c'), ['a,b', 'c'], 'a comma inside quotes separates nothing');
    const read = readInputs(
      inputs({ config: 'c.yaml', push: 'true', tags: '"registry.example/acme/app:1.0"', platforms: '"linux/amd64","linux/arm64"' }),
    );
    assert.deepEqual(
      read.tags.map((t) => `${t.registry}/${t.repository}:${t.tag}`),
      ['registry.example/acme/app:1.0'],
    );
    assert.deepEqual(read.archs, ['x86_64', 'aarch64']);
  });

  it('quotes no credentials of a tag or URL it refuses', () => {
    for (const [values, input] of [
      [{ config: 'c.yaml', tags: 'https://user:Secret-pw@registry.example/a/b:1' }, 'tags'],
      [{ config: 'c.yaml', tags: 'user:Secret-pw@registry.example/a/b' }, 'tags'],
      [{ config: 'c.yaml', sign: 'keyless', 'fulcio-url': 'ftp://user:Secret-pw@fulcio.example' }, 'fulcio-url'],
    ] as const) {
      assert.throws(
        () => readInputs(inputs(values)),
        (err: unknown) => namesInput(input)(err) && !String(err).includes('Secret') && (err as Error).message.includes('***@'),
      );
    }
  });

  it('splits any list back into its items, whatever the separators and spacing', () => {
    const item = fc.stringMatching(/^[a-z0-9][a-z0-9./:@-]{0,20}$/);
    const sep = fc.constantFrom(',', '\n', ', ', ' ,\n', '\r\n', '\n\n');
    fc.assert(
      fc.property(fc.array(fc.tuple(item, sep), { maxLength: 8 }), (parts) => {
        const text = parts.map(([i, s]) => `${i}${s}`).join('');
        assert.deepEqual(
          splitList(text),
          parts.map(([i]) => i),
        );
      }),
    );
  });

  it('takes build-push-action’s inline-only, which changes nothing: the provenance is always stored with the image', () => {
    // docs/action.md quotes build-push-action's default in a private repository.
    assert.deepEqual(parseProvenanceInput('mode=min,inline-only=true'), { mode: 'min', version: 'v1' });
    assert.deepEqual(parseProvenanceInput('mode=max, inline-only=true'), { mode: 'max', version: 'v1' });
    assert.deepEqual(parseProvenanceInput('inline-only=false,version=v0.2'), { mode: 'min', version: 'v0.2' });
    for (const text of ['inline-only=yes', 'inline-only', 'inline-only=true=1']) {
      assert.throws(() => parseProvenanceInput(text), /inline-only=true\|false is taken too/, text);
    }
  });

  it('reads any provenance attribute list of known keys, and refuses anything else', () => {
    const attr = fc.constantFrom('mode=min', 'mode=max', 'version=v1', 'version=v0.2', 'inline-only=true', 'inline-only=false');
    fc.assert(
      fc.property(fc.array(attr, { minLength: 1, maxLength: 4 }), (attrs) => {
        const p = parseProvenanceInput(attrs.join(','));
        assert.ok(p !== false);
        const last = (k: string) =>
          attrs
            .filter((a) => a.startsWith(`${k}=`))
            .pop()
            ?.split('=')[1];
        assert.equal(p.mode, last('mode') ?? 'min');
        assert.equal(p.version, last('version') ?? 'v1');
      }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        try {
          const p = parseProvenanceInput(text);
          // Only true/false spellings and known attributes are accepted.
          assert.ok(
            p === false ||
              ['true', 'True', 'TRUE'].includes(text) ||
              /^(mode=(min|max)|version=(v1|v0\.2)|inline-only=(true|True|TRUE|false|False|FALSE))(,(mode=(min|max)|version=(v1|v0\.2)|inline-only=(true|True|TRUE|false|False|FALSE)))*$/.test(
                text
                  .split(',')
                  .map((s) => s.trim())
                  .join(','),
              ),
          );
        } catch (err) {
          assert.ok(isProvenantError(err) && err.code === 'USAGE', String(err));
        }
      }),
    );
  });
});
