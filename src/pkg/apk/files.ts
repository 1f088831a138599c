/**
 * What one apk package installed, entry by entry, for apk's installed database and the image's
 * inventory: kept as columns (the tree's own path strings, numbers, the SHA-1s' bytes), not as a
 * record and a hex string per entry, which a build held for every file of the image from its
 * install to the end of the build (issue 16).
 */
import { TAR_ENTRY_TYPES } from '../../archive/tar.ts';
import type { InventoryFile, InventoryFiles } from '../inventory.ts';

/** One entry as {@link ApkFiles} gives it back: made when asked for. */
export interface ApkFileRecord {
  path: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  /** Hex SHA-1, as apk's `APK-TOOLS.checksum.SHA1` holds it, for files and symlinks. */
  sha1?: string | undefined;
}

const HEX40 = /^[0-9a-f]{40}$/;
const TYPES: readonly string[] = TAR_ENTRY_TYPES;
const NONE = 0;
const BYTES = 1;
const OTHER = 2;

/**
 * The entries a package installed, in archive order. The columns are typed arrays outside V8's
 * heap, sized once when the count is known (a growing array leaves its earlier copies behind,
 * which lived long enough to be moved to the old generation), and {@link retain} keeps some in
 * place rather than copying them.
 */
export class ApkFiles implements Iterable<ApkFileRecord> {
  readonly #paths: string[] = [];
  /** Per entry its mode, uid and gid. */
  #ids = new Float64Array(0);
  /** Per entry its type: an index of TYPES, or 255 with the name in #otherTypes. */
  #types = new Uint8Array(0);
  /** Per entry whether it has a SHA-1: {@link NONE}, {@link BYTES} (in #sha1) or {@link OTHER} (in #otherSha1). */
  #sums = new Uint8Array(0);
  readonly #otherTypes = new Map<number, string>();
  /** Per entry 20 bytes: its SHA-1 when it has a lowercase hex one. */
  #sha1 = Buffer.alloc(0);
  /** The SHA-1s that are not 40 lowercase hex digits, by entry. */
  readonly #otherSha1 = new Map<number, string>();

  /** @param capacity the number of entries expected */
  constructor(capacity = 0) {
    this.#grow(capacity);
  }

  get length(): number {
    return this.#paths.length;
  }

  #grow(capacity: number): void {
    const ids = new Float64Array(3 * capacity);
    ids.set(this.#ids.subarray(0, 3 * this.length));
    const types = new Uint8Array(capacity);
    types.set(this.#types.subarray(0, this.length));
    const sums = new Uint8Array(capacity);
    sums.set(this.#sums.subarray(0, this.length));
    this.#sums = sums;
    const sha1 = Buffer.alloc(20 * capacity);
    this.#sha1.copy(sha1, 0, 0, 20 * this.length);
    this.#ids = ids;
    this.#types = types;
    this.#sha1 = sha1;
  }

  push(f: ApkFileRecord): void {
    const i = this.#paths.length;
    if (i >= this.#types.length) this.#grow(Math.max(64, 2 * this.#types.length));
    this.#paths.push(f.path);
    this.#ids.set([f.mode, f.uid, f.gid], 3 * i);
    const type = TYPES.indexOf(f.type);
    this.#types[i] = type < 0 ? 255 : type;
    if (type < 0) this.#otherTypes.set(i, f.type);
    if (f.sha1 === undefined) this.#sums[i] = NONE;
    else if (HEX40.test(f.sha1)) {
      this.#sums[i] = BYTES;
      this.#sha1.write(f.sha1, 20 * i, 'hex');
    } else {
      this.#sums[i] = OTHER;
      this.#otherSha1.set(i, f.sha1);
    }
  }

  path(i: number): string {
    return this.#paths[i] as string;
  }

  /** The permission bits, uid and gid of the entry at `i`. */
  mode(i: number): number {
    return this.#ids[3 * i] as number;
  }

  uid(i: number): number {
    return this.#ids[3 * i + 1] as number;
  }

  gid(i: number): number {
    return this.#ids[3 * i + 2] as number;
  }

  type(i: number): string {
    const t = this.#types[i] as number;
    return t === 255 ? (this.#otherTypes.get(i) as string) : (TYPES[t] as string);
  }

  /** The entry at `i`, made now. */
  at(i: number): ApkFileRecord {
    return { path: this.path(i), type: this.type(i), mode: this.mode(i), uid: this.uid(i), gid: this.gid(i), sha1: this.sha1(i) };
  }

  /** The hex SHA-1 of the entry at `i`. */
  sha1(i: number): string | undefined {
    const sum = this.#sums[i];
    return sum === BYTES ? this.#sha1.toString('hex', 20 * i, 20 * i + 20) : sum === OTHER ? this.#otherSha1.get(i) : undefined;
  }

  /** apk's `Q1` form of the entry's SHA-1 (base64 of its bytes), as the installed database's `Z:` holds it. */
  q1(i: number): string | undefined {
    const sum = this.#sums[i];
    if (sum === BYTES) return `Q1${this.#sha1.toString('base64', 20 * i, 20 * i + 20)}`;
    return sum === OTHER ? `Q1${Buffer.from(this.#otherSha1.get(i) as string, 'hex').toString('base64')}` : undefined;
  }

  *[Symbol.iterator](): Generator<ApkFileRecord> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  /** Keeps the entries for which `keep` holds, in order, and drops the rest. */
  retain(keep: (i: number) => boolean): void {
    const n = this.length;
    const otherTypes = new Map(this.#otherTypes);
    const otherSha1 = new Map(this.#otherSha1);
    this.#otherTypes.clear();
    this.#otherSha1.clear();
    let j = 0;
    for (let i = 0; i < n; i++) {
      if (!keep(i)) continue;
      if (j !== i) {
        this.#paths[j] = this.#paths[i] as string;
        this.#ids.copyWithin(3 * j, 3 * i, 3 * i + 3);
        this.#types[j] = this.#types[i] as number;
        this.#sums[j] = this.#sums[i] as number;
        this.#sha1.copyWithin(20 * j, 20 * i, 20 * i + 20);
      }
      if (otherTypes.has(i)) this.#otherTypes.set(j, otherTypes.get(i) as string);
      if (otherSha1.has(i)) this.#otherSha1.set(j, otherSha1.get(i) as string);
      j++;
    }
    this.#paths.length = j;
  }

  /**
   * The regular files as the inventory lists them (absolute paths, hex SHA-1s): a function that
   * gives them one at a time each time it is called, holding only the files' paths and SHA-1 bytes.
   */
  inventoryFiles(): InventoryFiles {
    const paths: string[] = [];
    const sha1 = Buffer.alloc(20 * this.length);
    const other = new Map<number, string | undefined>();
    for (let i = 0; i < this.length; i++) {
      if (this.type(i) !== 'file') continue;
      const k = paths.length;
      paths.push(this.path(i));
      if (this.#sums[i] === BYTES) this.#sha1.copy(sha1, 20 * k, 20 * i, 20 * i + 20);
      else other.set(k, this.sha1(i));
    }
    return inventoryList(paths, sha1.subarray(0, 20 * paths.length), other);
  }
}

/**
 * The inventory's list of `paths`, made when called. Made outside the class: a closure made in
 * a method shares its scope, `this` with it, and would hold every entry of the package.
 */
function inventoryList(paths: readonly string[], sha1: Buffer, other: ReadonlyMap<number, string | undefined>): InventoryFiles {
  return function* (): Generator<InventoryFile> {
    for (const [k, p] of paths.entries())
      yield { path: `/${p}`, sha1: other.has(k) ? other.get(k) : sha1.toString('hex', 20 * k, 20 * k + 20) };
  };
}
