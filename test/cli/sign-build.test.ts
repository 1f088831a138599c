// Signing through build, attest and keyless, end to end through the CLI: `build --sign` with a
// key (attestations verified per type) and keyless against @sigstore/mock with `--attestations
// cosign`, `attest` in each storage, an attestation copied onto another image, keyless identity
// and issuer checks, and `verify --policy` over several images.
import assert from 'node:assert/strict';
import { cp, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeJson, parseStored } from '../../src/oci/content.ts';
import { findSignatures } from '../../src/sign/storage.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { copyApkoRepository } from '../helpers/apk.ts';
import { exampleWorkspace } from '../helpers/example.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';
import { MOCK_ISSUER, type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import { exampleDir, provenant } from './provenant.ts';

const tempDir = useTempDir('cli-sign-build');
const PASSWORD = 'build-key-password';
const IDENTITY = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
const CONFIG = [
  'contents:',
  '  keyring: [./testdata/melange.rsa.pub]',
  '  repositories: [./testdata/packages]',
  '  packages: [replayout, custom-ca-certs-1]',
  'entrypoint:',
  '  command: /bin/sh -l',
  'archs: [x86_64, aarch64]',
  '',
].join('\n');

/** A folder with apko's test repository, the configuration and a key pair. */
async function project(): Promise<string> {
  const dir = await tempDir();
  await copyApkoRepository(dir);
  await writeFile(join(dir, 'apko.yaml'), CONFIG);
  const r = await provenant(['generate-key-pair'], { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } });
  assert.equal(r.status, 0, r.stderr);
  return dir;
}

const BUILD_ENV = { COSIGN_PASSWORD: PASSWORD, SOURCE_DATE_EPOCH: '1700000000' };

describe('build --sign with a key', { skip: fixturesMissing }, () => {
  let dir: string;
  before(async () => {
    dir = await project();
  });

  it('signs the index and each image, and every attestation verifies by its type', async () => {
    const unsigned = await provenant(['build', 'apko.yaml', '-o', 'oci:plain:latest', '--cache-dir', 'cache', '--format', 'json'], {
      cwd: dir,
      env: BUILD_ENV,
    });
    assert.equal(unsigned.status, 0, unsigned.stderr);
    const r = await provenant(
      ['build', 'apko.yaml', '-o', 'oci:layout:latest', '--cache-dir', 'cache', '--sign', '--key', 'cosign.key', '--format', 'json'],
      { cwd: dir, env: BUILD_ENV },
    );
    assert.equal(r.status, 0, r.stderr);
    const built = JSON.parse(r.stdout);
    assert.equal(built.digest, JSON.parse(unsigned.stdout).digest, 'signing changes no digest');
    assert.match(built.signer, /^key /);
    // Index and two images in both storages; three statements per image and the index's SBOM as bundles.
    assert.equal(built.signed.filter((e: { predicateType?: string }) => e.predicateType === undefined).length, 6);
    assert.equal(built.signed.filter((e: { predicateType?: string }) => e.predicateType !== undefined).length, 7);

    const index = await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:latest'], { cwd: dir });
    assert.equal(index.status, 0, index.stderr);
    for (const platform of ['linux/amd64', 'linux/arm64']) {
      const image = await provenant(['verify', '--key', 'cosign.pub', '--platform', platform, 'oci:layout:latest'], { cwd: dir });
      assert.equal(image.status, 0, image.stderr);
      const types: [string, string][] = [
        ['slsaprovenance1', 'https://slsa.dev/provenance/v1'],
        ['spdxjson', 'https://spdx.dev/Document'],
        ['cyclonedx', 'https://cyclonedx.org/bom'],
      ];
      for (const [type, uri] of types) {
        const v = await provenant(
          ['verify-attestation', '--key', 'cosign.pub', '--type', type, '--platform', platform, 'oci:layout:latest'],
          {
            cwd: dir,
          },
        );
        assert.equal(v.status, 0, `${platform} ${type}: ${v.stderr}`);
        assert.match(
          v.stdout,
          new RegExp(
            `1 of 1 attestations verified\\n {2}ok +attestation ${uri.replaceAll('.', '\\.')} +referrers referrer sha256:[0-9a-f]{64} +by key `,
          ),
        );
      }
    }
    const json = JSON.parse(
      (
        await provenant(
          [
            'verify-attestation',
            '--key',
            'cosign.pub',
            '--type',
            'slsaprovenance1',
            '--platform',
            'linux/amd64',
            '--format',
            'json',
            'oci:layout:latest',
          ],
          {
            cwd: dir,
          },
        )
      ).stdout,
    );
    assert.equal(json.checked[0].statement.predicate.runDetails.builder.id.length > 0, true);
    // The index has no provenance of its own (its SBOM only, which the error names, as cosign's
    // "found: ..."): the error says where the attestations are.
    const onIndex = await provenant(['verify-attestation', '--key', 'cosign.pub', '--type', 'slsaprovenance1', 'oci:layout:latest'], {
      cwd: dir,
    });
    assert.equal(onIndex.status, 5, onIndex.stderr);
    assert.match(
      onIndex.stderr,
      /has no https:\/\/slsa\.dev\/provenance\/v1 attestations; found: https:\/\/spdx\.dev\/Document\n {2}hint: .*--platform/,
    );
  });

  it('an attestation copied onto another image fails, saying so', async () => {
    const store = await LayoutStore.open(join(dir, 'layout'));
    const root = await store.getManifest('latest');
    const amd = (root as { index: { manifests: { digest: string; platform?: { architecture: string } }[] } }).index.manifests.find(
      (m) => m.platform?.architecture === 'amd64',
    )!;
    const provenance = (await findSignatures(store, amd.digest as `sha256:${string}`)).find(
      (f) => f.predicateType === 'https://slsa.dev/provenance/v1',
    )!;
    const referrer = await store.getManifest(provenance.source.replace('referrer ', ''));
    const moved = JSON.parse(Buffer.from(referrer.bytes).toString('utf8'));
    moved.subject = { mediaType: root.mediaType, digest: root.digest, size: root.bytes.length };
    await store.putManifest(parseStored(encodeJson(moved)), { tags: [] });
    await store.close();
    const r = await provenant(['verify-attestation', '--key', 'cosign.pub', '--type', 'slsaprovenance1', 'oci:layout:latest'], {
      cwd: dir,
    });
    assert.equal(r.status, 5, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `wrong-subject: the attestation is about ${amd.digest}, not this image \\(${root.digest}\\): it was copied from another image`,
      ),
    );
  });

  it('--attestations cosign without signing is refused before building', async () => {
    const r = await provenant(['build', 'apko.yaml', '-o', 'oci:x:latest', '--attestations', 'cosign'], { cwd: dir, env: BUILD_ENV });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--attestations cosign stores signed attestations: add --sign/);
  });
});

describe('build --sign when signing fails', { skip: fixturesMissing }, () => {
  // Whatever is attached to it with the build (unsigned referrers never are, signed): a new layout
  // keeps the image written by digest, as the message says.
  for (const mode of ['referrers', 'none', 'buildkit']) {
    it(`${mode}: leaves the image in the layout by digest, names no tag, and says where it is`, async () => {
      const dir = await project();
      // Fulcio is down.
      const down = createServer((req, res) => {
        req.resume();
        req.on('end', () => res.writeHead(503).end('unavailable'));
      });
      await new Promise<void>((resolve) => down.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(down.address() as AddressInfo).port}`;
      const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
      const token = `${part({ alg: 'RS256' })}.${part({ iss: MOCK_ISSUER, sub: IDENTITY, aud: 'sigstore', exp: 4102444800 })}.c2ln`;
      try {
        const args = [
          'build',
          'apko.yaml',
          '-o',
          'oci:layout:1.0',
          '--cache-dir',
          'cache',
          '--attestations',
          mode,
          '--sign',
          '--identity-token',
          token,
        ];
        const r = await provenant([...args, '--fulcio-url', url, '--rekor-url', url], { cwd: dir, env: BUILD_ENV });
        assert.notEqual(r.status, 0, r.stderr);
        const written = /the image is written as (\S+)@(sha256:[0-9a-f]{64}), not tagged 1\.0/.exec(r.stderr);
        assert.ok(written, r.stderr);
        const layout = await LayoutStore.open(join(dir, 'layout'));
        assert.deepEqual(await layout.listTags(), []);
        assert.equal((await layout.getManifest(written[2]!)).kind, 'index');
        await layout.close();
      } finally {
        await new Promise<void>((resolve) => down.close(() => resolve()));
      }
    });
  }
});

describe('attest with a key', () => {
  it('cosign (.att), referrers (bundle) and buildkit (unsigned in a new index, which is signed)', async () => {
    const dir = await exampleWorkspace(await tempDir(), { password: PASSWORD });
    await writeFile(join(dir, 'vuln.json'), JSON.stringify({ scanner: { uri: 'https://scanner.example' } }));
    const env = { COSIGN_PASSWORD: PASSWORD };
    const attest = (mode: string, ...more: string[]) =>
      provenant(
        [
          'attest',
          'oci:layout:latest',
          '--predicate',
          'vuln.json',
          '--type',
          'vuln',
          '--attestations',
          mode,
          '--key',
          'cosign.key',
          ...more,
        ],
        { cwd: dir, env },
      );
    const cosign = await attest('cosign');
    assert.equal(cosign.status, 0, cosign.stderr);
    assert.match(
      cosign.stdout,
      /attached https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1 to the index and its 2 platform image\(s\) of oci:layout:latest \(cosign, signed with key /,
    );
    assert.match(cosign.stdout, /cosign +attestation https:\/\/cosign\.sigstore\.dev\/attestation\/vuln\/v1 +sha256-[0-9a-f]{64}\.att/);
    const referrers = await attest('referrers');
    assert.equal(referrers.status, 0, referrers.stderr);
    const verified = await provenant(
      ['verify-attestation', '--key', 'cosign.pub', '--type', 'vuln', '--platform', 'linux/arm64', 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stdout, /2 of 2 attestations verified/);
    assert.match(verified.stdout, /ok +attestation \S+ +cosign +sha256-[0-9a-f]{64}\.att layer 0 +by key/);
    assert.match(verified.stdout, /ok +attestation \S+ +referrers referrer sha256:[0-9a-f]{64} +by key/);
    const inspect = await provenant(['inspect', 'oci:layout:latest'], { cwd: dir });
    // Its envelope names the key (keyid), where a cosign 2 envelope leaves it empty.
    assert.match(inspect.stdout, /attestation cosign .*\.att\) +signed by key \S+/);

    const before = (await provenant(['digest', 'oci:layout:latest'], { cwd: dir })).stdout.trim();
    const buildkit = await attest('buildkit');
    assert.equal(buildkit.status, 0, buildkit.stderr);
    assert.match(buildkit.stdout, /\(buildkit, unsigned in the index, and the new index signed with key /);
    const after = (await provenant(['digest', 'oci:layout:latest'], { cwd: dir })).stdout.trim();
    assert.notEqual(after, before);
    const index = await provenant(['verify', '--key', 'cosign.pub', 'oci:layout:latest'], { cwd: dir });
    assert.equal(index.status, 0, index.stderr);
    assert.match(index.stdout, new RegExp(`\\(${after}\\): 2 of 2 signatures verified`));
    const shown = await provenant(['inspect', 'oci:layout:latest'], { cwd: dir });
    assert.match(shown.stdout, /attestation buildkit .*\(in index\) +unsigned/);
    // The signature over the new index is what verify-attestation checks for the statements in it.
    const inIndex = await provenant(
      ['verify-attestation', '--key', 'cosign.pub', '--type', 'vuln', '--platform', 'linux/arm64', 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(inIndex.status, 0, inIndex.stderr);
    assert.match(inIndex.stdout, new RegExp(`ok +attestation \\S+ +buildkit +index entry .* through the signature of the index ${after} `));
    // `sign --recursive` signs the attestation manifest the index lists, as it signs the images:
    // inspect names its signer, as report does (the statements themselves stay unsigned).
    const recursive = await provenant(['sign', '--recursive', '--key', 'cosign.key', 'oci:layout:latest'], { cwd: dir, env });
    assert.equal(recursive.status, 0, recursive.stderr);
    const signedEntry = await provenant(['inspect', 'oci:layout:latest'], { cwd: dir });
    assert.match(signedEntry.stdout, /attestation buildkit .*\(in index\) +signed by .*key \S+/);

    const unsignedCosign = await provenant(
      ['attest', 'oci:layout:latest', '--predicate', 'vuln.json', '--type', 'vuln', '--attestations', 'cosign'],
      { cwd: dir },
    );
    assert.equal(unsignedCosign.status, 2);
    assert.match(unsignedCosign.stderr, /cosign storage holds signed attestations/);
  });
});

describe('attest with a key, a large predicate', () => {
  it('verifies what attest wrote: a 6 MB SBOM in cosign and referrers storage', async () => {
    const dir = await exampleWorkspace(await tempDir(), { password: PASSWORD });
    // Over the 4 MiB a signature layer was once read up to, under the statement limit.
    const packages = Array.from({ length: 80_000 }, (_, i) => ({ SPDXID: `SPDXRef-p${i}`, name: `package-${i}`, versionInfo: '1.0.0-r0' }));
    await writeFile(join(dir, 'sbom.json'), JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'large', packages }));
    const env = { COSIGN_PASSWORD: PASSWORD };
    for (const mode of ['cosign', 'referrers']) {
      const r = await provenant(
        ['attest', 'oci:layout:latest', '--predicate', 'sbom.json', '--type', 'spdxjson', '--attestations', mode, '--key', 'cosign.key'],
        { cwd: dir, env },
      );
      assert.equal(r.status, 0, r.stderr);
    }
    const v = await provenant(
      ['verify-attestation', '--key', 'cosign.pub', '--type', 'spdxjson', '--platform', 'linux/arm64', 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(v.status, 0, v.stderr);
    assert.match(v.stdout, /2 of 2 attestations verified/);
  });
});

describe('keyless against a mock Sigstore on 127.0.0.1', { skip: fixturesMissing }, () => {
  let dir: string;
  let mock: MockSigstore;
  let actions: Server;
  let actionsURL: string;
  const asked: string[] = [];
  before(async () => {
    dir = await project();
    mock = await startMockSigstore({ dir });
    // GitHub Actions' OIDC endpoint: a token for the audience asked, with the job's bearer token.
    actions = createServer((req, res) => {
      asked.push(`${req.url} ${req.headers.authorization}`);
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ value: mock.token(IDENTITY) }));
    });
    await new Promise<void>((resolve) => actions.listen(0, '127.0.0.1', resolve));
    actionsURL = `http://127.0.0.1:${(actions.address() as AddressInfo).port}/token?api-version=2.0`;
  });
  after(async () => {
    await mock?.stop();
    await new Promise<void>((resolve) => (actions ? actions.close(() => resolve()) : resolve()));
  });
  const services = () => [
    '--fulcio-url',
    mock.url,
    '--rekor-url',
    mock.url,
    '--timestamp-server-url',
    mock.url,
    '--trusted-root',
    mock.trustedRootPath,
  ];
  const trust = () => [
    '--certificate-identity',
    IDENTITY,
    '--certificate-oidc-issuer',
    MOCK_ISSUER,
    '--trusted-root',
    mock.trustedRootPath,
  ];

  it('build --sign with SIGSTORE_ID_TOKEN and --attestations cosign: signatures and .att attestations verify by identity', async () => {
    const r = await provenant(
      ['build', 'apko.yaml', '-o', 'oci:layout:latest', '--cache-dir', 'cache', '--sign', '--attestations', 'cosign', ...services()],
      {
        cwd: dir,
        env: { SIGSTORE_ID_TOKEN: mock.token(IDENTITY), SOURCE_DATE_EPOCH: '1700000000' },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`signed with keyless \\(${mock.url.replaceAll('.', '\\.')}\\):`));
    assert.match(r.stdout, /cosign +attestation https:\/\/slsa\.dev\/provenance\/v1 +sha256-[0-9a-f]{64}\.att/);
    const v = await provenant(['verify', ...trust(), 'oci:layout:latest'], { cwd: dir });
    assert.equal(v.status, 0, v.stderr);
    assert.match(
      v.stdout,
      new RegExp(
        `2 of 2 signatures verified\\n.*by ${IDENTITY.replaceAll('.', '\\.')} \\(${MOCK_ISSUER.replaceAll('.', '\\.')}\\)  rekor log index \\d+`,
      ),
    );
    for (const type of ['slsaprovenance1', 'spdxjson', 'cyclonedx']) {
      const a = await provenant(['verify-attestation', ...trust(), '--type', type, '--platform', 'linux/arm64', 'oci:layout:latest'], {
        cwd: dir,
      });
      assert.equal(a.status, 0, `${type}: ${a.stderr}`);
      assert.match(a.stdout, /ok +attestation \S+ +cosign +sha256-[0-9a-f]{64}\.att layer \d +by https:\/\/github\.com\/acme/);
    }
    const inspect = await provenant(['inspect', 'oci:layout:latest'], { cwd: dir });
    assert.match(inspect.stdout, new RegExp(`signed by ${IDENTITY.replaceAll('.', '\\.')} \\(${MOCK_ISSUER.replaceAll('.', '\\.')}\\)`));
  });

  it('a wrong identity, a wrong issuer, or the public-good root: exit 5 with the reason; patterns match', async () => {
    const wrongIdentity = await provenant(
      [
        'verify',
        '--certificate-identity',
        'someone@example.com',
        '--certificate-oidc-issuer',
        MOCK_ISSUER,
        '--trusted-root',
        mock.trustedRootPath,
        'oci:layout:latest',
      ],
      { cwd: dir },
    );
    assert.equal(wrongIdentity.status, 5, wrongIdentity.stderr);
    assert.match(
      wrongIdentity.stderr,
      /identity: the certificate’s identity is "https:\/\/github\.com\/acme\/app\/[^"]+", not "someone@example\.com"/,
    );
    const wrongIssuer = await provenant(
      [
        'verify',
        '--certificate-identity',
        IDENTITY,
        '--certificate-oidc-issuer',
        'https://accounts.example.com',
        '--trusted-root',
        mock.trustedRootPath,
        'oci:layout:latest',
      ],
      { cwd: dir },
    );
    assert.equal(wrongIssuer.status, 5);
    assert.match(
      wrongIssuer.stderr,
      /issuer: the certificate’s OIDC issuer is "https:\/\/issuer\.mock\.test", not "https:\/\/accounts\.example\.com"/,
    );
    const patterns = await provenant(
      [
        'verify',
        '--certificate-identity-regexp',
        '^https://github\\.com/acme/',
        '--certificate-oidc-issuer-regexp',
        'mock',
        '--trusted-root',
        mock.trustedRootPath,
        'oci:layout:latest',
      ],
      { cwd: dir },
    );
    assert.equal(patterns.status, 0, patterns.stderr);
    // Without --trusted-root: Sigstore's public-good root, embedded; the mock's CA is not in it.
    const publicRoot = await provenant(
      ['verify', '--certificate-identity', IDENTITY, '--certificate-oidc-issuer', MOCK_ISSUER, '--format', 'json', 'oci:layout:latest'],
      { cwd: dir },
    );
    assert.equal(publicRoot.status, 5);
    const doc = JSON.parse(publicRoot.stdout);
    assert.match(doc.trustedRoot, /^Sigstore public-good root embedded in @sigstore\/tuf \d+\.\d+\.\d+$/);
    // The mock's timestamp authority, log and CA are none of the public instance's: whichever is checked first fails.
    for (const c of doc.checked) assert.ok(['timestamp', 'transparency-log', 'untrusted-certificate'].includes(c.reason), c.message);
  });

  it('sign takes the GitHub Actions job token (audience sigstore); without any token it says what to give', async () => {
    const dir2 = await tempDir();
    await cp(exampleDir, join(dir2, 'layout'), { recursive: true });
    const r = await provenant(['sign', ...services(), 'oci:layout:latest'], {
      cwd: dir2,
      env: { ACTIONS_ID_TOKEN_REQUEST_URL: actionsURL, ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'job-bearer' },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /2 signature\(s\) added/);
    assert.ok(
      asked.some((a) => /audience=sigstore/.test(a) && a.endsWith('Bearer job-bearer')),
      asked.join('\n'),
    );
    const v = await provenant(['verify', ...trust(), 'oci:layout:latest'], { cwd: dir2 });
    assert.equal(v.status, 0, v.stderr);

    const none = await provenant(['sign', ...services(), 'oci:layout:latest'], { cwd: dir2 });
    assert.equal(none.status, 2, none.stderr);
    assert.match(none.stderr, /keyless signing needs an OIDC identity token, and none was given\n.*--identity-token.*SIGSTORE_ID_TOKEN/);
    const plain = await provenant(
      ['sign', '--identity-token', 'x', '--fulcio-url', 'http://u:Secret-pw@fulcio.example', 'oci:layout:latest'],
      {
        cwd: dir2,
      },
    );
    assert.equal(plain.status, 2, plain.stderr);
    assert.match(plain.stderr, /--fulcio-url must be an https URL .*, not "http:\/\/\*\*\*@fulcio\.example"/);
    assert.ok(!plain.stderr.includes('Secret'), plain.stderr);
  });
});

describe('key signatures logged with --tlog-upload', { skip: fixturesMissing }, () => {
  let mock: MockSigstore;
  let dir: string;
  before(async () => {
    dir = await project();
    await cp(exampleDir, join(dir, 'layout'), { recursive: true });
    mock = await startMockSigstore({ dir });
  });
  after(async () => {
    await mock?.stop();
  });

  it('logs each in Rekor; verify --key checks the entry with a trusted root', async () => {
    const r = await provenant(['sign', '--key', 'cosign.key', '--tlog-upload', '--rekor-url', mock.url, 'oci:layout:latest'], {
      cwd: dir,
      env: { COSIGN_PASSWORD: PASSWORD },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(mock.requests.rekor, 2);
    // Again, with the root that vouches for those entries: they are logged, nothing is added.
    const again = await provenant(
      [
        'sign',
        '--key',
        'cosign.key',
        '--tlog-upload',
        '--rekor-url',
        mock.url,
        '--trusted-root',
        mock.trustedRootPath,
        'oci:layout:latest',
      ],
      { cwd: dir, env: { COSIGN_PASSWORD: PASSWORD } },
    );
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /0 signature\(s\) added, 2 already there/);
    assert.equal(mock.requests.rekor, 2);
    const v = await provenant(
      ['verify', '--key', 'cosign.pub', '--trusted-root', mock.trustedRootPath, '--format', 'json', 'oci:layout:latest'],
      {
        cwd: dir,
      },
    );
    assert.equal(v.status, 0, v.stderr);
    const checked = JSON.parse(v.stdout).checked as { transparencyLog: boolean; logIndex?: string }[];
    assert.deepEqual(
      checked.map((c) => [c.transparencyLog, typeof c.logIndex]),
      [
        [true, 'string'],
        [true, 'string'],
      ],
    );
  });
});

describe('verify --policy', () => {
  it('checks every image; exit 0 only when each passes', async () => {
    const dir = await tempDir();
    await cp(exampleDir, join(dir, 'signed'), { recursive: true });
    await cp(exampleDir, join(dir, 'unsigned'), { recursive: true });
    const env = { COSIGN_PASSWORD: PASSWORD };
    assert.equal((await provenant(['generate-key-pair'], { cwd: dir, env })).status, 0);
    assert.equal((await provenant(['sign', '--key', 'cosign.key', 'oci:signed:latest'], { cwd: dir, env })).status, 0);
    await writeFile(
      join(dir, 'policy.yaml'),
      [
        'apiVersion: policy.sigstore.dev/v1beta1',
        'kind: ClusterImagePolicy',
        'metadata:',
        '  name: signed-with-our-key',
        'spec:',
        '  images:',
        '  - glob: "**"',
        '  authorities:',
        '  - name: release-key',
        '    key:',
        '      secretRef:',
        '        name: cosign.pub',
        '',
      ].join('\n'),
    );
    const one = await provenant(['verify', '--policy', 'policy.yaml', 'oci:signed:latest'], { cwd: dir });
    assert.equal(one.status, 0, one.stderr);
    assert.match(one.stdout, /oci:signed:latest \(sha256:[0-9a-f]{64}\): PASS/);
    const both = await provenant(['verify', '--policy', 'policy.yaml', '--format', 'json', 'oci:signed:latest', 'oci:unsigned:latest'], {
      cwd: dir,
    });
    assert.equal(both.status, 5, both.stderr);
    const reports = JSON.parse(both.stdout);
    assert.deepEqual(
      reports.map((r: { image: string; passed: boolean }) => [r.image, r.passed]),
      [
        ['oci:signed:latest', true],
        ['oci:unsigned:latest', false],
      ],
    );
    assert.match(both.stderr, /oci:unsigned:latest did not pass the policies of policy\.yaml/);

    // A switch set to false asks for nothing, on the command line or from its variable: no conflict
    // with --policy. Set to true, it is one.
    for (const [extra, env] of [
      [['--insecure-ignore-tlog=false'], {}],
      [[], { PROVENANT_INSECURE_IGNORE_TLOG: 'false' }],
      [[], { PROVENANT_INSECURE_IGNORE_TLOG: '0' }],
    ] as const) {
      const r = await provenant(['verify', '--policy', 'policy.yaml', ...extra, 'oci:signed:latest'], { cwd: dir, env });
      assert.equal(r.status, 0, `${extra.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
    }
    for (const [extra, env] of [
      [['--insecure-ignore-tlog'], {}],
      [['--insecure-ignore-tlog=true'], {}],
      [[], { PROVENANT_INSECURE_IGNORE_TLOG: 'true' }],
    ] as const) {
      const r = await provenant(['verify', '--policy', 'policy.yaml', ...extra, 'oci:signed:latest'], { cwd: dir, env });
      assert.equal(r.status, 2, `${extra.join(' ')} ${JSON.stringify(env)}: ${r.stderr}`);
      assert.match(r.stderr, /--insecure-ignore-tlog cannot be given with it/);
    }
  });
});
