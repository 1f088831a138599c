/**
 * The reads a layout makes to open it and answer a lookup (oci-layout, index.json, its stamp,
 * manifests): small files, capped at 4 MiB, read with Node's synchronous calls behind the
 * promises the store expects. Not node:fs/promises: a command that only reads a layout
 * (`provenant digest`) then never loads fs/promises, its watchers and readline, about 2 ms of its
 * start; and not the callback calls either: the first of those starts libuv's thread pool, about
 * 5 million instructions and 1 to 1.5 ms of a start that needs no thread (issue 16, "instant
 * start"). A read blocks the event loop while the disk gives at most 4 MiB (a copy from the
 * page cache, usually; a cold or network disk takes longer), as Node's own module loading does.
 */
import type { BigIntStats } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { ProvenantError } from '../errors.ts';
import { isWithin, openRegularFile as openRegular, RefusedFile } from '../io/files.ts';

const fs = process.getBuiltinModule('node:fs');

/**
 * `join(dir, ...names)` for names that are each one path segment (an algorithm, a digest's hex,
 * `index.json`): when `dir` is already normal (not empty, no `.` or `..` segment, no `//`, no
 * trailing `/`), that is `dir/name/...` as it stands, made without node:path. Node's join
 * normalises the whole path in JavaScript, calling a helper for every character; the three
 * paths `digest` makes of a layout (oci-layout, index.json read, index.json stamped) were,
 * added to Node's own resolution of the CLI's modules, enough calls for V8 to optimise that
 * helper with Maglev in most runs: 1.4 million instructions of a 14 million start over Node's
 * (issue 16, "instant start"). Any other path goes through join, so the result is always join's.
 */
export function pathIn(dir: string, ...names: string[]): string {
  let normal =
    names.length > 0 &&
    sep === '/' &&
    dir !== '' &&
    !dir.endsWith('/') &&
    !dir.startsWith('.') &&
    !dir.includes('/.') &&
    !dir.includes('//');
  for (const n of names) normal &&= n !== '' && n !== '.' && n !== '..' && !n.includes('/');
  return normal ? `${dir}/${names.join('/')}` : join(dir, ...names);
}

/**
 * What tells one version of a file from another: inode, size, modification and change times
 * (index.json, which a writer may change in place; a cache's blobs, which are hard-linked into
 * layouts, are told apart without the change time: ../io/files.ts fileVersion).
 */
export function stampOf(s: { ino: bigint; size: bigint; mtimeNs: bigint; ctimeNs: bigint }): string {
  return `${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}

/** The stamp of the file at `path`; errors (ENOENT) as Node gives them. */
export async function stampOfFile(path: string): Promise<string> {
  return stampOf(fs.statSync(path, { bigint: true }));
}

/**
 * Reads a file of at most `limit` bytes; a larger one is refused before it is read (a hostile
 * or broken index.json of hundreds of MB would otherwise be held in memory several times over),
 * and anything but a regular file is refused before it is read (a FIFO would block the process
 * for good: it is opened without waiting for a writer). ENOENT is thrown as is.
 */
export async function readCapped(
  path: string,
  limit: number,
  where: string,
  code: 'INVALID_MANIFEST' | 'INVALID_LAYOUT',
  options: ReadCappedOptions = {},
): Promise<Uint8Array> {
  return (await readCappedWithStamp(path, limit, where, code, options)).bytes;
}

/** Options of {@link readCapped}. */
export interface ReadCappedOptions {
  /**
   * The file must be in its folder once links are resolved (a layout's index.json and
   * oci-layout): a link out of it is refused before a byte is read (see {@link openInFolder}).
   */
  inFolder?: boolean | undefined;
}

/** {@link readCapped}, with the stamp of what was read. */
export async function readCappedWithStamp(
  path: string,
  limit: number,
  where: string,
  code: 'INVALID_MANIFEST' | 'INVALID_LAYOUT',
  options: ReadCappedOptions = {},
): Promise<{ bytes: Uint8Array; stamp: string }> {
  const { fd, stat: s } = openRegularFile(path, where, code, options);
  try {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const tooLarge = (size: bigint | number) =>
      new ProvenantError(code, `${name} is ${size} bytes, more than the limit of ${limit}`, {
        where,
        hint: 'manifests, indexes, configs and index.json are capped at 4 MiB (MANIFEST_LIMIT), as registries cap manifests',
      });
    if (s.size > BigInt(limit)) throw tooLarge(s.size);
    // One byte more than the size: a file that grew meanwhile shows it.
    const buf = Buffer.allocUnsafe(Number(s.size) + 1);
    let n = 0;
    while (n < buf.length) {
      const bytesRead = fs.readSync(fd, buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
    }
    if (n > limit) throw tooLarge(n);
    return { bytes: new Uint8Array(buf.buffer, buf.byteOffset, n), stamp: stampOf(s) };
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Opens `path` to read, and refuses it unless it is a regular file (see ../io/files.ts's
 * `openRegularFile`): a named pipe in a crafted layout's place of a blob or index.json would
 * block the process for good. The caller closes the descriptor. ENOENT is thrown as is.
 *
 * @throws ProvenantError `code` for a pipe, a device, a folder; `UNSAFE_PATH` (see `inFolder`)
 */
export function openRegularFile(
  path: string,
  where: string,
  code: 'INVALID_MANIFEST' | 'INVALID_LAYOUT',
  options: ReadCappedOptions = {},
): { fd: number; stat: BigIntStats } {
  try {
    return openRegular(path, options.inFolder === true ? (p, flags) => openInFolder(p, flags, where) : undefined);
  } catch (err) {
    if (!(err instanceof RefusedFile)) throw err;
    const name = path.slice(path.lastIndexOf('/') + 1);
    throw new ProvenantError(code, `${name} is not a regular file`, {
      where,
      hint: 'an OCI layout holds its index.json, oci-layout and blobs as regular files',
    });
  }
}

/**
 * Opens `path`, refusing it when it is a link that leads out of its folder. A crafted layout's
 * `index.json -> /home/me/.config/x.json` was read, and the errors about what it held quoted
 * its values (a media type, a digest) to whoever sees the command's output, a CI log maybe.
 * Opened with O_NOFOLLOW first, so a file that is no link (every layout Provenant and other
 * tools write) costs no more than before; only a link is resolved and checked. Links within
 * the folder are followed, as a blob's are.
 *
 * @throws ProvenantError `UNSAFE_PATH` naming where the link leads; errors as Node gives them
 */
function openInFolder(path: string, flags: number, where: string): number {
  try {
    return fs.openSync(path, flags | fs.constants.O_NOFOLLOW);
  } catch (err) {
    // ELOOP: the last part is a link (EMLINK on FreeBSD); anything else is thrown as it is.
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'EMLINK') throw err;
  }
  const target = fs.realpathSync(path);
  const folder = fs.realpathSync(dirname(path));
  if (target === folder || !isWithin(folder, target)) {
    const name = path.slice(path.lastIndexOf('/') + 1);
    throw new ProvenantError('UNSAFE_PATH', `${name} is a link to ${target}, outside the layout`, {
      where,
      hint: `a layout's ${name} is a file of its own; copy the file there instead of linking it`,
    });
  }
  return fs.openSync(target, flags);
}
