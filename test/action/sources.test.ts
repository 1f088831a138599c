/**
 * The Action's sources (src/action/index.ts, what the bundle is made from), run as the runner
 * runs a `node24` Action: inputs as INPUT_* variables, outputs through GITHUB_OUTPUT. The
 * runner-style test runs the committed bundle; this one runs what the bundle will be made of,
 * for behaviour the bundle may not have yet. A real build, pushed to a real registry.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, sep } from 'node:path';

import { after, before, describe, it } from 'node:test';
import { staticKeychain } from '../../src/auth/keychain.ts';
import { collectBytes } from '../../src/bytes.ts';
import { checkImage } from '../../src/compat/check.ts';
import { loadProfiles, selectTargets } from '../../src/compat/profile.ts';
import type { Digest } from '../../src/oci/digest.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { generateEncryptedKeyPair } from '../../src/sign/keys.ts';
import { verifyImage } from '../../src/sign/verify.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';

import { type FaultProxy, startFaultProxy } from '../helpers/fault-proxy.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { MOCK_ISSUER, type MockSigstore, startMockSigstore } from '../sign/mock-sigstore.ts';
import {
  closedPort,
  dockerLogin,
  dockerLogins,
  type Job,
  makeJob,
  pushedFiles,
  readOutputs,
  runnerEnv,
  runSources,
  startTokenEndpoint,
} from './helpers.ts';

/** A Fulcio (and Rekor) that is down: 503 to every request. */
async function startFailingSigstore(): Promise<{ url: string; requests: () => number; stop(): Promise<void> }> {
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    req.resume();
    req.on('end', () => res.writeHead(503, { 'Content-Type': 'text/plain' }).end('unavailable'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => count,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An (unsigned) OIDC token as GitHub's looks: Fulcio is down, so no one checks its signature. */
function workflowToken(): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = {
    iss: 'https://token.actions.githubusercontent.com',
    sub: 'repo:acme/app:ref:refs/heads/main',
    aud: 'sigstore',
    exp: Math.floor(Date.now() / 1000) + 600,
  };
  return `${part({ alg: 'RS256', typ: 'JWT' })}.${part(claims)}.${Buffer.from('signature').toString('base64url')}`;
}

describe('the Action’s sources, pushing to a registry', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  let store: RegistryStore;
  const jobs: Job[] = [];
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    store = new RegistryStore(new RegistryClient(reg.host, { keychain }), 'acme/app');
  });
  after(async () => {
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });

  it('signing fails: the image is in the registry by digest only, no tag names it, the error and the digest output say so', async () => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const sigstore = await startFailingSigstore();
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, workflowToken());
    try {
      const env = runnerEnv(
        job,
        {
          config: job.config,
          tags: `${reg.host}/acme/app:1.0`,
          push: 'true',
          platforms: 'linux/amd64',
          sign: 'keyless',
          'fulcio-url': sigstore.url,
          'rekor-url': sigstore.url,
        },
        { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken },
      );
      const run = await runSources(job, env);
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      assert.ok(sigstore.requests() > 0, 'Fulcio was asked');
      // Distribution 2.8 has no referrers API: the attestations are listed under sha256-<hex> tags.
      const tags = (await store.listTags()).filter((t) => !/^sha256-[0-9a-f]{64}$/.test(t));
      assert.deepEqual(tags, [], 'no tag names the unsigned image');
      const error = /^::error(?: [^:]*)?::(.*)$/m.exec(run.stdout)?.[1] ?? '';
      const pushed = new RegExp(`${reg.host}/acme/app@(sha256:[0-9a-f]{64}) \\(no tag\\)`).exec(error);
      assert.ok(pushed, error);
      const outputs = await readOutputs(job.outputFile);
      assert.equal(outputs.digest, pushed[1]);
      assert.equal((await store.resolve(pushed[1]!))?.digest, pushed[1], 'the registry holds it by digest');
      assert.equal(outputs.report, undefined);
    } finally {
      await endpoint.stop();
      await sigstore.stop();
    }
  });
});

describe('the Action’s sources, a destination that does not take the push', { skip: registryMissing }, () => {
  let first: TestRegistry;
  let second: TestRegistry;
  const jobs: Job[] = [];
  before(async () => {
    [first, second] = await Promise.all([startRegistry({ auth: 'htpasswd' }), startRegistry({ auth: 'htpasswd' })]);
  });
  after(async () => {
    await Promise.all([first?.stop(), second?.stop()]);
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  const run = async (tags: string[], logins: Array<{ host: string; username: string; password: string }>) => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogins(job, logins);
    const result = await runSources(
      job,
      runnerEnv(job, { config: job.config, tags: tags.join('\n'), push: 'true', platforms: 'linux/amd64' }),
    );
    return { ...result, job, error: (/^::error(?: [^:]*)?::(.*)$/m.exec(result.stdout)?.[1] ?? '').replaceAll('%0A', '\n') };
  };
  const login = (reg: TestRegistry, password = reg.password!) => ({ host: reg.host, username: reg.username!, password });

  it('the second registry refuses the login: the error names it and why, and neither registry holds anything', async () => {
    const r = await run([`${first.host}/acme/pre:1.0`, `${second.host}/acme/pre:1.0`], [login(first), login(second, 'not-the-password')]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await pushedFiles(first), []);
    assert.deepEqual(await pushedFiles(second), []);
    assert.equal(
      r.error,
      `cannot push to ${second.host}/acme/pre (wrong username or password for ${second.host}); checked before the build, so nothing was written (${second.host}/acme/pre)\n` +
        `hint: the docker config's login for ${second.host} was refused: log in again with docker/login-action (registry: ${second.host}) before this step, with a password or token that is valid and may push there`,
    );
    assert.equal((await readOutputs(r.job.outputFile)).digest, undefined);
    assert.doesNotMatch(r.stdout, /building image\.yaml/, 'nothing was built');
  });

  it('the second registry is not there: the error names it and why, and the first holds nothing', async () => {
    const closed = await closedPort();
    const r = await run([`${first.host}/acme/pre:1.0`, `127.0.0.1:${closed}/acme/pre:1.0`], [login(first)]);
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.deepEqual(await pushedFiles(first), []);
    assert.match(
      r.error,
      new RegExp(`^cannot push to 127\\.0\\.0\\.1:${closed}/acme/pre \\(cannot reach 127\\.0\\.0\\.1:${closed}: `),
      r.error,
    );
    assert.match(r.error, /; checked before the build, so nothing was written /, r.error);
    assert.doesNotMatch(r.error, /written before the failure/, r.error);
    assert.equal((await readOutputs(r.job.outputFile)).digest, undefined);
  });

  it('both fail: the error names each', async () => {
    const closed = await closedPort();
    const r = await run(
      [`${second.host}/acme/both:1.0`, `${first.host}/acme/both:1.0`, `127.0.0.1:${closed}/acme/both:1.0`],
      [login(first), login(second, 'not-the-password')],
    );
    assert.equal(r.code, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(
      r.error,
      new RegExp(
        `^cannot push to ${second.host}/acme/both \\(wrong username or password for ${second.host}\\); 127\\.0\\.0\\.1:${closed}/acme/both \\(cannot reach `,
      ),
      r.error,
    );
    // Each refusal's hint, after the repository it is for: the login advice is not lost behind
    // the first's (a cold review).
    const hints = r.error.slice(r.error.indexOf('\nhint: ') + 7).split('\n');
    assert.equal(hints.length, 2, r.error);
    assert.equal(
      hints[0],
      `${second.host}/acme/both: the docker config's login for ${second.host} was refused: log in again with docker/login-action (registry: ${second.host}) before this step, with a password or token that is valid and may push there`,
    );
    assert.match(hints[1]!, new RegExp(`^127\\.0\\.0\\.1:${closed}/acme/both: `), r.error);
    assert.deepEqual(await pushedFiles(first), []);
  });

  it('both take the push: the log says so, and the image is in each', async () => {
    const r = await run([`${first.host}/acme/ok:1.0`, `${second.host}/acme/ok:1.0`], [login(first), login(second)]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, new RegExp(`checked that ${first.host}/acme/ok, ${second.host}/acme/ok take the push`));
    const digest = (await readOutputs(r.job.outputFile)).digest;
    for (const reg of [first, second]) {
      const store = new RegistryStore(
        new RegistryClient(reg.host, { keychain: staticKeychain(reg.host, { username: reg.username!, password: reg.password! }) }),
        'acme/ok',
      );
      assert.equal((await store.resolve('1.0'))?.digest, digest);
    }
  });
});

describe('the Action’s sources, signing the index in the storage the targets take', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  let store: RegistryStore;
  const jobs: Job[] = [];
  /** The repository `repo` of the registry. */
  const storeOf = (repo: string): RegistryStore => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    return new RegistryStore(new RegistryClient(reg.host, { keychain }), repo);
  };
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    store = storeOf('acme/app');
  });
  after(async () => {
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  /** Pushes a build signed with a new key and checked for `targets`, without fix; its digest, the key and the summary. */
  const signedPush = async (tag: string, targets: string, repo = 'acme/app') => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const key = await generateEncryptedKeyPair('pw');
    const env = runnerEnv(job, {
      config: job.config,
      tags: `${reg.host}/${repo}:${tag}`,
      push: 'true',
      platforms: 'linux/amd64',
      sign: 'key',
      key: key.privateKeyPem,
      'key-password': 'pw',
      targets,
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const digest = (await readOutputs(job.outputFile)).digest as Digest;
    return { run, digest, publicKey: createPublicKey(key.publicKeyPem), summary: await readFile(job.summaryFile, 'utf8') };
  };

  it('amazon-ecr: the index’s signature is under its .sig tag only, the check finds nothing to fix for it, and it verifies', async () => {
    const { digest, publicKey, summary } = await signedPush('1.0', 'amazon-ecr');
    const [ecr] = selectTargets(await loadProfiles(), 'amazon-ecr');
    const check = (await checkImage(store, digest, [ecr!], { probe: false })).targets[0]!;
    assert.deepEqual(
      check.problems.filter((p) => p.rule === 'signature-of-index'),
      [],
      JSON.stringify(check.problems),
    );
    assert.doesNotMatch(summary, /signature-of-index/, summary);
    assert.match(summary, /the index <code>sha256:[0-9a-f]{64}<\/code> under cosign’s \.sig tag only: amazon-ecr refuses a referrer of it/);
    assert.ok(await store.resolve(`sha256-${digest.slice('sha256:'.length)}.sig`), 'the index’s .sig tag');
    const index = await verifyImage(store, digest, { policy: { key: publicKey } });
    assert.deepEqual(
      index.checked.map((c) => [c.storage, c.verified]),
      [['cosign', true]],
      'one signature of the index, under its .sig tag, and no referrer ECR refuses',
    );
    // The platform image: signed in both storages, as before (ECR takes a referrer of an image).
    const root = await store.getManifest(digest);
    const image = root.kind === 'index' ? root.index.manifests[0]!.digest : digest;
    const signed = await verifyImage(store, image, { policy: { key: publicKey } });
    assert.deepEqual(signed.verified.map((v) => v.storage).sort(), ['cosign', 'referrers']);
  });

  it('artifactory@6.23.38 (refuses OCI manifests): the signatures are Docker schema 2 images under cosign tags, and they verify', async () => {
    const repo = 'acme/artifactory';
    const artifactory = storeOf(repo);
    try {
      const { digest, publicKey } = await signedPush('1.0', 'artifactory@6.23.38', repo);
      const sig = await artifactory.getManifest(`sha256-${digest.slice('sha256:'.length)}.sig`);
      assert.equal(sig.kind, 'manifest');
      if (sig.kind === 'manifest') {
        assert.equal(sig.manifest.mediaType, 'application/vnd.docker.distribution.manifest.v2+json');
        assert.equal(sig.manifest.config.mediaType, 'application/vnd.docker.container.image.v1+json');
      }
      const index = await verifyImage(artifactory, digest, { policy: { key: publicKey } });
      assert.ok(
        index.verified.some((v) => v.storage === 'cosign'),
        JSON.stringify(index.checked),
      );
    } finally {
      await artifactory.close();
    }
  });

  it('ghcr (takes a referrer of an index): the index is signed in both storages, as without targets', async () => {
    const { digest, publicKey, summary } = await signedPush('2.0', 'ghcr');
    const index = await verifyImage(store, digest, { policy: { key: publicKey } });
    assert.deepEqual(index.verified.map((v) => v.storage).sort(), ['cosign', 'referrers']);
    assert.doesNotMatch(summary, /\.sig tag only/, summary);
  });

  it('amazon-ecr: the index’s SBOM is signed in its .att image only, with no referrer of the index left: the check is clean, and it verifies', async () => {
    // A repository of its own: the same build in another repository of this registry is not a referrer here.
    const ecrStore = storeOf('acme/ecr');
    const { run, digest, publicKey, summary } = await signedPush('1.0', 'amazon-ecr', 'acme/ecr');
    const [ecr] = selectTargets(await loadProfiles(), 'amazon-ecr');
    const check = (await checkImage(ecrStore, digest, [ecr!], { probe: false })).targets[0]!;
    assert.equal(check.verdict, 'accepted', JSON.stringify(check.problems));
    assert.doesNotMatch(run.stdout, /^::warning::/m, run.stdout);
    assert.doesNotMatch(summary, /referrer-of-index|refused/, summary);
    assert.match(
      summary,
      /the attestations of the index <code>sha256:[0-9a-f]{64}<\/code> in cosign’s \.att image only: amazon-ecr refuses a referrer of it/,
      summary,
    );
    assert.deepEqual(await ecrStore.referrers(digest), [], 'no referrer has the index as its subject, unsigned statements neither');
    assert.ok(await ecrStore.resolve(`sha256-${digest.slice('sha256:'.length)}.att`), 'the index’s .att tag');
    // As verify-attestation checks it: the statement, signed by the key, about the index.
    const index = await verifyImage(ecrStore, digest, { policy: { key: publicKey }, kind: 'attestation' });
    assert.deepEqual(
      index.checked.map((c) => [c.storage, c.format, c.verified]),
      [['cosign', 'cosign-layer', true]],
      JSON.stringify(index.checked),
    );
    assert.match(index.verified[0]!.predicateType ?? '', /spdx/i);
    // The platform image’s statements: signed referrers, as without targets (ECR takes a referrer of an image).
    const root = await ecrStore.getManifest(digest);
    const image = root.kind === 'index' ? root.index.manifests[0]!.digest : digest;
    const attested = await verifyImage(ecrStore, image, { policy: { key: publicKey }, kind: 'attestation' });
    assert.ok(attested.verified.length > 0 && attested.verified.every((v) => v.storage === 'referrers'), JSON.stringify(attested.checked));
    assert.equal(await ecrStore.resolve(`sha256-${image.slice('sha256:'.length)}.att`), undefined, 'no .att image for the platform image');
    await ecrStore.close();
  });

  it('amazon-ecr, unsigned: the index’s SBOM is under its .att tag without a subject, as fix stores it: no referrer of the index, the check is clean', async () => {
    const repo = 'acme/ecr-unsigned';
    const ecrStore = storeOf(repo);
    try {
      const job = await makeJob();
      jobs.push(job);
      await dockerLogin(job, reg.host, reg.username!, reg.password!);
      const env = runnerEnv(job, {
        config: job.config,
        tags: `${reg.host}/${repo}:1.0`,
        push: 'true',
        platforms: 'linux/amd64',
        targets: 'amazon-ecr',
      });
      const run = await runSources(job, env);
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.doesNotMatch(run.stdout, /^::warning::/m, run.stdout);
      const digest = (await readOutputs(job.outputFile)).digest as Digest;
      const [ecr] = selectTargets(await loadProfiles(), 'amazon-ecr');
      const check = (await checkImage(ecrStore, digest, [ecr!], { probe: false })).targets[0]!;
      assert.equal(check.verdict, 'accepted', JSON.stringify(check.problems));
      assert.deepEqual(await ecrStore.referrers(digest), [], 'no referrer of the index');
      const att = await ecrStore.getManifest(`sha256-${digest.slice('sha256:'.length)}.att`);
      assert.equal(att.kind, 'manifest');
      if (att.kind === 'manifest') {
        assert.equal(att.manifest.subject, undefined, 'no subject, as the fix writes it');
        assert.deepEqual(
          att.manifest.layers.map((l) => l.annotations?.['in-toto.io/predicate-type']),
          ['https://spdx.dev/Document'],
          'the index’s unsigned SBOM statement',
        );
      }
      // The platform image's statements: still referrers (ECR takes a referrer of an image).
      const root = await ecrStore.getManifest(digest);
      const image = root.kind === 'index' ? root.index.manifests[0]!.digest : digest;
      assert.equal((await ecrStore.referrers(image)).length, 1);
    } finally {
      await ecrStore.close();
    }
  });

  it('ghcr: the index’s SBOM is a signed referrer, with no unsigned copy beside it, as without targets', async () => {
    const ghcrStore = storeOf('acme/ghcr');
    const { digest, publicKey, summary } = await signedPush('1.0', 'ghcr', 'acme/ghcr');
    const index = await verifyImage(ghcrStore, digest, { policy: { key: publicKey }, kind: 'attestation' });
    assert.deepEqual(
      index.verified.map((v) => v.storage),
      ['referrers'],
      JSON.stringify(index.checked),
    );
    assert.equal(await ghcrStore.resolve(`sha256-${digest.slice('sha256:'.length)}.att`), undefined, 'no .att image');
    // Signed, each statement is stored once, as its bundle (as build --sign and cosign 3's attest
    // store it): no BuildKit-typed unsigned referrer of the index or of its image.
    const root = await ghcrStore.getManifest(digest);
    const image = root.kind === 'index' ? root.index.manifests[0]!.digest : digest;
    for (const subject of [digest, image]) {
      const types = (await ghcrStore.referrers(subject)).map((r) => r.artifactType);
      assert.ok(types.length >= 2, `${subject}: its signature and its statements' bundles: ${types.join(', ')}`);
      assert.ok(
        types.every((t) => t?.startsWith('application/vnd.dev.sigstore.bundle')),
        `${subject}: every referrer a Sigstore bundle: ${types.join(', ')}`,
      );
    }
    const attested = await verifyImage(ghcrStore, image, { policy: { key: publicKey }, kind: 'attestation' });
    assert.equal(attested.verified.length, 3, JSON.stringify(attested.checked));
    assert.doesNotMatch(summary, /\.att image only/, summary);
    await ghcrStore.close();
  });
});

describe('the Action’s sources, BuildKit’s attestation storages', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  const jobs: Job[] = [];
  const storeOf = (repo: string): RegistryStore => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    return new RegistryStore(new RegistryClient(reg.host, { keychain }), repo);
  };
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  after(async () => {
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  /** Pushes a build with `attestations: mode` to the repository `repo`, signed with a new key or not. */
  const push = async (mode: string, repo: string, signed: boolean, more: Record<string, string> = {}) => {
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const key = await generateEncryptedKeyPair('pw');
    const env = runnerEnv(job, {
      config: job.config,
      tags: `${reg.host}/${repo}:1.0`,
      push: 'true',
      platforms: 'linux/amd64',
      attestations: mode,
      ...(signed ? { sign: 'key', key: key.privateKeyPem, 'key-password': 'pw' } : {}),
      ...more,
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const digest = (await readOutputs(job.outputFile)).digest as Digest;
    return { run, job, digest, publicKey: createPublicKey(key.publicKeyPem) };
  };
  /** The index's entries: its platform images and its attestation manifests. */
  const entries = async (store: RegistryStore, digest: Digest) => {
    const root = await store.getManifest(digest);
    assert.equal(root.kind, 'index');
    const all = root.kind === 'index' ? root.index.manifests : [];
    const isAttestation = (d: (typeof all)[number]): boolean => d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
    return { images: all.filter((d) => !isAttestation(d)), attestations: all.filter(isAttestation) };
  };

  for (const mode of ['buildkit', 'buildkit-artifact']) {
    it(`${mode}, signed: the index written (with its attestation entries) is signed, tagged, and its SBOM a signed referrer of it`, async () => {
      const repo = `acme/${mode}-signed`;
      const store = storeOf(repo);
      try {
        const { digest, publicKey, job } = await push(mode, repo, true);
        assert.equal((await store.resolve('1.0'))?.digest, digest, 'the tag names the index written');
        const { images, attestations } = await entries(store, digest);
        assert.equal(attestations.length, 1, 'the platform image’s statements are listed in the index');
        // The attestation manifest is signed, as the index and the image are: the summary's row
        // says so, not "unsigned" (a cold review).
        const manifest = await verifyImage(store, attestations[0]!.digest, { policy: { key: publicKey } });
        assert.equal(manifest.verified.length, 2, JSON.stringify(manifest.checked));
        const row = new RegExp(
          `<td>buildkit</td><td><code>${attestations[0]!.digest}</code></td><td>([^<]*(?:<code>[^<]*</code>)?[^<]*)</td>`,
        );
        const cell = row.exec(await readFile(job.summaryFile, 'utf8'))?.[1];
        assert.match(cell ?? '', /^key <code>[^<]+<\/code> \(a signature of the manifest\)$/, cell);
        const index = await verifyImage(store, digest, { policy: { key: publicKey } });
        assert.deepEqual(index.verified.map((v) => v.storage).sort(), ['cosign', 'referrers']);
        const sbom = await verifyImage(store, digest, { policy: { key: publicKey }, kind: 'attestation' });
        assert.deepEqual(
          sbom.verified.map((v) => [v.storage, v.predicateType]),
          [['referrers', 'https://spdx.dev/Document']],
          JSON.stringify(sbom.checked),
        );
        const image = await verifyImage(store, images[0]!.digest, { policy: { key: publicKey }, kind: 'attestation' });
        assert.ok(image.verified.length >= 2 && image.verified.every((v) => v.storage === 'referrers'), JSON.stringify(image.checked));
      } finally {
        await store.close();
      }
    });

    it(`${mode}, unsigned: the statements are in the index, and the log says why the index’s SBOM is not written`, async () => {
      const repo = `acme/${mode}-unsigned`;
      const store = storeOf(repo);
      try {
        const { run, digest } = await push(mode, repo, false);
        assert.equal((await store.resolve('1.0'))?.digest, digest);
        const { attestations } = await entries(store, digest);
        assert.equal(attestations.length, 1);
        assert.deepEqual(await store.referrers(digest), [], 'nothing attached to the index');
        assert.match(
          run.stdout,
          new RegExp(`the index's SBOM is not written: attestations: ${mode} lists statements about platform images only`),
          run.stdout,
        );
        assert.doesNotMatch(run.stdout, /^::(warning|error)::/m, run.stdout);
      } finally {
        await store.close();
      }
    });
  }

  it('the same commit tagged 1.0, then 2.0: the same index, its statements naming the repository without a tag', async () => {
    const repo = 'acme/retag';
    const store = storeOf(repo);
    // One job, run twice: the fixture repository (its key, its packages) is made once.
    const job = await makeJob();
    jobs.push(job);
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const run = async (tag: string): Promise<Digest> => {
      await writeFile(job.outputFile, '');
      const env = runnerEnv(job, {
        config: job.config,
        tags: `${reg.host}/${repo}:${tag}`,
        push: 'true',
        platforms: 'linux/amd64',
        attestations: 'buildkit',
      });
      const r = await runSources(job, env);
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      return (await readOutputs(job.outputFile)).digest as Digest;
    };
    try {
      const first = await run('1.0');
      const second = await run('2.0');
      assert.equal(second, first, 'a tag is not part of the image');
      assert.equal((await store.resolve('2.0'))?.digest, first);
      const { attestations } = await entries(store, first);
      assert.equal(attestations.length, 1);
      const manifest = await store.getManifest(attestations[0]!.digest);
      const layers = manifest.kind === 'manifest' ? manifest.manifest.layers : [];
      assert.equal(layers.length, 3, JSON.stringify(manifest));
      for (const layer of layers) {
        const text = new TextDecoder().decode(await collectBytes(await store.readBlob(layer)));
        const statement = JSON.parse(text) as { subject: { name: string }[] };
        assert.deepEqual(
          statement.subject.map((x) => x.name),
          [`${reg.host}/${repo}`],
        );
        assert.doesNotMatch(text, /tag=1\.0|retag:1\.0/);
      }
    } finally {
      await store.close();
    }
  });

  it('buildkit-artifact, signed, fixed for amazon-ecr: the fixed index does not carry the SBOM signed about the index written, and the log and summary say so', async () => {
    const repo = 'acme/buildkit-artifact-fixed';
    const store = storeOf(repo);
    try {
      const { run, job, digest, publicKey } = await push('buildkit-artifact', repo, true, { targets: 'amazon-ecr', fix: 'true' });
      const fixed = (await store.resolve('1.0-amazon-ecr'))?.digest;
      assert.ok(fixed !== undefined && fixed !== digest, 'the fix wrote an index of its own');
      // The index written keeps its signed SBOM.
      const written = await verifyImage(store, digest, { policy: { key: publicKey }, kind: 'attestation' });
      assert.deepEqual(
        written.verified.map((v) => v.predicateType),
        ['https://spdx.dev/Document'],
        JSON.stringify(written.checked),
      );
      // The fixed one carries no statement about another digest.
      const f = await verifyImage(store, fixed, { policy: { key: publicKey }, kind: 'attestation' });
      assert.ok(!f.checked.some((c) => c.reason === 'wrong-subject'), JSON.stringify(f.checked));
      assert.equal(await store.resolve(`sha256-${fixed.slice(7)}.att`), undefined, 'no .att image of the fixed index');
      const note = new RegExp(`does not carry the statement https://spdx\\.dev/Document about ${digest}`);
      assert.match(run.stdout, note, run.stdout);
      assert.match(await readFile(job.summaryFile, 'utf8'), note);
    } finally {
      await store.close();
    }
  });
});

describe('the Action’s sources, a tag refused after another was written', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  let proxy: FaultProxy;
  let job: Job;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    // The registry takes the tag 1.0 and refuses latest, always.
    proxy = await startFaultProxy(reg.host, {
      status500Every: 1,
      match: (method, path) => method === 'PUT' && path.endsWith('/manifests/latest'),
    });
    job = await makeJob();
  });
  after(async () => {
    await proxy?.stop();
    await reg?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('the error lists the tag written, not "(no tag)"', async () => {
    await dockerLogin(job, proxy.host, reg.username!, reg.password!);
    const env = runnerEnv(job, {
      config: job.config,
      tags: `${proxy.host}/acme/app:1.0\n${proxy.host}/acme/app:latest`,
      push: 'true',
      platforms: 'linux/amd64',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = /^::error(?: [^:]*)?::(.*)$/m.exec(run.stdout)?.[1] ?? '';
    assert.match(error, new RegExp(`${proxy.host}/acme/app@sha256:[0-9a-f]{64} \\(tagged 1\\.0\\)`), error);
  });
});

describe('the Action’s sources, fixing a signed image', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });
  /** The action run with `fix: true`, signing with a key, for one target; and the key. */
  const signedFixWithKey = async (target: string) => {
    const key = await generateEncryptedKeyPair('pw');
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/amd64',
      sign: 'key',
      key: key.privateKeyPem,
      'key-password': 'pw',
      targets: target,
      fix: 'true',
    });
    return { run: await runSources(job, env), key };
  };
  const signedFix = async (target: string) => (await signedFixWithKey(target)).run;
  /** The summary of the job's last run (each step appends its own to the job's file). */
  const lastSummary = async (): Promise<string> => {
    const text = await readFile(job.summaryFile, 'utf8');
    return text.slice(text.lastIndexOf('<h2>Provenant</h2>'));
  };

  it('amazon-ecr, signed: nothing is left to fix, so no fix is written and nothing is warned', async () => {
    const { run } = await signedFixWithKey('amazon-ecr');
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    // The Action signs the index under its .sig tag only and its SBOM in its .att image only
    // (ECR refuses a referrer of an index): the image as written is one ECR takes.
    assert.doesNotMatch(run.stdout, /^::warning::/m, run.stdout);
    assert.doesNotMatch(run.stdout, /fixing for amazon-ecr/, run.stdout);
    const summary = await lastSummary();
    assert.doesNotMatch(summary, /1\.0-amazon-ecr|still refuses|refused/, summary);
    const layout = await LayoutStore.open(join(dirname((await readOutputs(job.outputFile)).report!), 'image.oci'));
    try {
      assert.equal(await layout.resolve('1.0-amazon-ecr'), undefined, 'no fixed image');
    } finally {
      await layout.close();
    }
  });

  it('amazon-ecr, unsigned: the index’s SBOM is written where the fix would move it, so nothing is left to fix and nothing is warned', async () => {
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/amd64',
      targets: 'amazon-ecr',
      fix: 'true',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.doesNotMatch(run.stdout, /^::warning::/m, run.stdout);
    assert.doesNotMatch(await lastSummary(), /still refuses|refused/);
    const outputs = await readOutputs(job.outputFile);
    const layout = await LayoutStore.open(join(dirname(outputs.report!), 'image.oci'));
    try {
      assert.equal(await layout.resolve('1.0-amazon-ecr'), undefined, 'no fix written');
      assert.deepEqual(await layout.referrers(outputs.digest as Digest), [], 'no referrer of the index');
    } finally {
      await layout.close();
    }
  });

  it('aws-lambda, signed, BuildKit storage: the fixed image carries each statement signed in itself, and nothing says a moved attestation lost its signature', async () => {
    const key = await generateEncryptedKeyPair('pw');
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/amd64',
      attestations: 'buildkit',
      sign: 'key',
      key: key.privateKeyPem,
      'key-password': 'pw',
      targets: 'aws-lambda',
      fix: 'true',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.doesNotMatch(`${run.stdout}\n${await lastSummary()}`, /No signature covers/);
    const outputs = await readOutputs(job.outputFile);
    const layout = await LayoutStore.open(join(dirname(outputs.report!), 'image.oci'));
    try {
      const fixed = (await layout.resolve('1.0-aws-lambda'))?.digest;
      assert.ok(fixed !== undefined && fixed !== outputs.digest, 'the fix wrote the platform manifest');
      const checked = await verifyImage(layout, fixed, { policy: { key: createPublicKey(key.publicKeyPem) }, kind: 'attestation' });
      assert.deepEqual(
        checked.verified.map((v) => v.predicateType).sort(),
        ['https://cyclonedx.org/bom', 'https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
        JSON.stringify(checked.checked),
      );
      // Each statement signed in itself (a DSSE envelope in a Sigstore bundle, as cosign's attest
      // writes), not only through the signature of the attestation manifest that was moved.
      const bundles = (await layout.referrers(fixed)).filter((r) => r.artifactType?.startsWith('application/vnd.dev.sigstore.bundle'));
      assert.deepEqual(
        bundles
          .map((b) => b.annotations?.['dev.sigstore.bundle.predicateType'])
          .filter((t) => t !== 'https://sigstore.dev/cosign/sign/v1')
          .sort(),
        ['https://cyclonedx.org/bom', 'https://slsa.dev/provenance/v1', 'https://spdx.dev/Document'],
        JSON.stringify(bundles),
      );
    } finally {
      await layout.close();
    }
  });

  it('aws-lambda, signed, two platforms: the warning and the summary name the statements about the index and the arm64 image, which the fixed image does not carry', async () => {
    const key = await generateEncryptedKeyPair('pw');
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/amd64,linux/arm64',
      sign: 'key',
      key: key.privateKeyPem,
      'key-password': 'pw',
      targets: 'aws-lambda',
      fix: 'true',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const outputs = await readOutputs(job.outputFile);
    const layout = await LayoutStore.open(join(dirname(outputs.report!), 'image.oci'));
    let arm64: Digest;
    let amd64: Digest;
    try {
      const root = await layout.getManifest(outputs.digest as Digest);
      assert.equal(root.kind, 'index');
      const of = (arch: string) =>
        (root.kind === 'index' ? root.index.manifests.find((m) => m.platform?.architecture === arch)!.digest : undefined)!;
      [arm64, amd64] = [of('arm64'), of('amd64')];
      assert.equal((await layout.resolve('1.0-aws-lambda'))?.digest, amd64, 'the fixed image is the amd64 manifest');
    } finally {
      await layout.close();
    }
    const types = 'https://spdx.dev/Document, https://cyclonedx.org/bom, https://slsa.dev/provenance/v1';
    const named = [`${types} about ${arm64}`, `https://spdx.dev/Document about ${outputs.digest}`];
    const warning = /^::warning::(.*)$/m.exec(run.stdout)?.[1] ?? '';
    assert.match(warning, /^the fix for aws-lambda wrote 1\.0-aws-lambda; the fixed image does not carry the statements /, run.stdout);
    assert.match(warning, /\(the fix left out what they are about\), which stay with the image as built$/, warning);
    for (const n of named) assert.ok(warning.includes(n), `${n}\n${warning}`);
    assert.ok(!run.stdout.includes(`about ${amd64}`), 'nothing about the image the fix kept');
    const summary = await lastSummary();
    for (const n of named) assert.ok(summary.includes(n), `${n}\n${summary}`);
    // The fixed image's name, in full, in every place that lists the names written (a cold review).
    const layoutName = `oci:${join(dirname(outputs.report!), 'image.oci')}`;
    const metadata = JSON.parse(outputs.metadata!) as Record<string, string>;
    assert.equal(metadata['image.name'], `${layoutName}:1.0,${layoutName}:1.0-aws-lambda`);
    const written = /<p><code>sha256:[0-9a-f]{64}<\/code> written to .*?<\/p>/.exec(summary)?.[0] ?? '';
    assert.ok(
      written.includes(`fixed for <code>aws-lambda</code>, <code>${amd64}</code> to <code>${layoutName}:1.0-aws-lambda</code>`),
      written,
    );
    assert.ok(summary.includes(`<code>${amd64}</code> <code>${layoutName}:1.0-aws-lambda</code>`), summary);
  });

  it('warns, naming the target and the rules no fix satisfies, and the summary says why there is no fixed image', async () => {
    // An arm64 image for Cloud Run, which runs amd64 only: no change to the image adds a platform.
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/arm64',
      targets: 'google-cloud-run',
      fix: 'true',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const warning = /^::warning::(.*)$/m.exec(run.stdout)?.[1] ?? '';
    assert.match(warning, /the fix for google-cloud-run wrote nothing \(no 1\.0-google-cloud-run\): no fix for needs-amd64/, run.stdout);
    const summary = await readFile(job.summaryFile, 'utf8');
    assert.match(summary, /not written: [^<]*needs-amd64/, summary);
  });

  it('a target named without fix that refuses the image: a warning names it and its rules, and the step still passes', async () => {
    const env = runnerEnv(job, {
      config: job.config,
      tags: 'example.com/acme/app:1.0',
      platforms: 'linux/arm64',
      targets: 'google-cloud-run',
    });
    const run = await runSources(job, env);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const warning = /^::warning::(.*)$/m.exec(run.stdout)?.[1] ?? '';
    assert.match(
      warning,
      /\(google-cloud-run\) refuses sha256:[0-9a-f]{64}: [^;]*needs-amd64[^;]*; fix: true writes an image it accepts beside it$/,
      run.stdout,
    );
    // Not named: the default list only fills the summary's table.
    const quiet = await runSources(job, runnerEnv(job, { config: job.config, tags: 'example.com/acme/app:1.0', platforms: 'linux/arm64' }));
    assert.equal(quiet.code, 0, `${quiet.stdout}\n${quiet.stderr}`);
    assert.doesNotMatch(quiet.stdout, /^::warning::.*refuses/m, quiet.stdout);
  });

  it('a target name that does not exist names the input', async () => {
    const run = await runSources(job, runnerEnv(job, { config: job.config, tags: 'example.com/acme/app:1.0', targets: 'aws-lamda' }));
    assert.notEqual(run.code, 0);
    assert.match(run.stdout, /^::error::the input targets: unknown target "aws-lamda"/m, run.stdout);
  });

  it('alibaba-acr, signed: every signature under .sig and every statement in .att, by its rules: nothing is left to fix', async () => {
    const run = await signedFix('alibaba-acr');
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    // ACR refuses every empty-config referrer, of an image too: no referrer is written at all.
    assert.doesNotMatch(run.stdout, /^::warning::/m, run.stdout);
    const summary = await lastSummary();
    assert.doesNotMatch(summary, /1\.0-alibaba-acr|refused/, summary);
    const layout = await LayoutStore.open(join(dirname((await readOutputs(job.outputFile)).report!), 'image.oci'));
    try {
      const digest = (await readOutputs(job.outputFile)).digest as Digest;
      const root = await layout.getManifest(digest);
      const image = root.kind === 'index' ? root.index.manifests[0]!.digest : digest;
      for (const d of [digest, image]) {
        assert.deepEqual(await layout.referrers(d), [], d);
        assert.ok(await layout.resolve(`sha256-${d.slice('sha256:'.length)}.att`), `the .att image of ${d}`);
      }
    } finally {
      await layout.close();
    }
  });
});

describe('the Action’s sources, two steps in one job', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
    // A second configuration whose image differs: another entrypoint.
    const config = await readFile(join(job.workspace, job.config), 'utf8');
    await writeFile(join(job.workspace, 'other.yaml'), config.replace('command: /usr/bin/hello', 'command: /bin/sh'));
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('push: false: each step has its own layout and report, and its outputs still describe its image after the next step', async () => {
    const steps: { digest: string; report: string; name: string }[] = [];
    for (const [config, tags] of [
      [job.config, 'registry.example/acme/a:1.0'],
      ['other.yaml', 'registry.example/acme/b:1.0'],
    ] as const) {
      await writeFile(job.outputFile, '');
      const run = await runSources(job, runnerEnv(job, { config, tags, platforms: 'linux/amd64', targets: 'ghcr' }));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      const o = await readOutputs(job.outputFile);
      steps.push({ digest: o.digest!, report: o.report!, name: (JSON.parse(o.metadata!) as Record<string, string>)['image.name']! });
    }
    const [a, b] = steps as [(typeof steps)[0], (typeof steps)[0]];
    assert.notEqual(a.digest, b.digest);
    assert.notEqual(a.report, b.report);
    for (const step of [a, b]) {
      assert.ok(step.report.startsWith(join(job.runnerTemp, 'provenant') + sep), step.report);
      assert.ok((await readFile(step.report, 'utf8')).includes(step.digest), `${step.report} describes ${step.digest}`);
      const layout = /^oci:(.+):1\.0$/.exec(step.name)?.[1];
      assert.ok(layout !== undefined, step.name);
      const store = await LayoutStore.open(layout);
      try {
        assert.equal((await store.resolve('1.0'))?.digest, step.digest, `${layout}:1.0`);
      } finally {
        await store.close();
      }
    }
  });
});

describe('the Action’s sources, a job summary that cannot be written', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('warns, naming the file and why, and the step keeps its result and outputs', async () => {
    const inputs = { config: job.config, platforms: 'linux/amd64', targets: 'ghcr' };
    for (const [summary, why] of [
      // @actions/core refuses it as a file it cannot access, without the reason: asked again.
      [join(job.root, 'missing', 'summary.md'), 'there is no such file'],
      // Accessible, but appending to it fails.
      [job.workspace, 'it is a folder'],
    ] as const) {
      await writeFile(job.outputFile, '');
      const run = await runSources(job, runnerEnv(job, inputs, { GITHUB_STEP_SUMMARY: summary }));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.doesNotMatch(run.stdout, /^::error/m, run.stdout);
      const warning = /^::warning::(the job summary .*)$/m.exec(run.stdout)?.[1] ?? '';
      assert.equal(
        warning,
        `the job summary was not written: GITHUB_STEP_SUMMARY names ${summary}, which cannot be written (${why}); the image and the outputs are as above`,
        run.stdout,
      );
      const outputs = await readOutputs(job.outputFile);
      assert.match(outputs.digest ?? '', /^sha256:[0-9a-f]{64}$/);
      assert.ok((await readFile(outputs.report!, 'utf8')).includes(outputs.digest!), 'the report describes the image');
    }
  });
});

describe('the Action’s sources, includes', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('reads them from anywhere in the workspace, not outside it; a config made outside keeps its own folder', async () => {
    const [key] = await readdir(join(job.workspace, 'keys'));
    const contents = (repo: string, keys: string) =>
      `contents:\n  repositories: [${repo}]\n  keyring: [${keys}/${key}]\n  packages: [hello]\narchs: [x86_64]\n`;
    const run = async (config: string) => {
      await writeFile(job.outputFile, '');
      return runSources(job, runnerEnv(job, { config, tags: 'registry.example/acme/inc:1.0', sbom: 'false', provenance: 'false' }));
    };
    await writeFile(join(job.workspace, 'base.yaml'), 'entrypoint:\n  command: /usr/bin/hello\n');
    await mkdir(join(job.workspace, 'app'));
    await writeFile(join(job.workspace, 'app', 'app.yaml'), `include: ../base.yaml\n${contents('../repo', '../keys')}`);
    let r = await run('app/app.yaml');
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    // A file beside the workspace, as a runner's other files are.
    await writeFile(join(job.root, 'outside.yaml'), 'entrypoint:\n  command: /usr/bin/hello\n');
    await writeFile(join(job.workspace, 'app', 'out.yaml'), `include: ../../outside.yaml\n${contents('../repo', '../keys')}`);
    r = await run('app/out.yaml');
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /outside\.yaml is outside .*workspace, the folder includes are read from/);
    // The hint says the folder is the workspace: the library's includeRoot is not the workflow's word.
    const hint = /%0Ahint: (.*)$/m.exec(r.stdout)?.[1] ?? '';
    assert.match(
      hint,
      /^a configuration in the workspace includes files from the workspace only .*: move the file into the repository/,
      r.stdout,
    );
    assert.doesNotMatch(hint, /includeRoot|--include-root/, hint);
    // A configuration an earlier step wrote to RUNNER_TEMP, with its base beside it.
    const made = join(job.runnerTemp, 'made');
    await mkdir(made);
    await writeFile(join(made, 'base.yaml'), 'entrypoint:\n  command: /usr/bin/hello\n');
    await writeFile(join(made, 'made.yaml'), `include: base.yaml\n${contents(join(job.workspace, 'repo'), join(job.workspace, 'keys'))}`);
    r = await run(join(made, 'made.yaml'));
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  });
});

describe('the Action’s sources, signing with a key', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('takes the password as written, trailing space included, and masks it whole however short', async () => {
    const password = 'pw ';
    const key = await generateEncryptedKeyPair(password);
    const inputs = { config: job.config, platforms: 'linux/amd64', sign: 'key', key: key.privateKeyPem, targets: 'ghcr' };
    const run = await runSources(job, runnerEnv(job, { ...inputs, 'key-password': password }));
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.ok(run.stdout.split('\n').includes(`::add-mask::${password}`), 'the whole password is masked');
    assert.match(await readFile(job.summaryFile, 'utf8'), /signed with key/);

    // A wrong one: the error names the input, not the CLI's COSIGN_PASSWORD.
    const wrong = await runSources(job, runnerEnv(job, { ...inputs, 'key-password': 'pw' }));
    assert.equal(wrong.code, 1);
    const error = /^::error(?: [^:]*)?::(.*)$/m.exec(wrong.stdout)?.[1] ?? '';
    assert.match(error, /the password does not decrypt the private key \(with: key-password\)%0Ahint: check the key-password input/);
    assert.doesNotMatch(error, /COSIGN_PASSWORD/);
  });
});

describe('the Action’s sources, keyless against a local Sigstore', () => {
  let job: Job;
  let mock: MockSigstore;
  before(async () => {
    job = await makeJob();
    mock = await startMockSigstore({ dir: job.root });
  });
  after(async () => {
    await mock?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('one OIDC token and one certificate for the whole run, a log entry per signature; all verify', async () => {
    const identity = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
    try {
      const inputs = {
        config: job.config,
        tags: 'registry.example/acme/app:1.0',
        platforms: 'linux/amd64,linux/arm64',
        sign: 'keyless',
        'fulcio-url': mock.url,
        'rekor-url': mock.url,
        'trusted-root': mock.trustedRootPath,
        targets: 'ghcr',
      };
      const env = { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
      const run = await runSources(job, runnerEnv(job, inputs, env));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assert.equal(endpoint.requests(), 1);
      assert.equal(mock.requests.fulcio, 1);
      // The index and both platforms in two storages, and the attestations: a log entry each.
      assert.ok(mock.requests.rekor > 6, String(mock.requests.rekor));
      const outputs = await readOutputs(job.outputFile);
      const store = await LayoutStore.open(join(dirname(outputs.report!), 'image.oci'));
      try {
        const index = await store.getManifest(outputs.digest!);
        const digests = index.kind === 'index' ? [index.digest, ...index.index.manifests.map((m) => m.digest)] : [];
        assert.equal(digests.length, 3);
        for (const d of digests) {
          const report = await verifyImage(store, d, {
            policy: { certificateIdentity: identity, certificateOidcIssuer: MOCK_ISSUER },
            trustedRoot: mock.trustedRoot,
          });
          assert.equal(report.verified.length, 2, d);
        }
      } finally {
        await store.close();
      }
    } finally {
      await endpoint.stop();
    }
  });

  it('a runner token that is not a JWT: the error says the runner’s token, and id-token: write, not "pass the token itself"', async () => {
    const requestToken = 'runner-request-token-0123456789';
    const token = 'notajwt-secretvalue';
    const endpoint = await startTokenEndpoint(requestToken, token);
    const fulcio = mock.requests.fulcio;
    try {
      const inputs = { config: job.config, platforms: 'linux/amd64', sign: 'keyless', 'fulcio-url': mock.url, 'rekor-url': mock.url };
      const env = { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
      const run = await runSources(job, runnerEnv(job, inputs, env));
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      const error = (/^::error(?: [^:]*)?::(.*)$/m.exec(run.stdout)?.[1] ?? '').replaceAll('%0A', '\n');
      assert.match(
        error,
        /^the OIDC token the GitHub Actions runner gave the job is not a JWT \(19 characters, 1 dot-separated part; a JWT has 3\)/,
        error,
      );
      assert.match(
        error,
        /\nhint: the token is the runner's, not one passed in: check that the job has `permissions: id-token: write`/,
        error,
      );
      assert.doesNotMatch(error, /file name|--identity-token|pass the token/, error);
      assert.ok(!error.includes(token), 'the error repeats the token');
      assert.equal(mock.requests.fulcio, fulcio, 'Fulcio was asked with a token that is not one');
    } finally {
      await endpoint.stop();
    }
  });

  it('aws-lambda, fix: the amd64 manifest the fix writes in place of the index keeps the signatures the build made, and is not signed again', async () => {
    const identity = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
    try {
      const inputs = {
        config: job.config,
        tags: 'registry.example/acme/app:1.0',
        platforms: 'linux/amd64,linux/arm64',
        sign: 'keyless',
        'fulcio-url': mock.url,
        'rekor-url': mock.url,
        'trusted-root': mock.trustedRootPath,
        targets: 'aws-lambda',
        fix: 'true',
      };
      const env = { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
      const run = await runSources(job, runnerEnv(job, inputs, env));
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      const outputs = await readOutputs(job.outputFile);
      const store = await LayoutStore.open(join(dirname(outputs.report!), 'image.oci'));
      try {
        const index = await store.getManifest(outputs.digest!);
        const amd64 = index.kind === 'index' ? index.index.manifests.find((m) => m.platform?.architecture === 'amd64')?.digest : undefined;
        assert.ok(amd64 !== undefined);
        assert.equal((await store.resolve('1.0-aws-lambda'))?.digest, amd64, 'the fixed image is the amd64 manifest');
        const report = await verifyImage(store, amd64, {
          policy: { certificateIdentity: identity, certificateOidcIssuer: MOCK_ISSUER },
          trustedRoot: mock.trustedRoot,
        });
        // The build's two, one in each storage; a second signature by the same identity would be a third.
        assert.deepEqual(report.verified.map((v) => v.storage).sort(), ['cosign', 'referrers']);
      } finally {
        await store.close();
      }
    } finally {
      await endpoint.stop();
    }
  });
});

describe('the Action’s sources, keyless, a second run on an image an earlier one signed', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  let job: Job;
  let mock: MockSigstore;
  before(async () => {
    reg = await startRegistry({ auth: 'none' });
    job = await makeJob();
    mock = await startMockSigstore({ dir: job.root });
  });
  after(async () => {
    await mock?.stop();
    await reg?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('the summary says who signed in this run, and the earlier run’s signer apart (a cold review)', async () => {
    const pr = 'https://github.com/acme/app/.github/workflows/pr.yml@refs/pull/7/merge';
    const release = 'https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main';
    const requestToken = 'runner-request-token-0123456789';
    const summaries: string[] = [];
    // The same job twice, so the same build and digest: first signed by pr.yml, then by release.yml.
    for (const identity of [pr, release]) {
      const endpoint = await startTokenEndpoint(requestToken, mock.token(identity));
      try {
        await writeFile(job.summaryFile, '');
        const inputs = {
          config: job.config,
          tags: `${reg.host}/acme/kl:1.0`,
          push: 'true',
          platforms: 'linux/amd64',
          sign: 'keyless',
          'fulcio-url': mock.url,
          'rekor-url': mock.url,
          'trusted-root': mock.trustedRootPath,
        };
        const env = { ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
        const run = await runSources(job, runnerEnv(job, inputs, env));
        assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
        summaries.push(/<p>signed keyless as [^\n]*<\/p>/.exec(await readFile(job.summaryFile, 'utf8'))?.[0] ?? '');
      } finally {
        await endpoint.stop();
      }
    }
    const [first, second] = summaries;
    assert.match(first!, new RegExp(`^<p>signed keyless as ${pr} \\(${MOCK_ISSUER}\\): `), first);
    assert.doesNotMatch(first!, /also signed earlier/, first);
    assert.match(
      second!,
      new RegExp(
        `^<p>signed keyless as ${release} \\(${MOCK_ISSUER}\\): [^;]*; also signed earlier, not by this run, as ${pr} \\(${MOCK_ISSUER}\\)</p>$`,
      ),
      second,
    );
  });
});
