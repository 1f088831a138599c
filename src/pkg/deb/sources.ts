/**
 * Debian repository entries in apt's one-line format, as an image configuration holds them:
 *
 *     deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg arch=amd64,arm64] URL SUITE COMPONENT...
 *
 * The grammar is sources.list(5), "ONE-LINE-STYLE FORMAT". Only what a build needs is accepted:
 * binary (`deb`) entries, the options `arch`, `signed-by`, `by-hash`, `check-valid-until` and
 * `trusted`; anything else is refused with the text that was not understood, so a typo in an
 * option cannot silently weaken verification. `trusted=yes` (apt skips the signature check) is
 * refused unless the caller allows it explicitly.
 */
import { ProvenantError, redactCredentials } from '../../errors.ts';

/** One Debian repository: a base URL, a suite and its components. */
export interface DebSource {
  /** The archive's base URL (`dists/` and `pool/` are under it), without a trailing slash. */
  url: string;
  /** The suite or codename: `bookworm`, `bookworm-updates`, `stable`. */
  suite: string;
  /** The components: `main`, `contrib`. At least one. */
  components: string[];
  /** `arch=`: the architectures to read, when the entry restricts them. */
  archs?: string[];
  /** `signed-by=`: the keyring files (binary `.gpg` or armored `.asc`) trusted for this repository. */
  signedBy?: string[];
  /** `by-hash=`: fetch indexes under `by-hash/SHA256/` (`yes`, the default when the Release offers it; `no`; `force`). */
  byHash?: 'yes' | 'no' | 'force';
  /** `check-valid-until=no`: accept a Release past its `Valid-Until` (for snapshot mirrors). */
  checkValidUntil?: boolean;
  /** `trusted=yes`: the signature is not checked. Only with {@link ParseSourceOptions.allowTrusted}. */
  trusted?: boolean;
}

/** Options of {@link parseSourceLine} and {@link parseSourcesList}. */
export interface ParseSourceOptions {
  /** Where the text comes from (a configuration file), for errors. */
  where?: string | undefined;
  /** Accept `trusted=yes`, which turns signature checks off. Off by default. */
  allowTrusted?: boolean | undefined;
}

/** A suite, component or architecture: no spaces, no `..`, nothing that changes the URL's meaning. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._+~-]*(?:\/[A-Za-z0-9][A-Za-z0-9._+~-]*)*$/;
const ARCH = /^[a-z0-9][a-z0-9-]*$/;
const HEX_FINGERPRINT = /^[0-9A-Fa-f]{16,40}!?$/;

/**
 * Parses one entry, `deb [options] URL SUITE COMPONENT...`.
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the text that is not understood (a `deb-src` or
 *   other type, an unknown or malformed option, a bad URL, suite or component, a flat repository,
 *   no component); `INSECURE` for `trusted=yes` without `allowTrusted`
 */
export function parseSourceLine(line: string, options: ParseSourceOptions = {}): DebSource {
  const where = options.where;
  const bad = (why: string, hint?: string): ProvenantError =>
    new ProvenantError('INVALID_CONFIG', `the repository entry ${quote(line)} ${why}`, hint === undefined ? { where } : { where, hint });
  const text = line.replace(/#.*$/, '').trim();
  const typeMatch = /^(\S+)\s*/.exec(text);
  if (typeMatch === null) throw bad('is empty');
  const type = typeMatch[1] as string;
  if (type !== 'deb') {
    throw bad(
      type === 'deb-src' ? 'is a source entry (deb-src); images are built from binary packages' : `does not start with "deb"`,
      'write it as: deb [signed-by=KEYRING arch=ARCH] URL SUITE COMPONENT...',
    );
  }
  let rest = text.slice(typeMatch[0].length);
  const source: Partial<DebSource> = {};
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) throw bad('opens "[" for options and never closes it');
    const optionText = rest.slice(1, close);
    rest = rest.slice(close + 1).trim();
    for (const option of optionText.split(/\s+/).filter((o) => o !== '')) applyOption(option, source, options, bad);
  }
  const [written, suite, ...components] = rest.split(/\s+/).filter((w) => w !== '');
  if (written === undefined) throw bad('has no URL');
  // apt reads `file:/srv/repo` (sources.list(5)'s own example) as `file:///srv/repo`: the entry
  // keeps the second spelling, which every reader of a file URL takes.
  const url = /^file:\/(?!\/)/i.test(written) ? `file:///${written.slice('file:/'.length)}` : written;
  if (!/^(https?|file):\/\//i.test(url)) {
    throw bad(`has the URL ${quote(written)}, which is not http://, https:// or file:/ (file:///)`);
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new ProvenantError('INVALID_CONFIG', `the repository URL ${quote(written)} is malformed`, { where, cause: err });
  }
  // apt's file method reads a folder of this machine and refuses a URL with a host ("local URIS
  // must not start with //"); `localhost` is taken here, as a file URL reader takes it (the URL
  // parser gives it as no host).
  if (parsed.protocol === 'file:' && parsed.host !== '') {
    throw bad(
      `has the URL ${quote(written)}, which names the host ${quote(parsed.host)}: a file: URL is a folder of this machine`,
      `write file:${parsed.pathname} or file://${parsed.pathname}`,
    );
  }
  if (suite === undefined) throw bad('has no suite (bookworm, bookworm-updates...)');
  if (suite.endsWith('/')) throw bad(`names the flat repository ${quote(suite)}; only repositories with dists/ are supported`);
  if (!NAME.test(suite) || suite.split('/').includes('..')) throw bad(`has the suite ${quote(suite)}, which is not a valid suite name`);
  if (components.length === 0) throw bad('names no component (main, contrib...)');
  for (const c of components) {
    if (!NAME.test(c) || c.split('/').includes('..')) throw bad(`has the component ${quote(c)}, which is not a valid component name`);
  }
  const base = url.replace(/\/+$/, '');
  if (!/^[a-z]+:\/\/./i.test(base)) throw bad(`has the URL ${quote(written)}, which names no host or path`);
  return { url: base, suite, components, ...source };
}

function applyOption(
  option: string,
  source: Partial<DebSource>,
  options: ParseSourceOptions,
  bad: (why: string, hint?: string) => ProvenantError,
): void {
  const eq = option.indexOf('=');
  if (eq <= 0) throw bad(`has the option ${quote(option)}, which is not name=value`);
  const name = option.slice(0, eq);
  const value = option.slice(eq + 1);
  const values = value.split(',');
  if (value === '' || values.includes('')) throw bad(`has the option ${quote(option)} with an empty value`);
  const once = (key: keyof DebSource): void => {
    if (source[key] !== undefined) throw bad(`gives the option ${quote(name)} twice`);
  };
  switch (name) {
    case 'arch':
      once('archs');
      for (const a of values) if (!ARCH.test(a)) throw bad(`has the architecture ${quote(a)}, which is not a Debian architecture name`);
      source.archs = values;
      return;
    case 'signed-by':
      once('signedBy');
      for (const v of values) {
        if (HEX_FINGERPRINT.test(v)) {
          throw bad(`gives the key fingerprint ${quote(v)} in signed-by; give the keyring file instead`, 'signed-by=/path/to/keyring.gpg');
        }
      }
      source.signedBy = values;
      return;
    case 'by-hash':
      once('byHash');
      if (value !== 'yes' && value !== 'no' && value !== 'force') throw bad(`has by-hash=${value}; it is yes, no or force`);
      source.byHash = value;
      return;
    case 'check-valid-until':
      once('checkValidUntil');
      if (value !== 'yes' && value !== 'no') throw bad(`has check-valid-until=${value}; it is yes or no`);
      source.checkValidUntil = value === 'yes';
      return;
    case 'trusted':
      once('trusted');
      if (value !== 'yes' && value !== 'no') throw bad(`has trusted=${value}; it is yes or no`);
      if (value === 'yes' && options.allowTrusted !== true) {
        throw new ProvenantError('INSECURE', `the repository entry sets trusted=yes, which turns signature checks off`, {
          where: options.where,
          hint: 'give the repository key with signed-by=KEYRING instead: Provenant installs nothing unsigned',
        });
      }
      source.trusted = value === 'yes';
      return;
    default:
      throw bad(`has the option ${quote(name)}, which is not supported (arch, signed-by, by-hash, check-valid-until, trusted)`);
  }
}

/**
 * Parses a sources.list text: one entry a line, `#` comments and blank lines skipped. Errors name
 * the line (`where:line`).
 *
 * @throws ProvenantError as {@link parseSourceLine}
 */
export function parseSourcesList(text: string, options: ParseSourceOptions = {}): DebSource[] {
  const out: DebSource[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = (lines[i] ?? '').replace(/\r$/, '');
    if (line.replace(/#.*$/, '').trim() === '') continue;
    out.push(parseSourceLine(line, { ...options, where: `${options.where ?? 'sources.list'}:${i + 1}` }));
  }
  return out;
}

/** Writes an entry back as one line that {@link parseSourceLine} reads to the same value. */
export function formatSourceLine(source: DebSource): string {
  const opts: string[] = [];
  if (source.signedBy !== undefined) opts.push(`signed-by=${source.signedBy.join(',')}`);
  if (source.archs !== undefined) opts.push(`arch=${source.archs.join(',')}`);
  if (source.byHash !== undefined) opts.push(`by-hash=${source.byHash}`);
  if (source.checkValidUntil !== undefined) opts.push(`check-valid-until=${source.checkValidUntil ? 'yes' : 'no'}`);
  if (source.trusted !== undefined) opts.push(`trusted=${source.trusted ? 'yes' : 'no'}`);
  return ['deb', ...(opts.length > 0 ? [`[${opts.join(' ')}]`] : []), source.url, source.suite, ...source.components].join(' ');
}

/** The text quoted for a message, cut to 120 characters, with a URL's credentials removed. */
function quote(text: string): string {
  const redacted = redactCredentials(text);
  return JSON.stringify(redacted.length > 120 ? `${redacted.slice(0, 117)}...` : redacted);
}
