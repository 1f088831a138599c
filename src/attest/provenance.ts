/**
 * SLSA provenance for builds: v1 (https://slsa.dev/spec/v1.0/provenance) in an in-toto Statement
 * v1, and BuildKit's older v0.2 shape for tools that still expect it.
 *
 * The provenance holds what a rebuild needs: the configuration files as given (text and digest),
 * the architectures and SOURCE_DATE_EPOCH (`externalParameters`), and every repository index,
 * package file and signing key with its digest (`resolvedDependencies`; packages carry their
 * lock fields, keys their PEM text). The build type is documented in docs/provenance.md.
 *
 * Nothing of it holds a repository's credentials: a provenance is published beside the image, so
 * the user info of every http(s) URL (`http://user:password@host/repo`) is removed from the
 * configuration text, the requested contents (an apk `@tag URL`, a Debian source line and its
 * `signed-by=` URLs, however the password is spelled) and every location, and the predicate as a
 * whole is checked for any left before it is published. A rebuild is given the credentials again
 * (`reproduce --repository-override`).
 */
import { withoutUserInfo } from '../errors.ts';
import { type Digest, digestHex, digestOf } from '../oci/digest.ts';
import { assertNoUserInfo, configTextWithoutUserInfo } from './config-text.ts';
import { type StatementBlob, statement } from './storage.ts';

/**
 * Our build types, one per package ecosystem: what `externalParameters` and
 * `resolvedDependencies` mean (docs/provenance.md). Both share one shape; the ecosystem says
 * which kinds of index and package the dependencies are.
 */
export const BUILD_TYPES = {
  apk: 'https://provenant.dev/build/apk/v1',
  deb: 'https://provenant.dev/build/deb/v1',
} as const;

/**
 * The apk build type, which Provenant also wrote for Debian builds before the Debian one
 * existed; readers take it for both.
 *
 * @deprecated name the ecosystem's type in {@link BUILD_TYPES}
 */
export const BUILD_TYPE = BUILD_TYPES.apk;

/** SLSA v1's predicate type, and v0.2's. */
export const SLSA_V1 = 'https://slsa.dev/provenance/v1';
export const SLSA_V02 = 'https://slsa.dev/provenance/v0.2';

/** A byte range of a package file (`bytes=START-END`) and its checksum, as the lock records it. */
export interface ByteRangeChecksum {
  range: string;
  checksum: string;
}

/** One package file a build installed: its lock entry and the file's SHA-256. */
export interface ProvenancePackageInput {
  /** The package's ecosystem (`apk`, `deb`); told from the checksum's form when absent. */
  kind?: string | undefined;
  name: string;
  version: string;
  /**
   * The architecture of the lock that holds it, as the ecosystem names it (`x86_64`, `amd64`): the
   * image's, also for a package built for every architecture.
   */
  architecture: string;
  /**
   * The package's own architecture, as its file and the SBOM say it (`all`, `noarch`), when it
   * is not `architecture`.
   */
  packageArchitecture?: string | undefined;
  /** Where the build fetched it: a URL, or a path relative to the configuration's folder. */
  url: string;
  /** apk: the `Q1` identity; Debian: `sha256:<hex>` of the file. */
  checksum: string;
  /** Lowercase hex SHA-256 of the whole file. */
  sha256: string;
  control?: ByteRangeChecksum | undefined;
  data?: ByteRangeChecksum | undefined;
  signature?: ByteRangeChecksum | undefined;
}

/** What a build hands to {@link provenance}. */
export interface ProvenanceInput {
  /**
   * The package ecosystem: chooses the build type and the kind of the repository indexes.
   * Default: that of the packages (their `kind`, else their checksums' form), else apk.
   */
  ecosystem?: 'apk' | 'deb' | undefined;
  /** Configuration files read (the root first), paths relative to the root's folder. */
  configFiles: { path: string; sha256: string; content: string }[];
  /**
   * The configuration's `contents` after its includes are merged (repositories, keyring,
   * packages), stated beside the files' text so that a policy can read what was asked for
   * (`externalParameters.config.contents.packages`) without parsing YAML. A rebuild reads the
   * files; this is a statement about them.
   */
  contents?:
    | {
        repositories: string[];
        buildRepositories?: string[] | undefined;
        runtimeRepositories?: string[] | undefined;
        keyring: string[];
        packages: string[];
      }
    | undefined;
  archs: string[];
  sourceDateEpoch: number | undefined;
  /** The build's compatibility mode (`apko`), which a rebuild must use too. */
  compat?: string | undefined;
  /**
   * The target the build was written for (`build --target`), as its label (`artifactory@6.23.38`):
   * the fix it needs rewrites the image, and a rebuild must apply it too to make the same one.
   */
  target?: string | undefined;
  /** Whether the build was from a lock file the user gave. */
  fromLock: boolean;
  /**
   * The repository indexes read, and for a signed one checked whole (Debian's InRelease), the
   * keyring files trusted to check it and the fingerprints of the keys whose signatures were good.
   */
  indexes: {
    url: string;
    arch: string;
    digest: Digest;
    verifiedBy?: { keyring: { name: string; sha256: string; uri?: string | undefined }[]; signers: string[] } | undefined;
  }[];
  packages: ProvenancePackageInput[];
  /** The trusted keys: file name, PEM text, and the URL of one fetched from one (named without its user info). */
  keys: { name: string; pem: string; uri?: string | undefined }[];
  /** The builder: `--builder-id`, or from CI (see docs/provenance.md). */
  builderId: string;
  toolVersion: string;
  /** SBOMs made with the image, by name and digest. */
  byproducts: { name: string; digest: Digest; mediaType: string }[];
  /** `max` adds the environment (CI run) to the provenance; `min` leaves out anything that could hold a secret. */
  mode: 'min' | 'max';
  /** With `max`: the CI invocation (workflow, run id, ...), never credentials. */
  invocation?: { id?: string | undefined; environment?: Record<string, string> | undefined } | undefined;
}

/** A package's ecosystem: as given, else told from its checksum (.debs are named by the SHA-256 of the file; apk packages by their Q1 identity). */
function kindOf(p: ProvenancePackageInput): string {
  return p.kind ?? (p.checksum.startsWith('sha256:') ? 'deb' : 'apk');
}

function ecosystemOf(input: ProvenanceInput): 'apk' | 'deb' {
  if (input.ecosystem !== undefined) return input.ecosystem;
  const first = input.packages[0];
  return first !== undefined && kindOf(first) === 'deb' ? 'deb' : 'apk';
}

/**
 * A configuration file as the provenance states it: its text without the user info of its URLs,
 * and the digest of that text. A rebuild checks the one against the other; the digest of the
 * file as it was is left out too, since whoever knows the rest of the text could test guessed
 * passwords against it.
 */
function configFile(f: ProvenanceInput['configFiles'][number], urls: readonly string[]): Record<string, unknown> {
  const content = configTextWithoutUserInfo(f.content, urls, f.path);
  const sha256 = content === f.content ? f.sha256 : digestHex(digestOf(content));
  return { path: f.path, digest: { sha256 }, content };
}

/** The SLSA v1 predicate. */
export function provenancePredicate(input: ProvenanceInput): Record<string, unknown> {
  const ecosystem = ecosystemOf(input);
  // The URLs the files name, whose user info is removed from their text as written.
  const { contents } = input;
  const urls =
    contents === undefined
      ? []
      : [...contents.repositories, ...(contents.buildRepositories ?? []), ...(contents.runtimeRepositories ?? []), ...contents.keyring];
  // Every location the predicate states, without user info: the configuration's own removed as
  // written (a password may hold a space, a quote, a `<`), any other URL's as it reads.
  const clean = (location: string): string => withoutUserInfo(location, urls);
  const externalParameters: Record<string, unknown> = {
    config: {
      path: input.configFiles[0]?.path ?? '',
      files: input.configFiles.map((f) => configFile(f, urls)),
      ...(input.contents === undefined
        ? {}
        : {
            contents: {
              repositories: input.contents.repositories.map(clean),
              // Only when the configuration has them, so that the provenance of one without them
              // is what it was before they were stated.
              ...(input.contents.buildRepositories === undefined || input.contents.buildRepositories.length === 0
                ? {}
                : { buildRepositories: input.contents.buildRepositories.map(clean) }),
              ...(input.contents.runtimeRepositories === undefined || input.contents.runtimeRepositories.length === 0
                ? {}
                : { runtimeRepositories: input.contents.runtimeRepositories.map(clean) }),
              keyring: input.contents.keyring.map(clean),
              packages: input.contents.packages,
            },
          }),
    },
    archs: input.archs,
    ...(input.sourceDateEpoch === undefined ? {} : { sourceDateEpoch: input.sourceDateEpoch }),
    ...(input.compat === undefined ? {} : { compat: input.compat }),
    ...(input.target === undefined ? {} : { target: input.target }),
    fromLock: input.fromLock,
  };
  const resolvedDependencies: Record<string, unknown>[] = [
    ...input.indexes.map((i) => ({
      uri: clean(i.url),
      digest: { sha256: i.digest.slice('sha256:'.length) },
      annotations: {
        kind: `${ecosystem}-index`,
        // As the ecosystem names it (Debian's amd64), as its packages' entries do; provenance
        // written before 2026-12-07 gives apk's (x86_64) for a Debian index. Nothing replays it.
        arch: i.arch,
        // What checked a signed index: a keyring is a trust root, not something the image holds,
        // so it is said here rather than as a dependency of its own (which `repositories`
        // policies would then require a uri of); its text is not carried (Debian's is 56 KB).
        ...(i.verifiedBy === undefined
          ? {}
          : {
              signers: i.verifiedBy.signers.join(' '),
              keyring: i.verifiedBy.keyring.map((k) => ({
                ...(k.uri === undefined ? {} : { uri: clean(k.uri) }),
                name: k.name,
                digest: { sha256: k.sha256 },
              })),
            }),
      },
    })),
    ...input.packages.map((p) => ({
      uri: clean(p.url),
      name: p.name,
      digest: { sha256: p.sha256 },
      annotations: {
        kind: kindOf(p),
        version: p.version,
        // The package's own architecture, as the SBOM names it (a .deb's Architecture: all); the
        // lock's, which a rebuild needs to put it in the image's lock, beside it when they differ.
        arch: p.packageArchitecture ?? p.architecture,
        ...(p.packageArchitecture === undefined || p.packageArchitecture === p.architecture ? {} : { lockArch: p.architecture }),
        checksum: p.checksum,
        ...(p.signature === undefined ? {} : { signature: `${p.signature.range} ${p.signature.checksum}` }),
        ...(p.control === undefined ? {} : { control: `${p.control.range} ${p.control.checksum}` }),
        ...(p.data === undefined ? {} : { data: `${p.data.range} ${p.data.checksum}` }),
      },
    })),
    // A key read from a file of this machine has no uri: the provenance carries all of it, its
    // text as `content` (SLSA v1 ResourceDescriptor), and names no path of the building machine.
    ...input.keys.map((k) => ({
      ...(k.uri === undefined ? {} : { uri: clean(k.uri) }),
      name: k.name,
      digest: { sha256: digestHex(digestOf(k.pem)) },
      content: Buffer.from(k.pem).toString('base64'),
      annotations: { kind: 'apk-key' },
    })),
  ];
  const metadata: Record<string, unknown> = {};
  if (input.mode === 'max' && input.invocation?.id !== undefined) metadata.invocationId = input.invocation.id;
  const builder: Record<string, unknown> = { id: input.builderId, version: { provenant: input.toolVersion } };
  const predicate = {
    buildDefinition: {
      buildType: BUILD_TYPES[ecosystem],
      externalParameters,
      ...(input.mode === 'max' && input.invocation?.environment !== undefined
        ? { internalParameters: { environment: input.invocation.environment } }
        : {}),
      resolvedDependencies,
    },
    runDetails: {
      builder,
      ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
      ...(input.byproducts.length > 0
        ? {
            byproducts: input.byproducts.map((b) => ({
              name: b.name,
              digest: { sha256: b.digest.slice('sha256:'.length) },
              mediaType: b.mediaType,
            })),
          }
        : {}),
    },
  };
  // The last look before the predicate is signed and published: no user info of any URL the
  // configuration names, however the JSON spells it, and none of any other URL in it.
  assertNoUserInfo(predicate, urls, input.configFiles[0]?.path ?? 'the configuration');
  return predicate;
}

/** The provenance of one platform image as an in-toto statement, v1 or BuildKit's v0.2. */
export function provenance(
  input: ProvenanceInput,
  subject: { name: string; digest: Digest },
  version: 'v1' | 'v0.2' = 'v1',
): StatementBlob {
  if (version === 'v1') return statement(SLSA_V1, provenancePredicate(input), [subject]);
  const v1 = provenancePredicate(input) as {
    buildDefinition: { externalParameters: unknown; resolvedDependencies: { uri?: string; name?: string; digest: unknown }[] };
  };
  // With `max`, the CI run where v0.2 keeps it, as v1 keeps it in internalParameters and
  // runDetails.metadata.invocationId: BuildKit's v0.2 records its invocation's environment and id
  // there too.
  const environment = input.mode === 'max' ? input.invocation?.environment : undefined;
  const invocationId = input.mode === 'max' ? input.invocation?.id : undefined;
  const predicate = {
    builder: { id: input.builderId },
    buildType: BUILD_TYPES[ecosystemOf(input)],
    invocation: { parameters: v1.buildDefinition.externalParameters, ...(environment === undefined ? {} : { environment }) },
    materials: v1.buildDefinition.resolvedDependencies.filter((d) => d.uri !== undefined).map((d) => ({ uri: d.uri, digest: d.digest })),
    // Complete only in what this shape holds: the environment is at most the CI run's chosen
    // variables, and not every material is listed (keys read from files have no URI).
    metadata: {
      ...(invocationId === undefined ? {} : { buildInvocationID: invocationId }),
      reproducible: true,
      completeness: { parameters: true, environment: false, materials: false },
    },
  };
  // v0.2 predicates travel in in-toto Statement v0.1, as BuildKit writes them.
  const body = {
    _type: 'https://in-toto.io/Statement/v0.1',
    predicateType: SLSA_V02,
    subject: [{ name: subject.name, digest: { sha256: subject.digest.slice('sha256:'.length) } }],
    predicate,
  };
  return { predicateType: SLSA_V02, bytes: new TextEncoder().encode(JSON.stringify(body)) };
}

/**
 * The builder id from the environment: GitHub Actions' workflow ref when it runs there
 * (`https://github.com/OWNER/REPO/.github/workflows/FILE@REF`), else a local id.
 */
export function builderIdFromEnv(env: Record<string, string | undefined>): string {
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  if (env.GITHUB_ACTIONS === 'true' && env.GITHUB_WORKFLOW_REF !== undefined) return `${server}/${env.GITHUB_WORKFLOW_REF}`;
  return 'https://provenant.dev/builder/local';
}

/** With `--provenance mode=max` on GitHub Actions: the run, never a token or secret. */
export function invocationFromEnv(env: Record<string, string | undefined>): ProvenanceInput['invocation'] {
  if (env.GITHUB_ACTIONS !== 'true') return undefined;
  const server = env.GITHUB_SERVER_URL ?? 'https://github.com';
  const keep = [
    'GITHUB_REPOSITORY',
    'GITHUB_SHA',
    'GITHUB_REF',
    'GITHUB_WORKFLOW_REF',
    'GITHUB_RUN_ID',
    'GITHUB_RUN_ATTEMPT',
    'GITHUB_EVENT_NAME',
    'RUNNER_OS',
    'RUNNER_ARCH',
  ];
  const environment: Record<string, string> = {};
  for (const k of keep) if (env[k] !== undefined) environment[k] = env[k] as string;
  const id =
    env.GITHUB_RUN_ID === undefined
      ? undefined
      : `${server}/${env.GITHUB_REPOSITORY ?? ''}/actions/runs/${env.GITHUB_RUN_ID}/attempts/${env.GITHUB_RUN_ATTEMPT ?? '1'}`;
  return { id, environment };
}
