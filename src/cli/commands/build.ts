/** `provenant build CONFIG.yaml`: a multi-arch image from an apko-style configuration, with its SBOMs and provenance. */
import { basename } from 'node:path';
import { type AttestationMode, type Attested, attestationReferrer, isInIndexMode } from '../../attest/storage.ts';
import { type BuildResult, writeBuild } from '../../builder/build.ts';
import type { SigningStorages } from '../../compat/build-storages.ts';
import type { TargetReport } from '../../compat/check.ts';
import type { FixReport, NotSigned, SignedInfo, SignedStatement } from '../../compat/fix.ts';
import type { Target } from '../../compat/profile.ts';
import { isProvenantError, ProvenantError } from '../../errors.ts';
import { cosignTag } from '../../oci/content.ts';
import type { Digest } from '../../oci/digest.ts';
import { isIndexType } from '../../oci/mediatypes.ts';
import type { Descriptor } from '../../oci/types.ts';
import type { Location } from '../../ref/location.ts';
import { statementImageName } from '../../ref/reference.ts';
import type { SignedEntry } from '../../sign/sign.ts';
import type { ContentStore } from '../../store/types.ts';
import type { ParsedArgs } from '../args.ts';
import { attestationsFor, COMPAT_FLAG, checkAttestationFlags, INCLUDE_ROOT_FLAG, renderBuild, runBuild, writtenAs } from '../builder.ts';
import type { CommandSpec } from '../command.ts';
import type { TargetedBuild } from '../compat.ts';
import { PROFILES_FLAG, TARGET_FLAG } from '../compat-flags.ts';
import type { CliIo } from '../io.ts';
import { CACHE_DIR_FLAG, FORMAT_FLAG, formatOf, outputFlag, positional, QUIET_FLAG, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { type Progress, progressReporter } from '../progress.ts';
import type { ChosenSigner } from '../signing.ts';
import { SIGNING_FLAGS } from '../signing-flags.ts';
import { parseLocationOrPath, refuseDigest, withStores } from '../stores.ts';

export const spec: CommandSpec = {
  summary: 'build a multi-arch image from an apko-style YAML configuration',
  usage:
    'provenant build CONFIG.yaml [-o oci:DIR[:TAG] | oci-archive:FILE | docker-archive:FILE | REGISTRY/REPO:TAG] [--platform linux/ARCH]... [--lock FILE] [--compat apko]',
  prints: 'result',
  flags: {
    output: outputFlag('where to write the image (default oci:<config name>.oci:latest)'),
    platform: {
      type: 'string',
      multiple: true,
      description: 'build only these platforms, as buildx names them (linux/amd64, linux/arm64, linux/arm/v7, host)',
    },
    arch: {
      type: 'string',
      multiple: true,
      description: "build only these architectures (apk or OCI names); default the config's archs",
    },
    lock: { type: 'string', description: 'build exactly the packages this lock file pins, resolving nothing' },
    'write-lock': {
      type: 'string',
      description:
        'also write the lock of this build to FILE, once the output is whole (written, signed and tagged): a build that fails leaves FILE as it was',
    },
    'cache-dir': CACHE_DIR_FLAG,
    compat: COMPAT_FLAG,
    'include-root': INCLUDE_ROOT_FLAG,
    'layer-cache': {
      type: 'string',
      description:
        'keep layers, the compressed form of large files and a record of what the build made in the cache, and reuse them: true (default) or false',
    },
    sbom: { type: 'string', description: 'attach SPDX and CycloneDX SBOMs: true (default) or false' },
    'sbom-files': { type: 'boolean', description: "list each package's files in the SBOMs (not with --compat apko)" },
    provenance: {
      type: 'string',
      description: 'attach SLSA provenance: false, or mode=min|max and version=v1|v0.2, comma-separated (default mode=min,version=v1)',
    },
    attestations: {
      type: 'string',
      description:
        "where attestations go: referrers (default), buildkit (BuildKit's legacy in-index form), buildkit-artifact (its 0.32 OCI-artifact form), cosign (signed: needs --sign) or none",
    },
    'builder-id': { type: 'string', description: "the provenance's builder id (default: the GitHub Actions workflow, else a local id)" },
    target: {
      ...TARGET_FLAG,
      description: 'write the image in the shape this registry or runtime accepts, as fix would make it (one target; see docs/targets.md)',
    },
    profiles: PROFILES_FLAG,
    format: FORMAT_FLAG,
    // Signing: the index, each image and each statement, once all is written.
    sign: { type: 'boolean', description: 'sign the image, each platform image and every attestation: with --key, else keyless' },
    ...SIGNING_FLAGS,
    quiet: QUIET_FLAG,
    ...REGISTRY_FLAGS,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [configPath] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const outText = (args.values.output as string | undefined) ?? `oci:${configPath.replace(/\.ya?ml$/, '')}.oci:latest`;
  const out = parseLocationOrPath(outText);
  // Said before anything is built (withStores says it again where the output is opened).
  refuseDigest(outText, out, 'build');
  const epoch = sourceDateEpoch(io);
  // SLSA's builder.id is a URI; said before the build, not after it.
  const builderId = args.values['builder-id'] as string | undefined;
  if (builderId !== undefined && !/^[a-z][a-z0-9+.-]*:/i.test(builderId)) {
    throw new ProvenantError('USAGE', `--builder-id must be a URI, not ${JSON.stringify(builderId)}`, {
      hint: 'name the builder as SLSA does, e.g. https://github.com/ORG/REPO/.github/workflows/release.yml@refs/heads/main',
    });
  }
  checkAttestationFlags(args);
  // --profiles adds profiles for --target to choose from; alone it would be read by nothing.
  if (args.values.target === undefined && args.values.profiles !== undefined) {
    throw new ProvenantError('USAGE', '--profiles adds target profiles for --target: give --target too', {
      hint: 'provenant check IMAGE --target T --profiles DIR checks an image against them',
    });
  }
  // The target checker and the signing libraries load only when a flag asks for them, so that a
  // plain build starts without them. --target is read before the build: a typo costs nothing.
  const compat = args.values.target === undefined ? undefined : await import('../compat.ts');
  const [target] = compat === undefined ? [] : (await compat.targetsFrom(args, { required: false, one: true })).targets;
  const targeted = compat === undefined || target === undefined ? undefined : { compat, target };
  const v = args.values;
  // A docker-archive keeps no manifest: manifest.json names a config and layers, and `docker load`
  // (or skopeo reading it) makes a manifest of its own, so no digest signed here is the image's
  // anywhere else; a signature written there would be one more image for `docker load` to tag
  // (cosign's `.sig`), or blobs nothing names (a referrer). cosign signs no archive either: it
  // signs in a registry, and `cosign save` writes an OCI layout. Said before the key is read.
  if (out.kind === 'docker-archive' && (v.sign === true || v.key !== undefined || v['identity-token'] !== undefined)) {
    throw new ProvenantError('USAGE', 'a docker-archive holds one image and no signatures: its manifest is rebuilt when it is loaded', {
      where: outText,
      hint: 'write to oci:DIR or oci-archive:FILE (or a registry) to sign, or sign the image once it is loaded and pushed (provenant sign REF)',
    });
  }
  // A docker-archive is written whole: a file already there is refused before the build, not
  // once the build is done and the archive opened (where it is checked again).
  if (out.kind === 'docker-archive') await (await import('../../store/docker-archive.ts')).refuseExistingArchive(out.path);
  // The key is decrypted (or the token found) before the build, so a wrong password costs no build.
  const signing = v.key !== undefined || v.sign === true || v['identity-token'] !== undefined ? await import('../signing.ts') : undefined;
  const chosen = await signing?.signerFromFlags(args, io, v.sign === true);
  const signer = signing === undefined || chosen === undefined ? undefined : { ...chosen, signing };
  if (args.values.attestations === 'cosign' && signer === undefined) {
    throw new ProvenantError('USAGE', '--attestations cosign stores signed attestations: add --sign (with --key FILE, or keyless)');
  }
  const progress = progressReporter(io, { quiet: args.values.quiet === true });
  try {
    const { writeLock, ...result } = await runBuild(configPath, args, io, {
      sourceDateEpoch: epoch,
      progress,
      // A docker-archive holds one image of one platform (`docker load` takes no index): say so
      // before anything is downloaded.
      check: (archs) => {
        if (out.kind === 'docker-archive' && archs.length > 1)
          throw new ProvenantError(
            'USAGE',
            `a docker-archive holds one platform's image, and this build makes ${archs.length} (${archs.join(', ')})`,
            {
              where: outText,
              hint: `choose one with --platform (e.g. --platform linux/amd64), or write all of them to oci:DIR or oci-archive:FILE`,
            },
          );
      },
    });
    // The name SBOMs and provenance give the image: its repository in a registry, written in full
    // as the Action writes it (`docker://alpine` is Docker Hub's library/alpine, the registry spelled
    // as ref/reference.ts normalises it), without the tag, so that a second tag of the same build
    // gives the same statements (statementImageName); for a
    // local output the configuration's name, as the Action gives it, so that the documents do not
    // depend on (nor tell) where on this machine the image was written.
    const imageName = out.kind === 'registry' ? statementImageName(out.reference) : basename(configPath).replace(/\.ya?ml$/, '');
    let attestations = await attestationsFor(result, args, io, {
      configPath,
      imageName,
      sourceDateEpoch: epoch,
      target: targeted?.target.label,
    });
    // `docker load` takes one platform's manifest and nothing attached to it.
    const single = out.kind === 'docker-archive' && result.images[0] !== undefined;
    // Said once the archive is opened: a file already there is refused then, and the note would
    // be about an archive that is never written.
    const leftOut = single && attestations !== undefined;
    if (leftOut) attestations = undefined;
    const built = single ? { ...result, index: result.images[0]!.manifest } : result;
    const lockPath = args.values['write-lock'] as string | undefined;
    const { written, signed } = await writeSigned(built, args, io, {
      outText,
      out,
      targeted,
      signer,
      attestations,
      epoch,
      progress,
      lockPath: writeLock === undefined ? undefined : lockPath,
      opened: () => {
        if (leftOut)
          progress.message(`note: a docker-archive cannot hold SBOMs or provenance; write to oci:DIR or oci-archive:FILE to keep them`);
      },
    });
    progress.finish();
    // --write-lock's lock is written once the build's output is whole: written, signed and
    // tagged (an archive closed). A build that fails on the way (a full disk, a push refused, a
    // signing that fails) leaves the lock it would have replaced as it was.
    if (writeLock !== undefined) {
      await writeLock().catch((err: unknown) => {
        const image = writtenAs(out, (written.held ?? written.descriptor).digest);
        throw alsoWritten(err, `the image is written as ${image}; the lock is not`);
      });
    }
    // Each image as the output holds it: after a fix, and in a docker-archive as its manifest.
    const { held } = written;
    const viaFix = heldAs(written.fix);
    const heldImage =
      held === undefined
        ? viaFix
        : (image: Digest): Digest | undefined => {
            const d = viaFix === undefined ? image : viaFix(image);
            return d === written.descriptor.digest ? held.digest : d;
          };
    const rendered = renderBuild(result, (held ?? written.descriptor).digest, out, format, written.targetedJson, heldImage);
    if (signed === undefined || signer === undefined) io.stdout.write(rendered);
    else if (format === 'json') io.stdout.write(`${JSON.stringify({ ...JSON.parse(rendered), signer: signer.label, signed }, null, 2)}\n`);
    else io.stdout.write(`${rendered}signed with ${signer.label}:\n${signer.signing.renderSigned(signed)}`);
    if (format === 'text') io.stdout.write(written.targetedText);
  } finally {
    progress.finish();
  }
}

/**
 * The digest under which the output holds each built image, after `fix`: the one it wrote in its
 * place, or none when it left the image out (Lambda's writes one platform's manifest).
 */
function heldAs(fix: FixReport | undefined): ((image: Digest) => Digest | undefined) | undefined {
  if (fix === undefined || !fix.written) return undefined;
  const leftOut = new Set(fix.dropped.map((d) => d.digest));
  const renamed = new Map(fix.renamed.map((r) => [r.from, r.to]));
  return (image) => (leftOut.has(image) ? undefined : (renamed.get(image) ?? image));
}

/** What was written, and what to say of the target (nothing without `--target`). */
interface Written {
  descriptor: TargetedBuild['descriptor'];
  targetedJson: Record<string, unknown>;
  targetedText: string;
  /** The fix for the target that wrote the build, when one did. */
  fix?: FixReport | undefined;
  /**
   * What the output holds in place of `descriptor`, when that is another manifest: a
   * docker-archive's Docker manifest (see writeSigned). What is printed; signatures and
   * statements stay about `descriptor`.
   */
  held?: Descriptor | undefined;
}

/** The warning that the index's SBOM has no place in BuildKit's storage `mode`, unsigned. */
function indexSbomNotWritten(mode: string): string {
  return `warning: the index's SBOM is not written: --attestations ${mode} lists statements about platform images only, and the index cannot list one about itself; add --sign (with --key FILE, or keyless) to store it as a signed referrer of the index, or use --attestations referrers`;
}

/**
 * Writes the build to its destination (in the shape `target` accepts, when one is named) and,
 * with a signer, signs the index, each image and each statement written.
 */
async function writeSigned(
  built: BuildResult,
  args: ParsedArgs,
  io: CliIo,
  how: {
    outText: string;
    out: Location;
    /** `--target`, with cli/compat.ts (loaded only then). */
    targeted: { target: Target; compat: typeof import('../compat.ts') } | undefined;
    /** The signer, with cli/signing.ts (loaded only when asked to sign). */
    signer: (ChosenSigner & { signing: typeof import('../signing.ts') }) | undefined;
    attestations: Awaited<ReturnType<typeof attestationsFor>>;
    epoch: number | undefined;
    progress: Progress;
    /** Called once the destination is open, before anything is written to it. */
    opened?: (() => void) | undefined;
    /** `--write-lock`'s file, which the caller writes once the output is whole: said of on a failure. */
    lockPath?: string | undefined;
  },
): Promise<{ written: Written; signed: SignedEntry[] | undefined }> {
  const { signer, targeted } = how;
  let attestations = how.attestations;
  let signed: SignedEntry[] | undefined;
  const written = await withStores(args, io, [how.outText], async (stores) => {
    const dst = await stores.open(how.outText, { write: true, makes: 'build' });
    how.opened?.();
    const tags = dst.tags.length > 0 ? dst.tags : ['latest'];
    // To be signed: written by digest, signed, then tagged, so that no tag in a registry or layout
    // names the image before its signatures are there (nor at all when signing fails). An
    // archive is written whole when it is closed, and not at all on a failure.
    const signFirst = signer !== undefined && (how.out.kind === 'registry' || how.out.kind === 'oci');
    const tagsNow = signFirst ? [] : tags;
    // cosign storage has no unsigned form: its statements are written by signing them. Signed,
    // referrers storage holds each statement once, as its signed bundle (as `attest --sign` and
    // cosign 3's attest store it): an unsigned referrer beside it says the same again, unverified,
    // and readers that take the first SBOM they find (sbom) would read that one. BuildKit's
    // storages keep theirs in the index, the storage asked for, which the index's signature covers.
    const unsigned =
      attestations?.mode === 'cosign' || (signer !== undefined && attestations?.mode === 'referrers') ? undefined : attestations;
    /** The referrers the build writes (unsigned; signed, signBuild writes them). */
    const referrers = unsigned?.mode === 'referrers' ? unsigned.attested : [];
    const indexSbom = attestations?.attested.find((a) => a.manifest.digest === built.index?.digest);
    /** The statements the build made, each about a manifest it built (what a fix may leave out). */
    const made = attestations?.attested ?? [];
    let result: Written;
    /** The build written for the target, to be said of once it is signed. */
    let targetedBuild: TargetedBuild | undefined;
    /** Each built manifest a fix wrote another in place of, and that one (see aboutWrittenIndex). */
    let replaced: Map<string, string> | undefined;
    /** A write into a layout that fails part way says what the layout holds of the build. */
    const accountOfLayout = async (err: unknown): Promise<never> => {
      throw how.out.kind === 'oci' ? await layoutAccount(err, dst.store, built, referrers, tags, io.signal) : err;
    };
    if (targeted === undefined) {
      const descriptor = await writeBuild(built, dst.store, tagsNow, {
        attestations: unsigned,
        signal: io.signal,
        onProgress: how.progress.update,
      }).catch(accountOfLayout);
      result = { descriptor, targetedJson: {}, targetedText: '' };
    } else {
      const { compat, target } = targeted;
      const t = await compat
        .writeBuildFor(built, dst.store, tagsNow, target, {
          attestations: unsigned,
          // Unsigned, the statements about the images a fix rewrites are made again and attached by
          // the fix; signed, they are made again below, and signed.
          describe: signer === undefined ? attestations?.describe : undefined,
          reference: how.outText,
          signal: io.signal,
        })
        .catch(accountOfLayout);
      targetedBuild = t;
      result = { descriptor: t.descriptor, targetedJson: compat.targetedJson(t), targetedText: compat.renderTargeted(t), fix: t.fix };
      if (t.fix !== undefined) replaced = new Map(t.fix.renamed.filter((r) => r.role !== 'attachment').map((r) => [r.from, r.to]));
    }
    /** What a failure from here on says of the lock besides the image: it is written only once the build is whole. */
    const lockNote = how.lockPath === undefined ? '' : `; the lock ${how.lockPath} is left as it was`;
    // BuildKit's storages write an index of their own, the built one with the attestation entries
    // added, and a fix for the target may write an index and images of its own: signed, the
    // statements are about those, which are the ones signed and tagged.
    if (attestations !== undefined && result.descriptor.digest !== built.index?.digest) {
      const { aboutWrittenIndex } = await import('../../builder/describe.ts');
      const about = await aboutWrittenIndex(dst.store, result.descriptor, built, attestations.attested, {
        ...attestations.describe,
        signed: signer !== undefined,
        replaced,
        signal: io.signal,
      });
      attestations = { ...attestations, attested: about.attested };
    }
    // Unsigned, BuildKit's storages have no place for the index's SBOM, fixed or not (a fix moves
    // the statements the build attached, which are about platform images). A fix that writes one
    // platform's manifest (Lambda's) writes no index for an SBOM to be about, signed or not (see
    // aboutWrittenIndex): its account says the index was not carried, and signing would not
    // store the SBOM, so the warning is not given. What else a fix left out, its account says.
    const indexWritten = isIndexType(result.descriptor.mediaType);
    if (signer === undefined && indexWritten && indexSbom !== undefined && attestations !== undefined && isInIndexMode(attestations.mode))
      how.progress.message(indexSbomNotWritten(attestations.mode));
    if (signer !== undefined) {
      const { PartlySignedError, signBuild } = await import('../../sign/sign.ts');
      // A fix for a target may leave out platform images (Lambda takes one): only the statements
      // about images that were written are signed.
      const kept = [];
      for (const a of attestations?.attested ?? [])
        if ((await dst.store.resolve(a.manifest.digest, { signal: io.signal })) !== undefined) kept.push(a);
      const mode = attestations?.mode ?? 'none';
      // For a target, each signature and statement where it takes them, by the Action's decision:
      // under a cosign tag only what it refuses as a referrer (ECR: those of the index).
      const storages =
        targeted === undefined ? undefined : await storagesFor(dst.store, result.descriptor, kept, mode, targeted.target, io);
      const { tagOnlyLine } = await import('../../compat/build-storages.ts');
      for (const t of storages?.tagOnly ?? []) how.progress.message(tagOnlyLine(t));
      signed = await signBuild(dst.store, result.descriptor.digest, kept, {
        signer: signer.signer,
        dockerReference: signer.signing.dockerReferenceOf(how.out, args),
        attestations: mode,
        created: how.epoch === undefined ? undefined : new Date(how.epoch * 1000),
        storagesOf: storages?.storagesOf,
        attestationStorageOf: storages?.attestationStorageOf,
        dockerMediaTypesOf: storages?.dockerMediaTypesOf,
        signal: io.signal,
      }).catch((err: unknown) => {
        if (signFirst) throw untagged(err, dst.store.location, result.descriptor.digest, tags, lockNote);
        // An archive is discarded on a failure (withStores): the signatures signBuild wrote
        // before it went with the rest, and its account of them ("written and kept") is not so.
        throw err instanceof PartlySignedError ? nothingKept(err) : err;
      });
      // Checked again with the signatures there, before a tag names the image: a target may refuse
      // every storage of a signature, and then the build fails (exit 7) as an unsigned one it
      // refuses does, with the image untagged (an archive is not written).
      const checked =
        targeted === undefined
          ? undefined
          : (
              await (
                await import('../../compat/check.ts')
              ).checkImage(dst.store, result.descriptor.digest, [targeted.target], {
                reference: how.outText,
                probe: false,
                signal: io.signal,
              })
            ).targets[0];
      const refused = checked?.problems.filter((p) => p.severity === 'refuses') ?? [];
      if (targeted !== undefined && refused.length > 0) {
        const err = new ProvenantError(
          'INCOMPATIBLE',
          `${targeted.target.label} refuses the image as written and signed (${refused.map((p) => p.rule).join(', ')})`,
          { where: how.outText, hint: refused.map((p) => `${p.rule}: ${p.findings.map((f) => f.detail).join('; ') || p.why}`).join(' ') },
        );
        throw signFirst ? untagged(err, dst.store.location, result.descriptor.digest, tags, lockNote) : err;
      }
      if (signFirst) {
        // Signed and in its output by digest: a tag the output then refuses leaves both there.
        await (await import('../../image/copy.ts'))
          .tagImage(dst.store, result.descriptor.digest, tags, { signal: io.signal })
          .catch((err: unknown) => {
            throw alsoWritten(
              err,
              `the image and its signatures are written as ${dst.store.location}@${result.descriptor.digest}${lockNote}`,
            );
          });
      }
      if (targeted !== undefined) {
        // The account was of an image nothing had signed yet: said again of what the build signed,
        // with the target's verdict on the image as signed.
        if (targetedBuild !== undefined) {
          const fix =
            targetedBuild.fix === undefined
              ? undefined
              : await signedAfter(
                  dst.store,
                  targetedBuild.fix,
                  signed,
                  checked,
                  (await import('../../compat/fix.ts')).statementsNotSaidAgain(targetedBuild.fix, {
                    made,
                    kept,
                    builtIndex: built.index?.digest,
                    written: result.descriptor,
                    replaced,
                  }),
                  io,
                );
          const t = { ...targetedBuild, fix, signed: checked };
          result = { ...result, targetedJson: targeted.compat.targetedJson(t), targetedText: targeted.compat.renderTargeted(t) };
        }
      }
    }
    // A docker-archive keeps no manifest: read back, it holds a Docker schema 2 manifest of its
    // own (another digest than the built one), which is what `digest`, `docker load` and `copy`
    // to a docker-archive say; so is what the build prints. (Written through a fix, `descriptor`
    // is that one already.)
    const held = dst.store.heldAs?.(result.descriptor.digest);
    if (held !== undefined && held.digest !== result.descriptor.digest) result = { ...result, held };
    return result;
  });
  return { written, signed };
}

/**
 * Where `target` takes the signatures of the image `written` and the attestations of `attested`
 * (see buildAttachmentStorages, the Action's decision too), as signBuild's storage callbacks.
 */
async function storagesFor(
  store: ContentStore,
  written: Descriptor,
  attested: readonly Attested[],
  mode: AttestationMode,
  target: Target,
  io: CliIo,
): Promise<SigningStorages> {
  const { buildAttachmentStorages, signingStorages } = await import('../../compat/build-storages.ts');
  return signingStorages(await buildAttachmentStorages(store, written.digest, attested, mode, [target], { signal: io.signal }));
}

/**
 * The fix's report once the build signed what it wrote (see signedAfterFix): each signature made
 * (or found there already), its own manifest named by digest, the predicate types
 * signed about each digest, and the target's verdict with them there.
 */
async function signedAfter(
  store: ContentStore,
  fix: FixReport,
  signed: readonly SignedEntry[],
  checked: TargetReport | undefined,
  notSigned: readonly NotSigned[],
  io: CliIo,
): Promise<FixReport> {
  const { attestationsSignedAgain, signedAfterFix } = await import('../../compat/fix.ts');
  const signatures: SignedInfo[] = [];
  const statements = new Map<Digest, string[]>();
  const signedStatements: SignedStatement[] = [];
  for (const e of signed) {
    if (e.predicateType !== undefined) {
      // One type per statement (signedAfterFix counts them): a statement stored in two storages
      // (a referrer and a cosign tag) is one.
      const again = e.statement !== undefined && signedStatements.some((x) => x.about === e.digest && x.statement === e.statement);
      if (!again) statements.set(e.digest, [...(statements.get(e.digest) ?? []), e.predicateType]);
      if (e.statement !== undefined && !again) signedStatements.push({ about: e.digest, statement: e.statement });
      continue;
    }
    // A referrer by its digest (the location names it, after "referrer " when it was there
    // already); a cosign signature through its tag, cosign's `<alg>-<hex>.sig` of the subject.
    const signature =
      e.storage === 'referrers'
        ? (e.location.split(' ').pop() as Digest)
        : (await store.resolve(cosignTag(e.digest, 'sig'), { signal: io.signal }))?.digest;
    if (signature !== undefined) signatures.push({ subject: e.digest, signature, storage: e.storage });
  }
  // An attestation manifest the fix moved (BuildKit's, out of the index) is never signed itself:
  // when each of its statements was signed again about its subject, the account says so.
  const remade = await attestationsSignedAgain(store, fix, signedStatements, { signal: io.signal });
  return signedAfterFix(fix, { signatures, statements, checked, notSigned, remade });
}

/**
 * A signing failure after the image was written by digest: the cause, and where the image is,
 * untagged (and `also`, the lock written with it).
 */
function untagged(err: unknown, location: string, digest: string, tags: readonly string[], also = ''): unknown {
  return alsoWritten(err, `the image is written as ${location}@${digest}, not tagged ${tags.join(', ')}${also}`);
}

/**
 * A signing failure of an output that is discarded on a failure (an archive), as the failure
 * alone and that nothing was written: `failure` without what signing wrote before it, which was
 * written into the archive's work folder and went with it.
 */
function nothingKept(err: ProvenantError & { failure: string }): ProvenantError {
  // The failure may say so already: a full TMPDIR's says that the archive was not written.
  const said = /\bwas not written\b/.test(err.failure);
  return new ProvenantError(err.code, said ? err.failure : `${err.failure}; nothing was written`, {
    where: err.where,
    hint: err.hint,
    cause: err,
  });
}

/**
 * `err` of a write into a layout that failed part way (a full disk), with what the layout holds of
 * the build now and what it does not: the image, the referrers it wrote (`attested`, its SBOMs and
 * provenance), its tags. A layout is written to in steps (blobs, manifests, each referrer's
 * index.json entry, the tags last), and a step that failed does not undo those before it. Only
 * this build's referrers are counted: the layout may hold others of the same image (a signature
 * made of an earlier build of it), which this build did not write.
 */
async function layoutAccount(
  err: unknown,
  store: ContentStore,
  built: BuildResult,
  attested: readonly Attested[],
  tags: readonly string[],
  signal: AbortSignal,
): Promise<unknown> {
  if (!isProvenantError(err) || err.code === 'ABORTED' || built.index === undefined) return err;
  const root = built.index.digest;
  try {
    // Each referrer by the digest of the manifest the build made of its statements (as
    // storeAttestations makes it), which the layout lists if it went in.
    const ours = new Map<string, Attested>();
    for (const a of attested) {
      const referrer = attestationReferrer(a);
      if (referrer !== undefined) ours.set(referrer.stored.digest, a);
    }
    const held: Attested[] = [];
    for (const d of new Set([root, ...built.images.map((i) => i.manifest.digest)]))
      for (const r of await store.referrers(d, { signal })) {
        const a = ours.get(r.digest);
        if (a !== undefined && !held.includes(a)) held.push(a);
      }
    const { predicateName } = await import('../../attest/attachments.ts');
    const kinds = [...new Set(held.flatMap((a) => a.statements.map((s) => predicateName(s.predicateType) ?? s.predicateType)))];
    const all = `${ours.size} referrer${ours.size === 1 ? '' : 's'} the build made`;
    const some = `${held.length === ours.size ? `the ${all}` : `${held.length} of the ${all}`} (${kinds.join(', ')})`;
    if ((await store.resolve(root, { signal })) === undefined) {
      const though = held.length === 0 ? '' : `, though ${some} ${held.length === 1 ? 'is' : 'are'}`;
      return alsoWritten(err, `the image ${root} is not in ${store.location}${though}`);
    }
    const untagged = [];
    for (const tag of tags) if ((await store.resolve(tag, { signal }))?.digest !== root) untagged.push(tag);
    const referred = held.length === 0 ? '' : ` with ${some}`;
    const tagged = untagged.length === 0 ? `tagged ${tags.join(', ')}` : `not tagged ${untagged.join(', ')}`;
    return alsoWritten(err, `the image is written as ${store.location}@${root}${referred}, ${tagged}`);
  } catch {
    // The layout cannot be read either: the failure alone.
    return err;
  }
}

/**
 * `err` with `account` (what the output holds and what it does not) in place of a file write's
 * "nothing was written" (io/files.ts) or a layout's index.json's (store/layout.ts), which is true
 * of that one file only.
 */
function alsoWritten(err: unknown, account: string): unknown {
  if (!isProvenantError(err)) return err;
  const message = err.message.replace(/; nothing was written$/, '');
  // The hint may say it too (a layout's index.json over its cap): only the advice stays.
  const hint = err.hint?.replace(/^nothing was written; /, '');
  return new ProvenantError(err.code, `${message}; ${account}`, { where: err.where, hint, cause: err });
}
