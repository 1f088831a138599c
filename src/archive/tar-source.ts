/** Bytes read in order for the tar reader: from a stream, or from a file on disk by offset. */
import type { FileHandle } from 'node:fs/promises';
import { ProvenantError } from '../errors.ts';
import { isWriteFailure } from '../io/write-failures.ts';

/** Bytes read in order, from a stream or a file. */
export interface Source {
  /** Bytes consumed so far. */
  readonly offset: number;
  /** Exactly `n` bytes, or fewer at the end of input. The result is only valid until the next call. */
  read(n: number): Promise<Uint8Array>;
  /** Up to `max` bytes (at least one), or undefined at the end of input. */
  chunk(max: number): Promise<Uint8Array | undefined>;
  /** Skips `n` bytes; returns how many there were. */
  skip(n: number): Promise<number>;
  close(): Promise<void>;
}

/** A failure of the input as `IO` (`NOT_FOUND` for a missing file); a ProvenantError as it is. */
export function ioError(err: unknown, where: string | undefined): ProvenantError {
  if (err instanceof ProvenantError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  // A source that writes what it gives as it goes (a package unpacked into a cache) failed at
  // its writing, and the archive is not to blame.
  if (isWriteFailure(err)) {
    return new ProvenantError('IO', `cannot write what the tar archive gave: ${message}`, { where, cause: err });
  }
  return new ProvenantError(code === 'ENOENT' ? 'NOT_FOUND' : 'IO', `cannot read the tar archive: ${message}`, { where, cause: err });
}

export class StreamSource implements Source {
  offset = 0;
  #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = new Uint8Array(0);
  #done = false;
  #where: string | undefined;

  constructor(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, where: string | undefined) {
    this.#it = Symbol.asyncIterator in input ? input[Symbol.asyncIterator]() : toAsync(input[Symbol.iterator]());
    this.#where = where;
  }

  async #fill(): Promise<boolean> {
    while (this.#buf.length === 0) {
      if (this.#done) return false;
      let r: IteratorResult<Uint8Array>;
      try {
        r = await this.#it.next();
      } catch (err) {
        this.#done = true;
        throw ioError(err, this.#where);
      }
      if (r.done) {
        this.#done = true;
        return false;
      }
      if (!(r.value instanceof Uint8Array)) {
        throw new ProvenantError('INVALID_ARCHIVE', `the tar input yielded a ${typeof r.value}, not bytes`, { where: this.#where });
      }
      this.#buf = r.value;
    }
    return true;
  }

  async chunk(max: number): Promise<Uint8Array | undefined> {
    if (!(await this.#fill())) return undefined;
    const n = Math.min(max, this.#buf.length);
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    this.offset += n;
    return out;
  }

  async read(n: number): Promise<Uint8Array> {
    if (!(await this.#fill())) return this.#buf.subarray(0, 0);
    if (this.#buf.length >= n) return (await this.chunk(n))!;
    const out = new Uint8Array(n);
    let got = 0;
    while (got < n) {
      const c = await this.chunk(n - got);
      if (c === undefined) break;
      out.set(c, got);
      got += c.length;
    }
    return out.subarray(0, got);
  }

  async skip(n: number): Promise<number> {
    let skipped = 0;
    while (skipped < n) {
      const c = await this.chunk(n - skipped);
      if (c === undefined) break;
      skipped += c.length;
    }
    return skipped;
  }

  async close(): Promise<void> {
    this.#done = true;
    try {
      await this.#it.return?.();
    } catch {
      // The input failed while being closed; the archive was already read or failed itself.
    }
  }
}

function toAsync<T>(it: Iterator<T>): AsyncIterator<T> {
  return {
    next: async () => it.next(),
    return: async () => it.return?.() ?? { done: true, value: undefined },
  };
}

/** Reads a file by position, so that skipping a body costs nothing. */
export class FileSource implements Source {
  offset = 0;
  #fh: FileHandle;
  #size: number;
  #where: string;

  constructor(fh: FileHandle, size: number, where: string) {
    this.#fh = fh;
    this.#size = size;
    this.#where = where;
  }

  async read(n: number): Promise<Uint8Array> {
    const want = Math.min(n, this.#size - this.offset);
    const out = new Uint8Array(Math.max(0, want));
    let got = 0;
    try {
      while (got < want) {
        const { bytesRead } = await this.#fh.read(out, got, want - got, this.offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
    } catch (err) {
      throw ioError(err, this.#where);
    }
    this.offset += got;
    return out.subarray(0, got);
  }

  async chunk(max: number): Promise<Uint8Array | undefined> {
    const c = await this.read(Math.min(max, 64 * 1024));
    return c.length === 0 ? undefined : c;
  }

  async skip(n: number): Promise<number> {
    const skipped = Math.max(0, Math.min(n, this.#size - this.offset));
    this.offset += skipped;
    return skipped;
  }

  async close(): Promise<void> {
    await this.#fh.close();
  }
}
