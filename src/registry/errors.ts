/** A registry's error answers (the distribution spec's error body and HTTP status) as typed errors that never name a credential. */
import type { Credentials } from '../auth/credentials.ts';
import { printableLine } from '../bytes.ts';
import { type ErrorCode, type ErrorDetails, maskCredentials, ProvenantError } from '../errors.ts';

/**
 * One entry of a registry's error body
 * (https://github.com/opencontainers/distribution-spec/blob/main/spec.md#error-codes):
 * `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"...","detail":...}]}`.
 */
export interface DistributionError {
  code: string;
  message: string;
  detail?: unknown;
}

/**
 * Reads the error body; anything that is not the spec's shape gives an empty list. The secrets in
 * `sent` ({@link maskSent}) are masked in each entry's message and detail.
 */
export function parseErrorBody(text: string, sent: readonly string[] = []): DistributionError[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  const list = (value as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(list)) return [];
  return list
    .filter((e): e is Record<string, unknown> => typeof e === 'object' && e !== null)
    .map((e) => {
      const detail = sent.length === 0 ? e.detail : maskedDetail(e.detail, sent);
      return {
        code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
        message: typeof e.message === 'string' ? maskSent(e.message, sent) : '',
        ...(detail === undefined ? {} : { detail }),
      };
    });
}

/**
 * `detail` with the secrets of `sent` masked in each of its strings (keys too), walked rather than
 * masked as JSON text: a secret with `"` or `\` in it is written escaped there, and an escape
 * before it (`\n`) would read as a letter next to it ({@link maskSent} masks whole tokens only).
 */
function maskedDetail(detail: unknown, sent: readonly string[], depth = 0): unknown {
  if (typeof detail === 'string') return maskSent(detail, sent);
  if (typeof detail !== 'object' || detail === null) return detail;
  // Deeper than any registry's detail: dropped rather than walked without bound.
  if (depth > 32) return undefined;
  if (Array.isArray(detail)) return detail.map((v) => maskedDetail(v, sent, depth + 1));
  return Object.fromEntries(Object.entries(detail).map(([k, v]) => [maskSent(k, sent), maskedDetail(v, sent, depth + 1)]));
}

/**
 * Secrets shorter than this are not masked: they would mask ordinary words of every message
 * (a one-letter password), and are no secret worth the name.
 */
const MIN_SECRET = 4;

/**
 * `text` with every secret of `sent` (what the client itself sent: a password, an identity token,
 * a bearer token; see {@link sentSecrets}) replaced by `…`, as written, URL-encoded and escaped
 * as in a JSON string (a body quoted in a message). A server may echo them in words no pattern of
 * {@link maskCredentials} knows (`wrong password s3cret`). A secret of {@link WORD_SAFE} characters
 * or more is masked wherever it occurs. A shorter one only where it stands as a whole token: an
 * occurrence inside a longer run of letters and digits is a word that contains it (a password
 * `test` leaves `tag latest` alone), which a secret that long is not. A URL or JSON escape of a
 * character that is no letter or digit just before a short one (`%3D`, `\n`, `\u0022`) sets it
 * apart, although the escape ends in a letter or digit.
 */
export function maskSent(text: string, sent: readonly string[]): string {
  // Each form, and whether it is masked only as a whole token (a short secret's).
  const forms = new Map<string, boolean>();
  for (const secret of sent) {
    if (secret.length < MIN_SECRET) continue;
    const whole = secret.length < WORD_SAFE;
    for (const form of [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)]) {
      forms.set(form, (forms.get(form) ?? true) && whole);
    }
  }
  let out = text;
  // The longest first, so that a secret inside another leaves no part of the longer one.
  for (const [form, whole] of [...forms].sort(([a], [b]) => b.length - a.length)) {
    out = whole ? maskWhole(out, form) : out.split(form).join('…');
  }
  return out;
}

/** Secrets this long or longer are masked wherever they occur ({@link maskSent}). */
const WORD_SAFE = 8;

/** A URL or JSON escape at the end of a text: `%XX`; a run of backslashes and `b`, `n`, ..., or `uXXXX`. */
const ESCAPE_END = /%([0-9A-Fa-f]{2})$|(\\+)(?:[bfnrt]|u([0-9A-Fa-f]{4}))$/;

/**
 * Whether `before` ends in an escape of a character that is no letter or digit (`%3D`, `\n`,
 * `\u0022`), which ends a word as that character would although the escape ends in one. Not an
 * escaped backslash followed by a letter (`\\n`), nor the escape of a letter (`%41`, `\u00e9`, a
 * byte of a UTF-8 sequence such as `%C3%A9`).
 */
function endsInEscapedEdge(before: string): boolean {
  const m = ESCAPE_END.exec(before);
  if (m === null) return false;
  if (m[1] !== undefined) {
    const byte = Number.parseInt(m[1], 16);
    return byte < 0x80 && !/[A-Za-z0-9]/.test(String.fromCharCode(byte));
  }
  // An even run of backslashes is escaped backslashes, and the letter after them is a letter.
  if (m[2]!.length % 2 === 0) return false;
  return m[3] === undefined || !WORD_END.test(String.fromCharCode(Number.parseInt(m[3], 16)));
}
const WORD_START = /^[\p{L}\p{N}]/u;
const WORD_END = /[\p{L}\p{N}]$/u;

/** `text` with each occurrence of `form` that is not part of a longer run of letters and digits replaced by `…`. */
function maskWhole(text: string, form: string): string {
  // Only an edge of `form` that is a letter or digit can continue a run: `-pw-` in `a-pw-b` stands apart.
  const checkBefore = WORD_START.test(form);
  const checkAfter = WORD_END.test(form);
  let out = '';
  let from = 0;
  for (let at = text.indexOf(form); at >= 0; at = text.indexOf(form, at + 1)) {
    if (at < from) continue;
    const end = at + form.length;
    // Two code units: a letter outside the BMP is a surrogate pair.
    if (checkBefore && WORD_END.test(text.slice(Math.max(0, at - 2), at)) && !endsInEscapedEdge(text.slice(0, at))) continue;
    if (checkAfter && WORD_START.test(text.slice(end, end + 2))) continue;
    out += `${text.slice(from, at)}…`;
    from = end;
  }
  return out + text.slice(from);
}

/**
 * The secrets a request sent, for {@link maskSent}: those of its Authorization values (a Basic
 * value and the password in it, a Bearer token) and of `credentials` (a password, an identity
 * token, a registry token).
 */
export function sentSecrets(authorizations: ReadonlyArray<string | undefined>, credentials?: Credentials | undefined): string[] {
  const out: string[] = [];
  for (const value of authorizations) {
    const m = /^\s*(basic|bearer)\s+(\S+)/i.exec(value ?? '');
    if (m === null) continue;
    out.push(m[2]!);
    if (m[1]!.toLowerCase() === 'basic') {
      const decoded = Buffer.from(m[2]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon >= 0) out.push(decoded.slice(colon + 1));
    }
  }
  for (const secret of [credentials?.password, credentials?.identityToken, credentials?.registryToken]) {
    if (secret !== undefined) out.push(secret);
  }
  return out;
}

const NOT_FOUND_CODES = new Set(['MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NAME_UNKNOWN', 'BLOB_UPLOAD_UNKNOWN']);

/** What a response error is about, for its message. */
export interface ErrorContext {
  /** The registry as users write it (`127.0.0.1:5000`), for "wrong password for ..." messages. */
  registry: string;
  /** The repository and reference, or a digest: never a URL with a token in it. */
  where: string;
  /** What was being done, e.g. "push manifest". */
  what: string;
  /** Credentials were sent (a 401 then means they are wrong, a 403 that they lack permission). */
  hadCredentials: boolean;
  /**
   * Credentials for the registry were found but did not go with the request: the registry
   * answered before asking for them (its `/v2/` ping, a registry that reads anonymously), or
   * another host answered ({@link answeredBy}). A 403 then says nothing of them.
   */
  heldCredentials?: boolean | undefined;
  /**
   * The request was the API check (`GET /v2/`), which goes without credentials whatever the
   * keychain holds, as go-containerregistry's and containers/image's go: a 403 to it says nothing
   * of them, and logging in does not change it.
   */
  ping?: boolean | undefined;
  /**
   * The host that answered, when it is not the registry (where a redirect led: blob storage, a
   * CDN), to which the registry's credentials never go.
   */
  answeredBy?: string | undefined;
  /** The answer's `Allow` header, for a 405. */
  allow?: string | null | undefined;
  /** What the client sent that is secret ({@link sentSecrets}): masked wherever the answer repeats it. */
  sent?: readonly string[] | undefined;
}

/**
 * What an error body without the spec's entries said, for a message: its first line (an HTML
 * page's title), at most 200 characters, with what could be a credential masked
 * ({@link maskCredentials}: an Authorization value, a JWT, a URL's user info, a token a token server
 * named), and the secrets of `sent` ({@link maskSent}). Undefined when it said nothing readable.
 */
export function plainErrorText(bodyText: string, sent: readonly string[] = []): string | undefined {
  let text = bodyText.trim();
  if (text.startsWith('<')) text = /<title[^>]*>([^<]*)<\/title>/i.exec(text)?.[1]?.trim() ?? '';
  // Masked before it is cut, so that the cut leaves no part of a credential unmasked.
  text = maskCredentials(maskSent(text.split(/\r?\n/, 1)[0]!.trim(), sent));
  if (text === '') return undefined;
  if (text.length > 200) text = `${text.slice(0, 200)}…`;
  return printableLine(text);
}

/**
 * The hint of a registry's rate limit (429), in the command line's terms; exported so that an
 * adapter without the flag (the Action) can say its own instead.
 */
export const RATE_LIMIT_HINT = 'wait and retry, authenticate to get a higher limit, or lower --concurrency';

/**
 * A registry's refusal with the spec's error entries behind it, so a caller can act on what the
 * registry said (a manifest PUT refused for a blob that is missing for a moment) rather than on
 * the message's words.
 */
export class RegistryResponseError extends ProvenantError {
  /** The HTTP status. */
  readonly status: number;
  /** The error body's entries, in the registry's order; empty when it sent none. */
  readonly registryErrors: readonly DistributionError[];

  constructor(code: ErrorCode, message: string, details: ErrorDetails, status: number, registryErrors: readonly DistributionError[]) {
    super(code, message, details);
    this.status = status;
    this.registryErrors = registryErrors;
  }
}

/** The ProvenantError for a registry's non-success answer. */
export function responseError(status: number, bodyText: string, ctx: ErrorContext): ProvenantError {
  const sent = ctx.sent ?? [];
  const errors = parseErrorBody(bodyText, sent);
  const first = errors[0];
  // The registry's words go into a one-line message: a newline in them must not print a line of
  // their own (`provenant: all good, image verified`), and a credential they echo must not either.
  const said =
    errors.length > 0
      ? printableLine(maskCredentials(maskSent(errors.map((e) => `${e.code}${e.message ? `: ${e.message}` : ''}`).join('; '), sent)))
      : plainErrorText(bodyText, sent);
  const detail = said === undefined ? `HTTP ${status}` : `${said} (HTTP ${status})`;
  const at = { where: ctx.where };
  if (status === 401) return unauthorized(ctx);
  if (status === 403 || first?.code === 'DENIED') {
    const credentials = ctx.hadCredentials ? 'sent' : ctx.ping === true ? 'never' : ctx.heldCredentials === true ? 'held' : 'none';
    return new RegistryDeniedError(`${ctx.registry} denied ${ctx.what}: ${detail}`, ctx.where, ctx.registry, credentials, ctx.answeredBy);
  }
  if (status === 429 || first?.code === 'TOOMANYREQUESTS') {
    return new ProvenantError('TOO_MANY_REQUESTS', `${ctx.registry} is rate limiting requests (${detail})`, {
      ...at,
      hint: RATE_LIMIT_HINT,
    });
  }
  if (status === 404 || (first !== undefined && NOT_FOUND_CODES.has(first.code))) {
    return new RegistryResponseError('NOT_FOUND', `${ctx.what}: not found (${detail})`, at, status, errors);
  }
  const code: ErrorCode =
    first?.code === 'DIGEST_INVALID' ? 'DIGEST_MISMATCH' : first?.code === 'SIZE_INVALID' ? 'SIZE_MISMATCH' : 'REGISTRY';
  const hint =
    // distribution puts DIGEST_INVALID first when it read a link being rewritten (another push).
    errors.some((e) => e.code === 'MANIFEST_BLOB_UNKNOWN')
      ? 'the manifest names a blob the registry does not have; push the blobs first'
      : first?.code === 'MANIFEST_INVALID' || first?.code === 'UNSUPPORTED'
        ? 'the registry does not accept this manifest; check its media type against the registry (compat profiles list what each accepts)'
        : status === 405
          ? `the registry does not take this request${ctx.allow ? ` (it allows ${printableLine(ctx.allow)})` : ''}; it may be read-only or a pull-through cache`
          : status >= 500
            ? 'the registry failed; retry later'
            : undefined;
  return new RegistryResponseError(code, `${ctx.registry} refused ${ctx.what}: ${detail}`, { ...at, hint }, status, errors);
}

/**
 * DENIED from a registry (a 403, or its DENIED code). The hint says what the refusal says of the
 * credentials, which depends on whether they went with the request: sent, they are valid (a 401 would
 * say they are wrong) but lack permission; found but not sent (the registry refused before asking
 * for them, or another host refused), or never sent with such a request (the API check), logging
 * in changes nothing; none found, logging in may. The
 * last names the command line's way to log in; `registry` and `loginMayHelp` let another front end
 * (the Action) say its own.
 */
export class RegistryDeniedError extends ProvenantError {
  /** The registry as users write it (`127.0.0.1:5000`). */
  readonly registry: string;
  /** Whether logging in may help: the registry itself refused, and no credentials for it were found. */
  readonly loginMayHelp: boolean;

  constructor(
    message: string,
    where: string,
    registry: string,
    credentials: 'sent' | 'held' | 'never' | 'none',
    answeredBy: string | undefined,
  ) {
    const loginMayHelp = credentials === 'none' && answeredBy === undefined;
    super('DENIED', message, {
      where,
      hint:
        credentials === 'sent'
          ? 'the credentials are valid but lack permission for this repository; check the account or token scopes'
          : // The registry let the request through, to a host that refused it: no login changes that.
            answeredBy !== undefined
            ? `the refusal came from ${answeredBy}, not from ${registry} (a blob or CDN host it redirected to), where the registry's credentials never go; retry, and if it persists, tell the registry's operator`
            : credentials === 'never'
              ? `${registry} refuses its API check (GET /v2/), which goes without credentials (as skopeo's and crane's do), so logging in does not change this; the registry, or a proxy in front of it, must answer it 200 or 401 (the distribution spec)`
              : loginMayHelp
                ? `no credentials were found for ${registry}; if the repository is private, log in first (docker login ${registry})`
                : `${registry} refused before asking for credentials, so the ones found for it were not sent; check the repository name, and that the registry serves it to this account`,
    });
    this.loginMayHelp = loginMayHelp;
    this.registry = registry;
  }
}

/**
 * UNAUTHORIZED from a registry: its hint names the command line's ways to log in (`docker login`,
 * `--username`); `registry` and `hadCredentials` let another front end (the Action, which logs in
 * with a workflow step) say its own.
 */
export class RegistryAuthError extends ProvenantError {
  /** The registry as users write it (`127.0.0.1:5000`). */
  readonly registry: string;
  /** Whether credentials were sent (and refused), rather than none found. */
  readonly hadCredentials: boolean;

  constructor(registry: string, hadCredentials: boolean, where: string | undefined, cause?: unknown) {
    super(
      'UNAUTHORIZED',
      hadCredentials ? `wrong username or password for ${registry}` : `${registry} requires authentication`,
      hadCredentials
        ? { where, cause, hint: `log in again (docker login ${registry}) or check the credentials passed with --username` }
        : { where, cause, hint: `log in first (docker login ${registry}), or pass --username and --password-stdin` },
    );
    this.registry = registry;
    this.hadCredentials = hadCredentials;
  }
}

/** UNAUTHORIZED with a message that names the registry and never the credentials. */
export function unauthorized(ctx: Pick<ErrorContext, 'registry' | 'where' | 'hadCredentials'>, cause?: unknown): ProvenantError {
  return new RegistryAuthError(ctx.registry, ctx.hadCredentials, ctx.where, cause);
}
