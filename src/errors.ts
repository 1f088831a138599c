/**
 * Typed errors. Every error Provenant raises is a {@link ProvenantError} with a stable `code`
 * that callers (and the CLI's exit-code mapping) switch on, a message that says what was wrong,
 * an optional `where` (a file and line, a reference, a digest, a URL without credentials) and an
 * optional `hint` that tells a user what to do about it.
 */

/** Every error code Provenant raises. Codes are stable: tests and callers assert on them. */
export type ErrorCode =
  | 'USAGE'
  | 'INVALID_REFERENCE'
  | 'INVALID_DIGEST'
  | 'DIGEST_MISMATCH'
  | 'SIZE_MISMATCH'
  | 'INVALID_MANIFEST'
  | 'INVALID_CONFIG'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_FOUND'
  | 'INVALID_LAYOUT'
  | 'INVALID_ARCHIVE'
  | 'TRUNCATED'
  | 'UNSAFE_PATH'
  | 'NO_MATCHING_PLATFORM'
  | 'REGISTRY'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'TOO_MANY_REQUESTS'
  | 'NETWORK'
  | 'TLS_CERTIFICATE'
  | 'INSECURE'
  | 'CREDENTIALS'
  | 'ABORTED'
  | 'IO'
  | 'INVALID_PACKAGE'
  | 'SIGNATURE'
  | 'UNTRUSTED_KEY'
  | 'UNRESOLVABLE'
  | 'FILE_CONFLICT'
  /** Other writers kept moving a tag this run moved, over what it wrote (`attest --attestations buildkit`). */
  | 'TAG_CONFLICT'
  /** A target (registry or runtime) would refuse the image: `check`, `fix`. */
  | 'INCOMPATIBLE'
  /** `pin --check`: a `uses:` value is not pinned to a commit SHA or digest. */
  | 'UNPINNED'
  /** An input holds more than Provenant reads into memory (paths of an image, package database files). */
  | 'TOO_LARGE';

/** Options every {@link ProvenantError} accepts besides its code and message. */
export interface ErrorDetails {
  /** The place: a file (and line), an image reference, a digest or a URL. Never a secret. */
  where?: string | undefined;
  /** What the user can do about it. */
  hint?: string | undefined;
  /** The error this one wraps. */
  cause?: unknown;
}

/** The one error class of the library: switch on `code`, show `message`, `where` and `hint`. */
export class ProvenantError extends Error {
  readonly code: ErrorCode;
  readonly where: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'ProvenantError';
    this.code = code;
    this.where = details.where;
    this.hint = details.hint;
  }

  /** One line for a person: `message (where)`, without the hint. */
  describe(): string {
    return this.where === undefined ? this.message : `${this.message} (${this.where})`;
  }
}

/**
 * An error of a cache that was damaged on disk, which `repair` drops from the cache: the
 * operation that met it may run once more, and then makes again from its sources what the cache
 * kept (a decompressed Packages file and its stanza index, say).
 */
export class RepairableError extends ProvenantError {
  readonly repair: () => Promise<void>;

  constructor(code: ErrorCode, message: string, details: ErrorDetails, repair: () => Promise<void>) {
    super(code, message, details);
    this.repair = repair;
  }
}

/** True when `err` is a {@link ProvenantError}, optionally with one of `codes`. */
export function isProvenantError(err: unknown, ...codes: ErrorCode[]): err is ProvenantError {
  return err instanceof ProvenantError && (codes.length === 0 || codes.includes(err.code));
}

/**
 * Whether `message` names `where` itself, so that a message shown with its place need not repeat it
 * (cli/help.ts's errors, pin's errors of a `uses:` site): as a whole token (not
 * `e` inside "the key file does not exist"), and, for a place that is one plain word (a file
 * named `key`), in quotes, as the message's own words could be it ("the key file").
 */
export function namesPlace(message: string, where: string): boolean {
  if (where === '') return true;
  const quoted = [`"${where}"`, `'${where}'`, `\`${where}\``, `(${where})`];
  if (quoted.some((q) => message.includes(q))) return true;
  if (/^[\p{L}\p{N}_-]+$/u.test(where)) return false;
  // A token ends at white space, a quote or a bracket, or at the sentence's punctuation before one.
  for (let at = message.indexOf(where); at >= 0; at = message.indexOf(where, at + 1)) {
    const before = at === 0 ? '' : message[at - 1]!;
    const after = message.slice(at + where.length);
    if ((before === '' || /[\s"'`([]/.test(before)) && /^(?:[.,;:!?]*(?:[\s"'`)\]]|$))/.test(after)) return true;
  }
  return false;
}

/** Throws `ABORTED` when `signal` has fired. Long loops call this between steps. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortedError(signal);
}

/** The `ABORTED` error for an operation whose signal fired (its reason as the cause). */
export function abortedError(signal: AbortSignal | undefined, where?: string): ProvenantError {
  return new ProvenantError('ABORTED', 'the operation was cancelled', { where, cause: signal?.reason });
}

/** Waits `ms`, or fails with ABORTED when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortedError(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// The one other use of @ in what users write: a reference's @digest, well formed or not, named
// by a digest algorithm, so that a one-word host with a port (`registry:5000`) is never taken
// for one.
const DIGEST_AFTER = /^(?:sha256|sha384|sha512|sha1|md5|blake2b|blake3)(?:[+._-][a-z0-9]+)*:[a-z0-9=_-]*$/i;
const SCHEME = /[a-z][a-z0-9+.-]*:\/\//i;
// What starts with a host: localhost, or a first segment holding a dot, a colon or brackets.
const HOST_FIRST = /^(?:localhost|[^/]*[.:[][^/]*)(?:[/?#]|$)/i;

/**
 * `text` as a message may quote it: the credentials of each URL in it (`https://user:password@`,
 * `https://token@`) and of what reads as one without a scheme (`user:password@registry.example/app`,
 * `token@registry.example/app`, as a reference pasted with credentials) replaced by `***`. Everything up to
 * the last `@` of a URL goes, since a password may hold an unescaped `@` or `/`; an `@` before a
 * digest (`name@sha256:...`) is kept, as is `name@word` (no `:` before it, no `.`, `:` or `/`
 * after), which cannot be told from `token@host`.
 */
export function redactCredentials(text: string): string {
  return text.replace(/\S+/g, (word) => {
    const scheme = SCHEME.exec(word);
    const start = scheme === null ? 0 : scheme.index + scheme[0].length;
    const body = word.slice(start);
    // Without a scheme, credentials come before the first "/" (user info has none).
    const slash = body.indexOf('/');
    const searchEnd = scheme === null && slash >= 0 ? slash : body.length;
    for (let at = body.lastIndexOf('@', searchEnd); at > 0; at = body.lastIndexOf('@', at - 1)) {
      const before = body.slice(0, at);
      const after = body.slice(at + 1);
      if (DIGEST_AFTER.test(after)) continue;
      if (scheme === null && !before.includes(':') && !/[.:/]/.test(after)) return word;
      // In a URL's path, an @ with no password before it and no host after it is the path's own
      // (a workflow's `x.yml@refs/heads/main`, as certificate identities name it).
      if (scheme !== null && slash >= 0 && slash < at && !before.includes(':') && !HOST_FIRST.test(after)) continue;
      return `${word.slice(0, start)}***@${after}`;
    }
    return word;
  });
}

// An http(s) URL's scheme (apt's `mirror+http`, `tor+https` too) wherever it starts in a string,
// and the slashes after it: the WHATWG URL parser, and so the fetcher, reads `http:\\host`,
// `http:host` and `http:/host` as `http://host`.
const HTTP_SCHEME_ANYWHERE = /\b(?:[a-z][a-z0-9.-]*\+)?https?:[/\\]*/gi;
// What ends a URL's authority: for the WHATWG parser `/`, `?`, `#` and `\\`; as anyone writes a
// URL also whitespace, angle brackets and double quotes, which RFC 3986 keeps out of user info
// (`https://example.org team <ops@example.org>` holds none), but not `'`, which it allows
// (`https://ci:p'q@git.example/r`); in free text (a file's comments, a message) also what ends a
// YAML or JSON scalar, a word or a list item.
const AUTHORITY_END = /[/?#\\\s"<>]/;
const AUTHORITY_END_IN_TEXT = /[/?#\\\s"'`,[\]{}<>]/;
// In a location known to be one (a configuration's repository or key, as it was read): where the
// WHATWG parser ends the authority, and at a line break that starts another deb822 field or a
// continuation line (a deb822 source names its URLs one a field).
const AUTHORITY_END_KNOWN = /[/?#\\]|\r?\n(?=[ \t]|[A-Za-z][A-Za-z0-9-]*:)/;

/**
 * Where the user info (with its `@`) of each http(s) URL in `text` starts and ends, the user info
 * being everything before the authority's last `@` (a password may hold an `@`). Read as a
 * `value` (a repository entry, a message's words) the authority ends where the WHATWG URL parser
 * ends it, at `/`, `?`, `#` or `\\`, and also at whitespace, `<`, `>` and quotes, which no user
 * info anyone writes holds (`see https://example.org, mail ops@example.org` keeps its address); as
 * `text` (a file's text as written) also at commas and brackets, so that
 * `[http://r.invalid:8080,foo@bar]` keeps its `foo@bar`; as `known` (see {@link userInfosIn}) only
 * where the parser ends it and at a deb822 field's end.
 */
function userInfoRanges(text: string, reading: 'value' | 'text' | 'known'): { start: number; end: number }[] {
  const ends = reading === 'text' ? AUTHORITY_END_IN_TEXT : reading === 'known' ? AUTHORITY_END_KNOWN : AUTHORITY_END;
  const out: { start: number; end: number }[] = [];
  for (const m of text.matchAll(HTTP_SCHEME_ANYWHERE)) {
    const start = m.index + m[0].length;
    if (start < (out.at(-1)?.end ?? 0) || /^\s/.test(text.slice(start, start + 1))) continue;
    const rest = text.slice(start);
    const end = rest.search(ends);
    const at = rest.lastIndexOf('@', (end < 0 ? rest.length : end) - 1);
    if (at >= 0) out.push({ start, end: start + at + 1 });
  }
  return out;
}

/**
 * The user info, with its `@`, of every http(s) URL in `text`, a location known to be one (a
 * configuration's repository or key as the build read it: a URL, an apk `@tag URL`, a Debian
 * one-line or deb822 source): everything before the authority's last `@` as the WHATWG URL parser
 * reads it, whatever it holds (a quote, a space, a `<`), a deb822 field ending at its line. The
 * strings a text that names these locations must lose, however else it spells them.
 */
export function userInfosIn(text: string): string[] {
  return [...new Set(userInfoRanges(text, 'known').map((r) => text.slice(r.start, r.end)))];
}

/**
 * `text` with the user info of each http(s) URL in it removed (`http://alice:secret@host/repo` →
 * `http://host/repo`), everything else as it was: still a location that reads (unlike
 * {@link redactCredentials}' `***@`). The one reader of user info for what a provenance, a lock
 * or a message states of a repository or key. Other schemes keep theirs (`ssh://git@host/...`
 * names no secret).
 *
 `urls`, the locations the text is known to hold (a configuration's repositories and keys), have
 * their user info ({@link userInfosIn}, whatever characters it holds) removed as written first,
 * wherever `//` precedes it. Then `text` is read as a value (a repository entry, an apk `@tag URL`,
 * a Debian one-line or deb822 source, an option such as `signed-by=URL`, a message's words), where
 * a URL's authority ends where the WHATWG URL parser (the fetcher's) ends it and at whitespace,
 * quotes and `<>`; with `inText`, as free text (a configuration file's text as written), where it
 * also ends at commas and brackets.
 */
export function withoutUserInfo(text: string, urls: readonly string[] = [], inText = false): string {
  let out = text;
  for (const url of urls) for (const info of userInfosIn(url)) out = out.split(`//${info}`).join('//');
  const ranges = userInfoRanges(out, inText ? 'text' : 'value');
  for (const r of ranges.reverse()) out = `${out.slice(0, r.start)}${out.slice(r.end)}`;
  return out;
}

/**
 * One repository or key location without user info: {@link withoutUserInfo} of it, known to be
 * one, so that a password holding a space, a quote or a `<` goes too.
 */
export function urlWithoutUserInfo(url: string): string {
  return withoutUserInfo(url, [url]);
}

// What a server's answer or a library's message may hold of a credential, besides a URL's user
// info: a JWT, an Authorization value (`Basic …`, `Bearer …`, `authorization=Basic%20…`), and a
// token or secret named as a query parameter, a form field or a JSON member.
const JWT = /eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/g;
const AUTH_VALUE = /\b(basic|bearer)(\s+|%20|\+)[A-Za-z0-9+/=._~%-]+/gi;
// A name a secret goes by: `access_token`, `refresh_token`, `client_secret`, `password`, `api_key`,
// `authorization`, a presigned URL's `X-Amz-Signature`.
const SECRET_NAME =
  '[a-z0-9_.-]*(?:token|secret|password|passwd)|authorization|credentials?|api[_-]?key|x-amz-signature|x-amz-credential|sig';
// As a query parameter or form field (`access_token=…`), and as a JSON member (`"refresh_token":"…"`).
const NAMED_PARAM = new RegExp(String.raw`\b(${SECRET_NAME})=[^\s&"',;<>]+`, 'gi');
const NAMED_MEMBER = new RegExp(String.raw`("(?:${SECRET_NAME})"\s*:\s*)"(?:[^"\\]|\\.)*"`, 'gi');

/**
 * `text` as a message may quote what a server or a library said: {@link redactCredentials} of it
 * (user info of URLs and references), with JWTs replaced by `<token>`, Authorization values by
 * `Basic …`/`Bearer …`, and values named as tokens, secrets or passwords (`access_token=…`,
 * `"refresh_token":"…"`, `authorization=Basic%20…`) by `…`. For the words of a server (a registry's
 * error body, a token server's answer) and of a library (sigstore-js) that a message repeats.
 */
export function maskCredentials(text: string): string {
  return redactCredentials(
    text
      .replace(JWT, '<token>')
      .replace(NAMED_PARAM, '$1=…')
      .replace(NAMED_MEMBER, '$1"…"')
      .replace(AUTH_VALUE, (_m, scheme: string) => `${scheme} …`),
  );
}
