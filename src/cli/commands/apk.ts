/** `provenant apk keygen|build|index`: making signing keys, signed packages and signed repositories. */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ProvenantError } from '../../errors.ts';
import { makeFolder, makeFolderError, writeFileAtomic, writeFilesAtomic } from '../../io/files.ts';
import { generateApkKeyPair } from '../../pkg/apk/keys.ts';
import { ApkKeyring, UntrustedApkError } from '../../pkg/apk/signature.ts';
import { parseApkSpecYaml } from '../../pkg/apk/spec.ts';
import { buildApk, buildApkFromDirectory, buildApkIndex } from '../../pkg/apk/write.ts';
import { envName, type ParsedArgs } from '../args.ts';
import type { CommandSpec } from '../command.ts';
import { unknownSubcommand } from '../help.ts';
import type { CliIo } from '../io.ts';
import { FORMAT_FLAG, formatOf, outputFlag, refuseToReplace, sameFile, sourceDateEpoch, writeJson } from '../options.ts';

export const spec: CommandSpec = {
  summary: 'make signing keys, signed .apk packages and signed APKINDEX repositories',
  usage: 'provenant apk keygen|build|index ...',
  prints: 'result',
  subcommands: {
    keygen: {
      summary:
        'make an RSA key pair: NAME-HEX.rsa (private) and NAME-HEX.rsa.pub, the name signatures give (HEX from the public key, as abuild-keygen names keys; a NAME ending in .rsa is used as it is)',
      usage: 'provenant apk keygen [--name NAME] [-o DIR] [--force]',
      flags: ['name', 'output', 'force', 'format'],
    },
    build: {
      summary: 'make a signed .apk from a folder (with --name, --version, --arch) or from a YAML spec',
      usage:
        'provenant apk build (DIR --name N --version V --arch A [--depends D]... [--provides P]... | SPEC.yaml) [--key KEY.rsa] [-o FILE.apk]',
      flags: ['key', 'name', 'version', 'arch', 'depends', 'provides', 'description', 'license', 'output', 'format'],
    },
    index: {
      summary:
        'make a signed APKINDEX.tar.gz of .apk files, the index of a repository folder; each package must be signed by a trusted key (--keyring, or the --key the index is signed with), as apk index requires, unless --allow-untrusted',
      usage:
        'provenant apk index FILE.apk... [--key KEY.rsa] [--keyring KEY.rsa.pub]... [--allow-untrusted] [--description TEXT] [-o APKINDEX.tar.gz]',
      flags: ['key', 'description', 'keyring', 'allow-untrusted', 'output', 'format'],
    },
  },
  flags: {
    output: outputFlag(
      'where to write (keygen: a folder; build: the .apk; index: the APKINDEX.tar.gz; for build and index, - is standard output)',
    ),
    key: { type: 'string', description: 'private key (NAME.rsa) to sign with; signatures name NAME.rsa.pub' },
    name: {
      type: 'string',
      description:
        "keygen: the start of the key files' name, NAME-HEX.rsa (default provenant), or the name itself when it ends in .rsa; build of a folder: the package name",
    },
    version: { type: 'string', description: 'build of a folder: the package version (e.g. 1.0-r0)' },
    arch: { type: 'string', description: 'build of a folder: the package arch (x86_64, aarch64, noarch, ...)' },
    depends: { type: 'string', multiple: true, description: 'build of a folder: a dependency atom' },
    provides: {
      type: 'string',
      multiple: true,
      description: 'build of a folder: something the package provides (cmd:sh, so:..., name=version)',
    },
    description: { type: 'string', description: 'build of a folder: the package description; index: the DESCRIPTION text' },
    license: { type: 'string', description: 'build of a folder: the license (an SPDX expression)' },
    force: { type: 'boolean', description: 'keygen: replace NAME.rsa and NAME.rsa.pub when they exist' },
    keyring: {
      type: 'string',
      multiple: true,
      description:
        "index: a public key (NAME.rsa.pub) trusted to sign the packages, known by its file name as in contents.keyring (apk index's /etc/apk/keys); the public key of --key is trusted too",
    },
    'allow-untrusted': {
      type: 'boolean',
      description:
        'index: list packages that no trusted key signed too (apk index --allow-untrusted); a bad signature by a trusted key is still refused',
    },
    format: FORMAT_FLAG,
  },
};

const USAGE = Object.values(spec.subcommands ?? {})
  .map((s) => s.usage)
  .join('\n       ');

export async function run(args: ParsedArgs, io: CliIo): Promise<void> {
  if (args.positionals.length === 0) throw new ProvenantError('USAGE', 'apk needs a subcommand', { hint: `usage: ${USAGE}` });
  const format = formatOf(args);
  const epoch = sourceDateEpoch(io);
  const [sub, ...rest] = args.positionals;
  const v = args.values;
  const subcommand = sub === undefined ? undefined : spec.subcommands?.[sub];
  if (subcommand !== undefined) refuseOtherFlags(`apk ${sub}`, subcommand.flags, v, io.env);
  switch (sub) {
    case 'keygen': {
      const pair = generateApkKeyPair((v.name as string | undefined) ?? 'provenant');
      const dir = (v.output as string | undefined) ?? '.';
      // Two files are no one stream: `-o -` (standard output for build and index) is no folder here.
      if (dir === '-') {
        throw new ProvenantError('USAGE', 'apk keygen writes two files, which standard output (-o -) cannot hold', {
          hint: 'name a folder for the key pair with -o',
        });
      }
      // A repository's key is what its index and packages are signed with: a new one silently
      // over it would leave every signed file vouched for by a key that no longer exists.
      if (v.force !== true) {
        refuseToReplace(
          [join(dir, pair.privateKeyName), join(dir, pair.name)],
          'a new key pair',
          'pass --force to replace it, or choose another --name or -o',
        );
      }
      await makeFolder(dir).catch((err: unknown) => Promise.reject(makeFolderError(err, dir)));
      // Both or neither: a private key without its public key (or the reverse) is no key pair.
      await writeFilesAtomic(
        [
          { path: join(dir, pair.privateKeyName), data: pair.privateKeyPem, mode: 0o600 },
          { path: join(dir, pair.name), data: pair.publicKeyPem, mode: 0o644 },
        ],
        { signal: io.signal },
      );
      const written = { privateKey: join(dir, pair.privateKeyName), publicKey: join(dir, pair.name) };
      if (format === 'json') writeJson(io, written);
      else io.stdout.write(`${written.privateKey}\n${written.publicKey}\n`);
      return;
    }
    case 'build': {
      const [source] = rest;
      if (source === undefined || rest.length !== 1)
        throw new ProvenantError('USAGE', 'apk build takes one folder or spec file', { hint: `usage: ${USAGE}` });
      const toStdout = v.output === '-';
      if (toStdout) refuseReportOnStdout(format, io.env, 'apk build', 'the .apk');
      else if (v.output !== undefined) refuseOverInput(v.output as string, [{ path: source, what: 'the spec it reads' }, keyInput(v.key)]);
      const key = await signingKey(v.key as string | undefined);
      const options = { key, mtime: epoch };
      let bytes: Uint8Array;
      let name: string;
      if (/\.ya?ml$/.test(source)) {
        // The spec file holds the package's fields: a flag for them would be one more place to read.
        refuseOtherFlags('apk build of a spec file', ['key', 'output', 'format'], v, io.env, `write it in ${source}`);
        const spec = await parseApkSpecYaml(await readSpec(source), source);
        bytes = await buildApk(epoch === undefined || spec.builddate !== undefined ? spec : { ...spec, builddate: epoch }, options);
        name = `${spec.name}-${spec.version}.apk`;
      } else {
        // The folder first: a path that is not there is NOT_FOUND, not a call for --name.
        checkFolder(source);
        const meta = {
          name: required(v.name, '--name'),
          version: required(v.version, '--version'),
          arch: required(v.arch, '--arch'),
          depends: (v.depends as string[] | undefined) ?? [],
          provides: (v.provides as string[] | undefined) ?? [],
          ...(v.description === undefined ? {} : { description: v.description as string }),
          ...(v.license === undefined ? {} : { license: v.license as string }),
          ...(epoch === undefined ? {} : { builddate: epoch }),
        };
        bytes = await buildApkFromDirectory(source, meta, options);
        name = `${meta.name}-${meta.version}.apk`;
      }
      // `-o -` is standard output, as for the commands that write data (docs/cli.md): the package alone.
      if (toStdout) {
        io.stdout.write(bytes);
        return;
      }
      const out = (v.output as string | undefined) ?? name;
      await writeFileAtomic(out, bytes, { mode: 0o644, mkdir: true, signal: io.signal });
      if (format === 'json') writeJson(io, { path: out, name, signedWith: key?.name ?? null });
      else io.stdout.write(`${out}\n`);
      return;
    }
    case 'index': {
      if (rest.length === 0) throw new ProvenantError('USAGE', 'apk index needs at least one .apk', { hint: `usage: ${USAGE}` });
      const out = (v.output as string | undefined) ?? 'APKINDEX.tar.gz';
      const toStdout = out === '-';
      if (toStdout) refuseReportOnStdout(format, io.env, 'apk index', 'the index');
      else {
        const trusted = ((v.keyring as string[] | undefined) ?? []).map((f) => ({ path: f, what: 'a trusted key' }));
        refuseOverInput(out, [...rest.map((f) => ({ path: f, what: 'a package it indexes' })), keyInput(v.key), ...trusted]);
      }
      const packages = await Promise.all(rest.map((f) => readPackage(f)));
      const key = await signingKey(v.key as string | undefined);
      const keyring = await trustedKeys((v.keyring as string[] | undefined) ?? [], key, v.key as string | undefined);
      const result = await buildApkIndex(packages, {
        key,
        keyring,
        allowUntrusted: v['allow-untrusted'] === true,
        names: rest,
        ...(v.description === undefined ? {} : { description: v.description as string }),
        ...(epoch === undefined ? {} : { mtime: epoch }),
      }).catch((err: unknown) => {
        throw err instanceof UntrustedApkError ? withTrustFlags(err, keyring) : err;
      });
      if (toStdout) {
        io.stdout.write(result.bytes);
        return;
      }
      await writeFileAtomic(out, result.bytes, { mode: 0o644, mkdir: true, signal: io.signal });
      if (format === 'json') writeJson(io, { path: out, packages: result.packages.length, signedWith: key?.name ?? null });
      else io.stdout.write(`${out}: ${result.packages.length} packages${key === undefined ? ', unsigned' : `, signed with ${key.name}`}\n`);
      return;
    }
    default:
      throw await unknownSubcommand('apk', spec, sub ?? '');
  }
}

/**
 * With `-o -` standard output holds the file written, alone: a JSON report of it has no place
 * there. `json` from PROVENANT_FORMAT is left alone (it is set for more than one command), as
 * refuseOtherFlags leaves a variable's values.
 *
 * @throws ProvenantError `USAGE` when `--format json` asks for a report on standard output too
 */
function refuseReportOnStdout(format: string, env: Record<string, string | undefined>, what: string, file: string): void {
  if (format !== 'json' || env[envName('format')] === 'json') return;
  throw new ProvenantError('USAGE', `${what} -o - writes ${file} to standard output, which cannot hold a JSON report too`, {
    hint: 'write it to a file with -o FILE for the report, or leave out --format json',
  });
}

/**
 * Refuses a flag given on the command line that `what` does not read (`apk keygen --depends`,
 * `apk build SPEC.yaml --name`): it would be ignored without a word. A value from a PROVENANT_*
 * variable is left alone (the environment is set for more than one command), but not one typed
 * over it.
 *
 * @throws ProvenantError `USAGE` naming the flag
 */
function refuseOtherFlags(
  what: string,
  allowed: readonly string[],
  values: ParsedArgs['values'],
  env: Record<string, string | undefined>,
  hint?: string,
): void {
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined || allowed.includes(name)) continue;
    // The parser merges the two: a value the variable gives, as the parser reads it (a list split
    // at commas and trimmed: args.ts), is its own; any other was typed.
    const fromEnv = env[envName(name)];
    const read = Array.isArray(value) ? fromEnv?.split(',').map((s) => s.trim()) : fromEnv;
    const same = Array.isArray(value) ? JSON.stringify(value) === JSON.stringify(read) : String(value) === read;
    if (fromEnv !== undefined && fromEnv !== '' && (typeof value === 'boolean' || same)) continue;
    throw new ProvenantError('USAGE', `${what} does not take --${name}`, {
      hint: hint ?? `its flags: ${allowed.map((f) => `--${f}`).join(', ')}`,
    });
  }
}

/** The folder `apk build` packages: NOT_FOUND when it is not there, USAGE when it is a file that is no spec. */
function checkFolder(path: string): void {
  let stat: import('node:fs').Stats | undefined;
  try {
    stat = process.getBuiltinModule('node:fs').statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ProvenantError('NOT_FOUND', `the folder ${path} does not exist`, { cause: err });
    return; // any other refusal is said by the build, which reads the folder
  }
  if (!stat.isDirectory()) {
    throw new ProvenantError('USAGE', `${path} is not a folder; apk build takes a folder to package, or a spec file ending in .yaml`, {
      hint: `usage: ${spec.subcommands?.build?.usage ?? USAGE}`,
    });
  }
}

function keyInput(key: unknown): { path: string; what: string } | undefined {
  return typeof key === 'string' ? { path: key, what: 'the signing key' } : undefined;
}

/**
 * Refuses an `-o` that names a file the command reads (`apk index y.apk -o y.apk` would replace
 * the package with its index), through a link or another spelling too; said before any work, as
 * public-key refuses to write over its private key and lock over what is no lock.
 */
function refuseOverInput(out: string, inputs: readonly ({ path: string; what: string } | undefined)[]): void {
  for (const input of inputs) {
    if (input === undefined || !sameFile(out, input.path)) continue;
    throw new ProvenantError('USAGE', `-o ${out} is ${input.what}; writing there would replace it`, {
      hint: 'name another file with -o',
    });
  }
}

function required(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new ProvenantError('USAGE', `apk build of a folder needs ${flag}`);
  return value;
}

/** An apk spec file: NOT_FOUND (exit 3) for one that is missing, as for a missing folder to package. */
async function readSpec(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new ProvenantError('NOT_FOUND', `the spec ${path} does not exist`, { cause: err });
    throw new ProvenantError('IO', `cannot read the spec ${path}: ${typeof code === 'string' ? code : String(err)}`, {
      where: path,
      cause: err,
    });
  }
}

/** A package file for the index: NOT_FOUND (exit 3) for one that is missing, as docs/cli.md says. */
async function readPackage(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new ProvenantError('NOT_FOUND', `the package ${path} does not exist`, { cause: err });
    if (code === 'EISDIR') {
      const folder = path.replace(/\/+$/, '');
      throw new ProvenantError('USAGE', `the package ${path} is a folder; apk index takes .apk files`, {
        where: path,
        cause: err,
        hint: `name the packages: provenant apk index ${folder}/*.apk -o ${folder}/APKINDEX.tar.gz`,
      });
    }
    throw new ProvenantError('IO', `cannot read the package ${path}: ${(err as Error).message ?? String(err)}`, {
      where: path,
      cause: err,
    });
  }
}

/**
 * The keys `apk index` trusts to have signed the packages: each `--keyring` file under its file
 * name, as apk-tools reads /etc/apk/keys, and the public key of the `--key` the index is signed
 * with, under the name its signatures give (a package signed with it is one its owner made).
 *
 * @throws ProvenantError `NOT_FOUND` for a key file that cannot be read; `UNTRUSTED_KEY` for one
 *   that is no SPKI RSA public key, or two different keys of one file name
 */
async function trustedKeys(
  paths: readonly string[],
  signing: { privateKey: KeyObject; name: string } | undefined,
  signingPath: string | undefined,
): Promise<ApkKeyring> {
  const keyring = new ApkKeyring();
  for (const path of paths) {
    let pem: string;
    try {
      pem = await readFile(path, 'utf8');
    } catch (err) {
      throw new ProvenantError('NOT_FOUND', `cannot read the trusted key ${path}`, { where: path, cause: err });
    }
    keyring.add(basename(path), pem, path);
  }
  if (signing !== undefined) {
    const pem = createPublicKey(signing.privateKey).export({ type: 'spki', format: 'pem' }).toString();
    keyring.add(signing.name, pem, `the public key of ${signingPath ?? signing.name}`);
  }
  return keyring;
}

/** The refusal of a package no trusted key signed, with the flags of `apk index` that answer it. */
function withTrustFlags(err: UntrustedApkError, keyring: ApkKeyring): UntrustedApkError {
  return new UntrustedApkError(
    err.code,
    err.message,
    {
      where: err.where,
      cause: err.cause,
      hint: `trust the key that signs it with --keyring KEY.rsa.pub (the --key the index is signed with is trusted; trusted now: ${keyring.names().join(', ') || 'none'}), or index it anyway with --allow-untrusted`,
    },
    err,
  );
}

/**
 * A private key file `NAME.rsa`, read and parsed once (`apk index` trusts its public key,
 * {@link trustedKeys}); signatures name that public key `NAME.rsa.pub`.
 */
async function signingKey(path: string | undefined): Promise<{ privateKeyPem: string; privateKey: KeyObject; name: string } | undefined> {
  if (path === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProvenantError('NOT_FOUND', `cannot read the signing key ${path}`, { where: path, cause: err });
  }
  // Checked here, where the file's name is known: the signer knows the key by the name its
  // signatures carry (NAME.rsa.pub), which is not the file the user gave.
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(pem);
  } catch (err) {
    throw new ProvenantError('USAGE', `the signing key ${path} is not a PEM private key`, {
      where: path,
      cause: err,
      hint: 'apk signs with an unencrypted RSA key: make one with provenant apk keygen',
    });
  }
  const type = privateKey.asymmetricKeyType;
  if (type !== 'rsa') {
    throw new ProvenantError('USAGE', `the signing key ${path} is an ${type ?? 'unknown'} key; apk signs with RSA`, {
      where: path,
      hint: 'make an RSA key with provenant apk keygen',
    });
  }
  return { privateKeyPem: pem, privateKey, name: `${basename(path)}.pub` };
}
