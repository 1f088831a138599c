/** `provenant public-key --key cosign.key`: the public key of a cosign private key, as PEM. */
import { ProvenantError } from '../../errors.ts';
import { refuseFolders, writeFileAtomic } from '../../io/files.ts';
import { loadPrivateKeyFile, publicKeyPem } from '../../sign/keys.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { positional, refuseToReplace, sameFile } from '../options.ts';
import { keyPassword, signalOf } from '../signing.ts';

export const spec: CommandSpec = {
  summary: 'print the public key (PEM) of a cosign private key',
  usage: 'provenant public-key --key cosign.key [-o FILE [--force]]',
  prints: 'data',
  flags: {
    key: { type: 'string', description: 'the cosign private key; its password from COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD, else asked' },
    output: { type: 'string', short: 'o', description: 'write the PEM to FILE instead of standard output (- is standard output)' },
    // The flag system has no aliases: cosign's spelling is a flag of its own, refused beside -o.
    outfile: { type: 'string', description: 'the same as -o (cosign public-key’s name for it)' },
    force: { type: 'boolean', description: 'replace FILE when it exists (never the private key itself)' },
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  positional(args, 0, spec.usage);
  const keyPath = args.values.key as string | undefined;
  if (keyPath === undefined) throw new ProvenantError('USAGE', 'public-key needs --key FILE', { hint: `usage: ${spec.usage}` });
  // `-o -` is standard output, as for every command that prints data (writeData's rule).
  const [asOutput, asOutfile] = [args.values.output as string | undefined, args.values.outfile as string | undefined];
  if (asOutput !== undefined && asOutfile !== undefined) throw new ProvenantError('USAGE', 'give -o or --outfile, not both');
  const given = asOutput ?? asOutfile;
  const output = given === '-' ? undefined : given;
  // Before the password is asked, as generate-key-pair: an existing file is replaced only with
  // --force, a folder never, and the private key never (it would be lost for its public key).
  if (output !== undefined) {
    if (sameFile(output, keyPath)) {
      throw new ProvenantError('USAGE', `-o ${output} is the private key --key reads; writing the public key there would lose it`, {
        hint: 'name another file for the public key',
      });
    }
    if (args.values.force !== true) refuseToReplace([output], 'the public key', 'pass --force to replace it, or name another file with -o');
    refuseFolders([output]);
  }
  const pem = publicKeyPem(await loadPrivateKeyFile(keyPath, () => keyPassword(io, { file: keyPath }), signalOf(io)));
  if (output === undefined) io.stdout.write(pem);
  else await writeFileAtomic(output, pem, { mode: 0o644, signal: io.signal });
}
