/**
 * The Action through @github/local-action, which emulates the runner: it reads action.yml, loads
 * the inputs from a dotenv file, replaces @actions/core with its own implementation and calls
 * src/action/main.ts's `run()` (it runs sources, not bundles). The same real build and push to
 * the local registry as the runner-style test, seen through another implementation of the
 * toolkit.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { staticKeychain } from '../../src/auth/keychain.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { cliOk } from '../helpers/cli.ts';
import { debianMirrorUrl, debianMissing } from '../helpers/debian.ts';
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ACTION_DIR, closedPort, dockerLogin, type Job, makeJob, pushedFiles, readOutputs, runnerEnv } from './helpers.ts';

const execFileP = promisify(execFile);
const LOCAL_ACTION = join(ACTION_DIR, 'node_modules', '@github', 'local-action', 'bin', 'local-action.js');

/** local-action runs `npm exec tsx`: npm must be beside this node (or on PATH). */
const npmMissing = ((): string | false => {
  const dirs = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)];
  return dirs.some((d) => d !== '' && existsSync(join(d, 'npm'))) ? false : 'npm is not on PATH (local-action runs `npm exec tsx`)';
})();
const localActionMissing = (existsSync(LOCAL_ACTION) ? false : '@github/local-action is not installed (npm install)') || npmMissing;
const skip = registryMissing || localActionMissing;

/** A dotenv file: one KEY="value" per line, JSON-escaped (dotenv reads \n in double quotes). */
function dotenv(env: Record<string, string>): string {
  return `${Object.entries(env)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n')}\n`;
}

/**
 * Runs the Action through local-action with these inputs; never rejects, so that a failed step
 * can be asserted. Its stdout holds what the step logged, `::error::` lines included.
 */
async function localAction(job: Job, inputs: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const { PATH: _path, ...env } = runnerEnv(job, inputs);
  const envFile = join(job.root, 'local-action.env');
  await writeFile(envFile, dotenv(env));
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [LOCAL_ACTION, 'run', ACTION_DIR, 'src/action/main.ts', envFile], {
      cwd: ACTION_DIR,
      env: {
        PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}`,
        HOME: job.root,
        NO_COLOR: '1',
        // npm exec finds tsx installed here; it must never ask the registry.
        npm_config_offline: 'true',
        npm_config_update_notifier: 'false',
      },
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * The one ::error:: of a run, decoded as the runner shows it: the runner's core writes a message's
 * newlines as %0A, local-action's stand-in writes them as they are, up to the blank line it ends with.
 */
const errorOf = (stdout: string): string => (/^::error(?: [^:]*)?::(.*(?:\n.+)*)/m.exec(stdout)?.[1] ?? '').replaceAll('%0A', '\n');

/** The outputs local-action's core prints as `::set-output name=NAME::VALUE` (one-line values). */
function printedOutputs(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  // biome-ignore lint/suspicious/noControlCharactersInRegex: colour codes, should any slip through
  const plain = stdout.replace(/\x1b\[[0-9;]*m/g, '');
  for (const m of plain.matchAll(/^::set-output name=([\w-]+)::(.*)$/gm)) out[m[1]!] = m[2]!;
  return out;
}

describe('the Action through @github/local-action', { skip }, () => {
  let reg: TestRegistry;
  let job: Job;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    job = await makeJob();
  });
  after(async () => {
    await reg?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('builds, pushes with the docker login, and sets the outputs and the summary; the digest is what the registry holds', async () => {
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const { code, stdout } = await localAction(job, {
      // local-action runs in this repository, not in the workspace: the path is absolute.
      config: join(job.workspace, job.config),
      tags: `${reg.host}/acme/app:2.0`,
      push: 'true',
      platforms: 'linux/amd64,linux/arm64',
      targets: 'ghcr',
    });
    assert.equal(code, 0, stdout);
    assert.match(stdout, /Running Action/);
    assert.doesNotMatch(stdout, /^::error/m);
    // Set through local-action's own core, which lists them at the end: the run used its stand-in
    // (with node_modules a symbolic link it does not, and the real core's lines are all one sees).
    assert.doesNotMatch(stdout, /No outputs were set!/);
    const outputs = printedOutputs(stdout);

    const store = new RegistryStore(
      new RegistryClient(reg.host, { keychain: staticKeychain(reg.host, { username: reg.username!, password: reg.password! }) }),
      'acme/app',
    );
    const held = await store.resolve('2.0');
    assert.ok(held);
    assert.equal(outputs.digest, held.digest);
    assert.equal(outputs.imageid, held.digest);
    assert.match(outputs.report ?? '', new RegExp(`^${job.runnerTemp}/provenant/step-[^/]+/report\\.html$`));
    // The metadata spans lines; its last lines close the JSON that names the digest.
    assert.match(stdout, new RegExp(`"containerimage\\.digest": "${held.digest}"`));

    const summary = await readFile(job.summaryFile, 'utf8');
    assert.ok(summary.includes(held.digest));
    const index = await store.getManifest(held.digest);
    for (const m of index.kind === 'index' ? index.index.manifests : []) assert.ok(summary.includes(m.digest));
    assert.match(summary, /GitHub Container Registry \(<code>ghcr<\/code>\)/);
    assert.ok(existsSync(outputs.report!));
  });
});

describe('the Action through @github/local-action, a second registry that is not there', { skip }, () => {
  let reg: TestRegistry;
  let job: Job;
  before(async () => {
    reg = await startRegistry({ auth: 'htpasswd' });
    job = await makeJob();
  });
  after(async () => {
    await reg?.stop();
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('fails before the build, naming it and why; the first registry holds nothing', async () => {
    await dockerLogin(job, reg.host, reg.username!, reg.password!);
    const closed = await closedPort();
    const run = await localAction(job, {
      config: join(job.workspace, job.config),
      tags: `${reg.host}/acme/app:2.0\n127.0.0.1:${closed}/acme/app:2.0`,
      push: 'true',
      platforms: 'linux/amd64',
    });
    assert.deepEqual(await pushedFiles(reg), []);
    const error = errorOf(run.stdout);
    assert.match(
      error,
      new RegExp(
        `^cannot push to 127\\.0\\.0\\.1:${closed}/acme/app \\(cannot reach 127\\.0\\.0\\.1:${closed}: .*\\); checked before the build, so nothing was written`,
      ),
      run.stdout,
    );
    assert.match(error, /\nhint: check the registry address and the network/, error);
    assert.equal({ ...(await readOutputs(job.outputFile)), ...printedOutputs(run.stdout) }.digest, undefined, run.stdout);
  });
});

describe('the Action through @github/local-action, asked for an architecture the repository does not have', {
  skip: localActionMissing,
}, () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
    // The fixture's configuration lists x86_64 and aarch64; this one lists an architecture too
    // that its repository (x86_64 and aarch64 only) has no index for.
    const config = await readFile(join(job.workspace, job.config), 'utf8');
    await writeFile(join(job.workspace, 'riscv.yaml'), config.replace('archs: [x86_64, aarch64]', 'archs: [x86_64, riscv64]'));
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('with: platforms names one: the error names the input, the platform, the repository and the architecture', async () => {
    const run = await localAction(job, { config: join(job.workspace, job.config), platforms: 'linux/amd64,linux/ppc64le' });
    // local-action exits 0 on a failed step: the failure is its one ::error:: line, and no image.
    assert.equal(printedOutputs(run.stdout).digest, undefined, run.stdout);
    const error = errorOf(run.stdout);
    assert.equal(
      error,
      "the input platforms asks for linux/ppc64le, which the configuration's archs (x86_64, aarch64) do not list; " +
        `the repository ./repo has no index for ppc64le: ${job.workspace}/repo/ppc64le/APKINDEX.tar.gz does not exist (with: platforms)\n` +
        "hint: platforms chooses the architectures built: give it only platforms the repository has, or leave it out to build the configuration's archs (linux/amd64, linux/arm64)",
    );
  });

  it('the configuration’s archs name one: the error names archs in the configuration, and platforms as the way to build a part', async () => {
    const run = await localAction(job, { config: join(job.workspace, 'riscv.yaml') });
    // local-action exits 0 on a failed step: the failure is its one ::error:: line, and no image.
    assert.equal(printedOutputs(run.stdout).digest, undefined, run.stdout);
    const error = errorOf(run.stdout);
    assert.equal(
      error,
      `the configuration's archs list riscv64; the repository ./repo has no index for riscv64: ${job.workspace}/repo/riscv64/APKINDEX.tar.gz does not exist (${job.workspace}/riscv.yaml: archs)\n` +
        "hint: the configuration's archs choose the architectures built, and the platforms input a part of them: remove riscv64 from archs, or give platforms only those the repository has (linux/amd64, say); or, if the repository should have it, check its location (is it built or checked out before this step?)",
    );
  });

  // main.ts set process.exitCode from the real core's ExitCode, which local-action's stand-in
  // lacks: an error on a file's line threw a TypeError there instead of being reported.
  it('a mistake on a line of the configuration is annotated there and fails the step, with no crash', async () => {
    const config = await readFile(join(job.workspace, job.config), 'utf8');
    await writeFile(join(job.workspace, 'typo.yaml'), `${config}archz: [x86_64]\n`);
    const run = await localAction(job, { config: join(job.workspace, 'typo.yaml') });
    assert.doesNotMatch(run.stdout + run.stderr, /TypeError|ExitCode/, run.stdout + run.stderr);
    assert.match(run.stdout, /^::error title=Provenant,file=typo\.yaml,line=\d+,/m, run.stdout);
    // The step fails, as on the runner (setFailed's stand-in exits 0, but this is no setFailed).
    assert.equal(run.code, 1, run.stdout);
    assert.match(errorOf(run.stdout), /archz/, run.stdout);
    assert.equal(printedOutputs(run.stdout).digest, undefined, run.stdout);
  });

  it('with: platforms names one the configuration lists too: the input is named, and the configuration’s other archs', async () => {
    const run = await localAction(job, { config: join(job.workspace, 'riscv.yaml'), platforms: 'linux/riscv64' });
    // local-action exits 0 on a failed step: the failure is its one ::error:: line, and no image.
    assert.equal(printedOutputs(run.stdout).digest, undefined, run.stdout);
    assert.equal(
      errorOf(run.stdout),
      `the input platforms asks for linux/riscv64; the repository ./repo has no index for riscv64: ${job.workspace}/repo/riscv64/APKINDEX.tar.gz does not exist (with: platforms)\n` +
        "hint: platforms chooses the architectures built: give it only platforms the repository has (of the configuration's archs, linux/amd64)",
    );
  });
});

describe('the Action through @github/local-action, building a Debian image', {
  skip: debianMissing || localActionMissing || (process.arch === 'x64' ? false : 'the configuration is amd64'),
}, () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
    // The mirror comes from the machine's apt sources (or PROVENANT_DEBIAN_MIRROR), never from the code.
    await writeFile(
      join(job.workspace, 'debian.yaml'),
      `contents:\n  repositories:\n    - deb ${debianMirrorUrl} bookworm main\n  packages: [base-files, dash]\narchs: [x86_64]\n`,
    );
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('decompresses the xz indexes and .debs under local-action’s loader, and writes the image', async () => {
    const run = await localAction(job, {
      config: join(job.workspace, 'debian.yaml'),
      // A cache of its own: with the tests' shared one, the build record or the cached index could
      // give the image without decompressing any xz, and the test would prove nothing.
      'cache-dir': join(job.root, 'cache'),
    });
    assert.equal(errorOf(run.stdout), '', run.stdout);
    assert.match(run.stdout, /Running Action/);
    // local-action's core prints the outputs; the toolkit's own (when local-action cannot put its
    // stand-in in, as in a worktree whose node_modules is a link) writes them to GITHUB_OUTPUT.
    const outputs = { ...(await readOutputs(job.outputFile)), ...printedOutputs(run.stdout) };
    assert.match(outputs.digest ?? '', /^sha256:[0-9a-f]{64}$/, run.stdout);
    const summary = await readFile(job.summaryFile, 'utf8');
    assert.ok(summary.includes(outputs.digest!), summary);
    // The summary and the report count the .debs installed, not the SBOM's operating system (debian 12).
    const report = await readFile(outputs.report!, 'utf8');
    const debs = report.match(/<td><code>pkg:deb\/debian\//g)?.length ?? 0;
    assert.ok(debs >= 2, report);
    assert.match(report, new RegExp(`Packages \\(${debs}\\)`));
    assert.match(report, /Operating system: debian 12\./);
    assert.match(summary, new RegExp(`<td>linux/amd64</td><td><code>sha256:[0-9a-f]{64}</code></td><td>${debs}</td>`), summary);
  });

  it('a lock made for amd64 only, with platforms for arm64 too: the hint names platforms in Docker’s spelling, not --arch', async () => {
    const config = await readFile(join(job.workspace, 'debian.yaml'), 'utf8');
    await writeFile(join(job.workspace, 'two.yaml'), config.replace('archs: [x86_64]', 'archs: [x86_64, aarch64]'));
    const cache = join(job.root, 'cache');
    await cliOk(['lock', 'two.yaml', '-o', 'two.lock.json', '--arch', 'x86_64', '--cache-dir', cache], { cwd: job.workspace });
    const run = await localAction(job, {
      config: join(job.workspace, 'two.yaml'),
      lock: join(job.workspace, 'two.lock.json'),
      platforms: 'linux/amd64,linux/arm64',
      'cache-dir': cache,
    });
    const error = errorOf(run.stdout);
    // The lock spells the architecture as Debian does (amd64); platforms takes Docker's linux/amd64.
    assert.match(error, /contents\.packages has no packages for arm64 \(aarch64\): its entries' architecture is only amd64/, run.stdout);
    assert.match(
      error,
      /\nhint: lock again with aarch64 in archs \(provenant lock .*\), or build only for what it holds \(platforms: linux\/amd64\)$/,
      error,
    );
    assert.doesNotMatch(error, /--arch/, error);
  });
});
