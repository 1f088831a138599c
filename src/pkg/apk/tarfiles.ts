/** Reading a small in-memory tar whole (apk's signature, control and data members), bodies included. */
import { readTar, type TarHeader } from '../../archive/tar.ts';
import { collectBytes } from '../../bytes.ts';

/** A tar member read whole into memory. */
export interface TarFile {
  /** The name as stored. */
  name: string;
  header: TarHeader;
  body: Uint8Array;
}

/**
 * Reads every member of an in-memory tar, bodies included. apk's signature and control members
 * are tars without the two closing zero blocks, which {@link readTar} accepts. Owners are read as
 * apk-tools reads them: from the ustar fields, PAX uid, gid, uname and gname records left
 * unapplied in `header.pax` (../../archive/tar-reader.ts).
 */
export async function tarFiles(data: Uint8Array, where: string): Promise<TarFile[]> {
  const out: TarFile[] = [];
  for await (const entry of readTar([data], { where, ownership: 'ustar' })) {
    out.push({ name: entry.header.name, header: entry.header, body: await collectBytes(entry.body) });
  }
  return out;
}
