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
import { registryMissing, startRegistry, type TestRegistry } from '../helpers/registry.ts';
import { ACTION_DIR, dockerLogin, type Job, makeJob, runnerEnv } from './helpers.ts';

const execFileP = promisify(execFile);
const LOCAL_ACTION = join(ACTION_DIR, 'node_modules', '@github', 'local-action', 'bin', 'local-action.js');

/** local-action runs `npm exec tsx`: npm must be beside this node (or on PATH). */
const npmMissing = ((): string | false => {
  const dirs = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter)];
  return dirs.some((d) => d !== '' && existsSync(join(d, 'npm'))) ? false : 'npm is not on PATH (local-action runs `npm exec tsx`)';
})();
const skip = registryMissing || (existsSync(LOCAL_ACTION) ? false : '@github/local-action is not installed (npm install)') || npmMissing;

/** A dotenv file: one KEY="value" per line, JSON-escaped (dotenv reads \n in double quotes). */
function dotenv(env: Record<string, string>): string {
  return `${Object.entries(env)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join('\n')}\n`;
}

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
    const { PATH: _path, ...env } = runnerEnv(job, {
      // local-action runs in this repository, not in the workspace: the path is absolute.
      config: join(job.workspace, job.config),
      tags: `${reg.host}/acme/app:2.0`,
      push: 'true',
      platforms: 'linux/amd64,linux/arm64',
      targets: 'ghcr',
    });
    const envFile = join(job.root, 'local-action.env');
    await writeFile(envFile, dotenv(env));
    const { stdout } = await execFileP(process.execPath, [LOCAL_ACTION, 'run', ACTION_DIR, 'src/action/main.ts', envFile], {
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
    assert.match(stdout, /Running Action/);
    assert.doesNotMatch(stdout, /::error::/);
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
