/** Which compression a file or stream starts with, by its magic number. */

/** A compression an archive may come in, as `docker load` detects them. */
export type Compression = 'gzip' | 'zstd' | 'xz' | 'bzip2';

/** Bytes {@link compressionOf} looks at. */
export const MAGIC_BYTES = 10;

/**
 * The compression `first` (the first {@link MAGIC_BYTES} bytes, or fewer) starts with, or
 * undefined. The magic numbers are those moby's archive.DetectCompression checks: gzip (RFC 1952:
 * 1f 8b 08), zstd (RFC 8878 frame: 28 b5 2f fd), xz (fd 37 7a 58 5a 00) and bzip2 (`BZh`), the
 * last with its block size digit and the magic of its first block (or of its end, when empty) as
 * well, since `BZh` alone could begin a tar member's name: a tar archive starts with that name.
 */
export function compressionOf(first: Uint8Array): Compression | undefined {
  const starts = (magic: readonly number[]) => first.length >= magic.length && magic.every((b, i) => first[i] === b);
  if (starts([0x1f, 0x8b, 0x08])) return 'gzip';
  if (starts([0x28, 0xb5, 0x2f, 0xfd])) return 'zstd';
  if (starts([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])) return 'xz';
  const level = first[3] ?? 0;
  if (starts([0x42, 0x5a, 0x68]) && level >= 0x31 && level <= 0x39) {
    const block = first.subarray(4, 10);
    const is = (magic: readonly number[]) => block.length === 6 && magic.every((b, i) => block[i] === b);
    if (is([0x31, 0x41, 0x59, 0x26, 0x53, 0x59]) || is([0x17, 0x72, 0x45, 0x38, 0x50, 0x90])) return 'bzip2';
  }
  return undefined;
}

/** The command that decompresses a file of `compression` to standard output, for hints. */
export function decompressCommand(compression: Compression): string {
  if (compression === 'gzip') return 'gzip -dc';
  if (compression === 'zstd') return 'zstd -dc';
  if (compression === 'xz') return 'xz -dc';
  return 'bzip2 -dc';
}
