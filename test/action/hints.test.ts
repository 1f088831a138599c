/**
 * What the Action says is for a workflow, not a command line: a registry that refuses the login
 * gets a hint about docker/login-action (the Action has no --username), a hint that names a flag
 * names the input instead, or says what to change in the workflow when there is none, and the job
 * summary names the key that signed each attestation, cosign's `.att` layers too.
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { actionHint, INPUT_OF_FLAG } from '../../src/action/hints.ts';
import { PushCheckError } from '../../src/action/run.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { checkStanza, indexDebStanzas } from '../../src/pkg/deb/stanza-index.ts';
import { RegistryAuthError, responseError } from '../../src/registry/errors.ts';
import { generateEncryptedKeyPair, keyId, parsePublicKey } from '../../src/sign/keys.ts';
import { cliOk, runCli } from '../helpers/cli.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ACTION_DIR, dockerLogin, type Job, makeJob, readOutputs, runnerEnv, runSources } from './helpers.ts';

/** The ::error:: line of a run, decoded as the runner shows it. */
const errorOf = (stdout: string): string => (/^::error(?: [^:]*)?::(.*)$/m.exec(stdout)?.[1] ?? '').replaceAll('%0A', '\n');

describe('the Action’s sources: hints and the summary, for a workflow', { skip: registryMissing }, () => {
  let reg: TestRegistry;
  const jobs: Job[] = [];
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
  });
  after(async () => {
    await reg?.stop();
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  const newJob = async () => {
    const job = await makeJob();
    jobs.push(job);
    return job;
  };
  const push = (job: Job, extra: Record<string, string> = {}) =>
    runSources(
      job,
      runnerEnv(job, { config: job.config, tags: `${reg.host}/acme/app:1.0`, push: 'true', platforms: 'linux/amd64', ...extra }),
    );

  it('a refused docker login: log in again with docker/login-action, not --username', async () => {
    const job = await newJob();
    await dockerLogin(job, reg.host, reg.username!, 'not-the-password');
    const run = await push(job);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    // Found before the build, by the check of each repository for the push (run.ts).
    const host = reg.host.replaceAll('.', '\\.');
    assert.match(error, new RegExp(`^cannot push to ${host}/acme/app \\(wrong username or password for ${host}\\)`), error);
    assert.match(error, /\nhint: the docker config's login for .* was refused: log in again with docker\/login-action/, error);
    assert.doesNotMatch(error, /--username|--password-stdin|not-the-password/, error);
  });

  it('no login at all: log in with docker/login-action before this step', async () => {
    const job = await newJob();
    const run = await push(job);
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    const host = reg.host.replaceAll('.', '\\.');
    assert.match(error, new RegExp(`^cannot push to ${host}/acme/app \\(${host} requires authentication\\)`), error);
    assert.match(error, /\nhint: no login for .*: log in with docker\/login-action \(registry: /, error);
    assert.doesNotMatch(error, /--username|--password-stdin/, error);
  });

  it('the summary names the key of attestations stored in cosign’s .att image, as docs/action.md says', async () => {
    const job = await newJob();
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const key = await generateEncryptedKeyPair('pw');
    const run = await push(job, { sign: 'key', key: key.privateKeyPem, 'key-password': 'pw', attestations: 'cosign' });
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const summary = await readFile(job.summaryFile, 'utf8');
    const table = summary.slice(summary.indexOf('<h3>Attestations</h3>'), summary.indexOf('<h3>Signature</h3>'));
    const rows = [...table.matchAll(/<tr>(.*?)<\/tr>/gs)]
      .map((m) => [...m[1]!.matchAll(/<td>(.*?)<\/td>/gs)].map((c) => c[1]))
      .filter((cells) => cells.length > 0);
    assert.ok(rows.length >= 2, table);
    const id = keyId(parsePublicKey(key.publicKeyPem));
    // One row per .att image (the platform's three statements, the index's SBOM), each signer once.
    for (const row of rows) {
      assert.equal(row[2], 'cosign', table);
      assert.equal(row.at(-1), `key <code>${id}</code>`, table);
    }
  });
});

describe('the Action’s sources: a hint names inputs, never the command line’s flags', () => {
  const jobs: Job[] = [];
  after(async () => {
    for (const j of jobs.splice(0)) await rm(j.root, { recursive: true, force: true });
  });
  const newJob = async () => {
    const job = await makeJob();
    jobs.push(job);
    return job;
  };

  it('a registry’s rate limit: wait and log in, not --concurrency (the Action has none)', async () => {
    // A registry that answers its API's probe and rate-limits everything else; Retry-After: 0 so
    // that the client's retries do not wait.
    const server = createServer((req, res) => {
      if (req.url === '/v2/') return void res.writeHead(200, { 'Content-Type': 'application/json' }).end('{}');
      const body = JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'slow down' }] });
      res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '0' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const job = await newJob();
      const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      const env = runnerEnv(job, { config: job.config, tags: `${host}/acme/app:1.0`, push: 'true', platforms: 'linux/amd64' });
      const run = await runSources(job, env);
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      const error = errorOf(run.stdout);
      assert.match(error, /is rate limiting requests/, error);
      assert.match(error, /\nhint: wait and re-run the job, or log in with docker\/login-action before this step/, error);
      assert.doesNotMatch(error, /--concurrency/, error);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('an include outside a configuration from outside the workspace: keep it in the workspace, not --include-root', async () => {
    const job = await newJob();
    // Made by an earlier step under RUNNER_TEMP: its includes are read from its own folder only.
    const dir = join(job.runnerTemp, 'generated', 'images');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, '..', 'base.yaml'), 'entrypoint: {command: /usr/bin/hello}\n');
    await writeFile(join(dir, 'image.yaml'), `include: ../base.yaml\n${await readFile(join(job.workspace, job.config), 'utf8')}`);
    const run = await runSources(job, runnerEnv(job, { config: join(dir, 'image.yaml'), platforms: 'linux/amd64' }));
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const error = errorOf(run.stdout);
    assert.match(error, /base\.yaml is outside /, error);
    assert.match(
      error,
      /\nhint: .*: move it there, or keep the configuration in the workspace, from anywhere in which it may include$/,
      error,
    );
    assert.doesNotMatch(error, /--include-root|includeRoot/, error);
  });

  it("the check before the build: the error's own hint is the Action's, each repository's, never the command line's --username", () => {
    const refused = new RegistryAuthError('127.0.0.1:5000', true, '127.0.0.1:5000/acme/app');
    const missing = new RegistryAuthError('127.0.0.1:5001', false, '127.0.0.1:5001/acme/app');
    const one = new PushCheckError([{ location: '127.0.0.1:5000/acme/app', error: refused }]);
    assert.match(one.hint ?? '', /^the docker config's login for 127\.0\.0\.1:5000 was refused: log in again with docker\/login-action/);
    assert.equal(actionHint(one), one.hint);
    const two = new PushCheckError([
      { location: '127.0.0.1:5000/acme/app', error: refused },
      { location: '127.0.0.1:5001/acme/app', error: missing },
    ]);
    assert.deepEqual(two.hint?.split('\n'), [
      `127.0.0.1:5000/acme/app: ${actionHint(refused)}`,
      `127.0.0.1:5001/acme/app: ${actionHint(missing)}`,
    ]);
    assert.doesNotMatch(two.hint ?? '', /--username|--password-stdin|docker login/);
    assert.equal(actionHint(two), two.hint);
  });

  // A final review: only RegistryAuthError was rewritten, and a 403 with no login said `docker login`.
  it('a 403 with no login found: docker/login-action, not docker login; the other 403s keep their hint', () => {
    const body = '{"errors":[{"code":"DENIED","message":"no"}]}';
    const ctx = { registry: 'ghcr.invalid', where: 'ghcr.invalid/acme/app:1', what: 'get manifest 1' };
    const none = responseError(403, body, { ...ctx, hadCredentials: false });
    assert.match(none.hint ?? '', /docker login ghcr\.invalid/, 'the library’s hint is the command line’s');
    const hint = actionHint(none);
    assert.match(hint ?? '', /log in with docker\/login-action \(registry: ghcr\.invalid\) before this step/, String(hint));
    assert.doesNotMatch(hint ?? '', /docker login|--username/, String(hint));
    // Wrapped on the way, as PartialWriteError keeps its cause's hint.
    const wrapped = new ProvenantError('REGISTRY', 'push failed', { cause: none, hint: none.hint });
    assert.equal(actionHint(wrapped), hint);
    // Credentials sent, or found and not asked for: no login step helps, and the hint names none.
    for (const other of [
      responseError(403, body, { ...ctx, hadCredentials: true }),
      responseError(403, body, { ...ctx, hadCredentials: false, heldCredentials: true }),
    ]) {
      assert.equal(actionHint(other), other.hint);
      assert.doesNotMatch(other.hint ?? '', /docker login|login-action/, String(other.hint));
    }
  });

  it('a damaged Debian index in the cache: an empty cache-dir input, not --cache-dir', () => {
    const index = indexDebStanzas(new TextEncoder().encode('Package: hello\nVersion: 1\n\n'), 'Packages');
    let caught: unknown;
    try {
      checkStanza(index, 0, new TextEncoder().encode('Package: hellp\nVersion: 1\n'), 'Packages');
    } catch (err) {
      caught = err;
    }
    assert.ok(isProvenantError(caught, 'IO'), String(caught));
    assert.match(caught.hint ?? '', /--cache-dir/, 'the library’s hint is the command line’s');
    const hint = actionHint(caught);
    assert.match(hint ?? '', /^build again with an empty cache-dir, or remove /, String(hint));
    assert.doesNotMatch(hint ?? '', /--cache-dir/, String(hint));
  });

  it('a lock made for amd64 only, built for arm64 too: platforms, not --arch (which the command line keeps)', async () => {
    const job = await newJob();
    await cliOk(['lock', job.config, '-o', 'image.lock.json', '--arch', 'x86_64'], { cwd: job.workspace });
    const cli = await runCli(['build', job.config, '--lock', 'image.lock.json', '-o', 'oci:out', '--arch', 'x86_64', '--arch', 'aarch64'], {
      cwd: job.workspace,
    });
    assert.equal(cli.status, 2, cli.stderr);
    assert.match(cli.stderr, /or build only for x86_64 \(--arch\)$/m, cli.stderr);

    const run = await runSources(
      job,
      runnerEnv(job, { config: job.config, lock: 'image.lock.json', platforms: 'linux/amd64,linux/arm64' }),
    );
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    assert.equal(
      errorOf(run.stdout),
      "image.lock.json contents.packages has no packages for aarch64: its entries' architecture is only x86_64 (image.lock.json)\n" +
        'hint: lock again with aarch64 in archs (provenant lock image.yaml -o image.lock.json), or build only for what it holds (platforms: linux/amd64)',
    );
  });

  it('replaces whole flags only, each by an input action.yml has', async () => {
    const inputs = new Set(
      [...(await readFile(join(ACTION_DIR, 'action.yml'), 'utf8')).matchAll(/^ {2}([a-z][a-z-]*):$/gm)].map((m) => m[1]),
    );
    for (const [flag, input] of INPUT_OF_FLAG) assert.ok(inputs.has(input), `${flag}: action.yml has no input ${input}`);
    const hint = (text: string) => actionHint(new ProvenantError('IO', 'x', { hint: text }));
    assert.equal(
      hint('empty --cache-dir, not --cache-dirs nor x--cache-dir or --cache-dir-x; --concurrency'),
      'empty cache-dir, not --cache-dirs nor x--cache-dir or --cache-dir-x; --concurrency',
    );
  });
});

describe('the Action’s sources: the summary and the report count the packages installed', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('base and hello: 2 packages, not the image’s operating system too', async () => {
    const run = await runSources(job, runnerEnv(job, { config: job.config, platforms: 'linux/amd64' }));
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const summary = await readFile(job.summaryFile, 'utf8');
    // Images: platform, digest, packages, layers, size.
    assert.match(summary, /<tr><td>linux\/amd64<\/td><td><code>sha256:[0-9a-f]{64}<\/code><\/td><td>2<\/td>/, summary);
    const report = await readFile((await readOutputs(job.outputFile)).report!, 'utf8');
    assert.match(report, /Packages \(2\)/);
    // The SBOM's operating system (the fixture's os-release) is named apart from the packages.
    assert.match(report, /Operating system: fixture 1\.0\./);
  });
});
