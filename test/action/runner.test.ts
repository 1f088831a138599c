/**
 * The committed bundle, run as the runner runs a `node24` Action: `node dist-action/index.js` in
 * the workspace, inputs as INPUT_* variables, outputs and the summary through the GITHUB_OUTPUT
 * and GITHUB_STEP_SUMMARY files, registry logins from the docker config docker/login-action
 * writes. A real build, pushed to a real registry with password auth.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { staticKeychain } from '../../src/auth/keychain.ts';
import { buildImage } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateEncryptedKeyPair, parsePublicKey } from '../../src/sign/keys.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { MOCK_ISSUER, type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import { ACTION_DIR, dockerLogin, type Job, makeJob, readOutputs, runnerEnv, startTokenEndpoint } from './helpers.ts';

const execFileP = promisify(execFile);
const BUNDLE = join(ACTION_DIR, 'dist-action', 'index.js');

/** Runs the bundle as the runner does; never rejects, so failures can be asserted. */
async function runBundle(job: Job, env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [BUNDLE], { cwd: job.workspace, env, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const jobs: Job[] = [];
after(async () => {
  for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
});

describe('the bundle, run as the runner runs it', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  after(async () => {
    await reg?.stop();
  });

  it('builds both platforms, pushes with the docker login, signs with a key, checks and fixes, and reports', async () => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const keyPassword = 'correct horse battery staple';
    const key = await generateEncryptedKeyPair(keyPassword);
    const tag = `${reg.host}/acme/app:1.0`;
    const env = runnerEnv(job, {
      config: job.config,
      tags: `${tag}\n${reg.host}/acme/app:latest`,
      push: 'true',
      platforms: 'linux/amd64,linux/arm64',
      provenance: 'mode=max',
      sbom: 'true',
      attestations: 'referrers',
      sign: 'key',
      key: key.privateKeyPem,
      'key-password': keyPassword,
      targets: 'ghcr,aws-lambda',
      fix: 'true',
    });
    const run = await runBundle(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);

    // The outputs, and the registry holding exactly that digest for both tags.
    const outputs = await readOutputs(job.outputFile);
    const store = new RegistryStore(
      new RegistryClient(reg.host, { keychain: staticKeychain(reg.host, { username: reg.username!, password: reg.password! }) }),
      'acme/app',
    );
    const held = await store.resolve('1.0');
    assert.ok(held);
    assert.match(outputs.digest!, /^sha256:[0-9a-f]{64}$/);
    assert.equal(outputs.digest, held.digest);
    assert.equal((await store.resolve('latest'))?.digest, held.digest);
    // The bundle builds the image the library builds: same layers, byte for byte.
    const configPath = join(job.workspace, job.config);
    const library = await buildImage({
      config: await loadConfig(configPath, { hostArch: 'x86_64' }),
      configPath,
      archs: ['x86_64', 'aarch64'],
      sourceDateEpoch: 1700000000,
      workers: 0,
    });
    assert.equal(library.index?.digest, held.digest);
    // Two platforms: the image id is the index's digest, as buildx's --iidfile has it.
    assert.equal(outputs.imageid, held.digest);
    const metadata = JSON.parse(outputs.metadata!) as Record<string, unknown>;
    assert.equal(metadata['containerimage.digest'], held.digest);
    assert.deepEqual(metadata['containerimage.descriptor'], { mediaType: held.mediaType, digest: held.digest, size: held.size });
    // Every name written, the fixed image's too (docs/action.md, "Outputs").
    assert.equal(
      metadata['image.name'],
      [
        `${reg.host}/acme/app:1.0`,
        `${reg.host}/acme/app:latest`,
        `${reg.host}/acme/app:1.0-aws-lambda`,
        `${reg.host}/acme/app:latest-aws-lambda`,
      ].join(','),
    );
    const provenance = metadata['buildx.build.provenance/linux/amd64'] as { buildDefinition?: { externalParameters?: unknown } };
    assert.ok(provenance?.buildDefinition?.externalParameters, 'the amd64 provenance predicate');
    assert.ok(metadata['buildx.build.provenance/linux/arm64']);
    assert.equal(metadata['containerimage.config.digest'], undefined);

    // Signed with the key: the index and each platform (recursive), and the attestations.
    const index = await store.getManifest(held.digest);
    assert.equal(index.kind, 'index');
    const publicKey = parsePublicKey(key.publicKeyPem);
    const digests = index.kind === 'index' ? [held.digest, ...index.index.manifests.map((m) => m.digest)] : [];
    assert.equal(digests.length, 3);
    for (const d of digests) {
      assert.ok((await verifyImage(store, d, { policy: { key: publicKey } })).verified.length > 0, `signature of ${d}`);
    }
    const att = await verifyImage(store, digests[1]!, { policy: { key: publicKey }, kind: 'attestation' });
    assert.deepEqual([...new Set(att.verified.map((v) => v.predicateType))].sort(), [
      'https://cyclonedx.org/bom',
      'https://slsa.dev/provenance/v1',
      'https://spdx.dev/Document',
    ]);

    // aws-lambda takes one platform manifest, not an index: the fixed shape under TAG-aws-lambda, signed.
    const fixed = await store.resolve('1.0-aws-lambda');
    assert.ok(fixed, 'the fixed image for aws-lambda');
    assert.notEqual(fixed.digest, held.digest);
    assert.ok((await verifyImage(store, fixed.digest, { policy: { key: publicKey } })).verified.length > 0);

    // The summary: per platform, attestations, signature, verdicts, where the report is.
    const summary = await readFile(job.summaryFile, 'utf8');
    // Well-formed: every cell closed (core.summary leaves an empty cell's tag open).
    assert.equal(summary.split('<td>').length, summary.split('</td>').length, summary);
    for (const m of index.kind === 'index' ? index.index.manifests : []) assert.ok(summary.includes(m.digest), `summary names ${m.digest}`);
    assert.match(summary, /<td>linux\/amd64<\/td>/);
    assert.match(summary, /<td>linux\/arm64<\/td>/);
    assert.match(summary, /SLSA provenance v1/);
    assert.match(summary, /CycloneDX SBOM/);
    assert.match(summary, /<td>referrers<\/td>/);
    const keyIdMatch = /signed with key <code>([^<]+)<\/code>: 3 manifest\(s\)/.exec(summary);
    assert.ok(keyIdMatch, summary);
    assert.match(summary, /AWS Lambda.*refused/s);
    assert.ok(summary.includes(fixed.digest), 'the summary names the fixed image');
    // In the step's own folder under RUNNER_TEMP/provenant: another step of the job has another.
    const reportPath = outputs.report!;
    assert.match(reportPath, new RegExp(`^${job.runnerTemp}/provenant/step-[^/]+/report\\.html$`));
    assert.ok(summary.includes(reportPath));
    const html = await readFile(reportPath, 'utf8');
    assert.ok(html.includes(held.digest));

    // Masked: the password and the key's lines are registered with the runner and printed nowhere else.
    assert.ok(run.stdout.includes(`::add-mask::${keyPassword}`));
    const unmasked = run.stdout
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    assert.ok(!unmasked.includes(keyPassword));
    assert.ok(!unmasked.includes(key.privateKeyPem.split('\n')[1]!));
  });

  it('fails the step with the input named, writing nothing', async () => {
    const job = await makeJob();
    jobs.push(job);
    const run = await runBundle(job, runnerEnv(job, { config: job.config, push: 'true', tags: '', platforms: 'linux/amd64' }));
    assert.equal(run.code, 1);
    assert.match(run.stdout, /::error::the input tags is required with push: true/);
    assert.equal((await readOutputs(job.outputFile)).digest, undefined);
    const wrong = await runBundle(job, runnerEnv(job, { config: job.config, provenance: 'mode=maximal' }));
    assert.equal(wrong.code, 1);
    assert.match(wrong.stdout, /::error::the input provenance does not understand "mode=maximal"/);
  });
});

describe('the bundle, keyless with the job’s OIDC token, push: false', () => {
  let mock: MockSigstore;
  let job: Job;
  before(async () => {
    job = await makeJob();
    jobs.push(job);
    mock = await startMockSigstore({ dir: job.root });
  });
  after(async () => {
    await mock?.stop();
  });

  it('writes a one-platform layout under RUNNER_TEMP, signed keyless as the workflow, and says who signed', async () => {
    const identity = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
    try {
      const env = runnerEnv(
        job,
        {
          config: job.config,
          tags: 'registry.example/acme/app:dev',
          platforms: 'linux/arm64',
          sign: 'keyless',
          'fulcio-url': mock.url,
          'rekor-url': mock.url,
          'trusted-root': mock.trustedRootPath,
          targets: 'ghcr',
        },
        { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
      );
      const run = await runBundle(job, env);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.ok(endpoint.requests() > 0);
      assert.ok(mock.requests.fulcio > 0 && mock.requests.rekor > 0);
      const outputs = await readOutputs(job.outputFile);
      const layoutPath = join(dirname(outputs.report!), 'image.oci');
      assert.ok(existsSync(join(layoutPath, 'index.json')));
      const store = await LayoutStore.open(layoutPath);
      const held = await store.resolve('dev');
      assert.equal(outputs.digest, held?.digest);
      const index = await store.getManifest('dev');
      assert.equal(index.kind === 'index' && index.index.manifests.length, 1);
      // One platform: the image id is its config's digest.
      const platform = index.kind === 'index' ? await store.getManifest(index.index.manifests[0]!.digest) : index;
      assert.equal(outputs.imageid, platform.kind === 'manifest' ? platform.manifest.config.digest : '');
      const metadata = JSON.parse(outputs.metadata!) as Record<string, unknown>;
      assert.equal(metadata['containerimage.config.digest'], outputs.imageid);
      assert.ok(metadata['buildx.build.provenance']);
      assert.equal(metadata['image.name'], `oci:${layoutPath}:dev`);

      const report = await verifyImage(store, held!.digest, {
        policy: { certificateIdentity: identity, certificateOidcIssuer: MOCK_ISSUER },
        trustedRoot: mock.trustedRoot,
      });
      assert.ok(report.verified.length > 0);
      const summary = await readFile(job.summaryFile, 'utf8');
      assert.ok(summary.includes(`signed keyless as ${identity} (${MOCK_ISSUER})`), summary);
      // The token is masked the moment it arrives, and the request token before anything runs.
      assert.ok(run.stdout.includes(`::add-mask::${mock.token(identity)}`));
      assert.ok(run.stdout.includes(`::add-mask::${requestToken}`));
    } finally {
      await endpoint.stop();
    }
  });
});
