/**
 * The reads a layout makes to open it and answer a lookup (oci-layout, index.json, its stamp,
 * manifests), with Node's callback API rather than node:fs/promises: a command that only reads a
 * layout (`provenant digest`) then never loads fs/promises, its watchers and readline, about 2 ms
 * of its start (issue 16, "instant start").
 */
import type { BigIntStats } from 'node:fs';
import { ProvenantError } from '../errors.ts';

const fs = process.getBuiltinModule('node:fs');

type Done<T> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** The promise of a callback-style call. */
function call<T>(start: (done: Done<T>) => void): Promise<T> {
  return new Promise((resolve, reject) => start((err, value) => (err === null ? resolve(value) : reject(err))));
}

/** What tells one version of a file from another: inode, size, modification and change times. */
export function stampOf(s: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** The stamp of the file at `path`; errors (ENOENT) as Node gives them. */
export async function stampOfFile(path: string): Promise<string> {
  return stampOf(await call<BigIntStats>((done) => fs.stat(path, { bigint: true }, done)));
}

/** A whole file as UTF-8 text; errors (ENOENT) as Node gives them. */
export function readText(path: string): Promise<string> {
  return call<string>((done) => fs.readFile(path, 'utf8', done));
}

/**
 * Reads a file of at most `limit` bytes; a larger one is refused before it is read (a hostile
 * or broken index.json of hundreds of MB would otherwise be held in memory several times over).
 * ENOENT is thrown as is.
 */
export async function readCapped(
  path: string,
  limit: number,
  where: string,
  code: 'INVALID_MANIFEST' | 'INVALID_LAYOUT',
): Promise<Uint8Array> {
  return (await readCappedWithStamp(path, limit, where, code)).bytes;
}

/** {@link readCapped}, with the stamp of what was read. */
export async function readCappedWithStamp(
  path: string,
  limit: number,
  where: string,
  code: 'INVALID_MANIFEST' | 'INVALID_LAYOUT',
): Promise<{ bytes: Uint8Array; stamp: string }> {
  const fd = await call<number>((done) => fs.open(path, 'r', done));
  try {
    const s = await call<BigIntStats>((done) => fs.fstat(fd, { bigint: true }, done));
    const tooLarge = (size: bigint | number) =>
      new ProvenantError(code, `${path.slice(path.lastIndexOf('/') + 1)} is ${size} bytes, more than the limit of ${limit}`, {
        where,
        hint: 'manifests, indexes, configs and index.json are capped at 4 MiB (MANIFEST_LIMIT), as registries cap manifests',
      });
    if (s.size > BigInt(limit)) throw tooLarge(s.size);
    // One byte more than the size: a file that grew meanwhile shows it.
    const buf = Buffer.allocUnsafe(Number(s.size) + 1);
    let n = 0;
    while (n < buf.length) {
      const bytesRead = await call<number>((done) => fs.read(fd, buf, n, buf.length - n, n, done));
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > limit) throw tooLarge(n);
    return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, n), stamp: stampOf(s) };
  } finally {
    await call<void>((done) => fs.close(fd, (err) => done(err ?? null, undefined)));
  }
}
