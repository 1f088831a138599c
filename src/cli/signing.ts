/**
 * What the signing commands share (sign, attest, build --sign, verify, verify-attestation,
 * generate-key-pair, public-key): the key password, the signer and the trust their flags name
 * (cosign's flag names), the image they sign or verify, and the verification report as text and
 * JSON. The library (src/sign) does the work; this is the command line around it.
 */
import type { KeyObject } from 'node:crypto';
import type { ReadStream } from 'node:tty';
import { RE2JS } from '@bufbuild/re2';
import { isBuildkitAttestation } from '../attest/attachments.ts';
import { isProvenantError, ProvenantError, redactCredentials, urlWithoutUserInfo } from '../errors.ts';
import { readNamedFile } from '../io/named-file.ts';
import type { Logger } from '../io/types.ts';
import type { Stored } from '../oci/content.ts';
import type { Digest } from '../oci/digest.ts';
import { formatPlatform, platformMatches } from '../oci/platform.ts';
import type { Descriptor } from '../oci/types.ts';
import type { Location } from '../ref/location.ts';
import { identityLabel } from '../sign/identity.ts';
import { loadPrivateKeyFile, parsePublicKey, readKeyFile } from '../sign/keys.ts';
import { GITHUB_WORKFLOW_EXTENSIONS, type GithubWorkflowField } from '../sign/material.ts';
import { cosignDockerReference } from '../sign/payload.ts';
import { PUBLIC_FULCIO, PUBLIC_REKOR } from '../sign/public-good.ts';
import type { SignedEntry } from '../sign/sign.ts';
import { githubActionsToken, KeylessSigner, KeySigner, type Signer, type TokenSource } from '../sign/signer.ts';
import { parseTrustedRoot, publicGoodTrustedRoot, type TrustedRoot } from '../sign/trust.ts';
import type { CheckedSignature, IdentityMatcher, VerificationPolicy, VerificationReport } from '../sign/verify.ts';
import type { ContentStore } from '../store/types.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './io.ts';
import { platformArg, platformEntry, platformList } from './options.ts';
import { digestName } from './render.ts';
import { PASSWORD_VARIABLES, TOKEN_VARIABLE } from './signing-flags.ts';
import { visibleLine } from './visible.ts';

// ---- passwords ------------------------------------------------------------------------------

/**
 * The password of a private key: from COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD (an empty value
 * is an empty password, as in cosign), else asked on the terminal without echo (twice for a new
 * key), else a USAGE error naming the variables. It is never printed.
 */
export async function keyPassword(io: CliIo, purpose: { file: string; new?: boolean }): Promise<string> {
  for (const name of PASSWORD_VARIABLES) {
    const value = io.env[name];
    if (value !== undefined) return value;
  }
  const input = io.stdin as Partial<ReadStream>;
  if (input.isTTY !== true || typeof input.setRawMode !== 'function') {
    throw new ProvenantError('USAGE', `the password of ${purpose.file} is needed, and there is no terminal to ask it on`, {
      hint: `set ${PASSWORD_VARIABLES.join(' or ')} (empty for a key without a password)`,
    });
  }
  if (!purpose.new) return promptHidden(io, input as ReadStream, `Enter password for private key ${purpose.file}: `);
  const first = await promptHidden(io, input as ReadStream, `Enter password for private key ${purpose.file}: `);
  const again = await promptHidden(io, input as ReadStream, `Enter password for private key ${purpose.file} again: `);
  if (first !== again) throw new ProvenantError('USAGE', 'the two passwords differ', { hint: 'run the command again' });
  return first;
}

/**
 * What was typed after the line a prompt read (type-ahead: `abc\rabc\r` arriving as one chunk
 * answers both prompts of generate-key-pair), kept for the next prompt on the same terminal.
 */
const typedAhead = new WeakMap<ReadStream, string>();

/**
 * Reads one line from the terminal in raw mode, so nothing is echoed. Raw mode also means the
 * terminal sends Ctrl-C as a byte rather than a signal: it cancels here. What follows the line's
 * end in the same chunk is kept for the next prompt ({@link typedAhead}).
 */
function promptHidden(io: CliIo, input: ReadStream, question: string): Promise<string> {
  // Raw mode before the question: whoever answers it once it shows is not echoed.
  input.setRawMode(true);
  io.stderr.write(question);
  return new Promise((resolve, reject) => {
    let text = '';
    let done = false;
    const finish = (outcome: () => void, rest = ''): void => {
      done = true;
      if (rest !== '') typedAhead.set(input, rest);
      input.off('data', onData);
      io.signal.removeEventListener('abort', onAbort);
      input.setRawMode(false);
      input.pause();
      io.stderr.write('\n');
      outcome();
    };
    const onAbort = (): void => finish(() => reject(new ProvenantError('ABORTED', 'the operation was cancelled')));
    const consume = (typed: string): void => {
      const chars = [...typed];
      for (const [i, ch] of chars.entries()) {
        if (ch === '\r' || ch === '\n') {
          // A CR LF pair ends one line, not two.
          const next = ch === '\r' && chars[i + 1] === '\n' ? i + 2 : i + 1;
          finish(() => resolve(text), chars.slice(next).join(''));
          return;
        }
        if (ch === '\u0003') {
          finish(() => reject(new ProvenantError('ABORTED', 'the password prompt was cancelled')));
          return;
        }
        if (ch === '\u0004' && text === '') {
          finish(() => reject(new ProvenantError('USAGE', 'no password was typed')));
          return;
        }
        if (ch === '\u007f' || ch === '\b') text = [...text].slice(0, -1).join('');
        else if (ch !== '\u0004') text += ch;
      }
    };
    const onData = (chunk: Buffer | string): void => consume(chunk.toString());
    io.signal.addEventListener('abort', onAbort, { once: true });
    input.on('data', onData);
    const ahead = typedAhead.get(input);
    typedAhead.delete(input);
    if (ahead !== undefined) consume(ahead);
    if (!done) input.resume();
  });
}

// ---- signers --------------------------------------------------------------------------------

/** A signer chosen on the command line, and how to name it to the user. */
export interface ChosenSigner {
  signer: Signer;
  /** `key <id>` or `keyless (<Fulcio URL, without user info>)`. */
  label: string;
}

/**
 * The signer the flags ask for: `--key FILE` (decrypted now, so a wrong password fails before
 * any work), else keyless when `keyless` is true (the `sign` command, `--sign`, or an
 * `--identity-token`), else none. `--tlog-upload` logs a key's signatures when true; keyless
 * signatures are logged unless it is false, and then need a timestamp authority.
 *
 * @throws ProvenantError `USAGE` for contradicting flags, a bad URL, no token for keyless, or
 *   keyless without a log and without a timestamp authority
 */
export async function signerFromFlags(args: ParsedArgs, io: CliIo, keyless: boolean): Promise<ChosenSigner | undefined> {
  const v = args.values;
  const keyPath = v.key as string | undefined;
  const tokenFlag = v['identity-token'] as string | undefined;
  const tsaURL = urlFlag(args, 'timestamp-server-url', undefined);
  const rekorURL = urlFlag(args, 'rekor-url', PUBLIC_REKOR) as string;
  const rootPath = v['trusted-root'] as string | undefined;
  if (keyPath !== undefined) {
    if (tokenFlag !== undefined) throw new ProvenantError('USAGE', '--key and --identity-token each choose a way to sign: give one');
    const key = await loadPrivateKeyFile(keyPath, () => keyPassword(io, { file: keyPath }), signalOf(io));
    if (v['tlog-upload'] !== true) return chosenKey(new KeySigner(key, { tsaURL, source: keyPath }));
    // The root an equal signature's log entry must verify with to count as logged already.
    const trustedRoot = await signingRoot(rootPath, io);
    return chosenKey(new KeySigner(key, { rekorURL, tsaURL, trustedRoot, source: keyPath }));
  }
  if (!keyless && tokenFlag === undefined) return undefined;
  const fulcioURL = urlFlag(args, 'fulcio-url', PUBLIC_FULCIO) as string;
  // An explicit false (cosign's --tlog-upload=false, PROVENANT_TLOG_UPLOAD=false) keeps the
  // signature, and the identity its certificate names, out of the public log; a timestamp is then
  // what says the certificate was valid when it signed.
  const logged = v['tlog-upload'] !== false;
  if (!logged && tsaURL === undefined) {
    throw new ProvenantError(
      'USAGE',
      'keyless signing without the transparency log (--tlog-upload=false or PROVENANT_TLOG_UPLOAD=false) needs --timestamp-server-url: the certificate is valid for minutes, and without a log entry only a timestamp can prove it was valid when it signed, so the signature would not verify',
      {
        hint: 'give --timestamp-server-url (an RFC 3161 timestamp authority your trusted root lists), or let the signature be logged',
      },
    );
  }
  const trustedRoot = await signingRoot(rootPath, io);
  const signer = new KeylessSigner({
    fulcioURL,
    rekorURL: logged ? rekorURL : undefined,
    tsaURL,
    identityToken: identityToken(tokenFlag, io),
    trustedRoot,
  });
  // The label is shown on success (`signed … with keyless (…)`, `--format json`'s "signer"): a
  // --fulcio-url's user info is a credential, and never shown.
  return { signer, label: `keyless (${urlWithoutUserInfo(fulcioURL)}${logged ? '' : ', no transparency log'})` };
}

function chosenKey(signer: KeySigner): ChosenSigner {
  return { signer, label: `key ${signer.keyId}` };
}

/** `--trusted-root FILE`, else Sigstore's public-good root. */
async function signingRoot(path: string | undefined, io: Pick<CliIo, 'signal'>): Promise<TrustedRoot> {
  return path === undefined ? (await publicGoodTrustedRoot()).root : readTrustedRoot(path, signalOf(io));
}

/**
 * The interrupt signal of `io` for reading a file the user named, taken only if the read waits (a
 * named pipe): the signal is made on demand (cli/dispatch.ts), and a command that only reads a
 * key file should not make it.
 */
export function signalOf(io: Pick<CliIo, 'signal'>): { readonly signal: AbortSignal } {
  return {
    get signal() {
      return io.signal;
    },
  };
}

function identityToken(flag: string | undefined, io: CliIo): TokenSource {
  const given = flag ?? io.env[TOKEN_VARIABLE];
  if (given !== undefined && given !== '') return given;
  const url = io.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const token = io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (url !== undefined && url !== '' && token !== undefined && token !== '') return githubActionsToken(url, token);
  throw new ProvenantError('USAGE', 'keyless signing needs an OIDC identity token, and none was given', {
    hint: `pass --identity-token (or set ${TOKEN_VARIABLE}), run in a GitHub Actions job with \`permissions: id-token: write\`, or sign with --key`,
  });
}

/**
 * A Sigstore service URL. The identity token goes to Fulcio, so plain HTTP is for this machine
 * only (a local instance, tests).
 */
function urlFlag(args: ParsedArgs, flag: string, fallback: string | undefined): string | undefined {
  const text = (args.values[flag] as string | undefined) ?? fallback;
  if (text === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProvenantError('USAGE', `--${flag} is not a URL: ${JSON.stringify(redactCredentials(text))}`);
  }
  const local = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && local)) {
    throw new ProvenantError(
      'USAGE',
      `--${flag} must be an https URL (plain http only on this machine), not ${JSON.stringify(redactCredentials(text))}`,
    );
  }
  return text.replace(/\/+$/, '');
}

/**
 * Reads a trusted root file (`--trusted-root`, of every command that takes one), as a key file is
 * read: it may be a named pipe (`<(curl ...)`), whose wait `signal` ends.
 *
 * @throws ProvenantError `NOT_FOUND` (exit 3) for a path to no file, a path through a file
 *   (ENOTDIR) too, as for a key file; `USAGE` for a folder; `IO` else, naming the file
 */
export async function readTrustedRoot(path: string, options: { signal?: AbortSignal | undefined } = {}): Promise<TrustedRoot> {
  return parseTrustedRoot(await readNamedFile(path, 'the trusted root file', options), path);
}

/**
 * The repository a signature's payload names (`critical.identity.docker-reference`): the
 * registry repository, as cosign writes it; `--sign-container-identity` overrides it (cosign's
 * flag), and a local layout or archive, which has no repository, is `local/image` unless given.
 */
export function dockerReferenceOf(location: Location, args: ParsedArgs): string {
  const given = args.values['sign-container-identity'] as string | undefined;
  if (given !== undefined) return given;
  if (location.kind === 'registry') return cosignDockerReference(location.reference);
  if (location.kind === 'docker-archive' && location.reference !== undefined) return cosignDockerReference(location.reference);
  return 'local/image';
}

/**
 * `-a key=value`, as cosign takes them (the value may hold `=`): the annotations `sign` writes into
 * the signed payload, and those `verify` requires of it. Undefined when none is given.
 *
 * @throws ProvenantError `USAGE` for an item without a key and `=`
 */
export function parseAnnotations(list: readonly string[]): Record<string, string> | undefined {
  if (list.length === 0) return undefined;
  // fromEntries defines each key as an own property, `__proto__` included (an assignment would set
  // the prototype instead, and the annotation would be neither written nor required).
  return Object.fromEntries(
    list.map((item) => {
      const eq = item.indexOf('=');
      if (eq <= 0) throw new ProvenantError('USAGE', `-a takes key=value, not ${JSON.stringify(item)}`);
      return [item.slice(0, eq), item.slice(eq + 1)];
    }),
  );
}

/** One line per signature written: what, where, and whether it was already there. */
export function renderSigned(entries: readonly SignedEntry[]): string {
  return entries
    .map((e) => {
      const what = e.predicateType === undefined ? 'signature' : `attestation ${e.predicateType}`;
      return `  ${e.digest}  ${e.storage.padEnd(9)} ${what}  ${e.location}${e.added ? '' : '  (already there)'}\n`;
    })
    .join('');
}

// ---- verification ---------------------------------------------------------------------------

/** Whom to trust, and the trusted root to check with. */
export interface Trust {
  policy: VerificationPolicy;
  trustedRoot: TrustedRoot | undefined;
  /** Where the trusted root came from: a file, or the embedded public-good root. */
  trustedRootSource: string | undefined;
  /** False with `--insecure-ignore-tlog` (see VerifyOptions.requireTransparencyLog); else unset. */
  requireTransparencyLog?: false;
}

/**
 * The trust the flags give: `--key FILE`, or a certificate identity and issuer (each exact or a
 * `-regexp`, as cosign). Keyless verification without `--trusted-root` uses Sigstore's
 * public-good root as @sigstore/tuf embeds it.
 *
 * @param io the interrupt signal that ends a wait on a named pipe given as `--key` or
 *   `--trusted-root`; without it, such a wait ends at the interrupt's grace time (cli/dispatch.ts)
 * @throws ProvenantError `USAGE` when neither or both are given, or a pattern does not parse
 */
export async function trustFromFlags(args: ParsedArgs, io?: Pick<CliIo, 'signal'>): Promise<Trust> {
  const v = args.values;
  const keyPath = v.key as string | undefined;
  const identity = exactOrPattern(args, 'certificate-identity');
  const issuer = exactOrPattern(args, 'certificate-oidc-issuer');
  const workflow = githubWorkflowFlags(args);
  const rootPath = v['trusted-root'] as string | undefined;
  const read = io === undefined ? {} : signalOf(io);
  const fromFile = rootPath === undefined ? undefined : await readTrustedRoot(rootPath, read);
  if (keyPath !== undefined) {
    if (identity !== undefined || issuer !== undefined) {
      throw new ProvenantError('USAGE', '--key and --certificate-* each say whom to trust: give one');
    }
    if (workflow !== undefined) {
      // A key's signature carries no certificate to read them from (cosign ignores them with --key;
      // refused here, as a check that cannot be made).
      const flag = `--certificate-github-workflow-${Object.keys(workflow)[0]}`;
      throw new ProvenantError('USAGE', `${flag} checks a keyless signature's certificate, and --key verifies with a key`, {
        hint: `give ${flag} with --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp], or leave it out`,
      });
    }
    // A file that cannot be read (a folder, one over the cap) is said as read: the hints below
    // are about what it holds.
    const pem = await readKeyFile(keyPath, read);
    let key: KeyObject;
    try {
      key = parsePublicKey(pem, keyPath);
    } catch (err) {
      if (!(err instanceof ProvenantError) || (err.code !== 'INVALID_CONFIG' && err.code !== 'USAGE')) throw err;
      // USAGE: a PEM of another type (a certificate, a private key).
      throw new ProvenantError(err.code, err.message, {
        where: keyPath,
        cause: err,
        hint:
          err.code === 'USAGE'
            ? '--key takes a public key (provenant public-key --key cosign.key prints it); a certificate’s signature is verified keyless, with --certificate-identity[-regexp] and --certificate-oidc-issuer[-regexp]'
            : 'verification takes the public key (cosign.pub); provenant public-key --key cosign.key prints it',
      });
    }
    return { policy: { key }, trustedRoot: fromFile, trustedRootSource: rootPath };
  }
  if (identity === undefined || issuer === undefined) {
    throw new ProvenantError(
      'USAGE',
      'say whom to trust: --key FILE, --certificate-identity[-regexp] with --certificate-oidc-issuer[-regexp], or --policy FILE',
      {
        hint: "for GitHub Actions: --certificate-oidc-issuer https://token.actions.githubusercontent.com --certificate-identity-regexp '^https://github\\.com/OWNER/REPO/'",
      },
    );
  }
  const policy: VerificationPolicy = {
    certificateIdentity: identity,
    certificateOidcIssuer: issuer,
    ...(workflow === undefined ? {} : { certificateGithubWorkflow: workflow }),
  };
  const log = v['insecure-ignore-tlog'] === true ? { requireTransparencyLog: false as const } : {};
  if (fromFile !== undefined) return { policy, trustedRoot: fromFile, trustedRootSource: rootPath, ...log };
  const embedded = await publicGoodTrustedRoot();
  return { policy, trustedRoot: embedded.root, trustedRootSource: `Sigstore public-good root embedded in ${embedded.source}`, ...log };
}

/**
 * What `--certificate-github-workflow-FIELD` asks of the certificate, by field; undefined when
 * none is given.
 *
 * @throws ProvenantError `USAGE` for an empty value (cosign takes "" as not given; a check that
 *   checks nothing is refused here, as an empty --certificate-identity is)
 */
function githubWorkflowFlags(args: ParsedArgs): Partial<Record<GithubWorkflowField, string>> | undefined {
  const out: Partial<Record<GithubWorkflowField, string>> = {};
  for (const field of Object.keys(GITHUB_WORKFLOW_EXTENSIONS) as GithubWorkflowField[]) {
    const value = args.values[`certificate-github-workflow-${field}`] as string | undefined;
    if (value === undefined) continue;
    if (value === '') {
      throw new ProvenantError('USAGE', `--certificate-github-workflow-${field} is empty, and would not say what to check`, {
        hint: `give the value the certificate's GitHub workflow ${field} must have, or leave the flag out`,
      });
    }
    out[field] = value;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * `--FLAG` as an exact string or `--FLAG-regexp` as a pattern (not both), as cosign reads them.
 * An empty value is refused: an empty pattern matches every signer and an empty identity every
 * certificate without one, where cosign takes "" as not given and asks for an identity. (An empty
 * `PROVENANT_*` variable is not given either: args.ts skips it.)
 *
 * @throws ProvenantError `USAGE` naming the flag, for both, an empty value or a bad pattern
 */
export function exactOrPattern(args: ParsedArgs, flag: string): IdentityMatcher | undefined {
  const exact = args.values[flag] as string | undefined;
  const pattern = args.values[`${flag}-regexp`] as string | undefined;
  if (exact !== undefined && pattern !== undefined) throw new ProvenantError('USAGE', `give --${flag} or --${flag}-regexp, not both`);
  for (const [name, value] of [
    [flag, exact],
    [`${flag}-regexp`, pattern],
  ] as const) {
    if (value === '') {
      throw new ProvenantError('USAGE', `--${name} is empty, and would not say whom to trust`, {
        hint: `give the ${flag === 'certificate-identity' ? 'identity' : 'OIDC issuer'} the signer's certificate must have`,
      });
    }
  }
  if (pattern === undefined) return exact;
  // RE2, as cosign compiles it with Go's regexp: JavaScript would refuse (?i) and read \A as "A".
  try {
    RE2JS.compile(pattern);
  } catch (cause) {
    throw new ProvenantError('USAGE', `--${flag}-regexp is not a regular expression (RE2, as Go's): ${(cause as Error).message}`, {
      cause,
    });
  }
  return { regexp: pattern };
}

/**
 * The digest to verify: the target's, or with `--platform` that platform's image in the index
 * (`logger` warned where several match, {@link platformEntry}); and the target as read
 * (`root`), whose BuildKit attestations its signature covers.
 */
export async function subjectOf(
  store: ContentStore,
  target: string,
  args: ParsedArgs,
  signal: AbortSignal,
  logger: Pick<Logger, 'warn'>,
): Promise<{ digest: Digest; index: boolean; root: Stored }> {
  const root = await store.getManifest(target, { signal });
  const text = args.values.platform as string | undefined;
  if (text === undefined) return { digest: root.digest, index: root.kind === 'index', root };
  const match = imageEntry(root, text, store.location, 'verify', logger);
  return { digest: match.digest, index: false, root };
}

/**
 * The entry of the index `root` that `--platform` `text` names, as {@link platformEntry} finds it,
 * but an image: BuildKit's attestation manifests (unknown/unknown) hold statements about the
 * images, and a statement about one of them would be about no image. A platform that names only
 * them is refused, saying so and naming the images' platforms (to `verb`, in the hint): `attest`
 * would attach a statement about no image, and `verify` check BuildKit's manifest itself.
 *
 * @throws ProvenantError as platformEntry; `NO_MATCHING_PLATFORM` for a platform that names only
 *   BuildKit's attestation manifests
 */
export function imageEntry(root: Stored, text: string, where: string, verb: string, logger: Pick<Logger, 'warn'>): Descriptor {
  const entry = platformEntry(root, text, where, logger);
  if (root.kind !== 'index' || !isBuildkitAttestation(entry)) return entry;
  const wanted = platformArg(text);
  const image = root.index.manifests.find(
    (m) => m.platform !== undefined && !isBuildkitAttestation(m) && platformMatches(wanted, m.platform),
  );
  if (image !== undefined) return image;
  throw new ProvenantError(
    'NO_MATCHING_PLATFORM',
    `${formatPlatform(wanted)} names BuildKit's attestation manifests in the index, not an image: they hold the statements about its images`,
    { where: `${where}@${root.digest}`, hint: `${verb} one of its images by its platform: ${platformList(root)}` },
  );
}

/** A verification as `--format json` prints it (dates as ISO strings). */
export function verificationJson(name: string, report: VerificationReport, trust: Trust): unknown {
  return {
    image: name,
    digest: report.subject,
    kind: report.kind,
    verified: report.verified.length > 0,
    ...(trust.trustedRootSource === undefined ? {} : { trustedRoot: trust.trustedRootSource }),
    checked: report.checked,
  };
}

function signerText(c: CheckedSignature): string {
  const s = c.signer;
  if (s?.keyId !== undefined) return `key ${visibleLine(s.keyId)}`;
  if (s?.identity !== undefined) return visibleLine(identityLabel({ identity: s.identity, issuer: s.issuer }));
  return '';
}

/**
 * One line for a signature or attestation that was tried. Its predicate type, source and failure
 * come from whoever pushed it, so each is kept on the line: a failed attestation's predicate type
 * must not print an "ok" line of its own.
 */
function checkedLine(c: CheckedSignature): string {
  const what = c.kind === 'attestation' ? `attestation ${visibleLine(c.predicateType ?? '(no predicate type)')}` : 'signature';
  const where = `${c.storage.padEnd(9)} ${visibleLine(c.source)}`;
  if (!c.verified) return `  FAIL ${what}  ${where}: ${c.reason}: ${visibleLine(c.message ?? '')}`;
  const log = c.logIndex === undefined ? '' : `  rekor log index ${c.logIndex}${c.loggedAt ? ` (${c.loggedAt.toISOString()})` : ''}`;
  // A statement in the index is unsigned: say which signature vouched for it.
  const cover = c.coveredBy;
  const through =
    cover === undefined ? '' : `, through the signature of the index ${cover.index} (${cover.storage} ${visibleLine(cover.signature)})`;
  const unchecked = c.notChecked === undefined ? '' : `  (${c.notChecked.join(' and ')} not checked: give --trusted-root to check)`;
  return `  ok   ${what}  ${where}  by ${signerText(c)}${through}${log}${unchecked}`;
}

/** What verified (and what did not), for a report with at least one verified. */
export function renderVerified(name: string, report: VerificationReport): string {
  const what = report.kind === 'signature' ? 'signatures' : 'attestations';
  const head = `${name} (${report.subject}): ${report.verified.length} of ${report.checked.length} ${what} verified`;
  return `${[head, ...report.checked.map(checkedLine)].join('\n')}\n`;
}

/**
 * The attestations attached to `subject` unsigned, in a cosign `.att` tag or as referrers, as
 * `inspect` shows them: how many are of `predicateType` (every one, when not given), their
 * predicate types (`types`), and those of the others, each once in the order found, as they name
 * themselves (nothing checks them). `attest` without `--key` or `--sign` attaches its statement so, and
 * `verify-attestation` checks signed ones only. For the failure's message alone: BuildKit's
 * statements are among those the verification checked (so it never gets here with any), and
 * whatever keeps them from being read counts none, so that the verification's own failure is the
 * one said.
 */
export async function unsignedAttestationsOf(
  store: ContentStore,
  subject: Digest,
  predicateType: string | undefined,
  signal: AbortSignal,
): Promise<{ count: number; types: string[]; otherTypes: string[] }> {
  // Loaded only for a verification that found nothing: attachments.ts and inspect.ts read much.
  const [{ findAttachments }, { ownSummaries, summarizeSignatures }, { cosignTagsByName }] = await Promise.all([
    import('../attest/attachments.ts'),
    import('../sign/inspect.ts'),
    import('../store/tag-list.ts'),
  ]);
  try {
    // The subject's cosign tags asked for by name, not the repository's every tag listed.
    const tags = await cosignTagsByName(store, [subject], { signal });
    const found = await findAttachments(store, [subject], undefined, { signal, tags });
    const attestations = found.filter((a) => a.kind === 'attestation');
    // Usually none: then the signatures the verification just read are not read again.
    if (attestations.length === 0) return { count: 0, types: [], otherTypes: [] };
    const summaries = await summarizeSignatures(store, subject, { signal });
    const unsigned = attestations.filter((a) => !ownSummaries(a, summaries).some((s) => s.signed));
    const ofType = (a: (typeof unsigned)[number]) => predicateType === undefined || a.predicateTypes.includes(predicateType);
    const once = (types: string[]) => types.filter((t, i) => types.indexOf(t) === i);
    const of = unsigned.filter(ofType);
    const types = predicateType !== undefined ? (of.length > 0 ? [predicateType] : []) : once(of.flatMap((a) => a.predicateTypes));
    return { count: of.length, types, otherTypes: once(unsigned.filter((a) => !ofType(a)).flatMap((a) => a.predicateTypes)) };
  } catch (err) {
    if (!isProvenantError(err) || err.code === 'ABORTED') throw err;
    return { count: 0, types: [], otherTypes: [] };
  }
}

/**
 * An image of an index, for a hint: its platform as its entry names it, its digest, and whether it
 * is the first image of that platform in the index, the one `--platform` takes ({@link platformEntry}).
 */
export interface PlatformImage {
  readonly platform: string;
  readonly digest: Digest;
  readonly first: boolean;
}

/** How a hint names `image`: its platform, with its digest where `--platform` takes another image. */
export function imageLabel(image: PlatformImage): string {
  return image.first ? image.platform : `${image.platform} (${image.digest})`;
}

/**
 * How to verify one of `images` (at least one) of the index `name`: with `--platform` where that
 * takes one of them, else by digest, since `--platform` takes the index's first image of it.
 */
export function verifyOne(name: string, images: readonly PlatformImage[]): string {
  const picked = images.find((i) => i.first);
  if (picked !== undefined) return `verify one with --platform ${picked.platform}`;
  const image = images[0] as PlatformImage;
  return `verify it by digest, ${digestName(name, image.digest)} (--platform ${image.platform} takes the index's first ${image.platform} image, another)`;
}

/**
 * The hint of an index `name` without attestations of `predicateType` (any, when not given) whose
 * images `signed` (at least one) have some of their own: to verify one of them ({@link verifyOne}).
 */
export function platformAttestationsHint(name: string, signed: readonly PlatformImage[], predicateType: string | undefined): string {
  const type = predicateType === undefined ? '' : `${predicateType} `;
  const one = signed.length === 1;
  return `its ${signed.map(imageLabel).join(', ')} image${one ? ' has' : 's have'} ${type}attestations of ${one ? 'its' : 'their'} own (a build attests each platform image): ${verifyOne(name, signed)}`;
}

/** The error of a verification where nothing verified: one line per signature tried, with why. */
export function verificationFailure(
  name: string,
  report: VerificationReport,
  options: {
    predicateType?: string | undefined;
    index?: boolean;
    /**
     * For an index: its images that have signatures (attestations of the type) of their own, as
     * their storage names them, for the hint.
     */
    signedPlatforms?: readonly PlatformImage[] | undefined;
    /** How many attestations of the type are attached unsigned ({@link unsignedAttestationsOf}). */
    unsigned?: number | undefined;
  } = {},
): ProvenantError {
  const type = options.predicateType === undefined ? '' : `${options.predicateType} `;
  const what = report.kind === 'signature' ? 'signatures' : `${type}attestations`;
  const unsigned = options.unsigned ?? 0;
  if (report.checked.length === 0 && report.kind === 'attestation' && unsigned > 0) {
    const them = unsigned === 1 ? 'it' : 'them';
    return new ProvenantError(
      'SIGNATURE',
      `${name} (${report.subject}) has ${unsigned} unsigned ${type}attestation${unsigned === 1 ? '' : 's'} and no signed one: verify-attestation checks signed attestations only`,
      { hint: `attest again with --key or --sign (keyless) to sign ${them}` },
    );
  }
  if (report.checked.length === 0) {
    const signed = options.signedPlatforms ?? [];
    const hint =
      report.kind === 'signature'
        ? options.index && signed.length > 0
          ? `the index is not signed, but its ${signed.map(imageLabel).join(', ')} image${signed.length === 1 ? ' is' : 's are'} (an index made by index create is new until signed): ${verifyOne(name, signed)}, or sign the index (provenant sign)`
          : 'sign it first (provenant sign), or check the reference'
        : options.index && signed.length > 0
          ? platformAttestationsHint(name, signed, options.predicateType)
          : 'attest it first, or check --type';
    return new ProvenantError('SIGNATURE', `${name} (${report.subject}) has no ${what}`, { hint });
  }
  const lines = report.checked.map(checkedLine);
  return new ProvenantError(
    'SIGNATURE',
    `none of the ${report.checked.length} ${what} of ${name} (${report.subject}) verified:\n${lines.join('\n')}`,
  );
}
