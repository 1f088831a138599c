// The Debian mirror the machine's apt sources name, for tests that read a real repository (not a test file).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The Debian mirror for tests that read a real repository. It is never written in the code: it is
 * `PROVENANT_DEBIAN_MIRROR`, else the first Debian archive the machine's apt sources name
 * (deb822 `URIs:` in /etc/apt/sources.list.d/*.sources, else `deb URL suite...` lines in
 * /etc/apt/sources.list and *.list), preferring an entry whose suites include `bookworm` itself
 * over a security or updates-only one.
 */
export function debianMirror(): string | undefined {
  const fromEnv = process.env.PROVENANT_DEBIAN_MIRROR?.trim();
  if (fromEnv) return fromEnv.replace(/\/+$/, '');
  const entries: { uri: string; suites: string[] }[] = [];
  const dir = '/etc/apt/sources.list.d';
  let names: string[] = [];
  try {
    names = readdirSync(dir).sort();
  } catch {
    // no sources.list.d
  }
  for (const name of names) {
    const text = readText(join(dir, name));
    if (name.endsWith('.sources')) entries.push(...deb822Entries(text));
    else if (name.endsWith('.list')) entries.push(...oneLineEntries(text));
  }
  entries.push(...oneLineEntries(readText('/etc/apt/sources.list')));
  const http = entries.filter((e) => /^https?:\/\//.test(e.uri));
  const best = http.find((e) => e.suites.includes('bookworm')) ?? http.find((e) => !/security/.test(e.uri));
  return best?.uri.replace(/\/+$/, '');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** deb822 stanzas of Types: deb, one entry per URI (sources.list(5), "DEB822-STYLE FORMAT"). */
function deb822Entries(text: string): { uri: string; suites: string[] }[] {
  const out: { uri: string; suites: string[] }[] = [];
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
      if (m !== null) fields.set((m[1] as string).toLowerCase(), (m[2] as string).trim());
    }
    if (!(fields.get('types') ?? '').split(/\s+/).includes('deb')) continue;
    if ((fields.get('enabled') ?? 'yes').toLowerCase() === 'no') continue;
    const suites = (fields.get('suites') ?? '').split(/\s+/);
    for (const uri of (fields.get('uris') ?? '').split(/\s+/).filter((u) => u !== '')) out.push({ uri, suites });
  }
  return out;
}

/** `deb [options] URL suite components` lines. */
function oneLineEntries(text: string): { uri: string; suites: string[] }[] {
  const out: { uri: string; suites: string[] }[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line);
    if (m !== null) out.push({ uri: m[1] as string, suites: [m[2] as string] });
  }
  return out;
}

/** The mirror the tests use, found once. */
export const debianMirrorUrl: string | undefined = debianMirror();

/**
 * The reason to pass as `skip` for tests that need the Debian mirror, or false when it answers:
 * checked once, with a short timeout, by asking for bookworm's InRelease headers.
 */
export const debianMissing: string | false = await (async () => {
  if (debianMirrorUrl === undefined) {
    return 'no Debian mirror configured: set PROVENANT_DEBIAN_MIRROR, or list one in /etc/apt/sources.list.d/*.sources';
  }
  try {
    const res = await fetch(`${debianMirrorUrl}/dists/bookworm/InRelease`, { method: 'HEAD', signal: AbortSignal.timeout(5000) });
    await res.body?.cancel();
    return res.ok ? false : `the Debian mirror answered HTTP ${res.status} for bookworm's InRelease`;
  } catch (err) {
    return `the Debian mirror cannot be reached: ${(err as Error).message}`;
  }
})();

/**
 * A download cache shared by test runs (and the benchmark), under the OS temp folder: content
 * addressed, so a stale entry is never used, and a rerun does not download bookworm's Packages again.
 */
export const debianCacheDir: string = join(tmpdir(), 'provenant-test-cache', 'debian');

/** Where tests keep real .debs fetched with `apt-get download` (the machine's apt configuration). */
export const realDebCache: string = join(tmpdir(), 'provenant-deb-cache');

/** The cached .deb of `name`, downloading it with apt-get when missing; undefined when apt-get cannot. */
export function realDeb(name: string): string | undefined {
  mkdirSync(realDebCache, { recursive: true });
  const find = (): string | undefined =>
    readdirSync(realDebCache)
      .filter((f) => f.startsWith(`${name}_`) && f.endsWith('.deb'))
      .sort()
      .at(-1);
  let file = find();
  if (file === undefined) {
    spawnSync('apt-get', ['download', name], { cwd: realDebCache, stdio: 'ignore', timeout: 120_000 });
    file = find();
  }
  return file === undefined ? undefined : join(realDebCache, file);
}

/** The real .debs of `names` by name, and the skip reason when any could not be fetched. */
export function realDebs(names: readonly string[]): { debs: Map<string, string | undefined>; missing: string | false } {
  const debs = new Map(names.map((n) => [n, realDeb(n)]));
  const absent = [...debs].filter(([, p]) => p === undefined).map(([n]) => n);
  return {
    debs,
    missing:
      absent.length > 0 &&
      `"apt-get download" could not fetch ${absent.join(', ')} into ${realDebCache}; put the .debs there or configure apt`,
  };
}
