/**
 * apk's database as apko writes it (`--compat apko`): usr/lib/apk/db/installed, scripts.tar and
 * triggers, byte for byte as apko v1.2.39 does (pkg/apk/apk/installed.go: AddInstalledPackage,
 * cleanTarHeaders, pathCompare, removeOrphanedEntries, updateScriptsTar, updateTriggers;
 * pkg/apk/apk/package.go: PackageToInstalled).
 *
 * Where this differs from apk-tools' own database (./install.ts): fields in apko's order with
 * `D:`, `p:`, `i:[...]`, `t:` and `k:` always written, values as apko reads `.PKGINFO`
 * (./apko-pkginfo.ts), modes with four octal digits (`a:501:20:0644`), files sorted with
 * apko's comparison by Go's stable sort, files whose parent folder the package does not list
 * left out, and scripts.tar a complete tar whose entries keep the control member's headers.
 */
import type { UstarFields } from '../../archive/tar-format.ts';
import { encodeGoGnuHeader, encodeGoHeader } from '../../archive/tar-go.ts';
import { concatBytes } from '../../bytes.ts';
import { ProvenantError } from '../../errors.ts';
import type { ApkoPkgInfo } from './apko-pkginfo.ts';

/** One data entry of a package, as apko's installed database needs it. */
export interface ApkoFileEntry {
  /** The entry's path (clean, relative). */
  path: string;
  type: string;
  /** Mode bits as the package's header has them (0o7777 at most). */
  mode: number;
  uid: number;
  gid: number;
  /** `APK-TOOLS.checksum.SHA1` as written in the header (hex, or `Q1` + base64). */
  checksum?: string | undefined;
}

/** A package installed by apko's rules: what the database records about it. */
export interface ApkoInstalledRecord {
  info: ApkoPkgInfo;
  /** `Q1` + base64 SHA-1 of the control member. */
  checksum: string;
  /** The .apk file's size. */
  fileSize: number;
  files: ApkoFileEntry[];
}

/** Go's sort.SliceStable (insertion sort on blocks of 20, then SymMerge), for a comparison that is not a strict order. */
export function goStableSort<T>(items: T[], less: (a: T, b: T) => boolean): T[] {
  const data = [...items];
  const lessAt = (i: number, j: number): boolean => less(data[i] as T, data[j] as T);
  const swap = (i: number, j: number): void => {
    const t = data[i] as T;
    data[i] = data[j] as T;
    data[j] = t;
  };
  const insertion = (a: number, b: number): void => {
    for (let i = a + 1; i < b; i++) for (let j = i; j > a && lessAt(j, j - 1); j--) swap(j, j - 1);
  };
  const swapRange = (a: number, b: number, n: number): void => {
    for (let i = 0; i < n; i++) swap(a + i, b + i);
  };
  const rotate = (a: number, m: number, b: number): void => {
    let i = m - a;
    let j = b - m;
    while (i !== j) {
      if (i > j) {
        swapRange(m - i, m, j);
        i -= j;
      } else {
        swapRange(m - i, m + j - i, i);
        j -= i;
      }
    }
    swapRange(m - i, m, i);
  };
  const symMerge = (a: number, m: number, b: number): void => {
    if (m - a === 1) {
      let i = m;
      let j = b;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (lessAt(h, a)) i = h + 1;
        else j = h;
      }
      for (let k = a; k < i - 1; k++) swap(k, k + 1);
      return;
    }
    if (b - m === 1) {
      let i = a;
      let j = m;
      while (i < j) {
        const h = (i + j) >>> 1;
        if (!lessAt(m, h)) i = h + 1;
        else j = h;
      }
      for (let k = m; k > i; k--) swap(k, k - 1);
      return;
    }
    const mid = (a + b) >>> 1;
    const n = mid + m;
    let start: number;
    let r: number;
    if (m > mid) {
      start = n - b;
      r = mid;
    } else {
      start = a;
      r = m;
    }
    const p = n - 1;
    while (start < r) {
      const c = (start + r) >>> 1;
      if (!lessAt(p - c, c)) start = c + 1;
      else r = c;
    }
    const end = n - start;
    if (start < m && m < end) rotate(start, m, end);
    if (a < start && start < mid) symMerge(a, start, mid);
    if (mid < end && end < b) symMerge(mid, end, b);
  };
  const n = data.length;
  let blockSize = 20;
  let a = 0;
  let b = blockSize;
  while (b <= n) {
    insertion(a, b);
    a = b;
    b += blockSize;
  }
  insertion(a, n);
  while (blockSize < n) {
    a = 0;
    b = 2 * blockSize;
    while (b <= n) {
      symMerge(a, a + blockSize, b);
      a = b;
      b += 2 * blockSize;
    }
    if (a + blockSize < n) symMerge(a, a + blockSize, n);
    blockSize *= 2;
  }
  return data;
}

const byteCompare = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * apko's pathCompare: component by component up to the shorter path's last folder; at the first
 * level that differs, a file sorts before a folder, else bytewise. A folder and what is in it
 * compare equal, so the result depends on the sort (see {@link goStableSort}).
 */
export function apkoPathCompare(a: string, aDir: boolean, b: string, bDir: boolean): number {
  const x = a.split('/');
  const y = b.split('/');
  if (a === b) return 0;
  let n = 0;
  for (; n < x.length - 1 && n < y.length - 1; n++) {
    const c = byteCompare(x[n] as string, y[n] as string);
    if (c !== 0) return c;
  }
  const xDir = n + 1 < x.length || aDir;
  const yDir = n + 1 < y.length || bDir;
  if (xDir === yDir) return byteCompare(x[n] as string, y[n] as string);
  return xDir ? 1 : -1;
}

/** cleanTarHeaders: sorted by {@link apkoPathCompare}, then entries whose folders the package does not list dropped. */
export function apkoFileOrder(files: readonly ApkoFileEntry[]): ApkoFileEntry[] {
  const sorted = goStableSort([...files], (a, b) => apkoPathCompare(a.path, a.type === 'dir', b.path, b.type === 'dir') < 0);
  const dirs = new Set(files.filter((f) => f.type === 'dir').map((f) => f.path));
  return sorted.filter((f) => {
    for (let p = f.path.slice(0, Math.max(0, f.path.lastIndexOf('/'))); p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('/')))) {
      if (!dirs.has(p)) return false;
    }
    return true;
  });
}

const octal4 = (mode: number): string => (mode & 0o7777).toString(8).padStart(4, '0');

/**
 * One package's stanza of the installed database, as apko's AddInstalledPackage writes it.
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a top-level folder entry with an owner or mode, or a
 *   checksum that is not hex, where apko fails too
 */
export function apkoInstalledStanza(record: ApkoInstalledRecord, where: string): string {
  const { info } = record;
  const lines = [
    `P:${info.name}`,
    `V:${info.version}`,
    `A:${info.arch}`,
    `L:${info.license}`,
    `T:${info.description}`,
    `o:${info.origin}`,
    `m:${info.maintainer}`,
    `U:${info.url}`,
    `D:${info.depends.join(' ')}`,
    `p:${info.provides.join(' ')}`,
  ];
  if (info.replaces.length > 0) lines.push(`r:${info.replaces.join(' ')}`);
  lines.push(
    `c:${info.commit}`,
    `i:[${info.installIf.join(' ')}]`,
    `t:${info.builddate}`,
    `S:${record.fileSize}`,
    `I:${info.size}`,
    `k:${info.providerPriority}`,
    `C:${record.checksum}`,
  );
  let topDirNeeded = true;
  for (const f of apkoFileOrder(record.files)) {
    const perm = f.mode & 0o7777;
    const owned = f.uid !== 0 || f.gid !== 0;
    if (f.type === 'dir') {
      if (f.path === '' && (perm !== 0o755 || owned)) {
        throw new ProvenantError(
          'INVALID_PACKAGE',
          `the package's top-level folder entry has mode ${octal4(perm)} and owner ${f.uid}:${f.gid}`,
          {
            where,
            hint: "apko refuses to record it: the installed database cannot express the root folder's mode",
          },
        );
      }
      lines.push(`F:${f.path}`);
      if (perm !== 0o755 || owned) lines.push(`M:${f.uid}:${f.gid}:${octal4(perm)}`);
      topDirNeeded = false;
      continue;
    }
    if (topDirNeeded) {
      lines.push('F:');
      topDirNeeded = false;
    }
    lines.push(`R:${f.path.slice(f.path.lastIndexOf('/') + 1)}`);
    if (perm !== 0o644 || owned) lines.push(`a:${f.uid}:${f.gid}:${octal4(perm)}`);
    if (f.checksum !== undefined && f.checksum !== '') lines.push(`Z:${q1(f.checksum, where)}`);
  }
  return `${lines.join('\n')}\n\n`;
}

function q1(checksum: string, where: string): string {
  if (checksum.startsWith('Q1')) return checksum;
  if (!/^([0-9a-fA-F]{2})*$/.test(checksum)) {
    throw new ProvenantError('INVALID_PACKAGE', `a file's APK-TOOLS.checksum.SHA1 is not hex: ${JSON.stringify(checksum.slice(0, 60))}`, {
      where,
    });
  }
  return `Q1${Buffer.from(checksum, 'hex').toString('base64')}`;
}

/** A control-tar member with the header fields Go's reader gives (the mode as written: it may hold file-type bits). */
interface ControlMember extends Omit<UstarFields, 'mtime'> {
  /** USTAR, PAX (records were read for it), GNU, or unknown (V7, no magic). */
  format: 'ustar' | 'pax' | 'gnu' | 'unknown';
  /** PAX records, as Go keeps them on the header. */
  records: Map<string, string>;
  body: Uint8Array;
}

const text = (b: Uint8Array, at: number, len: number): string => {
  const field = b.subarray(at, at + len);
  const end = field.indexOf(0);
  return Buffer.from(end < 0 ? field : field.subarray(0, end)).toString('latin1');
};

function numeric(b: Uint8Array, at: number, len: number, where: string): number {
  const field = b.subarray(at, at + len);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let x = BigInt((field[0] as number) & 0x7f);
    for (let i = 1; i < len; i++) x = (x << 8n) | BigInt(field[i] as number);
    return Number(x);
  }
  const s = text(b, at, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new ProvenantError('INVALID_PACKAGE', `the control tar has a bad number ${JSON.stringify(s)}`, { where });
  return Number.parseInt(s, 8);
}

function paxRecords(data: Uint8Array, where: string): Map<string, string> {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const sp = data.indexOf(0x20, pos);
    const len = sp < 0 ? Number.NaN : Number(Buffer.from(data.subarray(pos, sp)).toString('latin1'));
    if (!Number.isSafeInteger(len) || len <= 0 || pos + len > data.length) {
      throw new ProvenantError('INVALID_PACKAGE', 'the control tar has a malformed PAX record', { where });
    }
    const rec = Buffer.from(data.subarray(sp + 1, pos + len - 1)).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    pos += len;
  }
  return out;
}

/** The members of a package's control tar, as Go's archive/tar reader returns them (reader.go:next). */
export function readControlMembers(tar: Uint8Array, where: string): ControlMember[] {
  const out: ControlMember[] = [];
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  let at = 0;
  while (at + 512 <= tar.length) {
    const b = tar.subarray(at, at + 512);
    if (b.every((x) => x === 0)) break;
    const size = numeric(b, 124, 12, where);
    const body = tar.subarray(at + 512, at + 512 + size);
    at += 512 + Math.ceil(size / 512) * 512;
    const typeflag = String.fromCharCode(b[156] as number);
    const magic = text(b, 257, 6);
    const version = Buffer.from(b.subarray(263, 265)).toString('latin1');
    const gnu = Buffer.from(b.subarray(257, 263)).toString('latin1') === 'ustar ' && version === ' \0';
    if (typeflag === 'x') {
      pax = paxRecords(body, where);
      continue;
    }
    if (typeflag === 'L' || typeflag === 'K') {
      const value = Buffer.from(body).toString('utf8').replace(/\0.*$/s, '');
      if (typeflag === 'L') longName = value;
      else longLink = value;
      continue;
    }
    let name = text(b, 0, 100);
    if (magic === 'ustar' && !gnu) {
      const prefix = text(b, 345, 155);
      if (prefix !== '') name = `${prefix}/${name}`;
    }
    const format =
      gnu || longName !== undefined || longLink !== undefined ? 'gnu' : pax.size > 0 ? 'pax' : magic === 'ustar' ? 'ustar' : 'unknown';
    out.push({
      name: pax.get('path') ?? longName ?? name,
      mode: numeric(b, 100, 8, where),
      uid: Number(pax.get('uid') ?? numeric(b, 108, 8, where)),
      gid: Number(pax.get('gid') ?? numeric(b, 116, 8, where)),
      size,
      typeflag: typeflag === '\0' ? '0' : typeflag,
      linkname: pax.get('linkpath') ?? longLink ?? text(b, 157, 100),
      uname: pax.get('uname') ?? (format === 'unknown' ? '' : text(b, 265, 32)),
      gname: pax.get('gname') ?? (format === 'unknown' ? '' : text(b, 297, 32)),
      devmajor: format === 'unknown' ? 0 : numeric(b, 329, 8, where),
      devminor: format === 'unknown' ? 0 : numeric(b, 337, 8, where),
      format,
      records: pax,
      body: new Uint8Array(body),
    });
    pax = new Map();
    longName = undefined;
    longLink = undefined;
  }
  return out;
}

/** PAX keys Go's writer does not copy from a header's records (they may conflict with its fields). */
const BASIC_KEYS = new Set(['path', 'linkpath', 'size', 'uid', 'gid', 'uname', 'gname', 'mtime', 'atime', 'ctime']);

/**
 * One package's scripts.tar entries: every control member but `.PKGINFO` whose mode has all of
 * 0555, renamed `<name>-<version>.<Q1 checksum><member>`, written with the header it had and the
 * format it was read in, its time `mtime` (the SOURCE_DATE_EPOCH option, 0 when unset).
 *
 * @throws ProvenantError `INVALID_PACKAGE` for a member Go's writer refuses in its format
 */
export function apkoScriptsEntries(
  control: Uint8Array,
  name: string,
  version: string,
  checksum: string,
  mtime: number,
  where: string,
): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of readControlMembers(control, where)) {
    if (m.name === '.PKGINFO' || (m.mode & 0o555) !== 0o555) continue;
    const fields = { ...m, name: `${name}-${version}.${checksum}${m.name}`, mtime };
    const records = new Map([...m.records].filter(([k]) => !BASIC_KEYS.has(k) && !k.startsWith('GNU.sparse.')));
    const header =
      m.format === 'gnu'
        ? encodeGoGnuHeader(fields)
        : encodeGoHeader({ ...fields, records, paxOnly: m.format === 'pax' || records.size > 0 });
    if (header === undefined || (m.format === 'ustar' && header.length !== 512)) {
      throw new ProvenantError('INVALID_PACKAGE', `the install script ${m.name} cannot be written to scripts.tar in its archive's format`, {
        where,
        hint: 'apko fails on this package too',
      });
    }
    parts.push(header, m.body, new Uint8Array((512 - (m.body.length % 512)) % 512));
  }
  return concatBytes(
    parts,
    parts.reduce((n, p) => n + p.length, 0),
  );
}

/** scripts.tar: the entries of each package in install order, then the two zero blocks that end a tar. */
export function apkoScriptsTar(entries: readonly Uint8Array[]): Uint8Array {
  const all = [...entries, new Uint8Array(1024)];
  return concatBytes(
    all,
    all.reduce((n, p) => n + p.length, 0),
  );
}

/** The triggers file: `<Q1 checksum> <value>` for each `triggers` value of each package. */
export function apkoTriggers(records: readonly { checksum: string; info: ApkoPkgInfo }[]): string {
  return records.flatMap((r) => r.info.triggers.map((t) => `${r.checksum} ${t}\n`)).join('');
}
