// Shared helpers of the archive tests (not a test file itself).
import assert from 'node:assert/strict';
import { readTar, type TarHeader, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError, type ProvenantError } from '../../src/errors.ts';

/** A header with neutral defaults. */
export const hdr = tarHeader;

export const text = (s: string): Uint8Array => new TextEncoder().encode(s);

/** All bytes of a stream in one array. */
export async function collect(stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of stream) parts.push(c);
  return concat(parts);
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** `bytes` as an async stream cut at the given sizes (cycled), or in 1-byte chunks by default. */
export async function* chunked(bytes: Uint8Array, sizes: readonly number[] = [1]): AsyncGenerator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length]!);
    // A copy, so that a reader keeping a reference to an input chunk is caught by the tests.
    yield bytes.slice(at, at + n);
    at += n;
  }
}

/** Every entry of an archive with its body read in full. */
export async function readAll(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  where?: string,
): Promise<Array<{ header: TarHeader; body: Uint8Array }>> {
  const out: Array<{ header: TarHeader; body: Uint8Array }> = [];
  for await (const { header, body } of readTar(input, where === undefined ? {} : { where })) {
    out.push({ header, body: await collect(body) });
  }
  return out;
}

/** Asserts that `fn` rejects with a ProvenantError of one of `codes` and returns it. */
export async function rejectsWith(fn: () => Promise<unknown>, ...codes: string[]): Promise<ProvenantError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught !== undefined, `expected a ProvenantError ${codes.join(' or ')}, but nothing was thrown`);
  assert.ok(isProvenantError(caught), `expected a ProvenantError, got ${String((caught as Error)?.stack ?? caught)}`);
  assert.ok(codes.includes(caught.code), `expected code ${codes.join(' or ')}, got ${caught.code}: ${caught.message}`);
  return caught;
}

/** A string field of a header block. */
export function field(block: Uint8Array, at: number, len: number): string {
  const s = Buffer.from(block.subarray(at, at + len)).toString('latin1');
  const nul = s.indexOf('\0');
  return nul === -1 ? s : s.slice(0, nul);
}

/** Writes `value` into a header block (NUL-padded) and recomputes its checksum. */
export function setField(block: Uint8Array, at: number, len: number, value: string | Uint8Array): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  assert.ok(bytes.length <= len, 'value too long for the field');
  block.fill(0, at, at + len);
  block.set(bytes, at);
  fixChecksum(block);
}

/** Recomputes the checksum of a header block, as an unsigned or (old writers) signed sum. */
export function fixChecksum(block: Uint8Array, signed = false): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of block.subarray(0, 512)) sum += signed && b > 127 ? b - 256 : b;
  block.set(Buffer.from(`${Math.max(sum, 0).toString(8).padStart(6, '0')}\0 `, 'latin1'), 148);
}

/** Header offsets of the ustar fields. */
export const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;
