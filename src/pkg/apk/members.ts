/**
 * The gzip members of an apk file or APKINDEX.tar.gz, with the compressed bytes of each.
 *
 * apk signs and hashes *compressed* bytes: the signature covers the control member of a package
 * (or everything after the signature member of an index), the `Q1` checksum is the SHA-1 of the
 * compressed control member and `datahash` the SHA-256 of the compressed data member. So a reader
 * has to know where each member starts and ends, which a multi-member gunzip hides.
 */
import { crc32, createInflateRaw, inflateRawSync } from 'node:zlib';
import { isProvenantError, ProvenantError } from '../../errors.ts';

/** One gzip member: where it lies in the file and what it holds. */
export interface GzipMember {
  /** Offset of the member's first byte (the gzip magic) in the file. */
  start: number;
  /** Offset just past the member's trailer. */
  end: number;
  /** The member's compressed bytes, header and trailer included (a view into the file). */
  compressed: Uint8Array;
  /** The decompressed contents. */
  data: Uint8Array;
}

/** Options of {@link splitGzipMembers}. */
export interface SplitOptions {
  /** Where the bytes come from, for errors. */
  where?: string | undefined;
  /** Stop after this many members; the last one returned then extends to wherever it ends. */
  maxMembers?: number;
  /**
   * The most all members together may inflate to, a bound the caller picks for what it reads
   * (one of the constants below): a member's end is only found by inflating it, before anything
   * vouches for it, and a few KiB of gzip inflate to gigabytes.
   */
  maxOutput: number;
  /** What the caller inflated already of what `maxOutput` bounds (a first member it read alone). */
  inflated?: number | undefined;
  /** What the members are, for errors: `the control member`. */
  what?: string | undefined;
}

/**
 * The signature member of an APKINDEX.tar.gz: a tar of `.SIGN.*` entries, a header and an RSA
 * signature each (about 1.5 KiB a key). 1 MiB is hundreds of keys; it is inflated before the
 * signature over the rest is checked.
 */
export const SIGNATURE_MAX = 1024 * 1024;
/**
 * A package's signature or control member: `.PKGINFO` (tens of KiB for a package providing
 * thousands of `so:` and `cmd:` names) and its install scripts, read into memory before the
 * checksum or signature over its compressed bytes can be checked (its end is where inflating
 * stops). 16 MiB is over a hundred times the largest seen.
 */
export const CONTROL_MAX = 16 * 1024 * 1024;
/**
 * An APKINDEX.tar.gz's content, inflated in pieces and counted as it comes (./apkindex.ts,
 * readIndexText). The counts bound what parsing holds, not the text: one line may be any length,
 * so the text needs a cap of its own, and what the counts allow sets it. Real indexes take 390
 * bytes a package (Alpine v3.16 main, x86_64: 1,908,830 bytes for 4,929 packages; v3.17 main,
 * aarch64: 1,949,859 for 5,004), so the {@link INDEX_ENTRIES_MAX} packages an index may list take
 * 186 MiB of such text; 256 MiB is that and a third more, and 2.7 KiB a package for an index of
 * 100,000 (Wolfi's, the largest known, lists fewer and takes tens of MiB). The 512 MiB this was
 * (the most V8 can decode into one string) let a signed index of 499,000 packages of 1 KiB each
 * peak at 2.8 GB.
 */
export const INDEX_MAX = 256 * 1024 * 1024;
/**
 * The packages (stanzas with a `P:` line) one APKINDEX may list. Each costs about 2 KiB of memory once read (a
 * build of a signed index of 1,000,000 stanzas of 92 bytes peaked at 2.1 GB), so the 5.5 million
 * that fit under the 512 MiB {@link INDEX_MAX} was ran the heap out after minutes. 500,000 cost
 * about 1 GB; Wolfi's index, the largest known, lists under a fifth of that.
 */
export const INDEX_ENTRIES_MAX = 500_000;
/**
 * The names one APKINDEX may list in its `D:`, `p:`, `i:` and `r:` fields, all stanzas together.
 * Each costs about 190 bytes once read (100,000 stanzas providing 100 names each peaked at 2.0 GB),
 * so 5,000,000 cost about 1 GB; a real stanza lists a few to a few hundred.
 */
export const INDEX_NAMES_MAX = 5_000_000;
/**
 * A package's data members, inflated once `datahash` (over their compressed bytes) has been
 * checked: the largest packages (toolchains, models) unpack to a few GiB.
 */
export const DATA_MAX = 4 * 1024 * 1024 * 1024;

const FTEXT_MASK = 0xe0; // reserved flag bits: must be zero (RFC 1952, 2.3.1)

/**
 * Splits `bytes` into its gzip members, checking each member's CRC-32 and length trailer.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when the bytes are not a sequence of gzip members,
 *   `TRUNCATED` when the last member is cut short, `TOO_LARGE` when they inflate to more than
 *   `options.maxOutput` (found without inflating more than that)
 */
export function splitGzipMembers(bytes: Uint8Array, options: SplitOptions): GzipMember[] {
  return split(bytes, options, (n, off) => `gzip member ${n} at byte ${off}`);
}

/** {@link splitGzipMembers}, naming a member in errors by `label` (its number from 1 and offset in `bytes`). */
function split(bytes: Uint8Array, options: SplitOptions, label: (n: number, off: number) => string): GzipMember[] {
  const { where, maxOutput } = options;
  const members: GzipMember[] = [];
  let off = 0;
  let total = options.inflated ?? 0;
  while (off < bytes.length && members.length < (options.maxMembers ?? Number.POSITIVE_INFINITY)) {
    const p = headerEnd(bytes, off, label(members.length + 1, off), where);
    let inflated: { buffer: Buffer; engine: { bytesWritten: number } };
    try {
      inflated = inflateRawSync(bytes.subarray(p), { info: true, maxOutputLength: Math.max(1, maxOutput - total) }) as unknown as {
        buffer: Buffer;
        engine: { bytesWritten: number };
      };
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === 'Z_BUF_ERROR') {
        throw new ProvenantError('TRUNCATED', `${label(members.length + 1, off)} ends early`, { where, cause: err });
      }
      if (code === 'ERR_BUFFER_TOO_LARGE') throw inflatesTooMuch(options.what ?? label(members.length + 1, off), maxOutput, where);
      throw new ProvenantError('INVALID_PACKAGE', `${label(members.length + 1, off)} is corrupt: ${(err as Error).message}`, { where });
    }
    const data = new Uint8Array(inflated.buffer.buffer, inflated.buffer.byteOffset, inflated.buffer.byteLength);
    const end = checkedTrailer(bytes, p + inflated.engine.bytesWritten, crc32(data), data.length, label(members.length + 1, off), where);
    total += data.length;
    members.push({ start: off, end, compressed: bytes.subarray(off, end), data });
    off = end;
  }
  return members;
}

/**
 * Checks the trailer of a member whose deflate stream ended at byte `trailer`: the CRC-32 and
 * length of what it inflated to; gives where the member ends.
 *
 * @throws ProvenantError `TRUNCATED` when the bytes end before the trailer, `INVALID_PACKAGE` when it disagrees
 */
function checkedTrailer(bytes: Uint8Array, trailer: number, crc: number, length: number, label: string, where: string | undefined): number {
  if (trailer + 8 > bytes.length) throw new ProvenantError('TRUNCATED', `${label} has no trailer`, { where });
  const view = new DataView(bytes.buffer, bytes.byteOffset + trailer, 8);
  if (view.getUint32(0, true) !== crc >>> 0) throw new ProvenantError('INVALID_PACKAGE', `${label} fails its CRC-32 check`, { where });
  if (view.getUint32(4, true) !== length % 2 ** 32) {
    throw new ProvenantError('INVALID_PACKAGE', `${label} has a wrong length in its trailer`, { where });
  }
  return trailer + 8;
}

/** `TOO_LARGE` for members that inflate past `maxOutput`: `what` names them. */
function inflatesTooMuch(what: string, maxOutput: number, where: string | undefined): ProvenantError {
  return new ProvenantError('TOO_LARGE', `${what} inflates to more than ${maxOutput} bytes`, {
    where,
    hint: 'the file is not what it claims to be (a gzip bomb), or far larger than any real one',
  });
}

/**
 * Where the deflate stream of the gzip member at byte `off` of `bytes` starts: past its header.
 *
 * @throws ProvenantError `INVALID_PACKAGE` when no gzip header is there, `TRUNCATED` when the
 *   bytes end inside it
 */
function headerEnd(bytes: Uint8Array, off: number, label: string, where: string | undefined): number {
  const bad = (why: string): ProvenantError => new ProvenantError('INVALID_PACKAGE', `${label} ${why}`, { where });
  if (bytes.length - off < 18) throw new ProvenantError('TRUNCATED', `${label} is cut short`, { where });
  if (bytes[off] !== 0x1f || bytes[off + 1] !== 0x8b || bytes[off + 2] !== 8) throw bad('does not start with a gzip header');
  const flags = bytes[off + 3] ?? 0;
  if ((flags & FTEXT_MASK) !== 0) throw bad('sets reserved header flags');
  let p = off + 10;
  if (flags & 0x04) p += 2 + ((bytes[p] ?? 0) | ((bytes[p + 1] ?? 0) << 8)); // FEXTRA
  for (const flag of [0x08, 0x10]) {
    // FNAME, FCOMMENT: zero-terminated
    if (flags & flag) {
      while (p < bytes.length && bytes[p] !== 0) p++;
      p++;
    }
  }
  if (flags & 0x02) p += 2; // FHCRC
  if (p >= bytes.length) throw new ProvenantError('TRUNCATED', `${label} has a header cut short`, { where });
  return p;
}

/**
 * The gzip member that starts at byte `from` of `bytes`, its offsets in `bytes`; undefined when
 * `from` is the end.
 *
 * @throws ProvenantError as {@link splitGzipMembers}
 */
export function gzipMemberAt(bytes: Uint8Array, from: number, options: Omit<SplitOptions, 'maxMembers'>): GzipMember | undefined {
  // Errors give the member's offset in `bytes`, not in the slice read.
  const [m] = split(bytes.subarray(from), { ...options, maxMembers: 1 }, (_, off) => `the gzip member at byte ${off + from}`);
  return m === undefined ? undefined : { ...m, start: m.start + from, end: m.end + from };
}

/** Bytes {@link inflateMembers} inflates at a time. */
const PIECE = 256 * 1024;

/**
 * The contents of the gzip members of `bytes`, one after the other, inflated a piece of at most
 * 256 KiB at a time: what {@link splitGzipMembers} gives, joined, without holding it whole, so that
 * a reader can refuse what it reads before the rest is inflated. Each member's CRC-32 and length
 * are checked when its last piece has been given, before the next member's first: the pieces are
 * not vouched for until the generator ends.
 *
 * @throws ProvenantError as {@link splitGzipMembers}
 */
export async function* inflateMembers(
  bytes: Uint8Array,
  options: Omit<SplitOptions, 'maxMembers'> & {
    /** Where `bytes` begin in their file, for errors: the first member's number and byte (1 and 0 unless given). */
    from?: { member: number; byte: number } | undefined;
  },
): AsyncGenerator<Uint8Array> {
  const { where, maxOutput } = options;
  const from = options.from ?? { member: 1, byte: 0 };
  let total = options.inflated ?? 0;
  for (let off = 0, n = from.member; off < bytes.length; n++) {
    const label = `gzip member ${n} at byte ${from.byte + off}`;
    const p = headerEnd(bytes, off, label, where);
    const inflater = createInflateRaw({ chunkSize: PIECE });
    inflater.end(bytes.subarray(p));
    let crc = 0;
    let length = 0;
    try {
      for await (const piece of inflater as AsyncIterable<Buffer>) {
        total += piece.length;
        if (total > maxOutput) throw inflatesTooMuch(options.what ?? label, maxOutput, where);
        length += piece.length;
        crc = crc32(piece, crc);
        yield piece;
      }
    } catch (err) {
      if (isProvenantError(err)) throw err;
      if ((err as { code?: string }).code === 'Z_BUF_ERROR') {
        throw new ProvenantError('TRUNCATED', `${label} ends early`, { where, cause: err });
      }
      throw new ProvenantError('INVALID_PACKAGE', `${label} is corrupt: ${(err as Error).message}`, { where, cause: err });
    } finally {
      inflater.destroy();
    }
    off = checkedTrailer(bytes, p + inflater.bytesWritten, crc, length, label, where);
  }
}
