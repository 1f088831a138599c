/**
 * Tar, as one import: the deterministic writer (tar-writer.ts), the streaming reader and the
 * in-place reading of files on disk (tar-reader.ts), and the header model they share.
 */
export type { ReadTarOptions, TarEntry, TarEntryType, TarHeader, TarIndexEntry, TarWriteEntry } from './tar-format.ts';
export { isXattrKey, TAR_ENTRY_TYPES, XATTR_PREFIX } from './tar-format.ts';
export { indexTarFile, openTarMember, readTar, scanTarFile } from './tar-reader.ts';
export { tarBytes, tarHeader, tarHeaderBytes, writeTar } from './tar-writer.ts';
