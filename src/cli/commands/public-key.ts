/** `provenant public-key --key cosign.key`: the public key of a cosign private key, as PEM. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { loadPrivateKeyFile, publicKeyPem } from '../../sign/keys.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { positional } from '../options.ts';
import { keyPassword } from '../signing.ts';

export const spec: CommandSpec = {
  summary: 'print the public key (PEM) of a cosign private key',
  usage: 'provenant public-key --key cosign.key [-o FILE]',
  prints: 'data',
  flags: {
    key: { type: 'string', description: 'the cosign private key; its password from COSIGN_PASSWORD or PROVENANT_KEY_PASSWORD, else asked' },
    output: { type: 'string', short: 'o', description: 'write the PEM to FILE instead of standard output' },
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  positional(args, 0, spec.usage);
  const keyPath = args.values.key as string | undefined;
  if (keyPath === undefined) throw new ProvenantError('USAGE', 'public-key needs --key FILE', { hint: `usage: ${spec.usage}` });
  const pem = publicKeyPem(await loadPrivateKeyFile(keyPath, () => keyPassword(io, { file: keyPath })));
  const output = args.values.output as string | undefined;
  if (output === undefined) io.stdout.write(pem);
  else await writeFileAtomic(output, pem, { mode: 0o644, signal: io.signal });
}
