/**
 * Archives: a deterministic streaming tar writer, a streaming tar reader, random access into tar
 * files on disk, lexical path checks for entry names, and gzip.
 *
 * @module
 */

/**
 * Reproducible gzip: {@link pinnedGzip} and {@link pinnedGzipBytes} give the same bytes on every
 * machine and Node version (libdeflate compiled to WebAssembly, pinned by hash; pigz's block scheme, in worker threads).
 */
export {
  PINNED_GZIP_BLOCK_SIZE,
  PINNED_GZIP_LEVEL,
  type PinnedGzipOptions,
  pinnedGzip,
  pinnedGzipBytes,
} from './deflate.ts';
/** Gzip transforms and detection: {@link gunzip} (multi-member aware), {@link gzip}, {@link isGzip}. */
export { type GzipOptions, gunzip, gzip, isGzip } from './gzip.ts';
/** {@link cleanEntryPath}: the lexical check every entry name passes before it touches a folder. */
export { cleanEntryPath } from './paths.ts';
/**
 * Tar: {@link writeTar} and {@link tarBytes} write, {@link readTar} reads a stream,
 * {@link scanTarFile}, {@link indexTarFile} and {@link openTarMember} read a file on disk in place.
 */
export {
  indexTarFile,
  openTarMember,
  type ReadTarOptions,
  readTar,
  scanTarFile,
  type TarEntry,
  type TarEntryType,
  type TarHeader,
  type TarIndexEntry,
  type TarWriteEntry,
  tarBytes,
  tarHeader,
  writeTar,
} from './tar.ts';
/** {@link TarView}: a tar file's members read in place, links resolved inside the archive only. */
export { TarView, type TarViewFile, type TarViewOptions } from './view.ts';
