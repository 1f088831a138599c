/**
 * Byte helpers every module shares: joining arrays, reading a stream whole, UTF-8 both ways, and
 * outside text made printable.
 */

/** Joins byte arrays into one (of `total` bytes when the caller already counted them). */
export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  const out = new Uint8Array(total ?? parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Reads a stream of chunks into one array; a single chunk comes back as it is, without a copy. */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return parts.length === 1 ? parts[0]! : concatBytes(parts);
}

const encoder = new TextEncoder();
const lenient = new TextDecoder('utf-8');
const strict = new TextDecoder('utf-8', { fatal: true });
const exact = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The UTF-8 bytes of `text`. */
export function encodeUtf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * The UTF-8 length of `text` when it may exceed `limit` bytes, else its UTF-16 length (no more
 * than the UTF-8 one, and a UTF-16 unit is at most 3 bytes): a path checked against PATH_MAX is
 * then counted only when it may be too long.
 */
export function utf8LengthAbove(text: string, limit: number): number {
  return text.length * 3 <= limit ? text.length : Buffer.byteLength(text, 'utf8');
}

/** At most the first 120 characters of `text`, and how long it is when it is longer: what an error shows of a name. */
export function abbreviated(text: string): string {
  return text.length <= 160 ? text : `${text.slice(0, 120)}... (${text.length} characters)`;
}

/**
 * The text of UTF-8 `bytes` (a leading byte order mark dropped). Malformed sequences become
 * U+FFFD, or with `fatal` throw a TypeError: documents whose bytes are digested must be strict.
 */
export function decodeUtf8(bytes: Uint8Array, fatal = false): string {
  return (fatal ? strict : lenient).decode(bytes);
}

/**
 * The text of UTF-8 `bytes` exactly, a leading byte order mark kept; undefined when they are not
 * UTF-8. For names (a tar entry's path): the text encodes back to the same bytes, so two names
 * that differ stay two, where {@link decodeUtf8} would make `\xff` and `\xfe` both U+FFFD, and
 * `\uFEFFa` and `a` one name.
 */
export function decodeUtf8Exact(bytes: Uint8Array): string | undefined {
  try {
    return exact.decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * Bytes for a message: printable ASCII as it is, any other byte as `\xNN`, quoted. Bytes that are
 * no text (a header that is no header, a certificate extension that is not UTF-8) would otherwise
 * reach the terminal raw, or two different values read alike.
 */
export function quotedBytes(bytes: Uint8Array): string {
  let s = '';
  for (const c of bytes) {
    if (c === 0x22 || c === 0x5c) s += `\\${String.fromCharCode(c)}`;
    else if (c >= 0x20 && c < 0x7f) s += String.fromCharCode(c);
    else s += `\\x${c.toString(16).padStart(2, '0')}`;
  }
  return `"${s}"`;
}

/**
 * A size for people, in binary units (KiB, MiB, GiB, TiB), exact below 1 KiB: with one decimal
 * (`fixed`, for aligned listings), or one decimal below 10 and whole numbers above (`short`).
 */
export function formatBytes(n: number, precision: 'fixed' | 'short' = 'fixed'): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${precision === 'fixed' || v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/**
 * Bytes built in blocks, part by part: for a large file of many lines (apk's
 * installed database, a line or three per file of the image), where a string per line, a joined
 * string per block and the whole text as a string, then encoded, were each made and dropped at
 * once; and for binary records (a kept package's index, ./pkg/unpacked-index.ts).
 */
export class ByteBuilder {
  /**
   * The blocks filled so far, and the one being filled: blocks are added, never copied into a
   * larger one, since the earlier copies of a doubling buffer were as much again as the bytes
   * (apk's installed database of a 30,000-file image is a few MB), left for V8 to collect.
   */
  readonly #full: Buffer[] = [];
  #buf = Buffer.alloc(64 * 1024);
  #at = 0;
  #length = 0;

  /** How many bytes have been added. */
  get length(): number {
    return this.#length;
  }

  /** Makes room for `n` more bytes in the block being filled. */
  #room(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    if (this.#at > 0) this.#full.push(this.#buf.subarray(0, this.#at));
    this.#buf = Buffer.alloc(Math.max(64 * 1024, n));
    this.#at = 0;
  }

  /** Appends `text`, encoded as UTF-8. */
  append(text: string): void {
    // A UTF-16 unit is at most 3 bytes of UTF-8 (a surrogate pair, two units, is 4).
    this.#room(3 * text.length);
    const n = this.#buf.write(text, this.#at, 'utf8');
    this.#at += n;
    this.#length += n;
  }

  /** Appends one byte. */
  byte(b: number): void {
    this.#room(1);
    this.#buf[this.#at++] = b;
    this.#length++;
  }

  /** Appends `bytes` as they are. */
  raw(bytes: Uint8Array): void {
    this.#room(bytes.length);
    this.#buf.set(bytes, this.#at);
    this.#at += bytes.length;
    this.#length += bytes.length;
  }

  /**
   * Drops what was added, keeping the block being filled for what comes next: a builder used
   * for one part after another (a package's lines of a database) then makes no block per part.
   */
  clear(): void {
    this.#full.length = 0;
    this.#at = 0;
    this.#length = 0;
  }

  /** The bytes added so far, in an array of their own size. */
  bytes(): Uint8Array {
    const out = new Uint8Array(this.#length);
    let at = 0;
    for (const b of this.#full) {
      out.set(b, at);
      at += b.length;
    }
    out.set(this.#buf.subarray(0, this.#at), at);
    return out;
  }
}

/**
 * Characters that change how text looks without showing as themselves: DEL and the C1 controls
 * (CSI U+009B and OSC U+009D start terminal sequences as `ESC [` and `ESC ]` do), and Unicode's
 * invisible format characters: the soft hyphen, zero-width space and joiners, the left-to-right
 * and right-to-left marks (U+200B-200F), bidirectional embeddings and overrides (U+202A-202E) and
 * isolates (U+2066-2069), the byte order mark; and the other characters that show as nothing or
 * as a blank (Unicode's Default_Ignorable_Code_Point and its fillers): the combining grapheme
 * joiner, the Arabic letter mark, the Hangul and Khmer fillers, Mongolian selectors, word
 * joiner and invisible operators (U+2060-2064), the deprecated format controls (U+206A-206F),
 * variation selectors, interlinear annotation, tag characters (U+E0000-E007F), and the line and
 * paragraph separators, which some terminals and editors break lines at. With those,
 * `sha256:abc` and `sha256:a\u200bbc`, or a name and its reversal, look alike
 * (https://trojansource.codes).
 */
const HIDDEN =
  '\\u007f-\\u009f\\u00ad\\u034f\\u061c\\u115f\\u1160\\u17b4\\u17b5\\u180b-\\u180f\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u2064\\u2066-\\u206f' +
  '\\u3164\\ufe00-\\ufe0f\\ufeff\\uffa0\\ufff0-\\ufffb\\u{e0000}-\\u{e0fff}';
/** Every C0 control, so that a field stays on its line. */
const NOT_IN_LINE = new RegExp(`[\\u0000-\\u001f${HIDDEN}]`, 'gu');
/** C0 controls but tab and newline: text meant to have lines. */
const NOT_IN_TEXT = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f${HIDDEN}]`, 'gu');

/** `\uXXXX` for each UTF-16 unit of `c` (two for a character past U+FFFF, as JSON writes it). */
function escapeChar(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/**
 * Outside text (a tag, a path or package name in an image, a registry's message) for one field of
 * one printed line: every control character, newline, carriage return and tab included, DEL, C1
 * and the invisible ones of {@link HIDDEN}, written as a `\uXXXX` escape (valid in JSON too). A newline
 * left raw would let the text print a line of its own, such as a fake "verified" line.
 */
export function printableLine(text: string): string {
  return text.replace(NOT_IN_LINE, escapeChar);
}

/** As {@link printableLine}, but newline and tab stay: for text meant to have lines (a file's text diff). */
export function printableText(text: string): string {
  return text.replace(NOT_IN_TEXT, escapeChar);
}
