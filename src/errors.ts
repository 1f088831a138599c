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

// An http(s) URL's scheme (apt's `mirror+http`, `tor+https` too) and its user info in free text:
// everything up to the last `@` before the host ends (`/`, `?`, `#`, `\`), which is what the
// WHATWG URL parser, and so the fetcher, takes as `user:password`. The parser takes quotes, `<`,
// `>` and spaces in a password too; in text, a space or a double quote ends the URL here (a YAML
// plain scalar, a quoted one), so {@link withoutUserInfo} is also told the URLs themselves.
const HTTP_USER_INFO = /\b((?:[a-z][a-z0-9.-]*\+)?https?:\/\/)[^\s/?#\\"]*@/gi;
const HTTP_SCHEME = /^(?:[a-z][a-z0-9.-]*\+)?https?:\/\//i;
const HTTP_SCHEME_ANYWHERE = /\b(?:[a-z][a-z0-9.-]*\+)?https?:\/\//gi;

/**
 * `text` with the user info of each http(s) URL in it removed (`http://alice:secret@host/repo` →
 * `http://host/repo`), everything else as it was: a configuration file's text or a repository
 * location as an attestation may carry it, still a location that reads (unlike
 * {@link redactCredentials}' `***@`). Other schemes keep theirs (`ssh://git@host/...` names no
 * secret). `urls`, the URLs the text is known to hold (a configuration's repositories), have
 * their user info removed as written first, whatever characters it holds.
 */
export function withoutUserInfo(text: string, urls: readonly string[] = []): string {
  let out = text;
  for (const url of urls) for (const info of userInfosIn(url)) out = out.split(`//${info}`).join('//');
  return out.replace(HTTP_USER_INFO, '$1');
}

/**
 * The user info, with its `@`, of every http(s) URL in `text` (a repository, an apk `@tag URL`, a
 * Debian source line with its `signed-by=` URLs), whatever characters it holds: as the WHATWG URL
 * parser reads a URL that `text` starts with (up to the last `@` before `/`, `?`, `#` or `\`), and
 * as a URL ended by whitespace reads (a word of a Debian line). The strings a text that names these
 * URLs must lose, however else it spells them.
 */
export function userInfosIn(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(HTTP_SCHEME_ANYWHERE)) {
    const start = m.index + m[0].length;
    const rest = text.slice(start);
    const authority = rest.search(/[/?#\\]/);
    const space = rest.search(/\s/);
    for (const end of [authority < 0 ? rest.length : authority, space < 0 || (authority >= 0 && authority < space) ? -1 : space]) {
      if (end < 0) continue;
      const at = rest.lastIndexOf('@', end - 1);
      if (at > 0) out.add(rest.slice(0, at + 1));
    }
  }
  return [...out];
}

/**
 * One http(s) URL without its user info, read as the WHATWG URL parser reads it (the user info
 * is what comes before the last `@` of the authority, which ends at `/`, `?`, `#` or `\\`, any
 * other character included), the rest as written; another URL as {@link withoutUserInfo} gives it.
 */
export function urlWithoutUserInfo(url: string): string {
  const info = userInfoOf(url);
  return info === undefined ? withoutUserInfo(url) : `${url.slice(0, info.start)}${url.slice(info.at + 1)}`;
}

/** Where one http(s) URL's user info starts and its `@` is, as {@link urlWithoutUserInfo} reads them; undefined for none. */
function userInfoOf(url: string): { start: number; at: number } | undefined {
  const lead = url.length - url.trimStart().length;
  const scheme = HTTP_SCHEME.exec(url.slice(lead));
  if (scheme === null) return undefined;
  const start = lead + scheme[0].length;
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const c = url[i];
    if (c === '/' || c === '?' || c === '#' || c === '\\') {
      end = i;
      break;
    }
  }
  const at = url.lastIndexOf('@', end - 1);
  return at < start ? undefined : { start, at };
}
