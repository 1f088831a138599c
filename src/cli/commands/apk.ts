/** `provenant apk keygen|build|index`: making signed packages and repositories. */
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ProvenantError } from '../errors.ts';
import { buildApk, buildApkFromDirectory, buildApkIndex, generateApkKeyPair, parseApkSpecYaml } from '../pkg/apk/write.ts';
import type { ParsedArgs } from './args.ts';
import type { CliIo } from './main.ts';

export const APK_USAGE = [
  'provenant apk keygen [--name NAME] [-o DIR]',
  'provenant apk build (DIR | SPEC.yaml) [--name N --version V --arch A] [--depends D]... [--provides P]... [--key KEY.rsa] [-o FILE.apk]',
  'provenant apk index FILE.apk... [--key KEY.rsa] [--description TEXT] [-o APKINDEX.tar.gz]',
].join('\n       ');

/** Runs an `apk` subcommand. */
export async function runApk(args: ParsedArgs, io: CliIo, sourceDateEpoch: number | undefined): Promise<void> {
  const [sub, ...rest] = args.positionals;
  const v = args.values;
  switch (sub) {
    case 'keygen': {
      const pair = generateApkKeyPair((v.name as string | undefined) ?? 'provenant');
      const dir = (v.output as string | undefined) ?? '.';
      await mkdir(dir, { recursive: true });
      await atomicWrite(join(dir, pair.privateKeyName), pair.privateKeyPem, 0o600);
      await atomicWrite(join(dir, pair.name), pair.publicKeyPem, 0o644);
      io.stdout.write(`${join(dir, pair.privateKeyName)}\n${join(dir, pair.name)}\n`);
      return;
    }
    case 'build': {
      const [source] = rest;
      if (source === undefined || rest.length !== 1)
        throw new ProvenantError('USAGE', 'apk build takes one folder or spec file', { hint: `usage: ${APK_USAGE}` });
      const key = await signingKey(v.key as string | undefined);
      const options = { key, mtime: sourceDateEpoch };
      let bytes: Uint8Array;
      let name: string;
      if (/\.ya?ml$/.test(source)) {
        const spec = await parseApkSpecYaml(await readFile(source, 'utf8'), source);
        bytes = await buildApk(
          sourceDateEpoch === undefined || spec.builddate !== undefined ? spec : { ...spec, builddate: sourceDateEpoch },
          options,
        );
        name = `${spec.name}-${spec.version}.apk`;
      } else {
        const meta = {
          name: required(v.name, '--name'),
          version: required(v.version, '--version'),
          arch: required(v.arch, '--arch'),
          depends: (v.depends as string[] | undefined) ?? [],
          provides: (v.provides as string[] | undefined) ?? [],
          ...(v.description === undefined ? {} : { description: v.description as string }),
          ...(v.license === undefined ? {} : { license: v.license as string }),
          ...(sourceDateEpoch === undefined ? {} : { builddate: sourceDateEpoch }),
        };
        bytes = await buildApkFromDirectory(source, meta, options);
        name = `${meta.name}-${meta.version}.apk`;
      }
      const out = (v.output as string | undefined) ?? name;
      await atomicWrite(out, bytes, 0o644);
      io.stdout.write(`${out}\n`);
      return;
    }
    case 'index': {
      if (rest.length === 0) throw new ProvenantError('USAGE', 'apk index needs at least one .apk', { hint: `usage: ${APK_USAGE}` });
      const packages = await Promise.all(rest.map(async (f) => new Uint8Array(await readFile(f))));
      const key = await signingKey(v.key as string | undefined);
      const result = await buildApkIndex(packages, {
        key,
        names: rest,
        ...(v.description === undefined ? {} : { description: v.description as string }),
        ...(sourceDateEpoch === undefined ? {} : { mtime: sourceDateEpoch }),
      });
      const out = (v.output as string | undefined) ?? 'APKINDEX.tar.gz';
      await atomicWrite(out, result.bytes, 0o644);
      io.stdout.write(`${out}: ${result.packages.length} packages${key === undefined ? ', unsigned' : `, signed with ${key.name}`}\n`);
      return;
    }
    default:
      throw new ProvenantError('USAGE', `unknown apk subcommand ${JSON.stringify(sub ?? '')}`, { hint: `usage: ${APK_USAGE}` });
  }
}

function required(value: unknown, flag: string): string {
  if (typeof value !== 'string' || value === '') throw new ProvenantError('USAGE', `apk build of a folder needs ${flag}`);
  return value;
}

/** A private key file `NAME.rsa`; signatures name its public key, `NAME.rsa.pub`. */
async function signingKey(path: string | undefined): Promise<{ privateKeyPem: string; name: string } | undefined> {
  if (path === undefined) return undefined;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new ProvenantError('NOT_FOUND', `cannot read the signing key ${path}`, { where: path, cause: err });
  }
  return { privateKeyPem: pem, name: `${basename(path)}.pub` };
}

async function atomicWrite(path: string, data: string | Uint8Array, mode: number): Promise<void> {
  await mkdir(dirname(path) || '.', { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    await writeFile(tmp, data, { mode });
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}
