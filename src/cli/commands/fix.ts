/** `provenant fix REF --target T -o DST`: the smallest change that makes a target take the image, written with a plain account. */
import { readFile } from 'node:fs/promises';
import { type FixReport, fixImage, type Resigner } from '../../compat/fix.ts';
import { ProvenantError } from '../../errors.ts';
import type { Descriptor } from '../../oci/types.ts';
import { formatLocation, type Location, parseLocation } from '../../ref/location.ts';
import { loadPrivateKeyFile } from '../../sign/keys.ts';
import { cosignDockerReference } from '../../sign/payload.ts';
import { signImage } from '../../sign/sign.ts';
import { githubActionsToken, KeylessSigner, KeySigner, type Signer } from '../../sign/signer.ts';
import { parseTrustedRoot } from '../../sign/trust.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { PROFILES_FLAG, renderFix, TARGET_FLAG, targetsFrom } from '../compat.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, platformArg, positional, REGISTRY_FLAGS, sourceDateEpoch } from '../options.ts';
import { targetOf, withStores } from '../stores.ts';

// The public Sigstore instance, as cosign defaults to it.
const PUBLIC_FULCIO = 'https://fulcio.sigstore.dev';
const PUBLIC_REKOR = 'https://rekor.sigstore.dev';

export const spec: CommandSpec = {
  summary: 'write the smallest change that makes a registry or runtime take an image, saying what changed',
  usage: 'provenant fix REF --target T -o DST [--platform os/arch] [--key FILE | --keyless] [--format json]',
  prints: 'result',
  flags: {
    target: TARGET_FLAG,
    output: { type: 'string', short: 'o', description: 'where to write the fixed image (any store; default tag latest)' },
    platform: { type: 'string', description: "the platform to keep when the fix picks one (default: the target's, in its order)" },
    all: { type: 'boolean', description: 'fix the warnings that have a fix too, not only refusals' },
    force: { type: 'boolean', description: 'write even when a refusal has no fix (the result is still refused)' },
    key: {
      type: 'string',
      description: 'sign what the fix changed with this cosign private key (password in COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD)',
    },
    keyless: { type: 'boolean', description: 'sign what the fix changed keylessly (a Fulcio certificate for an OIDC identity)' },
    'identity-token': {
      type: 'string',
      description: "keyless: the OIDC token (default SIGSTORE_ID_TOKEN, else the GitHub Actions job's own)",
    },
    'fulcio-url': { type: 'string', description: `keyless: the Fulcio instance (default ${PUBLIC_FULCIO})` },
    'rekor-url': { type: 'string', description: `keyless: the Rekor instance (default ${PUBLIC_REKOR})` },
    'tsa-url': { type: 'string', description: 'keyless: an RFC 3161 timestamp authority, too' },
    'trusted-root': { type: 'string', description: "keyless: a trusted root file, for the certificate's chain" },
    profiles: PROFILES_FLAG,
    format: FORMAT_FLAG,
    ...REGISTRY_FLAGS,
  },
};

/** Writes the fix; exits 7 (INCOMPATIBLE) when nothing was written or the target still refuses the result. */
export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  const [srcText] = positional(args, 1, spec.usage) as [string];
  const dstText = args.values.output as string | undefined;
  if (dstText === undefined) throw new ProvenantError('USAGE', 'fix needs -o DST: where to write the fixed image', { hint: spec.usage });
  const format = formatOf(args);
  const platformText = args.values.platform as string | undefined;
  const { targets } = await targetsFrom(args, { required: true, one: true });
  const target = targets[0]!;
  // The signer is made before anything is read: a wrong password fails at once.
  const signer = await signerFrom(args, io);
  const dstLocation = parseLocation(dstText);
  const report = await withStores(args, io, async (stores) => {
    const src = await stores.open(srcText);
    const dst = await stores.open(dstText, { write: true });
    return fixImage(src.store, await targetOf(src), dst.store, target, {
      tags: dst.tags.length > 0 ? dst.tags : ['latest'],
      ...(platformText === undefined ? {} : { platform: platformArg(platformText) }),
      include: args.values.all === true ? 'all' : 'refusals',
      force: args.values.force === true,
      reference: srcText,
      ...(signer === undefined ? {} : { resign: resigner(signer, dockerReferenceOf(dstLocation), sourceDateEpoch(io), io.signal) }),
      signal: io.signal,
    });
  });
  io.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderFix(report));
  const failed = fixFailure(report);
  if (failed !== undefined) throw failed;
}

/** The error a fix ends with when the target still would not take the image (exit 7). */
function fixFailure(report: FixReport): ProvenantError | undefined {
  if (!report.written) {
    return new ProvenantError(
      'INCOMPATIBLE',
      `${report.target} refuses the image for a reason no change to it can fix; nothing was written`,
      {
        where: report.source.reference,
        hint: `${report.unfixable.map((p) => p.rule).join(', ')}: see the account above; --force writes the other fixes anyway`,
      },
    );
  }
  if (report.after?.verdict === 'refused') {
    return new ProvenantError('INCOMPATIBLE', `${report.target} would still refuse the fixed image`, {
      where: report.destination?.location,
      hint: report.after.problems
        .filter((p) => p.severity === 'refuses')
        .map((p) => p.rule)
        .join(', '),
    });
  }
  return undefined;
}

/**
 * The signer `--key` or `--keyless` asks for, or undefined. The signing commands parse the same
 * flags; this is fix's copy until they share one parser.
 */
async function signerFrom(args: ParsedArgs, io: CliIo): Promise<Signer | undefined> {
  const keyPath = args.values.key as string | undefined;
  const keyless = args.values.keyless === true;
  if (keyPath !== undefined && keyless) throw new ProvenantError('USAGE', 'give --key or --keyless, not both');
  if (keyPath !== undefined) {
    // cosign's variable, and ours; an empty password is a password too (cosign's default prompt).
    const password = io.env.PROVENANT_KEY_PASSWORD ?? io.env.COSIGN_PASSWORD ?? '';
    return new KeySigner(await loadPrivateKeyFile(keyPath, password));
  }
  if (!keyless) return undefined;
  const given = (args.values['identity-token'] as string | undefined) ?? io.env.SIGSTORE_ID_TOKEN;
  const url = io.env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = io.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  const identityToken = given ?? (url !== undefined && requestToken !== undefined ? githubActionsToken(url, requestToken) : undefined);
  if (identityToken === undefined) {
    throw new ProvenantError('CREDENTIALS', 'keyless signing needs an OIDC identity token', {
      hint: 'pass --identity-token (or SIGSTORE_ID_TOKEN), or run in a GitHub Actions job with permissions: id-token: write',
    });
  }
  const trustedRootPath = args.values['trusted-root'] as string | undefined;
  return new KeylessSigner({
    fulcioURL: (args.values['fulcio-url'] as string | undefined) ?? PUBLIC_FULCIO,
    rekorURL: (args.values['rekor-url'] as string | undefined) ?? PUBLIC_REKOR,
    tsaURL: args.values['tsa-url'] as string | undefined,
    identityToken,
    trustedRoot: trustedRootPath === undefined ? undefined : parseTrustedRoot(await readFile(trustedRootPath), trustedRootPath),
  });
}

/** The repository a signature's payload names: the destination's, as cosign writes it. */
function dockerReferenceOf(location: Location): string {
  if (location.kind === 'registry') return cosignDockerReference(location.reference);
  if (location.kind === 'docker-archive' && location.reference !== undefined) return cosignDockerReference(location.reference);
  return formatLocation({ ...location, tag: undefined, digest: undefined } as Location);
}

/** Signs each digest the fix made, as a cosign 3 bundle referrer (what `cosign sign` writes by default). */
function resigner(signer: Signer, dockerReference: string, epoch: number | undefined, signal: AbortSignal): Resigner {
  const created = epoch === undefined ? undefined : new Date(epoch * 1000);
  return async (store, digest) => {
    const entries = await signImage(store, digest, { signer, dockerReference, storages: ['referrers'], created, signal });
    const entry = entries[0];
    if (entry === undefined) throw new ProvenantError('SIGNATURE', `signing ${digest} wrote nothing`, { where: digest });
    return { subject: digest, signature: entry.location as Descriptor['digest'], storage: entry.storage };
  };
}
