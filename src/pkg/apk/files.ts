/**
 * What one apk package installed, entry by entry, for apk's installed database and the image's
 * inventory: kept as columns (the tree's own path strings, numbers, the SHA-1s' bytes), not as a
 * record and a hex string per entry, which a build held for every file of the image from its
 * install to the end of the build (issue 16).
 */
import type { InventoryFile } from '../inventory.ts';

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

/** The entries a package installed, in archive order. */
export class ApkFiles implements Iterable<ApkFileRecord> {
  readonly #paths: string[] = [];
  /** Per entry its type (interned), mode, uid and gid. */
  readonly #fields: (string | number)[] = [];
  /** Per entry 20 bytes: its SHA-1 when it has a lowercase hex one. */
  #sha1 = new Uint8Array(0);
  /** The SHA-1s that are not 40 lowercase hex digits, or absent, by entry. */
  readonly #other = new Map<number, string | undefined>();

  get length(): number {
    return this.#paths.length;
  }

  push(f: ApkFileRecord): void {
    const i = this.#paths.length;
    this.#paths.push(f.path);
    this.#fields.push(f.type, f.mode, f.uid, f.gid);
    if (this.#sha1.length < 20 * (i + 1)) {
      const grown = new Uint8Array(Math.max(20 * 64, 2 * this.#sha1.length));
      grown.set(this.#sha1);
      this.#sha1 = grown;
    }
    if (f.sha1 !== undefined && HEX40.test(f.sha1)) Buffer.from(this.#sha1.buffer).write(f.sha1, 20 * i, 'hex');
    else this.#other.set(i, f.sha1);
  }

  path(i: number): string {
    return this.#paths[i] as string;
  }

  type(i: number): string {
    return this.#fields[4 * i] as string;
  }

  /** The entry at `i`, made now. */
  at(i: number): ApkFileRecord {
    const [type, mode, uid, gid] = this.#fields.slice(4 * i, 4 * i + 4) as [string, number, number, number];
    return { path: this.path(i), type, mode, uid, gid, sha1: this.sha1(i) };
  }

  /** The hex SHA-1 of the entry at `i`. */
  sha1(i: number): string | undefined {
    if (this.#other.has(i)) return this.#other.get(i);
    return Buffer.from(this.#sha1.buffer).toString('hex', 20 * i, 20 * i + 20);
  }

  /** apk's `Q1` form of the entry's SHA-1 (base64 of its bytes), as the installed database's `Z:` holds it. */
  q1(i: number): string | undefined {
    if (!this.#other.has(i)) return `Q1${Buffer.from(this.#sha1.buffer).toString('base64', 20 * i, 20 * i + 20)}`;
    const hex = this.#other.get(i);
    return hex === undefined ? undefined : `Q1${Buffer.from(hex, 'hex').toString('base64')}`;
  }

  *[Symbol.iterator](): Generator<ApkFileRecord> {
    for (let i = 0; i < this.length; i++) yield this.at(i);
  }

  /** The entries for which `keep` holds, in order. */
  filter(keep: (i: number) => boolean): ApkFiles {
    const out = new ApkFiles();
    for (let i = 0; i < this.length; i++) if (keep(i)) out.push(this.at(i));
    return out;
  }

  /**
   * The regular files as the inventory lists them (absolute paths, hex SHA-1s): a function that
   * makes the list each time it is called, holding only the files' paths and SHA-1 bytes.
   */
  inventoryFiles(): () => InventoryFile[] {
    const files: number[] = [];
    for (let i = 0; i < this.length; i++) if (this.type(i) === 'file') files.push(i);
    const paths = files.map((i) => this.path(i));
    const sha1 = Buffer.alloc(20 * files.length);
    const other = new Map<number, string | undefined>();
    for (const [k, i] of files.entries()) {
      if (this.#other.has(i)) other.set(k, this.#other.get(i));
      else sha1.set(this.#sha1.subarray(20 * i, 20 * i + 20), 20 * k);
    }
    return inventoryList(paths, sha1, other);
  }
}

/**
 * The inventory's list of `paths`, made when called. Made outside the class: a closure made in
 * a method shares its scope, `this` with it, and would hold every entry of the package.
 */
function inventoryList(paths: readonly string[], sha1: Buffer, other: ReadonlyMap<number, string | undefined>): () => InventoryFile[] {
  return () => paths.map((p, k) => ({ path: `/${p}`, sha1: other.has(k) ? other.get(k) : sha1.toString('hex', 20 * k, 20 * k + 20) }));
}
