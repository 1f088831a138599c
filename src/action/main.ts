/**
 * The GitHub Action's adapter: the only module of the Action that reads the runner's environment
 * and talks to it (inputs, outputs, the job summary, masks, the exit status), through
 * @actions/core. Everything else is library calls (run.ts). `run` is what the bundle's entry
 * (index.ts) calls, and what @github/local-action calls.
 */
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as core from '@actions/core';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { whyUnreadable } from '../io/files.ts';
import { useEnvProxy } from '../net.ts';
import { githubActionsToken, type TokenSource } from '../sign/signer.ts';
import { registryAccess } from '../store/registry-access.ts';
import { annotationOf } from './annotation.ts';
import { actionHint } from './hints.ts';
import { readInputs, unreadSigningInputs } from './inputs.ts';
import { actionOutputs } from './metadata.ts';
import { type ActionOutcome, PartialWriteError, runAction } from './run.ts';
import { addSummary } from './summary.ts';

const { constants, existsSync, readFileSync } = process.getBuiltinModule('node:fs');

/**
 * Runs the Action; failures are reported as an error annotation (on the file and line of a
 * mistake in one) and the step's failure, never thrown.
 */
export async function run(): Promise<void> {
  try {
    const env = process.env;
    // Before any request: a self-hosted runner behind a proxy sets HTTPS_PROXY, HTTP_PROXY and
    // NO_PROXY, which the registry, package and Sigstore traffic then follows, never to loopback
    // (net.ts; index.ts already put the loopback exemption in NO_PROXY for Sigstore's clients).
    const proxyWarning = useEnvProxy(env);
    if (proxyWarning !== undefined) core.warning(proxyWarning);
    // Secrets are masked before anything could print them.
    for (const secret of [core.getInput('key'), env.ACTIONS_ID_TOKEN_REQUEST_TOKEN ?? '']) mask(secret);
    // A password is masked whole, however short, as written (untrimmed, as it is read).
    const password = core.getInput('key-password', { trimWhitespace: false });
    if (password !== '') core.setSecret(password);
    mask(password);
    const inputs = readInputs((name, options) => core.getInput(name, options));
    const unread = unreadSigningInputs((name, options) => core.getInput(name, options), inputs.sign);
    if (unread !== undefined) core.warning(unread);
    const logger = { debug: core.debug, info: core.info, warn: core.warning };
    const outcome = await runAction(inputs, {
      env,
      tempDir: env.RUNNER_TEMP || tmpdir(),
      hostArch: process.arch,
      sourceDateEpoch: sourceDateEpoch(env.SOURCE_DATE_EPOCH),
      toolVersion: toolVersion(),
      registry: registryAccess({ env, homedir: homedir(), uid: process.getuid?.() }),
      identityToken: identityToken(env),
      logger,
    });
    const outputs = actionOutputs(outcome);
    core.setOutput('digest', outputs.digest);
    core.setOutput('imageid', outputs.imageid);
    core.setOutput('metadata', outputs.metadata);
    core.setOutput('report', outcome.reportPath);
    core.info(`digest: ${outputs.digest}`);
    core.info(`report: ${outcome.reportPath}`);
    if (env.GITHUB_STEP_SUMMARY) await writeSummary(outcome, env.GITHUB_STEP_SUMMARY);
  } catch (err) {
    // The image is at its digest even when the run failed after writing it (untagged, say, when
    // signing failed): a later step may clean it up or retry by digest.
    if (err instanceof PartialWriteError) core.setOutput('digest', err.digest);
    if (!isProvenantError(err)) core.setFailed(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    else {
      const hint = actionHint(err);
      const message = `${err.describe()}${hint ? `\nhint: ${hint}` : ''}`;
      // A mistake in a file is annotated on its line (setFailed's annotation names no place).
      const place = annotationOf(err, process.env.GITHUB_WORKSPACE, process.cwd());
      if (place === undefined) core.setFailed(message);
      else {
        core.error(message, place);
        // What setFailed sets (ExitCode.Failure is 1), written out: @github/local-action's
        // stand-in for @actions/core has no ExitCode, and reading it there threw a TypeError.
        process.exitCode = 1;
      }
    }
  }
}

/**
 * Writes the job summary. The summary reports on what the step did: by now the image is written
 * and the outputs are set, so a summary file that cannot be written is a warning, naming the file
 * and why, and the step keeps its result. @actions/core says only that it cannot access the file,
 * so the file is asked again for the reason. Only the write is that warning: an error while the
 * summary is made is a bug of ours, and fails the step as one. Exported for its tests.
 */
export async function writeSummary(outcome: ActionOutcome, path: string): Promise<void> {
  const summary = addSummary(core.summary, outcome);
  try {
    await summary.write();
  } catch (err) {
    let why = whyUnreadable(err).why;
    if ((err as { code?: unknown } | undefined)?.code === undefined) {
      const { access } = process.getBuiltinModule('node:fs/promises');
      why = await access(path, constants.R_OK | constants.W_OK).then(
        () => why,
        (e: unknown) => whyUnreadable(e).why,
      );
    }
    core.warning(
      `the job summary was not written: GITHUB_STEP_SUMMARY names ${path}, which cannot be written (${why}); the image and the outputs are as above`,
    );
  }
}

/**
 * Masks a secret in the log line by line (the runner masks single lines: a PEM key is many),
 * leaving out lines too short to be secret on their own (a PEM's last line may be `Zw==`).
 */
function mask(secret: string): void {
  for (const line of secret.split(/\r?\n/)) if (line.trim().length >= 4) core.setSecret(line.trim());
}

/**
 * The job's OIDC token for keyless signing (ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN exist only
 * with `permissions: id-token: write`), masked as soon as it arrives.
 */
function identityToken(env: Record<string, string | undefined>): TokenSource | undefined {
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const token = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (!url || !token) return undefined;
  const fetchToken = githubActionsToken(url, token);
  return async () => {
    const value = await fetchToken();
    core.setSecret(value);
    return value;
  };
}

function sourceDateEpoch(text: string | undefined): number | undefined {
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ProvenantError('USAGE', `SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${JSON.stringify(text)}`);
  }
  return Number(text);
}

/**
 * Provenant's version, from the package.json above this file: two folders up from the sources
 * (src/action/), one from the bundle (dist-action/).
 */
function toolVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const path = join(dir, 'package.json');
    if (existsSync(path)) {
      const pkg = JSON.parse(readFileSync(path, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@provenant/cli' && typeof pkg.version === 'string') return pkg.version;
    }
    dir = dirname(dir);
  }
  throw new ProvenantError('IO', 'cannot find Provenant’s package.json beside the Action');
}
