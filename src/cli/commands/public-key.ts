/** `provenant public-key --key cosign.key`: the public key of a cosign private key, as PEM. */
import { ProvenantError } from '../../errors.ts';
import { writeFileAtomic } from '../../io/files.ts';
import { COSIGN_PRIVATE_KEY_PEM, decryptPrivateKey, pemDecode, publicKeyPem, SIGSTORE_PRIVATE_KEY_PEM } from '../../sign/keys.ts';
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
  const text = await readPrivateKeyPem(keyPath);
  const pem = publicKeyPem(await decryptPrivateKey(text, await keyPassword(io, { file: keyPath }), keyPath));
  const output = args.values.output as string | undefined;
  if (output === undefined) io.stdout.write(pem);
  else await writeFileAtomic(output, pem, { mode: 0o644, signal: io.signal });
}

/**
 * The text of a cosign private key file, read and checked before its password is asked: a
 * missing file or one that holds no cosign key is said at once, not after a prompt.
 *
 * @throws ProvenantError `NOT_FOUND` for a missing file, `IO` for one that cannot be read,
 *   `INVALID_CONFIG` for one that holds no cosign private key
 */
async function readPrivateKeyPem(path: string): Promise<string> {
  let text: string;
  try {
    text = await process.getBuiltinModule('node:fs/promises').readFile(path, 'utf8');
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === 'ENOENT';
    throw new ProvenantError(
      missing ? 'NOT_FOUND' : 'IO',
      missing ? 'the key file does not exist' : `the key file cannot be read: ${(cause as Error).message}`,
      { where: path, cause },
    );
  }
  const type = pemDecode(text)?.type;
  // decryptPrivateKey refuses such a file, naming what it holds, before it derives any key.
  if (type !== SIGSTORE_PRIVATE_KEY_PEM && type !== COSIGN_PRIVATE_KEY_PEM) await decryptPrivateKey(text, '', path);
  return text;
}
