/**
 * Tables of path hashes in typed arrays, for what a build keeps per path (issue 16, "Memory per
 * file"): a set ({@link PathSet}, the files kept out of the tree: ./spill.ts) and a count per
 * path ({@link PathCounts}, the entries in each folder of the tree: ./tree.ts).
 */

/**
 * A set of path hashes (53 bits of two 32-bit FNV-1a hashes), open addressing in a Float64Array:
 * 8 bytes a path in a table at most four fifths full, grown by half (10 to 15 bytes a path; a
 * table of a power of two slots at most half full took 16 to 32, 1 MB for the 2 GB bench image's
 * 59,000 files). Linear probing four fifths full looks at 3 slots for a path there, 13 for one
 * that is not, on average. Two paths with one hash would make a path look given twice, and the
 * build install into a tree: the same image (./spill.ts).
 */
export class PathSet {
  #slots = new Float64Array(1024);
  size = 0;

  /** The table's bytes, for tests. */
  get bytes(): number {
    return this.#slots.byteLength;
  }

  add(path: string): void {
    if (5 * (this.size + 1) > 4 * this.#slots.length) this.#grow();
    if (place(this.#slots, hashPath(path))) this.size++;
  }

  has(path: string): boolean {
    const h = hashPath(path);
    return this.#slots[slotOf(this.#slots, h)] === h;
  }

  #grow(): void {
    const old = this.#slots;
    this.#slots = new Float64Array(Math.ceil(1.5 * old.length));
    for (const h of old) if (h !== 0) place(this.#slots, h);
  }
}

/**
 * A count per path hash (./tree.ts: the entries directly in each folder), in two typed arrays: 12
 * bytes a slot, at most four fifths full, grown by half (15 to 22 bytes a path), where a `Map`
 * from the path took about 50 bytes an entry. The count of a hash is
 * the sum over the paths of that hash: 0 tells that none of them has any, more than 0 only that
 * one may (the caller looks for itself). A slot whose count went back to 0 stays, for the next
 * entry put there.
 */
export class PathCounts {
  #slots = new Float64Array(1024);
  #counts = new Uint32Array(1024);
  #used = 0;

  /** The tables' bytes, for tests. */
  get bytes(): number {
    return this.#slots.byteLength + this.#counts.byteLength;
  }

  /** The count of `path`'s hash: 0 when no path of that hash was counted (or all went back to 0). */
  get(path: string): number {
    const h = hashPath(path);
    const i = slotOf(this.#slots, h);
    return this.#slots[i] === h ? (this.#counts[i] as number) : 0;
  }

  /** Adds 1 to the count of `path`'s hash. */
  increment(path: string): void {
    if (5 * (this.#used + 1) > 4 * this.#slots.length) this.#grow();
    const h = hashPath(path);
    const i = slotOf(this.#slots, h);
    if (this.#slots[i] === 0) {
      this.#slots[i] = h;
      this.#used++;
    }
    this.#counts[i]!++;
  }

  /** Takes 1 from the count of `path`'s hash, which an {@link increment} of the same path made more than 0. */
  decrement(path: string): void {
    const slots = this.#slots;
    const i = slotOf(slots, hashPath(path));
    if (slots[i] !== 0 && this.#counts[i]! > 0) this.#counts[i]!--;
  }

  #grow(): void {
    const slots = this.#slots;
    const counts = this.#counts;
    const size = Math.ceil(1.5 * slots.length);
    this.#slots = new Float64Array(size);
    this.#counts = new Uint32Array(size);
    for (let j = 0; j < slots.length; j++) {
      const h = slots[j] as number;
      if (h === 0) continue;
      const i = slotOf(this.#slots, h);
      this.#slots[i] = h;
      this.#counts[i] = counts[j] as number;
    }
  }
}

/** The slot of `h` in `slots`: where it is, or the empty slot where it would go. */
function slotOf(slots: Float64Array, h: number): number {
  const n = slots.length;
  for (let i = h % n; ; i = i + 1 === n ? 0 : i + 1) if (slots[i] === h || slots[i] === 0) return i;
}

/** Puts `h` in `slots`; false when it was there. */
function place(slots: Float64Array, h: number): boolean {
  const i = slotOf(slots, h);
  if (slots[i] === h) return false;
  slots[i] = h;
  return true;
}

/** A path's hash, from 1 to 2^53 - 1 (0 marks an empty slot). */
export function hashPath(path: string): number {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
  }
  return ((a >>> 0) % 0x200000) * 0x100000000 + (b >>> 0) || 1;
}
