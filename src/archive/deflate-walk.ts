/**
 * The deflate stream walker (RFC 1951): finds where a finished raw deflate stream's last block
 * starts and ends, so that a block compressed on its own can be joined to the next one.
 */

/** The order of the code length code lengths (RFC 1951 section 3.2.7). */
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];
/** Extra bits of length symbols 257 to 285. */
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const MAX_BITS = 15;

/**
 * The decode tables of dynamic blocks, reused from block to block: the code length table, the
 * literal/length table and the distance table, each of up to 2^15 + 1 entries (128 KiB). Made
 * anew for every block, they were the most of what a deflate worker allocated besides its output,
 * freed only when its V8 next collected: a layer made again peaked 4-5 MB higher at every image
 * size (issue 16). A walk runs to its end without yielding, so one set per thread serves all.
 */
const scratchTables: Int32Array[] = [];

/**
 * A decode table for canonical Huffman code `lengths`, indexed by the next `maxLen` bits (LSB
 * first), `maxLen` stored at its end: entries are (symbol << 4) | code length, 0 for no code.
 * With `scratch`, the table is a view of that scratch table (see {@link scratchTables}), valid
 * until the next table made in it; without, an array of its own.
 */
function huffmanTable(lengths: Uint8Array, n: number, scratch?: 0 | 1 | 2): Int32Array {
  const count = new Uint16Array(MAX_BITS + 1);
  let maxLen = 1;
  for (let i = 0; i < n; i++) {
    count[lengths[i]!]!++;
    if (lengths[i]! > maxLen) maxLen = lengths[i]!;
  }
  count[0] = 0;
  const next = new Uint16Array(MAX_BITS + 2);
  let code = 0;
  for (let len = 1; len <= MAX_BITS; len++) {
    code = (code + count[len - 1]!) << 1;
    next[len] = code;
  }
  const size = 1 << maxLen;
  let table: Int32Array;
  if (scratch === undefined) table = new Int32Array(size + 1);
  else {
    scratchTables[scratch] ??= new Int32Array((1 << MAX_BITS) + 1);
    table = scratchTables[scratch].subarray(0, size + 1);
    table.fill(0, 0, size);
  }
  table[size] = maxLen;
  for (let sym = 0; sym < n; sym++) {
    const len = lengths[sym]!;
    if (len === 0) continue;
    const c = next[len]!++;
    if (c >= 1 << len) throw new Error('over-subscribed Huffman code');
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= ((c >> i) & 1) << (len - 1 - i);
    for (let k = rev; k < size; k += 1 << len) table[k] = (sym << 4) | len;
  }
  return table;
}

let fixedTables: { lit: Int32Array; dist: Int32Array } | undefined;

function fixedHuffman(): { lit: Int32Array; dist: Int32Array } {
  if (fixedTables === undefined) {
    const lit = new Uint8Array(288);
    lit.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
    fixedTables = { lit: huffmanTable(lit, 288), dist: huffmanTable(new Uint8Array(30).fill(5), 30) };
  }
  return fixedTables;
}

/**
 * Walks a complete raw deflate stream (RFC 1951) without producing output: decodes every block's
 * header and symbols up to the block marked final. Returns the bit offset of that block's header
 * and the bit offset just past its end (its end-of-block code, or its data for a stored block).
 *
 * @internal exported for deflateBlock and the tests
 * @throws Error when the stream is malformed or ends before its final block
 */
export function walkDeflate(buf: Uint8Array): { lastHeader: number; end: number } {
  const limit = buf.length * 8;
  let pos = 0;
  const bits = (n: number): number => {
    const i = pos >> 3;
    const v = ((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)) >>> (pos & 7)) & ((1 << n) - 1);
    pos += n;
    return v;
  };
  const symbol = (table: Int32Array): number => {
    const i = pos >> 3;
    const e = table[((buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16)) >>> (pos & 7)) & (table.length - 2)]!;
    if (e === 0) throw new Error('invalid Huffman code');
    pos += e & 15;
    return e >> 4;
  };
  for (;;) {
    if (pos + 3 > limit) throw new Error('the stream ends without a final block');
    const header = pos;
    const final = bits(1);
    const type = bits(2);
    if (type === 0) {
      pos = (pos + 7) & ~7;
      if (pos + 32 > limit) throw new Error('truncated stored block');
      const len = bits(16);
      if ((len ^ 0xffff) !== bits(16)) throw new Error('invalid stored block length');
      pos += len * 8;
    } else if (type === 3) {
      throw new Error('invalid block type 3');
    } else {
      let lit: Int32Array;
      let dist: Int32Array;
      if (type === 1) {
        ({ lit, dist } = fixedHuffman());
      } else {
        const hlit = bits(5) + 257;
        const hdist = bits(5) + 1;
        const hclen = bits(4) + 4;
        if (hlit > 286 || hdist > 30) throw new Error('too many length or distance codes');
        const cl = new Uint8Array(19);
        for (let i = 0; i < hclen; i++) cl[CL_ORDER[i]!] = bits(3);
        const clTable = huffmanTable(cl, 19, 0);
        const lengths = new Uint8Array(hlit + hdist);
        for (let i = 0; i < hlit + hdist; ) {
          if (pos > limit) throw new Error('truncated block header');
          const s = symbol(clTable);
          if (s < 16) {
            lengths[i++] = s;
            continue;
          }
          let repeat: number;
          let value = 0;
          if (s === 16) {
            if (i === 0) throw new Error('invalid code length repeat');
            value = lengths[i - 1]!;
            repeat = 3 + bits(2);
          } else if (s === 17) repeat = 3 + bits(3);
          else repeat = 11 + bits(7);
          if (i + repeat > hlit + hdist) throw new Error('invalid code length repeat');
          lengths.fill(value, i, i + repeat);
          i += repeat;
        }
        if (lengths[256] === 0) throw new Error('no end-of-block code');
        lit = huffmanTable(lengths.subarray(0, hlit), hlit, 1);
        dist = huffmanTable(lengths.subarray(hlit), hdist, 2);
      }
      for (;;) {
        if (pos > limit) throw new Error('truncated compressed block');
        const s = symbol(lit);
        if (s < 256) continue;
        if (s === 256) break;
        if (s > 285) throw new Error('invalid length symbol');
        pos += LEN_EXTRA[s - 257]!;
        const d = symbol(dist);
        if (d > 29) throw new Error('invalid distance symbol');
        if (d >= 4) pos += (d >> 1) - 1;
      }
    }
    if (pos > limit) throw new Error('truncated stream');
    if (final) return { lastHeader: header, end: pos };
  }
}
