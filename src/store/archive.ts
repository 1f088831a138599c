import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, rename, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { cleanEntryPath } from '../archive/paths.ts';
import { readTar, tarHeader, writeTar } from '../archive/tar.ts';
import { ProvenantError } from '../errors.ts';
import { LayoutStore } from './layout.ts';

/**
 * `oci-archive:FILE`: an OCI image layout in a tar file, as skopeo and BuildKit write them.
 *
 * The archive is unpacked (every name contained) into a private temporary layout, which is
 * read and changed there; with `write`, `close()` packs it into a new file that replaces the
 * old one by rename, so the archive is either the old one or the whole new one, never half.
 * The temporary folder is removed on close.
 */
export async function openOciArchive(path: string, options: { write?: boolean } = {}): Promise<LayoutStore & { close(): Promise<void> }> {
  const exists = await stat(path).then(
    () => true,
    () => false,
  );
  if (!exists && !options.write) {
    throw new ProvenantError('NOT_FOUND', `no archive at ${path}`, { where: `oci-archive:${path}` });
  }
  const work = await mkdtemp(join(tmpdir(), 'provenant-archive-'));
  const layoutDir = join(work, 'layout');
  try {
    if (exists) await unpack(path, layoutDir);
    const store = await LayoutStore.open(layoutDir, { create: !exists });
    return withPackOnClose(store, path, work, options.write === true);
  } catch (err) {
    await rm(work, { recursive: true, force: true });
    throw err;
  }
}

/** Unpacks a tar of plain files and folders into `dir`, refusing names that would leave it. */
export async function unpack(archive: string, dir: string, kind = 'oci-archive'): Promise<void> {
  await mkdir(dir, { recursive: true });
  const where = `${kind}:${archive}`;
  let entries = 0;
  for await (const { header, body } of readTar(createReadStream(archive), { where })) {
    entries++;
    // Only what an OCI layout holds is taken, and every name is contained in the folder.
    const name = cleanEntryPath(header.name, `${where}: ${header.name}`);
    if (header.type === 'dir') {
      await mkdir(join(dir, name), { recursive: true });
      continue;
    }
    if (header.type === 'symlink' || header.type === 'hardlink') {
      // docker save (and skopeo) link repeated layers to one file. A link is kept only when its
      // target, taken lexically, stays inside the folder; each link in a chain is checked so.
      const base = header.type === 'symlink' ? dirname(name) : '.';
      const target = cleanEntryPath(join(base, header.linkname), `${where}: ${header.name} -> ${header.linkname}`);
      await mkdir(dirname(join(dir, name)), { recursive: true });
      await symlink(relative(dirname(join(dir, name)), join(dir, target)), join(dir, name));
      continue;
    }
    if (header.type !== 'file') {
      throw new ProvenantError('INVALID_ARCHIVE', `unexpected ${header.type} entry ${header.name} in the archive`, { where });
    }
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await pipeline(Readable.from(body), createWriteStream(join(dir, name)));
  }
  if (entries === 0) throw new ProvenantError('INVALID_ARCHIVE', 'the archive is empty', { where });
}

function withPackOnClose(store: LayoutStore, path: string, work: string, write: boolean): LayoutStore {
  const close = store.close.bind(store);
  store.close = async () => {
    try {
      await close();
      if (write) await packDirectory(join(work, 'layout'), path);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  };
  return store;
}

/** Packs a folder into a deterministic tar (sorted names, zero times and owners), atomically. */
export async function packDirectory(dir: string, archive: string): Promise<void> {
  const files = await listFiles(dir);
  const tmp = `${archive}.tmp-${randomBytes(6).toString('hex')}`;
  async function* entries() {
    for (const f of files) {
      const s = await stat(join(dir, f));
      yield { header: tarHeader({ name: f, size: s.size }), body: createReadStream(join(dir, f)) as AsyncIterable<Uint8Array> };
    }
  }
  try {
    await pipeline(Readable.from(writeTar(entries())), createWriteStream(tmp));
    await rename(tmp, archive);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err instanceof ProvenantError ? err : new ProvenantError('IO', (err as Error).message, { where: archive, cause: err });
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile() && !e.name.includes('.tmp-')) out.push(relative(dir, p));
    }
  };
  await walk(dir);
  // oci-layout first, as skopeo and BuildKit write it; then by name.
  return out.sort((a, b) => (a === 'oci-layout' ? -1 : b === 'oci-layout' ? 1 : a < b ? -1 : a > b ? 1 : 0));
}
