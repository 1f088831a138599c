// The build type and the kinds of dependency a provenance names, per package ecosystem.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { BUILD_TYPES, type ProvenanceInput, provenance, provenancePredicate } from '../../src/attest/provenance.ts';
import { isProvenantError } from '../../src/errors.ts';

const SHA = 'a'.repeat(64);

function input(over: Partial<ProvenanceInput>): ProvenanceInput {
  return {
    configFiles: [{ path: 'image.yaml', sha256: SHA, content: 'contents: {}\n' }],
    archs: ['x86_64'],
    sourceDateEpoch: 0,
    fromLock: false,
    indexes: [],
    packages: [],
    keys: [],
    builderId: 'https://example.com/builder',
    toolVersion: '0.0.0-test',
    byproducts: [],
    mode: 'min',
    ...over,
  };
}

const deb = {
  name: 'base-files',
  version: '12.4',
  architecture: 'amd64',
  url: 'http://127.0.0.1/debian/pool/main/b/base-files/base-files_12.4_amd64.deb',
  checksum: `sha256:${SHA}`,
  sha256: SHA,
};
const apk = {
  name: 'busybox',
  version: '1.36.1-r2',
  architecture: 'x86_64',
  url: './repo/x86_64/busybox-1.36.1-r2.apk',
  checksum: 'Q1abc=',
  sha256: SHA,
};
const index = (url: string) => ({ url, arch: 'x86_64', digest: `sha256:${SHA}` as const });

// biome-ignore lint/suspicious/noExplicitAny: the predicate is JSON
const definition = (p: Record<string, unknown>): any => p.buildDefinition;

describe('provenance without credentials', () => {
  it("publishes no repository password, whatever its characters (a cold review: one with ' went out three times)", () => {
    for (const password of ["s3cr'et", 's3"cr', 'a<b>', 's3 cr']) {
      const repo = `https://ci:${password}@apk.example/alpine/v3.20/main`;
      const predicate = provenancePredicate(
        input({
          configFiles: [{ path: 'apko.yaml', sha256: SHA, content: `contents:\n  repositories:\n    - ${repo}\n  packages: [busybox]\n` }],
          contents: { repositories: [repo], keyring: [`${repo}/key.rsa.pub`], packages: ['busybox'] },
          indexes: [{ url: `${repo}/x86_64/APKINDEX.tar.gz`, arch: 'x86_64', digest: `sha256:${SHA}` }],
          packages: [{ ...apk, url: `${repo}/x86_64/busybox-1.36.1-r2.apk` }],
        }),
      );
      const text = JSON.stringify(predicate);
      assert.ok(!text.includes(password) && !text.includes('ci:'), `${password}: ${text}`);
      assert.ok(text.includes('https://apk.example/alpine/v3.20/main/x86_64/APKINDEX.tar.gz'), text);
    }
  });
});

describe('provenance without credentials, however the file spells them', () => {
  // The password as the build reads it, and the file that spells it each way (a cold review: a
  // JSON \u escape left it in config.files[].content while config.contents was clean).
  const host = '127.0.0.1:8080/repo';
  const cases: { name: string; password: string; content: string }[] = [
    {
      name: 'JSON \\u escapes (python json.dump)',
      password: 'p\u00e4ssW0rd',
      content: `{"contents": {"repositories": ["http://alice:p\\u00e4ssW0rd@${host}"], "packages": ["busybox"]}}\n`,
    },
    {
      name: 'YAML double-quoted \\" escape',
      password: 'TopSecret"9',
      content: `contents:\n  repositories:\n    - "http://alice:TopSecret\\"9@${host}"\n  packages: [busybox]\n`,
    },
    {
      name: 'YAML double-quoted \\x and \\u escapes',
      password: 'sdcret\u00e4',
      content: `contents:\n  repositories: ["http://alice:s\\x64cret\\u00e4@${host}"]\n  packages: [busybox]\n`,
    },
    {
      name: "YAML single-quoted ''",
      password: "it's",
      content: `contents:\n  repositories:\n    - 'http://alice:it''s@${host}'\n  packages: [busybox]\n`,
    },
    {
      name: 'YAML literal block scalar',
      password: 'bl0ck',
      content: `contents:\n  repositories:\n    - |-\n      http://alice:bl0ck@${host}\n  packages: [busybox]\n`,
    },
    {
      name: 'YAML folded block scalar over a line break',
      password: 'fo ld',
      content: `contents:\n  repositories:\n    - >-\n      http://alice:fo\n      ld@${host}\n  packages: [busybox]\n`,
    },
    {
      name: 'percent-encoding, behind an anchor',
      password: 'p%C3%A4ss',
      content: `x: &r http://alice:p%C3%A4ss@${host}\ncontents:\n  repositories: [*r]\n  packages: [busybox]\n`,
    },
    {
      name: 'a Debian source line with a signed-by URL, escaped',
      password: 'k\u00e9y',
      content: `contents:\n  repositories:\n    - "deb [signed-by=https://bob:k\\u00e9y@keys.example/k.gpg] http://alice:k\\u00e9y@${host} stable main"\n`,
    },
  ];
  for (const c of cases) {
    it(`removes it from the files' text too: ${c.name}`, () => {
      const url = c.name.startsWith('a Debian')
        ? `deb [signed-by=https://bob:${c.password}@keys.example/k.gpg] http://alice:${c.password}@${host} stable main`
        : `http://alice:${c.password}@${host}`;
      const predicate = provenancePredicate(
        input({
          configFiles: [{ path: 'image.yaml', sha256: SHA, content: c.content }],
          contents: { repositories: [url], keyring: [], packages: ['busybox'] },
        }),
      );
      const file = definition(predicate).externalParameters.config.files[0];
      for (const text of [JSON.stringify(predicate), file.content as string]) {
        assert.ok(!text.includes('alice') && !text.includes('bob'), `${c.name}: ${text}`);
        for (const part of [c.password, c.password.slice(0, 3), 'TopSecret', 's\\x64cret'])
          assert.ok(!text.includes(part), `${c.name}: ${text}`);
      }
      // What a rebuild reads: the same repository, without its user info, and the digest of the text stated.
      assert.equal(file.digest.sha256, createHash('sha256').update(file.content).digest('hex'));
      // Still the same configuration, but for the user info: what the loader reads from it.
      const want = url.replaceAll(`alice:${c.password}@`, '').replaceAll(`bob:${c.password}@`, '');
      assert.deepEqual(parse(file.content, { schema: 'failsafe' }).contents.repositories, [want]);
    });
  }

  it("removes user info only where a URL's authority starts: another value that holds the same words is kept", () => {
    const repo = `http://git@${host}`;
    const content = `contents:\n  repositories: ["http://g\\x69t@${host}"]\n  packages: [busybox]\nannotations:\n  source: git@example.org:o/r.git\n`;
    const predicate = provenancePredicate(
      input({
        configFiles: [{ path: 'image.yaml', sha256: SHA, content }],
        contents: { repositories: [repo], keyring: [], packages: ['busybox'] },
      }),
    );
    const parsed = parse(definition(predicate).externalParameters.config.files[0].content, { schema: 'failsafe' });
    assert.deepEqual(parsed.contents.repositories, [`http://${host}`]);
    assert.equal(parsed.annotations.source, 'git@example.org:o/r.git');
  });

  // These spellings were refused while only `//` started a URL's user info; the fetcher reads both
  // as http://alice:pw@host, and so does the one reader of user info now, which removes it.
  it('removes user info spelled without "//" (http:\\\\user:pw@host, http:user:pw@host), in the text and the contents', () => {
    for (const repo of [`http:\\\\alice:pw@${host}`, `http:alice:pw@${host}`]) {
      assert.equal(new URL(repo).username, 'alice');
      const content = `contents:\n  repositories: [${JSON.stringify(repo)}]\n`;
      const predicate = provenancePredicate(
        input({
          configFiles: [{ path: 'image.yaml', sha256: SHA, content }],
          contents: { repositories: [repo], keyring: [], packages: [] },
        }),
      );
      const text = JSON.stringify(predicate);
      assert.ok(!text.includes('alice') && !text.includes('pw@'), text);
      assert.equal(new URL(definition(predicate).externalParameters.config.contents.repositories[0]).username, '');
    }
  });

  // A final review: config.contents kept the user info of a repository that does not start with its
  // URL (an apk tag, a Debian line) when the password held a quote, while the file's text was clean.
  it('removes the user info of an apk @tag URL, a Debian one-line or deb822 source and a signed-by= URL from config.contents', () => {
    const cases: [string, string][] = [
      [`@edge http://alice:p"wSECRET@${host}/repo`, `@edge http://${host}/repo`],
      [`@edge http://alice:p wSECRET@${host}/repo`, `@edge http://${host}/repo`],
      [
        `deb [signed-by=https://k:s"xSECRET@keys.example/a.asc] http://alice:p"wSECRET@${host}/debian bookworm main`,
        `deb [signed-by=https://keys.example/a.asc] http://${host}/debian bookworm main`,
      ],
      [
        `Types: deb\nURIs: http://alice:p"wSECRET@${host}/debian\nSuites: bookworm\nSigned-By: https://k:s"x SECRET@keys.example/a.asc\n`,
        `Types: deb\nURIs: http://${host}/debian\nSuites: bookworm\nSigned-By: https://keys.example/a.asc\n`,
      ],
    ];
    for (const [repo, want] of cases) {
      const predicate = provenancePredicate(
        input({
          configFiles: [{ path: 'image.json', sha256: SHA, content: `${JSON.stringify({ contents: { repositories: [repo] } })}\n` }],
          contents: { repositories: [repo], keyring: [repo], packages: [] },
        }),
      );
      const contents = definition(predicate).externalParameters.config.contents;
      assert.deepEqual(contents.repositories, [want], repo);
      assert.deepEqual(contents.keyring, [want], repo);
      assert.ok(!JSON.stringify(predicate).includes('SECRET'), JSON.stringify(predicate));
    }
  });

  // A final review: a URL without a path followed later by any @ lost everything between (another
  // host for the deb822 source, in config.contents too, which a rebuild reads).
  it("removes the user info of a URL that is no repository, a ' in its password too (RFC 3986 allows it)", () => {
    const yaml = "annotations:\n  source: https://ci:p'q@git.example/r\n";
    const predicate = provenancePredicate(input({ configFiles: [{ path: 'image.yaml', sha256: SHA, content: yaml }] }));
    const text = definition(predicate).externalParameters.config.files[0].content as string;
    assert.ok(!text.includes("p'q"), text);
    assert.match(text, /source: "?https:\/\/git\.example\/r"?/);
  });

  it('keeps clean values whole: a URL without a path, then an email address', () => {
    const deb822 =
      'Types: deb\nURIs: https://apt.example.org\nSuites: stable\nComponents: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n Comment: Ops <ops@example.org>\n .\n -----END PGP PUBLIC KEY BLOCK-----\n';
    const content = `${JSON.stringify(
      {
        contents: { repositories: [deb822], packages: [] },
        annotations: {
          description: 'Built by https://example.org, mail ops@example.org',
          authors: 'https://example.org team <ops@example.org>',
        },
      },
      null,
      2,
    )}\n`;
    const yaml = `annotations:\n  description: "Built by https://example.org, mail ops@example.org"\n  authors: https://example.org team <ops@example.org>\n`;
    for (const [path, text] of [
      ['image.json', content],
      ['image.yaml', yaml],
    ] as const) {
      const predicate = provenancePredicate(
        input({
          configFiles: [{ path, sha256: SHA, content: text }],
          contents: { repositories: [deb822], keyring: [], packages: [] },
        }),
      );
      const ext = definition(predicate).externalParameters;
      assert.equal(ext.config.files[0].content, text);
      assert.equal(ext.config.files[0].digest.sha256, SHA);
      assert.deepEqual(ext.config.contents.repositories, [deb822]);
    }
  });

  it('keeps a clean flow sequence as written: the foo@bar after a URL with a port is no user info', () => {
    const content = 'contents:\n  repositories: [http://r.invalid:8080,foo@bar]\n';
    const predicate = provenancePredicate(
      input({
        configFiles: [{ path: 'image.yaml', sha256: SHA, content }],
        contents: { repositories: ['http://r.invalid:8080'], keyring: [], packages: [] },
      }),
    );
    const file = definition(predicate).externalParameters.config.files[0];
    assert.equal(file.content, content);
    assert.equal(file.digest.sha256, SHA);
  });

  it('refuses a predicate whose other parts still name user info (the last check sees all of it)', () => {
    assert.throws(
      () =>
        provenancePredicate(
          input({
            configFiles: [{ path: 'image.yaml', sha256: SHA, content: 'contents: {}\n' }],
            invocation: { environment: { MIRROR: 'https://ci:hunter2@mirror.invalid/x' } },
            mode: 'max',
          }),
        ),
      (err: unknown) => isProvenantError(err, 'CREDENTIALS') && /image\.yaml/.test(err.message),
    );
  });

  it('leaves a file without credentials as it was, byte for byte', () => {
    const content = `# a comment: 'x'\ncontents:\n  repositories:\n    - "http://127.0.0.1/r\\u00e4"\n    - |\n      http://127.0.0.1/b\n  packages: [busybox] # end\n`;
    const predicate = provenancePredicate(input({ configFiles: [{ path: 'image.yaml', sha256: SHA, content }] }));
    const file = definition(predicate).externalParameters.config.files[0];
    assert.equal(file.content, content);
    assert.equal(file.digest.sha256, SHA);
  });
});

describe('provenance of build and runtime repositories', () => {
  it('states them beside repositories, without their credentials in the statement or in the files', () => {
    const build = 'https://ci:s3cret@build.example/staging';
    const runtime = 'https://rt:t0ken@runtime.example/main';
    const content = `contents:\n  build_repositories: [${build}]\n  runtime_repositories: [${runtime}]\n  packages: [busybox]\n`;
    const predicate = provenancePredicate(
      input({
        configFiles: [{ path: 'apko.yaml', sha256: SHA, content }],
        contents: { repositories: [], buildRepositories: [build], runtimeRepositories: [runtime], keyring: [], packages: ['busybox'] },
      }),
    );
    const text = JSON.stringify(predicate);
    assert.ok(!text.includes('s3cret') && !text.includes('t0ken'), text);
    const stated = definition(predicate).externalParameters.config.contents;
    assert.deepEqual(stated.buildRepositories, ['https://build.example/staging']);
    assert.deepEqual(stated.runtimeRepositories, ['https://runtime.example/main']);
    // A configuration without them is stated as it was before they were.
    const plain = definition(provenancePredicate(input({ contents: { repositories: ['./repo'], keyring: [], packages: ['busybox'] } })));
    assert.deepEqual(Object.keys(plain.externalParameters.config.contents), ['repositories', 'keyring', 'packages']);
  });
});

describe('provenance build types', () => {
  it('names a Debian build with the Debian build type, its indexes deb-index and its packages deb', () => {
    const p = definition(
      provenancePredicate(
        input({ ecosystem: 'deb', indexes: [index('http://127.0.0.1/debian/dists/bookworm/InRelease')], packages: [deb] }),
      ),
    );
    assert.equal(p.buildType, BUILD_TYPES.deb);
    assert.deepEqual(
      p.resolvedDependencies.map((d: { annotations: { kind: string } }) => d.annotations.kind),
      ['deb-index', 'deb'],
    );
    // Without the ecosystem given, the packages' checksums tell it.
    assert.equal(definition(provenancePredicate(input({ packages: [deb] }))).buildType, BUILD_TYPES.deb);
    // SLSA v0.2 carries the same build type.
    const v02 = JSON.parse(
      new TextDecoder().decode(
        provenance(input({ ecosystem: 'deb', packages: [deb] }), { name: 'x', digest: `sha256:${SHA}` }, 'v0.2').bytes,
      ),
    );
    assert.equal(v02.predicate.buildType, BUILD_TYPES.deb);
  });

  it('names what checked each signed Debian Release: the keyring files by name and digest, and the keys whose signatures were good', () => {
    const archive = { name: 'debian-archive-keyring.gpg', sha256: 'a'.repeat(64) };
    const fetched = { name: 'repo.gpg', sha256: 'b'.repeat(64), uri: 'https://user:secret@keys.example.org/repo.gpg' };
    const signed = (url: string, keyring: (typeof archive)[], signers: string[]) => ({ ...index(url), verifiedBy: { keyring, signers } });
    const p = definition(
      provenancePredicate(
        input({
          ecosystem: 'deb',
          indexes: [
            signed('http://127.0.0.1/debian/dists/bookworm/InRelease', [archive], ['f1', 'f2']),
            index('http://127.0.0.1/debian/dists/bookworm/main/binary-amd64/Packages.xz'),
            signed('http://127.0.0.1/extra/dists/stable/InRelease', [archive, fetched], ['f4']),
          ],
          packages: [deb],
        }),
      ),
    );
    const indexes = (p.resolvedDependencies as { annotations: Record<string, unknown> }[]).filter(
      (d) => d.annotations.kind === 'deb-index',
    );
    assert.deepEqual(
      indexes.map((d) => [d.annotations.signers, d.annotations.keyring]),
      [
        ['f1 f2', [{ name: 'debian-archive-keyring.gpg', digest: { sha256: 'a'.repeat(64) } }]],
        [undefined, undefined],
        [
          'f4',
          [
            { name: 'debian-archive-keyring.gpg', digest: { sha256: 'a'.repeat(64) } },
            { uri: 'https://keys.example.org/repo.gpg', name: 'repo.gpg', digest: { sha256: 'b'.repeat(64) } },
          ],
        ],
      ],
    );
    // Nothing but indexes and packages: a keyring is no dependency of its own.
    assert.deepEqual(
      p.resolvedDependencies.map((d: { annotations: { kind: string } }) => d.annotations.kind),
      ['deb-index', 'deb-index', 'deb-index', 'deb'],
    );
  });

  it('names an apk build as before', () => {
    const p = definition(
      provenancePredicate(input({ ecosystem: 'apk', indexes: [index('./repo/x86_64/APKINDEX.tar.gz')], packages: [apk] })),
    );
    assert.equal(p.buildType, 'https://provenant.dev/build/apk/v1');
    assert.deepEqual(
      p.resolvedDependencies.map((d: { annotations: { kind: string } }) => d.annotations.kind),
      ['apk-index', 'apk'],
    );
    assert.equal(definition(provenancePredicate(input({}))).buildType, BUILD_TYPES.apk);
  });
});

describe("a package's architecture in provenance", () => {
  const annotations = (packages: ProvenanceInput['packages']) =>
    definition(provenancePredicate(input({ ecosystem: 'deb', packages }))).resolvedDependencies.map(
      (d: { annotations: Record<string, unknown> }) => d.annotations,
    );

  it("names an Architecture: all .deb's own architecture, as the SBOM does, and its lock's (the image's) as lockArch", () => {
    const adduser = { ...deb, name: 'adduser', version: '3.134', architecture: 'arm64', packageArchitecture: 'all' };
    const [a] = annotations([adduser]);
    assert.equal(a.arch, 'all');
    assert.equal(a.lockArch, 'arm64');
  });

  it('says arch alone where the package is built for the image, or its own architecture is not known', () => {
    for (const p of [{ ...deb, packageArchitecture: 'amd64' }, deb]) {
      const [a] = annotations([p]);
      assert.equal(a.arch, 'amd64');
      assert.ok(!('lockArch' in a), JSON.stringify(a));
    }
  });
});

describe('provenance mode=max in SLSA v0.2', () => {
  // A cold review: `--provenance mode=max,version=v0.2` wrote what mode=min writes.
  const invocation = {
    id: 'https://github.com/o/r/actions/runs/7/attempts/1',
    environment: { GITHUB_REPOSITORY: 'o/r', GITHUB_SHA: 'c'.repeat(40), GITHUB_RUN_ID: '7' },
  };
  const v02 = (mode: 'min' | 'max') =>
    JSON.parse(Buffer.from(provenance(input({ mode, invocation }), { name: 'x', digest: `sha256:${SHA}` }, 'v0.2').bytes).toString())
      .predicate;

  it('records the CI run where v0.2 keeps it: invocation.environment and metadata.buildInvocationID', () => {
    const p = v02('max');
    assert.deepEqual(p.invocation.environment, invocation.environment);
    assert.equal(p.metadata.buildInvocationID, invocation.id);
    assert.ok(p.invocation.parameters.config !== undefined);
  });

  it('records nothing of it with mode=min', () => {
    const p = v02('min');
    assert.equal(p.invocation.environment, undefined);
    assert.equal(p.metadata.buildInvocationID, undefined);
    assert.ok(!JSON.stringify(p).includes('GITHUB_'));
  });
});
