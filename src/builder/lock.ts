/**
 * The lock file: every package pinned by repository, version, arch and checksums, in apko's lock
 * format (version `v1`), so either tool reads the other's. `build --lock` resolves nothing and
 * fetches exactly these files; each is checked against its checksum, and the lock itself against
 * the verified indexes: a package none lists must be signed by a key of the keyring
 * (./plan.ts, ./build.ts; docs/build.md, "The lock").
 */
import { createHash } from 'node:crypto';
import { isProvenantError, ProvenantError, RepairableError } from '../errors.ts';
import type { LockedPackage, LockedRange, LockRepository, LockSources } from '../pkg/source.ts';
import { lookupArch } from './arch.ts';
import type { LoadedConfig } from './config-types.ts';

/** The lock. */
export interface Lock {
  version: 'v1';
  config: { name: string; checksum: string };
  contents: {
    keyring: { name: string; url: string; content?: string | undefined }[];
    /** Read to resolve, not written into the image (apko's lock records them as `repositories`). */
    build_repositories: LockRepository[];
    /** Written into the image's /etc/apk/repositories, never read. */
    runtime_repositories: LockRepository[];
    repositories: LockRepository[];
    packages: LockedPackage[];
  };
}

/**
 * Makes the lock of a build: the source's repositories and keys (apk keys embedded, so that a
 * rebuild does not depend on fetching them), and every package, fields in apko's order.
 */
export function lockFor(loaded: LoadedConfig, configName: string, sources: LockSources, packages: readonly LockedPackage[]): Lock {
  return {
    version: 'v1',
    config: { name: configName, checksum: configChecksum(loaded) },
    contents: {
      keyring: sources.keyring,
      build_repositories: sources.buildRepositories ?? [],
      runtime_repositories: sources.runtimeRepositories ?? [],
      repositories: sources.repositories,
      packages: packages.map((p) => ({
        name: p.name,
        url: p.url,
        version: p.version,
        architecture: p.architecture,
        signature: p.signature,
        control: p.control,
        data: p.data,
        checksum: p.checksum,
      })),
    },
  };
}

/**
 * The lock's `config.checksum`, as apko computes it: `sha256-` and the standard (padded) base64 of
 * one SHA-256 over the bytes of every configuration file read, one after the other with nothing
 * between them, the root file first, then the file it includes, then the file that one includes
 * (apko's ImageConfiguration.Load feeds each file to the hash before following its `include`;
 * pkg/build/options.go WithConfig encodes the sum). A comment in any of them changes it. (apko's
 * lock type says the checksum also covers command-line flags; its code hashes the files only.)
 *
 * Each file's text is its exact bytes as UTF-8 (./config.ts keeps a byte-order mark and refuses
 * text that is not UTF-8), so hashing the texts hashes the files.
 */
export function configChecksum(loaded: LoadedConfig): string {
  const hash = createHash('sha256');
  for (const f of loaded.files) hash.update(f.content, 'utf8');
  return `sha256-${hash.digest('base64')}`;
}

/**
 * Why a lock's `config.checksum` is not the configuration's, as one line for a warning (apko
 * refuses such a lock; Provenant checks the lock against the configuration's requests instead,
 * ./plan.ts), or undefined when it is, or when the lock records none. A lock written by Provenant
 * before its checksum was apko's covers the root file's text alone: that one is told apart and
 * named, since its configuration may well be unchanged.
 */
export function lockChecksumMismatch(
  lock: Lock,
  loaded: LoadedConfig,
  where: { lockPath: string; configName: string },
): string | undefined {
  const recorded = lock.config.checksum;
  if (recorded === '' || recorded === configChecksum(loaded)) return undefined;
  const included = loaded.files.length - 1;
  const files = included === 0 ? '' : ` and the ${included === 1 ? 'file' : `${included} files`} it includes`;
  if (included > 0 && recorded === `sha256-${createHash('sha256').update(loaded.raw, 'utf8').digest('base64')}`) {
    return `${where.lockPath} has the config.checksum an earlier Provenant wrote, of ${where.configName}'s text alone, not of the files it includes as apko's is (apko refuses this lock); run provenant lock again to write apko's checksum`;
  }
  return `${where.lockPath} was made for ${lock.config.name || 'a configuration'} with checksum ${recorded}, not for this text of ${where.configName}${files}; run provenant lock again if its packages should change`;
}

/**
 * Where a locked package is in its lock: `contents.packages[i]`, found by name and architecture,
 * which a lock holds once each ({@link parseLock}); `contents.packages` when it is not there.
 */
export function lockEntryPath(lock: Lock, p: Pick<LockedPackage, 'name' | 'architecture'>): string {
  const exact = lock.contents.packages.findIndex((q) => q.name === p.name && q.architecture === p.architecture);
  // Or an apk lock's entry that spells the architecture another way (apko's `amd64` for x86_64),
  // which the build reads under apk's name (./plan.ts).
  const arch = lookupArch(p.architecture);
  const i =
    exact >= 0 || arch === undefined
      ? exact
      : lock.contents.packages.findIndex((q) => q.name === p.name && lookupArch(q.architecture) === arch);
  return i < 0 ? 'contents.packages' : `contents.packages[${i}]`;
}

/**
 * The codes of a fetched package that is not the file its lock entry names, or not one the keyring
 * vouches for, or that is not where the entry says (removed from the mirror, a mistyped URL).
 */
const ENTRY_CODES = ['DIGEST_MISMATCH', 'SIZE_MISMATCH', 'SIGNATURE', 'UNTRUSTED_KEY', 'INVALID_CONFIG', 'NOT_FOUND'] as const;

/**
 * An error met fetching a locked package, as an error about the lock file when it says the file
 * is not what the entry names (another package, version, architecture or checksum) or that nothing
 * vouches for it: the package source names the file's URL, and only the lock names the entry a
 * user edits. The code, hint and cause stay; `where` becomes the lock file. Other errors (the
 * network, a damaged download) are returned as they are, and so is a damaged cache entry, which
 * its catcher repairs (./plan.ts).
 */
export function inLockEntry(err: unknown, lock: Lock, lockPath: string, p: LockedPackage): unknown {
  if (!isProvenantError(err, ...ENTRY_CODES) || err instanceof RepairableError) return err;
  return new ProvenantError(err.code, `${lockPath} ${lockEntryPath(lock, p)} (${p.name} ${p.version}, ${p.architecture}): ${err.message}`, {
    where: lockPath,
    hint: err.hint,
    cause: err,
  });
}

/** The lock as text: two-space JSON with a final newline, fields in apko's order. */
export function formatLock(lock: Lock): string {
  return `${JSON.stringify(lock, null, 2)}\n`;
}

/**
 * Where JSON.parse stopped, without quoting the text: `line L, column C` when it says the
 * position, else the one character it did not expect, or that the text ended.
 */
function jsonErrorPlace(err: unknown, text: string): string {
  const message = err instanceof Error ? err.message : '';
  const at = /at position (\d+)/.exec(message);
  if (at !== null) {
    const before = text.slice(0, Number(at[1]));
    return `line ${before.split('\n').length}, column ${before.length - before.lastIndexOf('\n')}`;
  }
  if (/end of JSON input/.test(message)) return 'it ends before the JSON does';
  const token = /^Unexpected token '(.)'/u.exec(message);
  return token !== null ? `unexpected ${JSON.stringify(token[1])}` : 'the parser does not say where';
}

/**
 * Parses a lock file (ours or apko's).
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the field that is missing or wrong
 */
export function parseLock(text: string, where: string): Lock {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    // Not the parser's message: it quotes the text, which a file given as the lock by mistake
    // (`-o .env`) would put in a CI log.
    throw new ProvenantError('INVALID_CONFIG', `the lock is not JSON (${jsonErrorPlace(err, text)})`, { where });
  }
  const bad = (path: string, why: string): ProvenantError => new ProvenantError('INVALID_CONFIG', `lock ${path}: ${why}`, { where });
  const obj = (v: unknown, path: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(path, 'expected an object');
    return v as Record<string, unknown>;
  };
  const str = (v: unknown, path: string): string => {
    if (typeof v !== 'string' || v === '') throw bad(path, 'expected a non-empty string');
    return v;
  };
  const root = obj(value, '(root)');
  if (root.version !== 'v1') throw bad('version', `expected "v1", found ${JSON.stringify(root.version)}`);
  // apko writes `config` only when it has one (omitempty), and builds without it.
  const config = root.config === undefined || root.config === null ? {} : obj(root.config, 'config');
  const contents = obj(root.contents, 'contents');
  const list = (v: unknown, path: string): unknown[] => {
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) throw bad(path, 'expected a list');
    return v;
  };
  const range = (v: unknown, path: string): LockedRange | undefined => {
    if (v === undefined) return undefined;
    const r = obj(v, path);
    // apko writes every part, and an unsigned package's signature as two empty strings.
    if (r.range === '' && r.checksum === '') return undefined;
    return { range: str(r.range, `${path}.range`), checksum: str(r.checksum, `${path}.checksum`) };
  };
  const repositories = (path: 'contents.repositories' | 'contents.build_repositories' | 'contents.runtime_repositories') =>
    list(contents[path.slice('contents.'.length)], path).map((r, i): LockRepository => {
      const o = obj(r, `${path}[${i}]`);
      return {
        name: str(o.name, `${path}[${i}].name`),
        url: str(o.url, `${path}[${i}].url`),
        architecture: str(o.architecture, `${path}[${i}].architecture`),
      };
    });
  const packages = list(contents.packages, 'contents.packages').map((p, i) => {
    const at = `contents.packages[${i}]`;
    const o = obj(p, at);
    const checksum = str(o.checksum, `${at}.checksum`);
    // apk packages are named by their Q1 identity; .debs by the SHA-256 of the file.
    if (!/^Q1[A-Za-z0-9+/]{27}=$/.test(checksum) && !/^sha256:[0-9a-f]{64}$/.test(checksum)) {
      throw bad(`${at}.checksum`, `${JSON.stringify(checksum)} is neither an apk Q1 checksum nor sha256:<hex> of a .deb`);
    }
    const signature = range(o.signature, `${at}.signature`);
    const control = range(o.control, `${at}.control`);
    const data = range(o.data, `${at}.data`);
    checkRanges(at, { signature, control, data }, bad);
    return {
      name: str(o.name, `${at}.name`),
      version: str(o.version, `${at}.version`),
      architecture: str(o.architecture, `${at}.architecture`),
      url: str(o.url, `${at}.url`),
      checksum,
      signature,
      control,
      data,
    };
  });
  // One version of a package per architecture, as a build installs: a second entry would be
  // installed over the first (an older one, a downgrade the first entry hides) or listed twice.
  const seen = new Map<string, number>();
  packages.forEach((p, i) => {
    // By the architecture, however spelled: an apk lock's `amd64` is read as x86_64 (./plan.ts).
    const key = `${lookupArch(p.architecture) ?? p.architecture}\0${p.name}`;
    const first = seen.get(key);
    if (first !== undefined) {
      const other = packages[first]!;
      throw bad(
        `contents.packages[${i}]`,
        `${p.name} ${p.version} on ${p.architecture} is locked already at contents.packages[${first}] (${other.version}); a lock holds one version of a package for each architecture`,
      );
    }
    seen.set(key, i);
  });
  return {
    version: 'v1',
    config: {
      name: typeof config.name === 'string' ? config.name : '',
      checksum: typeof config.checksum === 'string' ? config.checksum : '',
    },
    contents: {
      keyring: list(contents.keyring, 'contents.keyring').map((k, i) => {
        const o = obj(k, `contents.keyring[${i}]`);
        return {
          name: str(o.name, `contents.keyring[${i}].name`),
          url: str(o.url ?? o.name, `contents.keyring[${i}].url`),
          content: typeof o.content === 'string' ? o.content : undefined,
        };
      }),
      build_repositories: repositories('contents.build_repositories'),
      runtime_repositories: repositories('contents.runtime_repositories'),
      repositories: repositories('contents.repositories'),
      packages,
    },
  };
}

/**
 * Refuses byte ranges that are not an apk's three members one after the other, as apko writes them
 * (`bytes=START-END`, both included): the signature from byte 0, the control member after it (from
 * 0 when unsigned), the data member after that. The provenance records them as the lock says.
 */
function checkRanges(
  at: string,
  parts: Record<'signature' | 'control' | 'data', LockedRange | undefined>,
  bad: (path: string, why: string) => ProvenantError,
): void {
  let next: number | undefined = 0;
  for (const part of ['signature', 'control', 'data'] as const) {
    const r = parts[part];
    if (r === undefined) {
      // No signature: the control member starts the file. No control member: nothing to follow.
      if (part !== 'signature') next = undefined;
      continue;
    }
    const m = /^bytes=(0|[1-9][0-9]*)-(0|[1-9][0-9]*)$/.exec(r.range);
    const start = Number(m?.[1]);
    const end = Number(m?.[2]);
    if (m === null || !Number.isSafeInteger(start) || !Number.isSafeInteger(end)) {
      throw bad(`${at}.${part}.range`, `${JSON.stringify(r.range)} is not bytes=START-END`);
    }
    if (end < start) throw bad(`${at}.${part}.range`, `${JSON.stringify(r.range)} ends before it starts`);
    if (next !== undefined && start !== next) {
      const where =
        part === 'data'
          ? 'right after the control member'
          : part === 'control' && parts.signature !== undefined
            ? 'right after the signature'
            : `the first member of ${part === 'control' ? 'an unsigned' : 'a signed'} apk`;
      throw bad(`${at}.${part}.range`, `${JSON.stringify(r.range)} does not start at byte ${next}, ${where}`);
    }
    next = end + 1;
  }
}

/** A locked package as a lock change names it: its version and file. */
export interface LockedVersion {
  version: string;
  checksum: string;
  /**
   * An apk's signature member's checksum: its `Q1` checksum covers the control member alone, so a
   * package signed again keeps it.
   */
  signature?: string | undefined;
}

/** How one architecture's packages differ from one lock to the next, each list sorted by name. */
export interface LockArchChanges {
  architecture: string;
  added: ({ name: string } & LockedVersion)[];
  removed: ({ name: string } & LockedVersion)[];
  /** Locked in both at another version, or at the same version as another file (its checksum). */
  changed: { name: string; from: LockedVersion; to: LockedVersion }[];
}

/** What differs between a lock and the one it replaces, for `provenant lock` to tell. */
export interface LockChanges {
  /** Every architecture either lock holds, sorted; one with no change has three empty lists. */
  architectures: LockArchChanges[];
  /**
   * The other parts that differ, by field (`config.checksum`, `contents.keyring`,
   * `contents.repositories`, ...), and `contents.packages` when only their order did.
   */
  fields: string[];
}

/** Orders by code unit, as the same on every machine (no locale). */
const byCode = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * What changed from `previous` to `next`: per architecture, the packages added, removed and
 * locked at another version or file, matched by name (a lock holds one entry of a name per
 * architecture, {@link parseLock}); then which other fields differ. Sorted, so that the same two
 * locks always give the same text.
 */
export function lockChanges(previous: Lock, next: Lock): LockChanges {
  const byArch = (lock: Lock) => {
    const out = new Map<string, Map<string, LockedVersion>>();
    for (const p of lock.contents.packages) {
      const names = out.get(p.architecture) ?? new Map<string, LockedVersion>();
      out.set(p.architecture, names);
      names.set(p.name, { version: p.version, checksum: p.checksum, signature: p.signature?.checksum });
    }
    return out;
  };
  const before = byArch(previous);
  const after = byArch(next);
  const architectures = [...new Set([...before.keys(), ...after.keys()])].sort(byCode).map((architecture): LockArchChanges => {
    const old = before.get(architecture) ?? new Map<string, LockedVersion>();
    const now = after.get(architecture) ?? new Map<string, LockedVersion>();
    const names = [...new Set([...old.keys(), ...now.keys()])].sort(byCode);
    const changes: LockArchChanges = { architecture, added: [], removed: [], changed: [] };
    for (const name of names) {
      const from = old.get(name);
      const to = now.get(name);
      if (from === undefined && to !== undefined) changes.added.push({ name, ...to });
      else if (to === undefined && from !== undefined) changes.removed.push({ name, ...from });
      else if (from !== undefined && to !== undefined && !sameVersion(from, to)) {
        changes.changed.push({ name, from, to });
      }
    }
    return changes;
  });
  // Compared field by field: a parsed lock and a made one hold their keys in other orders.
  const same = (a: readonly unknown[][], b: readonly unknown[][]) => JSON.stringify(a) === JSON.stringify(b);
  const repos = (l: Lock, field: 'build_repositories' | 'runtime_repositories' | 'repositories') =>
    l.contents[field].map((r) => [r.name, r.url, r.architecture]);
  const fields: string[] = [];
  if (previous.config.name !== next.config.name) fields.push('config.name');
  if (previous.config.checksum !== next.config.checksum) fields.push('config.checksum');
  const keys = (l: Lock) => l.contents.keyring.map((k) => [k.name, k.url, k.content ?? '']);
  if (!same(keys(previous), keys(next))) fields.push('contents.keyring');
  for (const field of ['build_repositories', 'runtime_repositories', 'repositories'] as const) {
    if (!same(repos(previous, field), repos(next, field))) fields.push(`contents.${field}`);
  }
  // The same packages in another order (apko's install order, with --compat apko).
  const order = (l: Lock) => l.contents.packages.map((p) => [p.architecture, p.name]);
  const moved = architectures.every((a) => a.added.length + a.removed.length + a.changed.length === 0);
  if (moved && !same(order(previous), order(next))) fields.push('contents.packages');
  return { architectures, fields };
}

/** Whether two locked versions of a name are the same file. */
function sameVersion(a: LockedVersion, b: LockedVersion): boolean {
  return a.version === b.version && a.checksum === b.checksum && (a.signature ?? '') === (b.signature ?? '');
}
