/**
 * Target profiles: what a registry or runtime is publicly known to refuse or show wrongly, as
 * data. One YAML file per target in `profiles/`; each rule names a detector from the fixed set in
 * params.ts with its parameters, the severity, the error users saw, why, the fix that satisfies
 * it, how certain the fact is and where it was reported. Loading checks every field and reports
 * a mistake as `file:line: key: problem`.
 */
import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Document, LineCounter, parseDocument } from 'yaml';
import { ProvenantError } from '../errors.ts';
import { parsePlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { checkParams, DETECTOR_PARAMS, type DetectorName, FIX_PARAMS, type FixId, isDetectorName, isFixId, type Params } from './params.ts';

/**
 * How bad a problem is. `refuses`: a push, pull or run fails. `misdisplays`: it works, but a UI or
 * API shows it wrongly. `unsupported`: a feature the image relies on is missing (it works, with a
 * fallback or for some clients only).
 */
export type Severity = 'refuses' | 'misdisplays' | 'unsupported';

/** The severities, worst first. */
export const SEVERITIES: readonly Severity[] = ['refuses', 'misdisplays', 'unsupported'];

/**
 * How sure a rule is. `tested`: Provenant's own tests observe it. `documented`: the vendor's
 * documentation says so. `reported`: users reported it, with this error, in the cited public
 * threads (read while writing the profile). `inferred`: read from code, docs or versions, not
 * observed. `unverified`: from research notes, not checked against a source.
 */
export type Certainty = 'tested' | 'documented' | 'reported' | 'inferred' | 'unverified';

/** The certainties, surest first. */
export const CERTAINTIES: readonly Certainty[] = ['tested', 'documented', 'reported', 'inferred', 'unverified'];

/** Whether a target stores images (a registry) or runs them (a runtime). */
export type TargetKind = 'registry' | 'runtime';

/** What is known of a registry's referrers API (`GET /v2/<name>/referrers/<digest>`). */
export type ReferrersApi = 'present' | 'absent' | 'unknown';

/** A version range: comparators that must all hold (`>= 19.03 < 19.03.5`). */
export interface VersionRange {
  readonly text: string;
  readonly comparators: ReadonlyArray<{ readonly op: '<' | '<=' | '>' | '>=' | '='; readonly version: readonly number[] }>;
}

/** A fix named by a rule, with its parameters (defaults filled in). */
export interface FixSpec {
  readonly id: FixId;
  readonly with: Params;
}

/** One thing a target refuses, misdisplays or lacks. */
export interface Rule {
  /** Unique within the profile. */
  readonly id: string;
  readonly detect: DetectorName;
  /** The detector's parameters, defaults filled in. */
  readonly with: Params;
  readonly severity: Severity;
  /**
   * What users see, as they reported it; `{image}`, `{digest}` and `{mediaType}` are filled in
   * when a check finds the problem. Undefined when no error text was recorded.
   */
  readonly error: string | undefined;
  readonly why: string;
  /** The change that satisfies the rule; undefined when no change to the image can. */
  readonly fix: FixSpec | undefined;
  readonly certainty: Certainty;
  /** Since when, open or fixed, in words. */
  readonly status: string | undefined;
  /** The versions of the target the rule applies to; all when undefined. */
  readonly versions: VersionRange | undefined;
  /** Public threads and documents that report it (empty only when `certainty` is `unverified`). */
  readonly sources: readonly string[];
}

/** A fact that no longer holds, kept for the record (docs/targets.md shows it). */
export interface HistoryEntry {
  readonly text: string;
  readonly sources: readonly string[];
}

/** A target: a registry or runtime, as its profile file describes it. */
export interface Profile {
  readonly id: string;
  readonly name: string;
  readonly kind: TargetKind;
  readonly summary: string;
  /** Platforms it runs, in the order a fix prefers them (runtimes). */
  readonly platforms: readonly Platform[];
  /** For targets whose behaviour depends on their version: the version assumed when none is named. */
  readonly versions: { readonly assume: string; readonly note: string | undefined } | undefined;
  /** Its referrers API by version (registries); the first entry that applies wins. */
  readonly referrersApi: ReadonlyArray<{ readonly versions: VersionRange | undefined; readonly value: ReferrersApi }>;
  readonly rules: readonly Rule[];
  readonly history: readonly HistoryEntry[];
  readonly notes: readonly string[];
  /** The file it was read from. */
  readonly file: string;
}

/** A profile at a version: what `--target` names. */
export interface Target {
  readonly profile: Profile;
  /** The version checked against (named, or the profile's assumption); undefined for unversioned targets. */
  readonly version: string | undefined;
  /** True when the version was not named but assumed. */
  readonly assumed: boolean;
  /** `id` or `id@version`, as shown in reports. */
  readonly label: string;
}

/** Where the profiles shipped with Provenant live. */
export const BUILTIN_PROFILES_DIR: string = fileURLToPath(new URL('./profiles/', import.meta.url));

/** Options of {@link loadProfiles}. */
export interface LoadProfilesOptions {
  /** Read profiles from this folder instead of the built-in ones. */
  dir?: string | undefined;
  /** More folders whose profiles are added to (or replace, by id) the built-in ones. */
  extraDirs?: readonly string[] | undefined;
}

/**
 * Reads and checks every `*.yaml` profile in the built-in folder (or `options.dir`), sorted by id.
 *
 * @throws ProvenantError `INVALID_CONFIG` naming the file, line and key of the first mistake;
 *   `IO` when a folder cannot be read
 */
export async function loadProfiles(options: LoadProfilesOptions = {}): Promise<Profile[]> {
  const byId = new Map<string, Profile>();
  for (const dir of [options.dir ?? BUILTIN_PROFILES_DIR, ...(options.extraDirs ?? [])]) {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((n) => n.endsWith('.yaml')).sort();
    } catch (cause) {
      throw new ProvenantError('IO', `cannot read the profiles folder ${dir}`, { where: dir, cause });
    }
    for (const name of names) {
      const path = join(dir, name);
      const text = await readFile(path, 'utf8').catch((cause: unknown) => {
        throw new ProvenantError('IO', `cannot read ${path}`, { where: path, cause });
      });
      const profile = parseProfile(text, path);
      byId.set(profile.id, profile);
    }
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

const ID_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;
const VERSION_RE = /^\d+(\.\d+){0,3}$/;
const URL_RE = /^https:\/\/[^\s]+$/;

/**
 * Parses one profile file. `path` names it in errors, and its base name must be the profile's id.
 *
 * @throws ProvenantError `INVALID_CONFIG` with `where` = `path:line`
 */
export function parseProfile(text: string, path: string): Profile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = lines.linePos(e.pos[0]).line;
    throw new ProvenantError('INVALID_CONFIG', `not valid YAML: ${e.message.split('\n')[0]}`, { where: `${path}:${line}` });
  }
  const r = new Reader(doc, lines, path);
  const root = r.object([], ['id', 'name', 'kind', 'summary', 'platforms', 'versions', 'referrers-api', 'rules', 'history', 'notes']);
  const id = r.string(['id']);
  if (!ID_RE.test(id)) r.fail(['id'], 'must be lower-case letters, digits and dashes');
  const fileId = basename(path).replace(/\.yaml$/, '');
  if (fileId !== id) r.fail(['id'], `must match the file name (${fileId})`);
  const kind = r.string(['kind']);
  if (kind !== 'registry' && kind !== 'runtime') r.fail(['kind'], 'must be registry or runtime');

  const platforms = r.optionalList(['platforms']).map((_, i) => {
    const text = r.string(['platforms', i]);
    try {
      return parsePlatform(text);
    } catch {
      return r.fail(['platforms', i], `"${text}" is not os/arch[/variant]`);
    }
  });

  let versions: Profile['versions'];
  if (root.versions !== undefined) {
    r.object(['versions'], ['assume', 'note']);
    const assume = r.version(['versions', 'assume']);
    versions = { assume, note: r.optionalString(['versions', 'note']) };
  }
  const versioned = versions !== undefined;
  const range = (path: Array<string | number>): VersionRange | undefined => {
    const text = r.optionalString(path);
    if (text === undefined) return undefined;
    if (!versioned) r.fail(path, 'the profile has no versions: add `versions: {assume: ...}` first');
    try {
      return parseVersionRange(text);
    } catch (err) {
      return r.fail(path, (err as Error).message);
    }
  };

  const referrersApi: Array<{ versions: VersionRange | undefined; value: ReferrersApi }> = [];
  const apiNode = root['referrers-api'];
  if (typeof apiNode === 'string') {
    referrersApi.push({ versions: undefined, value: r.referrersApi(['referrers-api']) });
  } else if (apiNode !== undefined) {
    for (const [i] of r.optionalList(['referrers-api']).entries()) {
      r.object(['referrers-api', i], ['versions', 'value']);
      referrersApi.push({ versions: range(['referrers-api', i, 'versions']), value: r.referrersApi(['referrers-api', i, 'value']) });
    }
  }

  const rules: Rule[] = [];
  const ruleList = r.optionalList(['rules']);
  if (ruleList.length === 0) r.fail(['rules'], 'a profile needs at least one rule');
  for (const [i] of ruleList.entries()) {
    const rule = parseRule(r, i, range);
    if (rules.some((x) => x.id === rule.id)) r.fail(['rules', i, 'id'], `rule ${rule.id} is defined twice`);
    rules.push(rule);
  }

  const history = r.optionalList(['history']).map((_, i) => {
    r.object(['history', i], ['text', 'sources']);
    return { text: r.string(['history', i, 'text']), sources: r.urls(['history', i, 'sources']) };
  });
  const notes = r.optionalList(['notes']).map((_, i) => r.string(['notes', i]));

  return {
    id,
    name: r.string(['name']),
    kind: kind as TargetKind,
    summary: r.string(['summary']),
    platforms,
    versions,
    referrersApi,
    rules,
    history,
    notes,
    file: path,
  };
}

/** One rule of a profile: `rules[i]`, checked field by field. */
function parseRule(r: Reader, i: number, range: (path: Array<string | number>) => VersionRange | undefined): Rule {
  const at = (k: string | number): Array<string | number> => ['rules', i, k];
  const node = r.object(
    ['rules', i],
    ['id', 'detect', 'with', 'severity', 'error', 'why', 'fix', 'certainty', 'status', 'versions', 'sources'],
  );
  const ruleId = r.string(at('id'));
  if (!ID_RE.test(ruleId)) r.fail(at('id'), 'must be lower-case letters, digits and dashes');
  const detect = r.string(at('detect'));
  if (!isDetectorName(detect)) r.fail(at('detect'), `unknown detector "${detect}" (known: ${Object.keys(DETECTOR_PARAMS).join(', ')})`);
  const checked = checkParams(DETECTOR_PARAMS[detect as DetectorName], node.with);
  if (checked.problems.length > 0) {
    const [key, message] = checked.problems[0]!;
    r.fail(key === undefined ? at('with') : ['rules', i, 'with', key], message);
  }
  const severity = r.string(at('severity'));
  if (!SEVERITIES.includes(severity as Severity)) r.fail(at('severity'), `must be one of ${SEVERITIES.join(', ')}`);
  if (!Object.hasOwn(node, 'error')) r.fail(at('error'), 'is required (write `error: null` when no error text was recorded)');
  const error = node.error === null ? undefined : r.string(at('error'));
  if (!Object.hasOwn(node, 'fix')) r.fail(at('fix'), 'is required (write `fix: null` when no change to the image satisfies the rule)');
  const fix = r.fix(at('fix'), node.fix);
  const certainty = r.string(at('certainty'));
  if (!CERTAINTIES.includes(certainty as Certainty)) r.fail(at('certainty'), `must be one of ${CERTAINTIES.join(', ')}`);
  const sources = r.urls(at('sources'));
  if (sources.length === 0 && certainty !== 'unverified') {
    r.fail(at('sources'), 'a rule needs a public source unless its certainty is `unverified`');
  }
  return {
    id: ruleId,
    detect: detect as DetectorName,
    with: checked.params,
    severity: severity as Severity,
    error,
    why: r.string(at('why')),
    fix,
    certainty: certainty as Certainty,
    status: r.optionalString(at('status')),
    versions: range(at('versions')),
    sources,
  };
}

/** Reads typed values out of a parsed YAML document, failing with the line of the offending node. */
class Reader {
  readonly #doc: Document;
  readonly #lines: LineCounter;
  readonly #path: string;
  readonly #value: unknown;

  constructor(doc: Document, lines: LineCounter, path: string) {
    this.#doc = doc;
    this.#lines = lines;
    this.#path = path;
    try {
      // Aliases are resolved here: an unknown anchor, or too many aliases (a document that
      // expands without bound), fail here rather than later.
      this.#value = doc.toJS({ maxAliasCount: 100 });
    } catch (cause) {
      throw new ProvenantError('INVALID_CONFIG', `not a usable YAML document: ${(cause as Error).message}`, { where: `${path}:1`, cause });
    }
  }

  fail(path: ReadonlyArray<string | number>, message: string): never {
    // The line of the deepest node that exists on the path (the parent of a missing key).
    let line = 1;
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? this.#doc.contents : this.#doc.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      if (range !== undefined) {
        line = this.#lines.linePos(range[0]).line;
        break;
      }
    }
    const key = path.length === 0 ? '' : `${path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('')}: `;
    throw new ProvenantError('INVALID_CONFIG', `${key.replace(/^\./, '')}${message}`, {
      where: `${this.#path}:${line}`,
      hint: 'docs/targets.md describes the profile format',
    });
  }

  get(path: ReadonlyArray<string | number>): unknown {
    let v: unknown = this.#value;
    for (const p of path) {
      if (v === null || typeof v !== 'object') return undefined;
      v = (v as Record<string | number, unknown>)[p];
    }
    return v;
  }

  object(path: ReadonlyArray<string | number>, keys: readonly string[]): Record<string, unknown> {
    const v = this.get(path);
    if (v === null || typeof v !== 'object' || Array.isArray(v)) this.fail(path, 'must be a mapping');
    for (const k of Object.keys(v as object)) {
      if (!keys.includes(k)) this.fail([...path, k], `unknown key (known: ${keys.join(', ')})`);
    }
    return v as Record<string, unknown>;
  }

  string(path: ReadonlyArray<string | number>): string {
    const v = this.get(path);
    if (v === undefined) this.fail(path, 'is required');
    if (typeof v !== 'string' || v.trim() === '') this.fail(path, 'must be a non-empty string');
    return v.trim();
  }

  optionalString(path: ReadonlyArray<string | number>): string | undefined {
    return this.get(path) === undefined ? undefined : this.string(path);
  }

  version(path: ReadonlyArray<string | number>): string {
    const v = this.get(path);
    if (typeof v === 'number') {
      const written = (this.#doc.getIn(path, true) as { source?: unknown } | undefined)?.source;
      this.fail(path, `quote the version ("${typeof written === 'string' ? written : v}"): YAML reads it as the number ${v}`);
    }
    const s = this.string(path);
    if (!VERSION_RE.test(s)) this.fail(path, `"${s}" is not a version (digits and dots, like 20.10 or 7.90.1)`);
    return s;
  }

  optionalList(path: ReadonlyArray<string | number>): unknown[] {
    const v = this.get(path);
    if (v === undefined) return [];
    if (!Array.isArray(v)) this.fail(path, 'must be a list');
    return v;
  }

  urls(path: ReadonlyArray<string | number>): string[] {
    const list = this.optionalList(path);
    return list.map((_, i) => {
      const u = this.string([...path, i]);
      if (!URL_RE.test(u)) this.fail([...path, i], `"${u}" is not an https URL`);
      return u;
    });
  }

  referrersApi(path: ReadonlyArray<string | number>): ReferrersApi {
    const v = this.string(path);
    if (v !== 'present' && v !== 'absent' && v !== 'unknown') this.fail(path, 'must be present, absent or unknown');
    return v;
  }

  fix(path: ReadonlyArray<string | number>, node: unknown): FixSpec | undefined {
    if (node === null) return undefined;
    let id: string;
    let given: unknown;
    if (typeof node === 'string') {
      id = node;
    } else {
      const o = this.object(path, ['id', 'with']);
      id = this.string([...path, 'id']);
      given = o.with;
    }
    if (!isFixId(id)) this.fail(path, `unknown fix "${id}" (known: ${Object.keys(FIX_PARAMS).join(', ')})`);
    const checked = checkParams(FIX_PARAMS[id as FixId], given);
    if (checked.problems.length > 0) {
      const [key, message] = checked.problems[0]!;
      this.fail(key === undefined ? [...path, 'with'] : [...path, 'with', key], message);
    }
    return { id: id as FixId, with: checked.params };
  }
}

/**
 * Parses a version range: comparators separated by spaces, all of which must hold
 * (`< 7.11.1`, `>= 19.03 < 19.03.5`).
 *
 * @throws Error naming what is wrong (callers wrap it with the place)
 */
export function parseVersionRange(text: string): VersionRange {
  const comparators: Array<VersionRange['comparators'][number]> = [];
  const re = /\s*(<=|>=|<|>|=)\s*(\d+(?:\.\d+){0,3})\s*/y;
  let at = 0;
  while (at < text.length) {
    re.lastIndex = at;
    const m = re.exec(text);
    if (m === null) throw new Error(`"${text}" is not a version range (write comparators like "< 7.11.1" or ">= 19.03 < 19.03.5")`);
    comparators.push({ op: m[1] as VersionRange['comparators'][number]['op'], version: parseVersion(m[2]!) });
    at = re.lastIndex;
  }
  if (comparators.length === 0) throw new Error('a version range needs at least one comparator');
  return { text: text.trim(), comparators };
}

/** Splits a dotted version into numbers (`"19.03"` → `[19, 3]`). */
export function parseVersion(text: string): number[] {
  if (!VERSION_RE.test(text)) throw new Error(`"${text}" is not a version (digits and dots)`);
  return text.split('.').map(Number);
}

/** Compares two versions segment by segment, missing segments counting as 0. */
export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** True when `version` lies in `range`. */
export function inRange(version: string, range: VersionRange): boolean {
  const v = parseVersion(version);
  return range.comparators.every(({ op, version: w }) => {
    const c = compareVersions(v, w);
    return op === '<' ? c < 0 : op === '<=' ? c <= 0 : op === '>' ? c > 0 : op === '>=' ? c >= 0 : c === 0;
  });
}

/** The rules of a profile that apply at the target's version. */
export function rulesFor(target: Target): Rule[] {
  return target.profile.rules.filter(
    (r) => r.versions === undefined || (target.version !== undefined && inRange(target.version, r.versions)),
  );
}

/** The target's referrers API by its profile (before any probe); `unknown` for runtimes and unstated registries. */
export function referrersApiOf(target: Target): ReferrersApi {
  for (const entry of target.profile.referrersApi) {
    if (entry.versions === undefined || (target.version !== undefined && inRange(target.version, entry.versions))) return entry.value;
  }
  return 'unknown';
}

/** Options of {@link selectTargets}. */
export interface SelectTargetsOptions {
  /**
   * The closest of `known` to an unknown id, for its error's "did you mean" (the CLI's own
   * guesser: compat/ may not import it): every one that ties for closest, so `azure` names
   * azure-aci, azure-acr and azure-functions rather than the first; none (or undefined) for no
   * guess. One word alone is taken as before.
   */
  suggest?: ((word: string, known: readonly string[]) => string | readonly string[] | undefined) | undefined;
}

/**
 * Resolves `--target` text: comma-separated ids, each optionally `@version`
 * (`aws-lambda,artifactory@6.23.38`), each target once in the order first named.
 *
 * @throws ProvenantError `USAGE` for an unknown id, a version on an unversioned target, or a
 *   malformed version
 */
export function selectTargets(profiles: readonly Profile[], text: string, options: SelectTargetsOptions = {}): Target[] {
  const out: Target[] = [];
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  if (parts.length === 0) {
    throw new ProvenantError('USAGE', 'no target named', { hint: `targets: ${profiles.map((p) => p.id).join(', ')}` });
  }
  for (const part of parts) {
    const at = part.indexOf('@');
    const id = at < 0 ? part : part.slice(0, at);
    const version = at < 0 ? undefined : part.slice(at + 1);
    const profile = profiles.find((p) => p.id === id);
    if (profile === undefined) {
      const ids = profiles.map((p) => p.id);
      const guesses = [options.suggest?.(id, ids) ?? []].flat();
      const guess =
        guesses.length === 0
          ? ''
          : guesses.length === 1
            ? `: did you mean ${guesses[0]}?`
            : `: did you mean one of: ${guesses.join(', ')}?`;
      throw new ProvenantError('USAGE', `unknown target "${id}"${guess}`, {
        hint: `targets: ${ids.join(', ')}`,
      });
    }
    // Named twice (or once bare and once at its assumed version), a target is checked once.
    const target = targetOf(profile, version);
    if (!out.some((t) => t.label === target.label)) out.push(target);
  }
  return out;
}

/**
 * The target for a profile at a version (or its assumed version).
 *
 * @throws ProvenantError `USAGE` for a version on an unversioned profile or a malformed version
 */
export function targetOf(profile: Profile, version?: string): Target {
  if (version !== undefined) {
    if (profile.versions === undefined) {
      throw new ProvenantError('USAGE', `target ${profile.id} has no versions; name it without @${version}`);
    }
    if (!VERSION_RE.test(version)) {
      throw new ProvenantError('USAGE', `"${version}" is not a version of ${profile.id}`, { hint: 'write digits and dots, like 20.10' });
    }
    return { profile, version, assumed: false, label: `${profile.id}@${version}` };
  }
  if (profile.versions !== undefined) {
    return { profile, version: profile.versions.assume, assumed: true, label: `${profile.id}@${profile.versions.assume}` };
  }
  return { profile, version: undefined, assumed: false, label: profile.id };
}
