/** `provenant generate-key-pair`: a cosign key pair, `cosign.key` (encrypted) and `cosign.pub`, as cosign writes them. */
import { ProvenantError } from '../../errors.ts';
import { refuseFolders, writeFilesAtomic } from '../../io/files.ts';
import { generateEncryptedKeyPair, keyId, parsePublicKey } from '../../sign/keys.ts';
import type { ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, positional, refuseToReplace, writeJson } from '../options.ts';
import { keyPassword } from '../signing.ts';

export const spec: CommandSpec = {
  summary: 'make a cosign key pair: PREFIX.key (encrypted with a password) and PREFIX.pub',
  usage: 'provenant generate-key-pair [--output-key-prefix PREFIX] [--force] [--format json]',
  prints: 'result',
  flags: {
    'output-key-prefix': { type: 'string', description: 'the files to write: PREFIX.key and PREFIX.pub (default cosign)' },
    force: { type: 'boolean', description: 'replace PREFIX.key and PREFIX.pub when they exist' },
    format: FORMAT_FLAG,
  },
};

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  positional(args, 0, spec.usage);
  const format = formatOf(args);
  const prefix = (args.values['output-key-prefix'] as string | undefined) ?? 'cosign';
  if (prefix === '') throw new ProvenantError('USAGE', '--output-key-prefix is empty');
  const keyPath = `${prefix}.key`;
  const pubPath = `${prefix}.pub`;
  // cosign asks before overwriting; a script cannot answer, so it is a flag here.
  if (args.values.force !== true) {
    refuseToReplace([keyPath, pubPath], 'a new key pair', 'pass --force to replace it, or choose another --output-key-prefix');
  }
  // Before the password is asked: --force replaces files, never a folder.
  refuseFolders([keyPath, pubPath]);
  const password = await keyPassword(io, { file: keyPath, new: true });
  const pair = await generateEncryptedKeyPair(password);
  // Both or neither: a failed --force must leave the old pair whole, not a new private key
  // beside the old public key. The private key readable by its owner only.
  await writeFilesAtomic(
    [
      { path: keyPath, data: pair.privateKeyPem, mode: 0o600 },
      { path: pubPath, data: pair.publicKeyPem, mode: 0o644 },
    ],
    { signal: io.signal },
  );
  const id = keyId(parsePublicKey(pair.publicKeyPem));
  if (format === 'json') return writeJson(io, { privateKey: keyPath, publicKey: pubPath, keyId: id });
  io.stderr.write(`Private key written to ${keyPath}\nPublic key written to ${pubPath}\n`);
  io.stdout.write(`key id ${id}\n`);
}
