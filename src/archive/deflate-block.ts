/**
 * One block of the pinned gzip stream, compressed on its own and ended with a sync flush: the one
 * place compressed bytes are made, by the worker threads and the calling thread alike.
 */
import { ProvenantError } from '../errors.ts';
import { walkDeflate } from './deflate-walk.ts';
import { libdeflate } from './libdeflate.ts';

/**
 * Raw-deflates `data` on its own, ending with a sync flush (an empty stored block, 00 00 FF FF)
 * or, when `last`, finishing the stream. The one place the compressed bytes are made, by the
 * workers and by the calling thread alike. Returns a view at the start of a buffer of its own,
 * which may be a few bytes longer (a worker sends that buffer).
 */
export function deflateBlock(data: Uint8Array, level: number, last: boolean): Uint8Array {
  if (level === 0) return storedBlocks(data, last);
  // Room for the sync flush: at most a byte of padding and four of LEN and NLEN.
  const out = libdeflate().deflate(data, level, last ? 0 : 5);
  if (last) return out;
  let walked: { lastHeader: number; end: number };
  try {
    walked = walkDeflate(out);
  } catch (err) {
    throw new ProvenantError('IO', `libdeflate's output does not parse: ${(err as Error).message}`, { cause: err });
  }
  const { lastHeader, end } = walked;
  if ((end + 7) >> 3 !== out.length) {
    throw new ProvenantError('IO', `libdeflate's output ends at bit ${end} of ${out.length} bytes`);
  }
  // After the end-of-block code: the 3 header bits (BFINAL 0, BTYPE 00) of an empty stored block,
  // padding to a byte, LEN 0000 and NLEN FFFF.
  const aligned = (end + 3 + 7) >> 3;
  // The bytes after libdeflate's output are zero: the padding and LEN.
  const result = new Uint8Array(out.buffer, 0, aligned + 4);
  result[lastHeader >> 3]! &= ~(1 << (lastHeader & 7)); // BFINAL = 0
  if ((end & 7) !== 0) result[end >> 3]! &= (1 << (end & 7)) - 1; // header bits and padding: 0
  result[aligned + 2] = 0xff;
  result[aligned + 3] = 0xff;
  return result;
}

/** Level 0: stored blocks of at most 65535 bytes (RFC 1951 section 3.2.4), then a sync flush. */
function storedBlocks(data: Uint8Array, last: boolean): Uint8Array {
  const pieces = Math.max(1, Math.ceil(data.length / 65535));
  const out = new Uint8Array(data.length + 5 * pieces + (last ? 0 : 5));
  let at = 0;
  for (let i = 0; i < pieces; i++) {
    const piece = data.subarray(i * 65535, (i + 1) * 65535);
    out[at] = last && i === pieces - 1 ? 1 : 0;
    out[at + 1] = piece.length & 0xff;
    out[at + 2] = piece.length >> 8;
    out[at + 3] = ~piece.length & 0xff;
    out[at + 4] = (~piece.length >> 8) & 0xff;
    out.set(piece, at + 5);
    at += 5 + piece.length;
  }
  if (!last) out.set([0, 0, 0, 0xff, 0xff], at);
  return out;
}
