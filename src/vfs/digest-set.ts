/**
 * A set of SHA-256 digests (64 lowercase hex digits) held as their 32 bytes in one typed array:
 * what a build keeps for each of thousands of bodies (issue 16). A cache key of 150 characters
 * holding the digest, in a Map with a promise beside it, took some 250 bytes of heap; here a
 * digest takes 32 bytes in a table at most three quarters full, grown by half, outside V8's heap.
 */

/** 32-bit words of a digest. */
const WORDS = 8;
const HEX64 = /^[0-9a-f]{64}$/;

export class DigestSet {
  /** The digests, {@link WORDS} words a slot; a slot is taken when {@link #taken} says so. */
  #words = new Uint32Array(64 * WORDS);
  #taken = new Uint8Array(64);
  #size = 0;

  /** How many digests the set holds. */
  get size(): number {
    return this.#size;
  }

  /** Whether `digest` can be held: 64 lowercase hex digits. */
  static holds(digest: string): boolean {
    return HEX64.test(digest);
  }

  /**
   * Adds `digest`; false when it was there.
   *
   * @throws RangeError when it is not 64 lowercase hex digits ({@link holds})
   */
  add(digest: string): boolean {
    const words = wordsOf(digest);
    if (4 * (this.#size + 1) > 3 * this.#taken.length) this.#grow();
    if (!place(this.#words, this.#taken, words, 0)) return false;
    this.#size++;
    return true;
  }

  /** Whether `digest` is in the set (false for a string {@link holds} refuses). */
  has(digest: string): boolean {
    return HEX64.test(digest) && this.#taken[slotOf(this.#words, this.#taken, wordsOf(digest), 0)] === 1;
  }

  #grow(): void {
    const oldWords = this.#words;
    const oldTaken = this.#taken;
    const slots = Math.ceil(oldTaken.length * 1.5);
    this.#words = new Uint32Array(slots * WORDS);
    this.#taken = new Uint8Array(slots);
    for (let i = 0; i < oldTaken.length; i++) if (oldTaken[i] === 1) place(this.#words, this.#taken, oldWords, i * WORDS);
  }
}

/** The slot holding the digest at `from` of `source`, else the free slot where it would go. */
function slotOf(all: Uint32Array, taken: Uint8Array, source: Uint32Array, from: number): number {
  const slots = taken.length;
  let i = source[from]! % slots;
  while (taken[i] === 1 && !same(all, i, source, from)) i = i + 1 === slots ? 0 : i + 1;
  return i;
}

/** Puts the digest at `from` of `source` in the table; false when it was there. */
function place(all: Uint32Array, taken: Uint8Array, source: Uint32Array, from: number): boolean {
  const i = slotOf(all, taken, source, from);
  if (taken[i] === 1) return false;
  all.set(source.subarray(from, from + WORDS), i * WORDS);
  taken[i] = 1;
  return true;
}

/** Whether slot `i` of `all` holds the digest at `from` of `source`. */
function same(all: Uint32Array, i: number, source: Uint32Array, from: number): boolean {
  const at = i * WORDS;
  for (let w = 0; w < WORDS; w++) if (all[at + w] !== source[from + w]) return false;
  return true;
}

/** One digest's words, read into a buffer that the next call overwrites. */
const scratch = new Uint32Array(WORDS);

function wordsOf(digest: string): Uint32Array {
  if (!HEX64.test(digest)) throw new RangeError(`not a SHA-256 in lowercase hex: ${JSON.stringify(digest.slice(0, 80))}`);
  for (let w = 0; w < WORDS; w++) {
    let v = 0;
    for (let c = 0; c < 8; c++) {
      const u = digest.charCodeAt(8 * w + c);
      v = v * 16 + (u <= 0x39 ? u - 0x30 : u - 0x57);
    }
    scratch[w] = v;
  }
  return scratch;
}
