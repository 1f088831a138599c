import { ProvenantError } from '../errors.ts';

/** How often and how patiently to retry a request that failed in a way that may pass. */
export interface RetryOptions {
  /** Tries in all, the first included. Default 5. */
  attempts: number;
  /** The delay before the first retry; each next one doubles (with jitter). Default 250 ms. */
  baseDelayMs: number;
  /** The longest backoff delay. Default 10 s. */
  maxDelayMs: number;
  /** The longest a `Retry-After` answer is waited for. Default 60 s. */
  maxRetryAfterMs?: number | undefined;
}

export const DEFAULT_RETRY: Required<RetryOptions> = { attempts: 5, baseDelayMs: 250, maxDelayMs: 10_000, maxRetryAfterMs: 60_000 };

/**
 * The delay before retry number `retry` (1 for the first): exponential, capped, with "full
 * jitter" between half and all of it, so that many clients that failed together do not retry
 * together (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 */
export function backoffDelay(retry: number, options: RetryOptions, random: () => number = Math.random): number {
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

/**
 * `Retry-After` (RFC 9110 §10.2.3): seconds, or an HTTP-date. Returns milliseconds from `now`,
 * capped at `cap`, or undefined when absent or unreadable.
 */
export function parseRetryAfter(value: string | null | undefined, now: number, cap: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Math.min(cap, Number(v) * 1000);
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.min(cap, Math.max(0, date - now));
}

/** Waits `ms`, or fails with ABORTED when `signal` fires first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 && !signal?.aborted) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new ProvenantError('ABORTED', 'the operation was cancelled', { cause: signal.reason }));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(new ProvenantError('ABORTED', 'the operation was cancelled', { cause: signal?.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

/**
 * True for failures of the connection rather than of the request: a reset, a refused or timed
 * out connection, "socket hang up", and undici's `fetch failed`/`terminated` wrappers (whose
 * `cause` holds the socket error). These are retried; a TLS certificate error is not.
 */
export function isNetworkError(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof ProvenantError) return e.code === 'NETWORK';
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      if (NETWORK_CODES.has(code)) return true;
      if (code.startsWith('ERR_TLS') || code.includes('CERT') || code === 'ENOTFOUND') return false;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && /socket hang up|other side closed|terminated|premature close/i.test(message)) return true;
    if (e instanceof TypeError && message === 'fetch failed' && (e as { cause?: unknown }).cause === undefined) return true;
  }
  return false;
}

/** A short, secret-free description of a network error (its code and message). */
export function describeNetworkError(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof code === 'string' && !parts.includes(code)) parts.push(code);
    else if (typeof message === 'string' && message !== 'fetch failed' && !parts.includes(message)) parts.push(message);
  }
  return parts.join(': ') || 'connection failed';
}
