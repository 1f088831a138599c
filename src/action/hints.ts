/**
 * The hints of the library's errors as the Action's user can follow them. The library writes its
 * hints for the command line (`--cache-dir`, `--concurrency`); a workflow has inputs instead
 * (action.yml), or nothing to set at all. main.ts shows every failure's hint through
 * {@link actionHint}.
 */
import { apkArchToPlatform } from '../builder/arch.ts';
import { INCLUDE_ROOT_HINT, INCLUDE_ROOT_OPTION_HINT } from '../builder/config.ts';
import { LockArchitectureError } from '../builder/plan.ts';
import { NAME_A_PLATFORM } from '../compat/transforms.ts';
import type { ProvenantError } from '../errors.ts';
import { CA_HINT } from '../net.ts';
import { formatPlatform } from '../oci/platform.ts';
import { RATE_LIMIT_HINT, RegistryAuthError, RegistryDeniedError } from '../registry/errors.ts';
import { REFUSED_TOKEN_HINT } from '../sign/signer.ts';

/**
 * The command line's flags whose meaning an input of action.yml has, and that input: a hint that
 * names the flag names the input. Only whole tokens are replaced (`--cache-dir`, not a longer
 * flag that starts with it), and only flags listed here.
 */
export const INPUT_OF_FLAG: ReadonlyMap<string, string> = new Map([['--cache-dir', 'cache-dir']]);

/**
 * What the Action says for a library hint (or a part of one) whose flag it has no input for: the
 * library exports each such text, so a change of its wording cannot leave the Action's behind
 * unnoticed (the text would no longer be found, and the tests of test/action/hints.test.ts fail).
 */
const ACTION_WORDS: ReadonlyMap<string, string> = new Map([
  // The Action has no --concurrency: a rate limit is waited out, or raised by logging in.
  [
    RATE_LIMIT_HINT,
    'wait and re-run the job, or log in with docker/login-action before this step (a logged-in account gets a higher limit)',
  ],
  // Nor --insecure; NODE_EXTRA_CA_CERTS is read when Node starts, which the runner does for each step with its env.
  [
    CA_HINT,
    "if the server uses a private or self-signed CA, give Node its CA certificate (PEM) in the step's env, NODE_EXTRA_CA_CERTS: /path/to/ca.pem; TLS verification cannot be turned off",
  ],
  // The token is the job's own (main.ts asks the runner for it), never one passed in.
  [
    REFUSED_TOKEN_HINT,
    'the token is the job’s own (permissions: id-token: write): re-run the job for a fresh one; with fulcio-url, check that the instance accepts GitHub Actions’ tokens',
  ],
  // run.ts lets a configuration in the workspace include from anywhere in it (includeRoot).
  [
    INCLUDE_ROOT_HINT,
    "an included file must be under the root config's folder (a symbolic link counts where it points): move it there, or keep the configuration in the workspace, from anywhere in which it may include",
  ],
  // A configuration in the workspace: run.ts names the workspace as includeRoot, which the user never sees.
  [
    INCLUDE_ROOT_OPTION_HINT,
    'a configuration in the workspace includes files from the workspace only (a symbolic link counts where it points): move the file into the repository, or have an earlier step copy it into the workspace',
  ],
  // A fix keeps a platform the target takes; which ones the image has is the platforms input's.
  [NAME_A_PLATFORM, 'build for one the target takes too (the platforms input)'],
]);

/** A flag as a whole token: `--` and its name, with no letter, digit or dash on either side. */
const FLAG = /(?<![\w-])--[a-z][a-z0-9-]*(?![\w-])/g;

/**
 * The hint for `err` as the Action's user can follow it. The library's hints for a registry that
 * refused the login, or refused access with no login found ({@link RegistryDeniedError}), name
 * the command line's ways to log in (`docker login`, `--username`, `--password-stdin`), which the
 * Action has no input for: it reads the docker config docker/login-action writes. As
 * for `key-password` (run.ts), the Action says its own; the error may have been wrapped on the
 * way (PartialWriteError keeps its cause's hint), so its causes are searched. So is a lock made
 * for other archs ({@link LockArchitectureError}): the command line's `--arch` is the `platforms`
 * input, given the platforms the lock holds. Any other hint has
 * the texts of {@link ACTION_WORDS} said the Action's way, then each flag of {@link INPUT_OF_FLAG}
 * replaced by its input.
 */
export function actionHint(err: ProvenantError): string | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    // A lock made for other archs: the CLI builds a part with --arch, the Action with platforms.
    if (e instanceof LockArchitectureError && e.hint === err.hint) {
      const platforms = e.lockedArchs.map((a) => formatPlatform(apkArchToPlatform(a)));
      return `lock again with ${e.architecture} in archs (${e.relock}), or ${platforms.length > 0 ? `build only for what it holds (platforms: ${platforms.join(',')})` : 'give platforms only the architectures it holds'}`;
    }
    // A 403 with no credentials found: the command line's hint says `docker login`.
    if (e instanceof RegistryDeniedError && e.hint === err.hint && e.loginMayHelp) {
      return `no login for ${e.registry} was found: if the repository is private, log in with docker/login-action (registry: ${e.registry}) before this step; the Action reads the docker config it writes`;
    }
    if (!(e instanceof RegistryAuthError) || e.hint !== err.hint) continue;
    return e.hadCredentials
      ? `the docker config's login for ${e.registry} was refused: log in again with docker/login-action (registry: ${e.registry}) before this step, with a password or token that is valid and may push there`
      : `no login for ${e.registry}: log in with docker/login-action (registry: ${e.registry}) before this step; the Action reads the docker config it writes`;
  }
  if (err.hint === undefined) return undefined;
  let hint = err.hint;
  for (const [cli, action] of ACTION_WORDS) hint = hint.replaceAll(cli, action);
  return hint.replace(FLAG, (flag) => INPUT_OF_FLAG.get(flag) ?? flag);
}
