/**
 * Reading a provenance statement as a rebuild recipe: what Provenant's build types
 * (`https://provenant.dev/build/apk/v1` and `…/deb/v1`, docs/provenance.md; Debian builds wrote
 * the apk one before theirs existed, so it is read for both) record is enough to build the image
 * again: the configuration files with their text, the architectures, SOURCE_DATE_EPOCH, every
 * package file with its lock fields and digest, and the apk keys with their PEM text. Anything
 * else (another build type, BuildKit's Dockerfile builds, our own SLSA v0.2 shape, a statement
 * with a field left out) is refused with the list of what is missing, never guessed at.
 *
 * The statement is untrusted input (an unsigned attestation is anyone's to write): every field
 * is checked for type and shape, configuration paths must stay relative, and each text and key
 * must have the digest the statement gives it.
 */
import { posix } from 'node:path';
import { BUILD_TYPES, type ProvenancePackageInput, SLSA_V1, SLSA_V02 } from '../attest/provenance.ts';
import { lookupArch } from '../builder/arch.ts';
import { digestHex, digestOf } from '../oci/digest.ts';
import type { Ecosystem, LockedRange } from '../pkg/source.ts';

/** One package file a build installed, as its provenance names it: a lock entry and the file's SHA-256. */
export interface ProvenancePackage extends Omit<ProvenancePackageInput, 'kind'> {
  kind: Ecosystem;
}

/** Everything a rebuild takes from one platform's provenance. */
export interface ReplayPlan {
  predicateType: string;
  buildType: string;
  /** `runDetails.builder.id`, when given. */
  builderId: string | undefined;
  config: {
    /** The root file, relative to its own folder (`apko.yaml`). */
    path: string;
    /** Every file read, the root first; paths relative to the root's folder, normalized. */
    files: { path: string; sha256: string; content: string }[];
    /**
     * `config.contents` as the statement gives it (what a policy reads), unchecked: a rebuild
     * checks it against the contents the files merge to. Undefined when the statement has none.
     */
    contents?: unknown;
  };
  /** The architectures of the build, in apk's spelling. */
  archs: string[];
  /** SOURCE_DATE_EPOCH of the build; undefined when it had none. */
  sourceDateEpoch: number | undefined;
  /** `apko` when the build was apko-compatible (`build --compat apko`). */
  compat?: 'apko' | undefined;
  /** The target the build was written for (`build --target`), by its label: a rebuild applies its fix too. */
  target?: string | undefined;
  /** Whether the build read a lock the user gave (apko compatibility orders packages by it then). */
  fromLock?: boolean | undefined;
  ecosystem: Ecosystem;
  packages: ProvenancePackage[];
  /** The trusted apk keys by file name, with their PEM text. */
  keys: { name: string; pem: string }[];
}

/** What a statement says about replaying it. */
export type ProvenanceReading =
  | { replayable: true; plan: ReplayPlan }
  | {
      replayable: false;
      predicateType: string;
      buildType: string | undefined;
      builderId: string | undefined;
      /** Why, in one sentence. */
      reason: string;
      /** Each thing a rebuild would need and the statement lacks, by where it would be. */
      missing: string[];
    };

const HEX64 = /^[0-9a-f]{64}$/;
const APK_CHECKSUM = /^Q1[A-Za-z0-9+/]{27}=$/;
const DEB_CHECKSUM = /^sha256:[0-9a-f]{64}$/;
const RANGE = /^bytes=\d{1,15}-\d{1,15}$/;
const RANGE_CHECKSUM = /^(sha1|sha256)-[A-Za-z0-9+/]+={0,2}$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;
/** BuildKit's build types: SLSA v1 (docs/attestations/slsa-definitions.md) and v0.2. */
const BUILDKIT_BUILD_TYPES = new Set([
  'https://github.com/moby/buildkit/blob/master/docs/attestations/slsa-definitions.md',
  'https://mobyproject.org/buildkit@v1',
]);

/** The build types replayed, and what a refusal names as missing. */
const OURS: ReadonlySet<string> = new Set(Object.values(BUILD_TYPES));
const isOurs = (t: string | undefined): t is string => t !== undefined && OURS.has(t);
const OUR_BUILD_TYPES = `buildType ${BUILD_TYPES.apk} or ${BUILD_TYPES.deb}`;

/**
 * The external parameters Provenant's build types state (../attest/provenance.ts), and those of
 * `config`. SLSA's verification: "Any unrecognized externalParameters SHOULD cause verification to
 * fail" (https://slsa.dev/spec/v1.0/verifying-artifacts). A rebuild that left one out would not be
 * the build it describes (a `postInstall` that changed the image), and a match would vouch for it.
 */
const KNOWN_EXTERNAL: ReadonlySet<string> = new Set(['config', 'archs', 'sourceDateEpoch', 'compat', 'target', 'fromLock']);
const KNOWN_CONFIG: ReadonlySet<string> = new Set(['path', 'files', 'contents']);
/** Those of each `config.files[i]`, its `digest`, and `config.contents`: every key Provenant has written there. */
const KNOWN_FILE: ReadonlySet<string> = new Set(['path', 'digest', 'content']);
const KNOWN_DIGEST: ReadonlySet<string> = new Set(['sha256']);
const KNOWN_CONTENTS: ReadonlySet<string> = new Set(['repositories', 'buildRepositories', 'runtimeRepositories', 'keyring', 'packages']);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
/** A string for a message, cut short: the statement is anyone's to write. */
const cut = (text: string): string => (text.length > 120 ? `${text.slice(0, 117)}...` : text);
/** A value for a message, cut short. */
const show = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return cut(text);
};

/**
 * Reads one SLSA provenance statement (the in-toto statement as parsed JSON). Never throws: a
 * statement that is not Provenant's, or lacks what a rebuild needs, is returned as not
 * replayable with every missing thing named.
 */
export function readProvenance(statement: unknown): ProvenanceReading {
  const s = isObj(statement) ? statement : {};
  const predicateType = str(s.predicateType) ?? '';
  const predicate = isObj(s.predicate) ? s.predicate : {};
  if (predicateType === SLSA_V02) return readV02(predicate);
  const def = isObj(predicate.buildDefinition) ? predicate.buildDefinition : {};
  const run = isObj(predicate.runDetails) ? predicate.runDetails : {};
  const builderId = isObj(run.builder) ? str(run.builder.id) : undefined;
  const buildType = str(def.buildType);
  const refuse = (reason: string, missing: string[]): ProvenanceReading => ({
    replayable: false,
    predicateType,
    buildType,
    builderId,
    reason,
    missing,
  });
  if (predicateType !== SLSA_V1) {
    return refuse(`the statement is ${predicateType === '' ? 'not SLSA provenance' : `of type ${predicateType}`}, not SLSA provenance v1`, [
      `predicateType ${SLSA_V1}`,
    ]);
  }
  if (!isOurs(buildType)) return refuse(foreignBuild(buildType, def.externalParameters), [OUR_BUILD_TYPES]);

  const missing: string[] = [];
  const external = isObj(def.externalParameters) ? def.externalParameters : {};
  if (!isObj(def.externalParameters)) missing.push('buildDefinition.externalParameters');
  const unknown = unknownKeys(external);
  const config = readConfig(external.config, missing);
  const archs = readArchs(external.archs, missing);
  let sourceDateEpoch: number | undefined;
  if (external.sourceDateEpoch !== undefined) {
    const n = external.sourceDateEpoch;
    if (typeof n === 'number' && Number.isSafeInteger(n) && n >= 0) sourceDateEpoch = n;
    else missing.push('externalParameters.sourceDateEpoch as a whole number of seconds, 0 or more');
  }
  if (external.compat !== undefined && external.compat !== 'apko')
    missing.push('externalParameters.compat this version builds (apko, or none)');
  if (external.target !== undefined && (typeof external.target !== 'string' || external.target.trim() === ''))
    missing.push('externalParameters.target as the label of a target (artifactory@6.23.38), or none');
  const deps = Array.isArray(def.resolvedDependencies) ? def.resolvedDependencies : undefined;
  if (deps === undefined) missing.push('buildDefinition.resolvedDependencies');
  const packages: ProvenancePackage[] = [];
  const keys: { name: string; pem: string }[] = [];
  for (const [i, d] of (deps ?? []).entries()) {
    const kind = isObj(d) && isObj(d.annotations) ? d.annotations.kind : undefined;
    if (kind === 'apk' || kind === 'deb') {
      const p = readPackage(d as Obj, kind, `resolvedDependencies[${i}]`, missing);
      if (p !== undefined) packages.push(p);
    } else if (kind === 'apk-key') {
      const k = readKey(d as Obj, `resolvedDependencies[${i}]`, missing);
      if (k !== undefined && !keys.some((x) => x.name === k.name)) keys.push(k);
    }
  }
  const kinds = [...new Set(packages.map((p) => p.kind))];
  if (deps !== undefined && packages.length === 0 && !missing.some((m) => m.startsWith('resolvedDependencies['))) {
    missing.push('resolvedDependencies: the package files (annotations.kind apk or deb), with their lock fields');
  }
  if (kinds.length > 1) missing.push('packages of one ecosystem: the statement names both apk and deb packages');
  else if (buildType === BUILD_TYPES.deb && kinds[0] === 'apk') missing.push(`deb packages, as the buildType ${BUILD_TYPES.deb} says`);
  if (unknown.length > 0) {
    const keys = unknown.map((u) => u.key);
    const shown = keys.length > 5 ? [...keys.slice(0, 5), `${keys.length - 5} more`] : keys;
    return refuse(
      `the provenance states external parameters this version of Provenant does not know (${shown.join(', ')}): a rebuild without them may not be the build they describe, and SLSA verification fails on an unrecognized one`,
      [...unknown.slice(0, 5).map((u) => `no ${u.key}: only ${u.known} are known`), ...missing],
    );
  }
  if (missing.length > 0 || config === undefined || archs === undefined) {
    return refuse('the provenance lacks what a rebuild needs', missing);
  }
  return {
    replayable: true,
    plan: {
      predicateType,
      buildType,
      builderId,
      config,
      archs,
      sourceDateEpoch,
      ...(external.compat === 'apko' ? { compat: 'apko' as const } : {}),
      ...(typeof external.target === 'string' ? { target: external.target } : {}),
      ...(typeof external.fromLock === 'boolean' ? { fromLock: external.fromLock } : {}),
      ecosystem: kinds[0] as Ecosystem,
      packages,
      keys,
    },
  };
}

/** Our own v0.2 shape carries the configuration but only URIs and digests of the packages. */
function readV02(predicate: Obj): ProvenanceReading {
  const buildType = str(predicate.buildType);
  const builderId = isObj(predicate.builder) ? str(predicate.builder.id) : undefined;
  const invocation = isObj(predicate.invocation) ? predicate.invocation : {};
  if (!isOurs(buildType)) {
    return {
      replayable: false,
      predicateType: SLSA_V02,
      buildType,
      builderId,
      reason: foreignBuild(buildType, invocation.parameters),
      missing: [OUR_BUILD_TYPES],
    };
  }
  return {
    replayable: false,
    predicateType: SLSA_V02,
    buildType,
    builderId,
    reason:
      "SLSA v0.2 provenance (Provenant's --provenance version=v0.2) lists each material by URI and digest only, without the lock fields and keys a rebuild needs",
    missing: [
      'each package’s name, version, architecture and checksum (resolvedDependencies of SLSA v1)',
      'the apk keys’ PEM text (resolvedDependencies of kind apk-key)',
    ],
  };
}

/** Why a foreign build type is not replayed, naming what the statement says it is. */
function foreignBuild(buildType: string | undefined, parameters: unknown): string {
  if (buildType === undefined) return 'the provenance names no buildType, so nothing says how to replay it';
  if (BUILDKIT_BUILD_TYPES.has(buildType)) {
    const p = isObj(parameters) ? parameters : {};
    const frontend = str(isObj(p.request) ? p.request.frontend : undefined) ?? str(p.frontend);
    return `a BuildKit build (buildType ${buildType}${frontend === undefined ? '' : `, frontend ${frontend}`}): it records what a BuildKit frontend read (a Dockerfile, its context, base images), not packages Provenant can install`;
  }
  return `buildType ${buildType} is not Provenant's; only builds of ${BUILD_TYPES.apk} and ${BUILD_TYPES.deb} are replayed`;
}

/**
 * The keys of the external parameters, of `config`, of each `config.files[i]` (and its `digest`)
 * and of `config.contents` that Provenant does not state, each by its path in the statement.
 */
function unknownKeys(external: Obj): { key: string; known: string }[] {
  const TOP = `${[...KNOWN_EXTERNAL].join(', ')} (config: ${[...KNOWN_CONFIG].join(', ')})`;
  const at = (prefix: string, value: unknown, known: ReadonlySet<string>): { key: string; known: string }[] =>
    isObj(value)
      ? Object.keys(value)
          .filter((k) => !known.has(k))
          .map((k) => ({
            key: `${prefix}.${cut(k)}`,
            known: known === KNOWN_EXTERNAL || known === KNOWN_CONFIG ? TOP : [...known].join(', '),
          }))
      : [];
  const config = external.config;
  const files = isObj(config) && Array.isArray(config.files) ? config.files : [];
  return [
    ...at('externalParameters', external, KNOWN_EXTERNAL),
    ...at('externalParameters.config', config, KNOWN_CONFIG),
    ...files.flatMap((f, i) => [
      ...at(`externalParameters.config.files[${i}]`, f, KNOWN_FILE),
      ...(isObj(f) ? at(`externalParameters.config.files[${i}].digest`, f.digest, KNOWN_DIGEST) : []),
    ]),
    ...(isObj(config) ? at('externalParameters.config.contents', config.contents, KNOWN_CONTENTS) : []),
  ];
}

function readConfig(value: unknown, missing: string[]): ReplayPlan['config'] | undefined {
  if (!isObj(value)) {
    missing.push('externalParameters.config (the configuration files)');
    return undefined;
  }
  const root = str(value.path);
  if (root === undefined) missing.push('externalParameters.config.path');
  if (!Array.isArray(value.files) || value.files.length === 0) {
    missing.push('externalParameters.config.files (each configuration file with its content)');
    return undefined;
  }
  const files: ReplayPlan['config']['files'] = [];
  const before = missing.length;
  for (const [i, f] of value.files.entries()) {
    const at = `externalParameters.config.files[${i}]`;
    if (!isObj(f)) {
      missing.push(at);
      continue;
    }
    const path = configPath(f.path);
    const name = cut(str(f.path) ?? '');
    if (path === undefined) missing.push(`${at}.path: a relative path (found ${show(f.path)})`);
    const sha256 = isObj(f.digest) ? str(f.digest.sha256) : undefined;
    if (sha256 === undefined || !HEX64.test(sha256)) missing.push(`${at}.digest.sha256 (${name})`);
    if (typeof f.content !== 'string') {
      missing.push(`${at}.content (the text of ${name || 'the file'})`);
      continue;
    }
    if (sha256 !== undefined && digestHex(digestOf(f.content)) !== sha256) {
      missing.push(`${at}.content that matches its digest.sha256 (${name}: the text was changed or the digest is wrong)`);
      continue;
    }
    if (path !== undefined && files.some((x) => x.path === path)) {
      missing.push(`${at}.path: ${path} is listed twice`);
      continue;
    }
    if (path !== undefined && sha256 !== undefined) files.push({ path, sha256, content: f.content });
  }
  if (root !== undefined && files[0] !== undefined && configPath(root) !== files[0].path) {
    missing.push(`externalParameters.config.path ${JSON.stringify(root)} as the first of config.files (found ${files[0].path})`);
  }
  if (missing.length > before || root === undefined) return undefined;
  return { path: files[0]?.path ?? root, files, ...(value.contents === undefined ? {} : { contents: value.contents }) };
}

/** A configuration path as the provenance writes it (relative to the root's folder), normalized; undefined when unsafe. */
function configPath(value: unknown): string | undefined {
  if (typeof value !== 'string' || value === '' || value.length > 4096 || value.includes('\0')) return undefined;
  if (value.startsWith('/') || value.includes('\\') || /^[A-Za-z]:/.test(value)) return undefined;
  const normal = posix.normalize(value);
  if (normal === '.' || normal.endsWith('/') || normal === '..' || normal.endsWith('/..')) return undefined;
  return normal;
}

function readArchs(value: unknown, missing: string[]): string[] | undefined {
  if (!Array.isArray(value) || value.length === 0) {
    missing.push('externalParameters.archs (the architectures built)');
    return undefined;
  }
  const out: string[] = [];
  let bad = false;
  for (const [i, a] of value.entries()) {
    const arch = typeof a === 'string' ? lookupArch(a) : undefined;
    if (arch === undefined) {
      missing.push(`externalParameters.archs[${i}]: an architecture (found ${show(a)})`);
      bad = true;
    } else if (!out.includes(arch)) out.push(arch);
  }
  return bad ? undefined : out;
}

function readRange(value: unknown): LockedRange | undefined | false {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return false;
  const [range, checksum, ...rest] = value.split(' ');
  if (range === undefined || checksum === undefined || rest.length > 0 || !RANGE.test(range) || !RANGE_CHECKSUM.test(checksum))
    return false;
  return { range, checksum };
}

function readPackage(d: Obj, kind: Ecosystem, at: string, missing: string[]): ProvenancePackage | undefined {
  const a = d.annotations as Obj;
  const name = str(d.name);
  const url = str(d.uri);
  const sha256 = isObj(d.digest) ? str(d.digest.sha256) : undefined;
  const version = str(a.version);
  // The lock's architecture: `lockArch` beside a package's own `arch` (`all`, `noarch`) where
  // they differ (../attest/provenance.ts); `arch` alone in a provenance without it.
  const architecture = str(a.lockArch) ?? str(a.arch);
  const checksum = str(a.checksum);
  const label = `${at} (${cut(name ?? url ?? 'a package')})`;
  const need: string[] = [];
  if (name === undefined) need.push('name');
  if (url === undefined) need.push('uri');
  if (sha256 === undefined || !HEX64.test(sha256)) need.push('digest.sha256');
  if (version === undefined) need.push('annotations.version');
  if (architecture === undefined) need.push('annotations.arch');
  if (checksum === undefined || !(kind === 'apk' ? APK_CHECKSUM : DEB_CHECKSUM).test(checksum)) {
    need.push(`annotations.checksum (${kind === 'apk' ? 'Q1…' : 'sha256:<hex>'})`);
  }
  const ranges = { signature: readRange(a.signature), control: readRange(a.control), data: readRange(a.data) };
  for (const [k, v] of Object.entries(ranges)) if (v === false) need.push(`annotations.${k} ("bytes=N-M <checksum>")`);
  if (kind === 'deb' && checksum !== undefined && sha256 !== undefined && checksum !== `sha256:${sha256}`) {
    need.push('annotations.checksum equal to digest.sha256 (a .deb is named by the SHA-256 of its file)');
  }
  if (need.length > 0) {
    missing.push(`${label}: ${need.join(', ')}`);
    return undefined;
  }
  return {
    kind,
    name: name as string,
    version: version as string,
    architecture: architecture as string,
    url: url as string,
    checksum: checksum as string,
    sha256: sha256 as string,
    signature: ranges.signature || undefined,
    control: ranges.control || undefined,
    data: ranges.data || undefined,
  };
}

function readKey(d: Obj, at: string, missing: string[]): { name: string; pem: string } | undefined {
  const name = str(d.name);
  const sha256 = isObj(d.digest) ? str(d.digest.sha256) : undefined;
  const content = typeof d.content === 'string' && BASE64.test(d.content) ? d.content : undefined;
  // A key is a file name in /etc/apk/keys: no folder in it.
  if (name === undefined || name.includes('/') || name === '.' || name === '..' || name.includes('\0')) {
    missing.push(`${at}: the key's file name`);
    return undefined;
  }
  if (content === undefined) {
    missing.push(`${at} (${cut(name)}): content (the key's PEM text, base64)`);
    return undefined;
  }
  const pem = Buffer.from(content, 'base64').toString('utf8');
  if (sha256 === undefined || digestHex(digestOf(pem)) !== sha256) {
    missing.push(`${at} (${cut(name)}): content that matches its digest.sha256`);
    return undefined;
  }
  return { name, pem };
}
