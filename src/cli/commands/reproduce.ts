/**
 * `provenant reproduce REF`: rebuild an image from its own provenance and compare, per platform.
 * Exits 0 when every platform matches, 1 when one (or the index) differs, 3 when none differs but
 * one could not be replayed, 5 when trust was given and the provenance does not verify
 * (docs/reproduce.md).
 */
import { ProvenantError } from '../../errors.ts';
import { formatLocation, parseLocation } from '../../ref/location.ts';
import { parseRepositoryOverride } from '../../reproduce/fetch.ts';
import type { ReproduceTrust } from '../../reproduce/find.ts';
import { renderReproduce } from '../../reproduce/render.ts';
import { type ReproduceReport, reproduceImage } from '../../reproduce/reproduce.ts';
import { loadPublicKeyFile } from '../../sign/keys.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, QUIET_FLAG, REGISTRY_FLAGS } from '../options.ts';
import { trustedRootArg } from '../policy-check.ts';
import { exactOrPattern, signalOf } from '../signing.ts';
import { targetOf, withStores } from '../stores.ts';
import { visibleLine, warningLogger } from '../visible.ts';

export const spec: CommandSpec = {
  summary: 'rebuild an image from its SLSA provenance and compare each platform (exit 1 when one differs)',
  usage:
    'provenant reproduce REF [--key FILE | --certificate-identity ID --certificate-oidc-issuer URL --trusted-root FILE] [--repository-override OLD=NEW]... [--allow-local-packages] [--cache-dir DIR] [-o DEST] [--format json] [-q]',
  prints: 'result',
  flags: {
    key: { type: 'string', description: 'the provenance must be signed by this cosign public key (PEM file)' },
    'certificate-identity': { type: 'string', description: 'keyless: the signing certificate must name this identity' },
    'certificate-identity-regexp': { type: 'string', description: 'keyless: ... an identity this regular expression matches' },
    'certificate-oidc-issuer': { type: 'string', description: 'keyless: the certificate must come from this OIDC issuer' },
    'certificate-oidc-issuer-regexp': { type: 'string', description: 'keyless: ... an issuer this regular expression matches' },
    'trusted-root': {
      type: 'string',
      description: 'Sigstore trusted root JSON: required for keyless trust; with --key, transparency log entries are checked against it',
    },
    'repository-override': {
      type: 'string',
      multiple: true,
      description: 'OLD=NEW: fetch packages the provenance names under OLD from NEW (a repository that moved)',
    },
    'allow-local-packages': {
      type: 'boolean',
      description:
        'read files of this machine that the provenance (or apko configuration) names as packages, repositories or keys (paths, file://), as a build from a local repository records them',
    },
    'cache-dir': {
      type: 'string',
      description: 'take package files this download cache holds under the digests the provenance names (default: fetch every one)',
    },
    output: { type: 'string', short: 'o', description: 'also write the rebuilt image here (any store location)' },
    format: FORMAT_FLAG,
    quiet: QUIET_FLAG,
    ...REGISTRY_FLAGS,
  },
  // 1 is the answer "the rebuild differs"; an error that would exit 1 exits 2.
  errorExitCodes: { 1: 2 },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<number> {
  const [text] = positional(args, 1, spec.usage) as [string];
  const format = formatOf(args);
  const trust = await trustOf(args, io);
  const repositoryOverrides = ((args.values['repository-override'] as string[] | undefined) ?? []).map(parseRepositoryOverride);
  const outputText = args.values.output as string | undefined;
  const report = await withStores(args, io, outputText === undefined ? [text] : [text, outputText], async (stores) => {
    const source = await stores.open(text);
    const output = outputText === undefined ? undefined : await stores.open(outputText, { write: true, makes: 'reproduce' });
    return reproduceImage(source.store, await targetOf(source), {
      trust,
      repositoryOverrides,
      // Relative package locations are relative to the original build's configuration folder:
      // run reproduce from there.
      baseDir: process.cwd(),
      allowLocalFiles: args.values['allow-local-packages'] === true,
      cacheDir: args.values['cache-dir'] as string | undefined,
      output: output === undefined ? undefined : { store: output.store, tags: output.tags },
      name: formatLocation(parseLocation(text)),
      signal: io.signal,
      // Who will be asked for the package files the provenance names, said before any is fetched.
      onProgress: (u) => {
        if (u.phase !== 'sources' || args.values.quiet === true) return;
        const from = [...u.hosts, ...(u.localFiles > 0 ? [`${u.localFiles} file${u.localFiles === 1 ? '' : 's'} of this machine`] : [])];
        if (from.length > 0) io.stderr.write(`reproduce: fetching package files from ${visibleLine(from.join(', '))}\n`);
      },
      logger: warningLogger(io),
    });
  });
  io.stdout.write(format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderReproduce(report));
  return exitStatus(report);
}

/** 0 every platform matches, 1 one differs or the index does, 3 none differs and one could not be replayed. */
function exitStatus(report: ReproduceReport): number {
  if (report.platforms.some((p) => p.status === 'mismatch') || (report.index?.differences.length ?? 0) > 0) return 1;
  return report.match ? 0 : 3;
}

/** The signer the provenance must have, from the trust flags; undefined when none is given. */
async function trustOf(args: ParsedArgs, io: Pick<CliIo, 'signal'>): Promise<ReproduceTrust | undefined> {
  const v = args.values;
  const key = v.key as string | undefined;
  const identity = exactOrPattern(args, 'certificate-identity');
  const issuer = exactOrPattern(args, 'certificate-oidc-issuer');
  const trustedRoot = await trustedRootArg(args, io);
  if (key !== undefined) {
    if (identity !== undefined || issuer !== undefined) {
      throw new ProvenantError('USAGE', 'give either --key or a certificate identity and issuer, not both');
    }
    return { key: await loadPublicKeyFile(key, signalOf(io)), trustedRoot };
  }
  if (identity === undefined && issuer === undefined) {
    if (trustedRoot !== undefined) throw new ProvenantError('USAGE', '--trusted-root needs --key or a certificate identity and issuer');
    return undefined;
  }
  if (identity === undefined || issuer === undefined) {
    throw new ProvenantError(
      'USAGE',
      'keyless trust needs both --certificate-identity and --certificate-oidc-issuer (or their -regexp forms)',
    );
  }
  if (trustedRoot === undefined) {
    throw new ProvenantError('USAGE', 'keyless trust needs --trusted-root: the Fulcio CAs and the logs to check the certificate against');
  }
  return { identity, issuer, trustedRoot };
}
