#!/usr/bin/env node
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isProvenantError, ProvenantError } from '../errors.ts';
import { copyImage } from '../image/copy.ts';
import { inspectImage } from '../image/inspect.ts';
import { parseDigest } from '../oci/digest.ts';
import { hostPlatform, parsePlatform } from '../oci/platform.ts';
import type { Platform } from '../oci/types.ts';
import { formatLocation, parseLocation } from '../ref/location.ts';
import { LayoutStore } from '../store/layout.ts';
import { LayoutReader } from '../store/layout-reader.ts';
import { type OpenedStore, openLocation, type RegistryOpenOptions } from '../store/open.ts';
import { envName, type FlagSpec, type ParsedArgs, parseCommandArgs } from './args.ts';
import { exitCodeFor } from './exit.ts';
import { progressReporter } from './progress.ts';
import { registryAccess } from './registry.ts';
import { inspectJson, renderCopy, renderInspect } from './render.ts';

/** What a command gets from the outside world; main() fills it from `process`. */
export interface CliIo {
  env: Record<string, string | undefined>;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  stdin: NodeJS.ReadableStream;
  homedir: string;
}

interface Command {
  summary: string;
  usage: string;
  flags: Record<string, FlagSpec>;
  run(args: ParsedArgs, io: CliIo): Promise<void>;
}

const FORMAT: FlagSpec = { type: 'string', description: 'output format: text or json' };
const REGISTRY_FLAGS: Record<string, FlagSpec> = {
  insecure: { type: 'boolean', description: 'allow plain HTTP to registries other than localhost (TLS is always verified)' },
  username: { type: 'string', description: 'registry user name (with --password-stdin)' },
  'password-stdin': { type: 'boolean', description: 'read the registry password from standard input' },
};

function formatOf(args: ParsedArgs): 'text' | 'json' {
  const f = (args.values.format as string | undefined) ?? 'text';
  if (f !== 'text' && f !== 'json') throw new ProvenantError('USAGE', `--format must be text or json, not "${f}"`);
  return f;
}

function positional(args: ParsedArgs, count: number, usage: string): string[] {
  if (args.positionals.length !== count) {
    throw new ProvenantError('USAGE', `expected ${count} argument(s), got ${args.positionals.length}`, { hint: `usage: ${usage}` });
  }
  return args.positionals;
}

// One registry access per command run: the password is read from standard input once, and
// source and destination share clients (and so tokens) per registry.
const access = new WeakMap<ParsedArgs, Promise<RegistryOpenOptions>>();

async function open(text: string, args: ParsedArgs, io: CliIo, write = false): Promise<OpenedStore> {
  const location = parseLocation(text);
  if (location.kind !== 'registry') return openLocation(location, { write });
  let registry = access.get(args);
  if (registry === undefined) {
    registry = registryAccess(args, io);
    access.set(args, registry);
  }
  return openLocation(location, { write, registry: await registry });
}

function requireTarget(opened: OpenedStore, text: string): string {
  if (opened.target !== undefined) return opened.target;
  // A layout or archive holding one image needs no tag, as with skopeo.
  throw new ProvenantError('USAGE', `${text} names no tag or digest`, { hint: 'add :TAG or @sha256:DIGEST' });
}

async function resolveDefaultTarget(opened: OpenedStore, text: string): Promise<string> {
  if (opened.target !== undefined) return opened.target;
  if (opened.store instanceof LayoutReader) {
    const roots = opened.store.index.manifests;
    if (roots.length === 1) return roots[0]!.digest;
    throw new ProvenantError('USAGE', `${text} holds ${roots.length} images; say which`, {
      hint: `add :TAG (tags: ${(await opened.store.listTags()).join(', ') || 'none'}) or @DIGEST`,
    });
  }
  return requireTarget(opened, text);
}

const commands: Record<string, Command> = {
  copy: {
    summary: 'copy an image with everything it references between any two stores',
    usage: 'provenant copy SRC DST [--platform os/arch]... [--with-referrers]',
    flags: {
      platform: {
        type: 'string',
        multiple: true,
        description: 'copy only these platforms of an index (all by default; "host" for this machine)',
      },
      'with-referrers': { type: 'boolean', description: 'bring signatures and attestations along (OCI referrers and cosign tags)' },
      concurrency: { type: 'string', description: 'parallel blob transfers (default 4)' },
      format: FORMAT,
      quiet: { type: 'boolean', short: 'q', description: 'no progress output' },
      ...REGISTRY_FLAGS,
    },
    async run(args, io) {
      const [srcText, dstText] = positional(args, 2, this.usage);
      const format = formatOf(args);
      let platforms = ((args.values.platform as string[] | undefined) ?? []).flatMap((p) => p.split(',')).map(platformArg);
      // A docker-archive holds one platform's image; like skopeo, take this machine's by default.
      if (platforms.length === 0 && parseLocation(dstText!).kind === 'docker-archive') platforms = [hostPlatform(process.arch)];
      const concurrency = args.values.concurrency === undefined ? 4 : Number(args.values.concurrency);
      if (!Number.isInteger(concurrency) || concurrency < 1)
        throw new ProvenantError('USAGE', '--concurrency must be a positive whole number');
      const src = await open(srcText!, args, io);
      const dst = await open(dstText!, args, io, true);
      const target = await resolveDefaultTarget(src, srcText!);
      const progress = args.values.quiet ? undefined : progressReporter(io.stderr);
      try {
        const result = await copyImage(src.store, target, dst.store, {
          tags: dst.tags,
          platforms,
          withReferrers: args.values['with-referrers'] === true,
          concurrency,
          ...(progress ? { onProgress: progress.update } : {}),
        });
        progress?.finish();
        await dst.store.close();
        io.stdout.write(
          format === 'json' ? `${JSON.stringify(result, null, 2)}\n` : renderCopy(result, formatLocation(parseLocation(dstText!))),
        );
      } finally {
        progress?.finish();
        await src.store.close();
      }
    },
  },
  inspect: {
    summary: 'show an image: its manifests, platforms and attached signatures, attestations and SBOMs',
    usage: 'provenant inspect REF [--raw] [--format json]',
    flags: {
      raw: { type: 'boolean', description: 'print the exact stored bytes of the manifest or index' },
      format: FORMAT,
      ...REGISTRY_FLAGS,
    },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const opened = await open(text!, args, io);
      const target = await resolveDefaultTarget(opened, text!);
      if (args.values.raw) {
        const stored = await opened.store.getManifest(target);
        io.stdout.write(stored.bytes);
        return;
      }
      const result = await inspectImage(opened.store, target, formatLocation(parseLocation(text!)));
      if (formatOf(args) === 'json') {
        // buildx's Provenance and SBOM fields: the statements' predicates, whatever the storage.
        const { attestationSummaries } = await import('../image/attestations.ts');
        const summaries = await attestationSummaries(opened.store, result);
        io.stdout.write(`${JSON.stringify({ ...(inspectJson(result) as object), ...summaries }, null, 2)}\n`);
      } else {
        io.stdout.write(renderInspect(result));
      }
      await opened.store.close();
    },
  },
  sbom: {
    summary: "print an image's SBOM: the attached one, or one made from its apk or dpkg database",
    usage: 'provenant sbom REF [--platform os/arch] [--type spdx|cyclonedx]',
    flags: {
      platform: { type: 'string', description: 'which platform of an index (default the first)' },
      type: { type: 'string', description: 'spdx (SPDX 2.3 JSON, default) or cyclonedx (CycloneDX 1.6 JSON)' },
      ...REGISTRY_FLAGS,
    },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const type = (args.values.type as string | undefined) ?? 'spdx';
      if (type !== 'spdx' && type !== 'cyclonedx')
        throw new ProvenantError('USAGE', `--type must be spdx or cyclonedx, not ${JSON.stringify(type)}`);
      const opened = await open(text!, args, io);
      const target = await resolveDefaultTarget(opened, text!);
      const { imageSbom } = await import('../image/attestations.ts');
      const { readFile } = await import('node:fs/promises');
      const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      const platform = args.values.platform === undefined ? undefined : platformArg(args.values.platform as string);
      const sbom = await imageSbom(opened.store, target, formatLocation(parseLocation(text!)), {
        platform,
        format: type,
        toolVersion: pkg.version,
        sourceDateEpoch: sourceDateEpoch(io),
      });
      await opened.store.close();
      if (sbom.generated) io.stderr.write(`no ${type} SBOM attached to ${sbom.platform}; made one from the image's package database\n`);
      io.stdout.write(`${JSON.stringify(sbom.document, null, 2)}\n`);
    },
  },
  attest: {
    summary: 'attach an in-toto attestation (a predicate file of a type) to every platform image of an existing image',
    usage: 'provenant attest REF --predicate FILE --type URI [--attestations referrers|buildkit]',
    flags: {
      predicate: { type: 'string', description: 'the predicate, a JSON file' },
      type: {
        type: 'string',
        description: 'the predicate type URI (e.g. https://slsa.dev/provenance/v1, or spdx, cyclonedx, slsaprovenance)',
      },
      attestations: { type: 'string', description: 'where to store it: referrers (default) or buildkit (rewrites and retags the index)' },
      ...REGISTRY_FLAGS,
    },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const { runAttest } = await import('./attest.ts');
      io.stdout.write(await runAttest(text!, args, (t, w) => open(t, args, io, w)));
    },
  },
  digest: {
    summary: 'print the digest of an image',
    usage: 'provenant digest REF',
    flags: { ...REGISTRY_FLAGS },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const opened = await open(text!, args, io);
      const target = await resolveDefaultTarget(opened, text!);
      const d = await opened.store.resolve(target);
      if (d === undefined) throw new ProvenantError('NOT_FOUND', `${target} is not there`, { where: opened.store.location });
      io.stdout.write(`${d.digest}\n`);
    },
  },
  manifest: {
    summary: 'print the manifest or index of an image, byte for byte',
    usage: 'provenant manifest REF',
    flags: { ...REGISTRY_FLAGS },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const opened = await open(text!, args, io);
      io.stdout.write((await opened.store.getManifest(await resolveDefaultTarget(opened, text!))).bytes);
    },
  },
  blob: {
    summary: 'write a blob to standard output (or -o FILE), checked against its digest',
    usage: 'provenant blob REPO DIGEST [-o FILE]',
    flags: { output: { type: 'string', short: 'o', description: 'write to this file instead of standard output' }, ...REGISTRY_FLAGS },
    async run(args, io) {
      const [text, digestText] = positional(args, 2, this.usage);
      const digest = parseDigest(digestText!, 'the DIGEST argument');
      const opened = await open(text!, args, io);
      const stat = await opened.store.statBlob(digest);
      if (stat === undefined) throw new ProvenantError('NOT_FOUND', `blob ${digest} is not there`, { where: opened.store.location });
      const stream = Readable.from(await opened.store.readBlob(stat));
      const out = args.values.output as string | undefined;
      if (out === undefined) await pipeline(stream, io.stdout);
      else {
        // Written under a temporary name and renamed only once the digest checked out.
        const { rename, rm } = await import('node:fs/promises');
        const tmp = `${out}.partial`;
        try {
          await pipeline(stream, createWriteStream(tmp));
          await rename(tmp, out);
        } catch (err) {
          await rm(tmp, { force: true });
          throw err;
        }
      }
    },
  },
  tags: {
    summary: 'list the tags of a repository or layout',
    usage: 'provenant tags REPO',
    flags: { format: FORMAT, ...REGISTRY_FLAGS },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const opened = await open(text!, args, io);
      const tags = await opened.store.listTags();
      io.stdout.write(formatOf(args) === 'json' ? `${JSON.stringify(tags)}\n` : tags.map((t) => `${t}\n`).join(''));
    },
  },
  gc: {
    summary: 'delete the blobs of an OCI layout that nothing references, and partial files of interrupted writes',
    usage: 'provenant gc oci:DIR',
    flags: { format: FORMAT },
    async run(args, io) {
      const [text] = positional(args, 1, this.usage);
      const location = parseLocation(text!);
      if (location.kind !== 'oci') throw new ProvenantError('USAGE', 'gc works on an OCI layout (oci:DIR)', { where: text });
      const store = await LayoutStore.open(location.path);
      const r = await store.gc();
      const mb = (n: number) => (n / 1e6).toFixed(1);
      io.stdout.write(
        formatOf(args) === 'json'
          ? `${JSON.stringify(r)}\n`
          : `removed ${r.removed.length} blob(s) (${mb(r.removedBytes)} MB) and ${r.partials.count} partial file(s) (${mb(r.partials.bytes)} MB)\n`,
      );
    },
  },
  build: {
    summary: 'build a multi-arch image from an apko-style YAML configuration',
    usage:
      'provenant build CONFIG.yaml [-o oci:DIR[:TAG] | oci-archive:FILE | docker-archive:FILE | REGISTRY/REPO:TAG] [--arch ARCH]... [--lock FILE]',
    flags: {
      output: { type: 'string', short: 'o', description: 'where to write the image (default oci:<config name>.oci:latest)' },
      arch: {
        type: 'string',
        multiple: true,
        description: "build only these architectures (apk or OCI names); default the config's archs",
      },
      lock: { type: 'string', description: 'build exactly the packages this lock file pins, resolving nothing' },
      'write-lock': { type: 'string', description: 'also write the lock of this build to FILE' },
      'cache-dir': { type: 'string', description: 'download cache (default $XDG_CACHE_HOME/provenant or ~/.cache/provenant)' },
      'layer-cache': {
        type: 'string',
        description: 'keep the compressed form of large files in the cache and reuse it: true (default) or false',
      },
      sbom: { type: 'string', description: 'attach SPDX and CycloneDX SBOMs: true (default) or false' },
      'sbom-files': { type: 'boolean', description: "list each package's files in the SBOMs" },
      provenance: {
        type: 'string',
        description: 'attach SLSA provenance: false, or mode=min|max and version=v1|v0.2, comma-separated (default mode=min,version=v1)',
      },
      attestations: { type: 'string', description: 'where attestations go: referrers (default), buildkit, cosign or none' },
      'builder-id': { type: 'string', description: "the provenance's builder id (default: the GitHub Actions workflow, else a local id)" },
      format: FORMAT,
      ...REGISTRY_FLAGS,
    },
    async run(args, io) {
      const [configPath] = positional(args, 1, this.usage);
      const format = formatOf(args);
      const { runBuild } = await import('./build.ts');
      const defaultOut = `oci:${configPath!.replace(/\.ya?ml$/, '')}.oci:latest`;
      const outText = (args.values.output as string | undefined) ?? defaultOut;
      const result = await runBuild(configPath!, args, io, { sourceDateEpoch: sourceDateEpoch(io) });
      const dst = await open(outText, args, io, true);
      try {
        const { writeBuild } = await import('../builder/build.ts');
        const { attestationsFor } = await import('./build.ts');
        const attestations = await attestationsFor(result, args, io, {
          configPath: configPath!,
          imageName: outText,
          sourceDateEpoch: sourceDateEpoch(io),
        });
        const descriptor = await writeBuild(result, dst.store, dst.tags.length > 0 ? dst.tags : ['latest'], { attestations });
        await dst.store.close();
        const { renderBuild } = await import('./build.ts');
        io.stdout.write(renderBuild(result, descriptor.digest, formatLocation(parseLocation(outText)), format));
      } catch (err) {
        await dst.store.close().catch(() => {});
        throw err;
      }
    },
  },
  lock: {
    summary: 'resolve a configuration and pin every package in a lock file',
    usage: 'provenant lock CONFIG.yaml [-o CONFIG.lock.json] [--arch ARCH]...',
    flags: {
      output: { type: 'string', short: 'o', description: 'the lock file to write (default CONFIG.lock.json beside the config)' },
      arch: { type: 'string', multiple: true, description: "lock only these architectures; default the config's archs" },
      'cache-dir': { type: 'string', description: 'download cache (default $XDG_CACHE_HOME/provenant or ~/.cache/provenant)' },
    },
    async run(args, io) {
      const [configPath] = positional(args, 1, this.usage);
      const { runBuild, writeLockFile } = await import('./build.ts');
      const result = await runBuild(configPath!, args, io, { lockOnly: true });
      const out = (args.values.output as string | undefined) ?? `${configPath!.replace(/\.ya?ml$/, '')}.lock.json`;
      await writeLockFile(out, result.lock);
      io.stdout.write(
        `locked ${result.lock.contents.packages.length} packages for ${[...new Set(result.lock.contents.packages.map((p) => p.architecture))].join(', ')} in ${out}\n`,
      );
    },
  },
  apk: {
    summary: 'make signing keys, signed .apk packages and signed APKINDEX repositories',
    usage: 'provenant apk keygen|build|index ... (see provenant help apk)',
    flags: {
      output: { type: 'string', short: 'o', description: 'where to write (keygen: a folder; build: the .apk; index: the APKINDEX.tar.gz)' },
      key: { type: 'string', description: 'private key (NAME.rsa) to sign with; signatures name NAME.rsa.pub' },
      name: { type: 'string', description: 'keygen: the key name; build of a folder: the package name' },
      version: { type: 'string', description: 'build of a folder: the package version (e.g. 1.0-r0)' },
      arch: { type: 'string', description: 'build of a folder: the package arch (x86_64, aarch64, noarch, ...)' },
      depends: { type: 'string', multiple: true, description: 'build of a folder: a dependency atom' },
      provides: {
        type: 'string',
        multiple: true,
        description: 'build of a folder: something the package provides (cmd:sh, so:..., name=version)',
      },
      description: { type: 'string', description: 'build: the package description; index: the DESCRIPTION text' },
      license: { type: 'string', description: 'build of a folder: the license (an SPDX expression)' },
    },
    async run(args, io) {
      const { runApk, APK_USAGE } = await import('./apk.ts');
      if (args.positionals.length === 0) throw new ProvenantError('USAGE', 'apk needs a subcommand', { hint: `usage: ${APK_USAGE}` });
      await runApk(args, io, sourceDateEpoch(io));
    },
  },
  env: {
    summary: 'list the environment variables Provenant reads',
    usage: 'provenant env',
    flags: {},
    async run(_args, io) {
      const rows: string[] = [
        'DOCKER_CONFIG         folder of config.json with registry credentials (default ~/.docker)',
        'REGISTRY_AUTH_FILE    containers auth.json with registry credentials (podman, skopeo)',
        'PROVENANT_PASSWORD    registry password, instead of --password-stdin',
        'SOURCE_DATE_EPOCH     build: the image creation time, and the latest time any file may have',
        'XDG_CACHE_HOME        build, lock: the download cache goes in $XDG_CACHE_HOME/provenant',
      ];
      const seen = new Set<string>();
      for (const [name, cmd] of Object.entries(commands)) {
        for (const [flag, spec] of Object.entries(cmd.flags)) {
          const key = envName(flag);
          if (seen.has(key)) continue;
          seen.add(key);
          rows.push(`${key.padEnd(21)} --${flag} (${name}${spec.multiple ? ', comma-separated' : ''}): ${spec.description}`);
        }
      }
      io.stdout.write(`${rows.join('\n')}\n`);
    },
  },
  version: {
    summary: 'print the version',
    usage: 'provenant version',
    flags: {},
    async run(_args, io) {
      const { readFile } = await import('node:fs/promises');
      const pkg = JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
      io.stdout.write(`provenant ${pkg.version}\n`);
    },
  },
};

/** SOURCE_DATE_EPOCH, the reproducible-builds convention, when set. */
function sourceDateEpoch(io: CliIo): number | undefined {
  const text = io.env.SOURCE_DATE_EPOCH;
  if (text === undefined || text === '') return undefined;
  if (!/^\d+$/.test(text))
    throw new ProvenantError('USAGE', `SOURCE_DATE_EPOCH must be whole seconds since 1970, not ${JSON.stringify(text)}`);
  return Number(text);
}

function platformArg(text: string): Platform {
  return text === 'host' ? hostPlatform(process.arch) : parsePlatform(text);
}

function help(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return `provenant: build, describe, sign and move container images\n\nUsage: provenant COMMAND [ARGS]\n\nCommands:\n${lines.join('\n')}\n\nRun provenant help COMMAND for a command's flags.\n`;
}

function commandHelp(c: Command): string {
  const flags = Object.entries(c.flags).map(
    ([f, s]) => `  ${s.short ? `-${s.short}, ` : '    '}--${f}${s.type === 'string' ? ' VALUE' : ''}\n        ${s.description}`,
  );
  return `${c.summary}\n\nUsage: ${c.usage}\n${flags.length > 0 ? `\nFlags (each also read from PROVENANT_<FLAG>):\n${flags.join('\n')}\n` : ''}`;
}

/** Runs the CLI with `argv` (without node and script); returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === 'help' || name === '--help' || name === '-h') {
    const c = rest[0] === undefined ? undefined : commands[rest[0]];
    io.stdout.write(c ? commandHelp(c) : help());
    return 0;
  }
  if (name === '--version') return run(['version'], io);
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`provenant: unknown command "${name}"\n${help()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(commandHelp(command));
    return 0;
  }
  try {
    await command.run(parseCommandArgs(rest, command.flags, io.env), io);
    return 0;
  } catch (err) {
    if (isProvenantError(err)) {
      io.stderr.write(`provenant ${name}: ${err.describe()}\n${err.hint ? `  hint: ${err.hint}\n` : ''}`);
      if (io.env.PROVENANT_DEBUG) io.stderr.write(`${err.stack}\n`);
      return exitCodeFor(err.code);
    }
    io.stderr.write(`provenant ${name}: internal error: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

const isMain = process.argv[1] !== undefined && import.meta.url === new URL(process.argv[1], 'file:').href;
if (isMain || process.argv[1]?.endsWith('/provenant')) {
  const { homedir } = await import('node:os');
  const code = await run(process.argv.slice(2), {
    env: process.env,
    stdout: process.stdout,
    stderr: process.stderr,
    stdin: process.stdin,
    homedir: homedir(),
  });
  process.exitCode = code;
}
