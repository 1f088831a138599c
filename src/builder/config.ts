/**
 * Loading an image configuration: the file, the files it includes (each relative to the folder
 * of the file that names it), merged as apko merges them, normalized, with where every value was
 * written, so that later steps report `file:line:column` for a package that does not resolve.
 * The schema is read by ./config-schema.ts, merged by ./config-merge.ts.
 */
import { readFile as readFileBytes } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { isProvenantError, type ProvenantError } from '../errors.ts';
import { digestHex, digestOf } from '../oci/digest.ts';
import { ConfigError, type ConfigLocation } from '../yaml.ts';
import { finish, merge } from './config-merge.ts';
import { type Part, parsePart } from './config-schema.ts';
import type { ConfigFile, LoadConfigOptions, LoadedConfig, ParseConfigOptions } from './config-types.ts';

/** How deep includes may nest; a cycle through symbolic links stops here. */
const MAX_INCLUDE_DEPTH = 32;

function sha256Hex(text: string): string {
  return digestHex(digestOf(text));
}

/**
 * Parses one configuration's text, without following `include` (a config that has one is an
 * error: use {@link loadConfig}). `file` names the text in error messages. Throws a
 * {@link ConfigError} (`INVALID_CONFIG`) for any mistake, and `USAGE` when the config names no
 * architecture and `hostArch` is not one.
 */
export function parseConfig(text: string, file: string, options: ParseConfigOptions): LoadedConfig {
  const part = parsePart(text, file);
  if (part.include !== undefined) {
    throw new ConfigError('INVALID_CONFIG', part.include.at, 'include', 'includes are followed only when loading from a file', {
      hint: 'use loadConfig, which reads the included file',
    });
  }
  return {
    config: finish(part, options.hostArch),
    files: [{ path: file, sha256: sha256Hex(text), content: text }],
    raw: text,
    locations: part.locs,
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

async function readTextFile(path: string): Promise<string> {
  const bytes = await readFileBytes(path);
  try {
    // ignoreBOM keeps a byte-order mark in the text, so the text's UTF-8 is the file's bytes.
    return utf8.decode(bytes);
  } catch (err) {
    throw new ConfigError('INVALID_CONFIG', { file: path }, '', 'the file is not UTF-8 text', { cause: err });
  }
}

function readFailure(err: unknown, path: string, from: ConfigLocation | undefined): ProvenantError {
  if (isProvenantError(err)) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const at = from ?? { file: path };
  const keyPath = from === undefined ? '' : 'include';
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ConfigError(
      'NOT_FOUND',
      at,
      keyPath,
      `${from === undefined ? 'the config file' : 'the included file'} ${path} does not exist`,
      {
        cause: err,
        hint:
          from === undefined
            ? undefined
            : "an include is relative to the folder of the file that names it (apko's is relative to the working directory)",
      },
    );
  }
  return new ConfigError(
    'IO',
    at,
    keyPath,
    `cannot read ${path}: ${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)}`,
    {
      cause: err,
    },
  );
}

/**
 * Reads a configuration file and the files it includes, merges them as apko does (the included
 * file is the base, the including file overrides), and normalizes the result. An `include` is
 * relative to the folder of the file that names it. Throws a {@link ConfigError}: `INVALID_CONFIG`
 * for a mistake (including an include cycle), `NOT_FOUND` or `IO` for a file that cannot be read.
 */
export async function loadConfig(path: string, options: LoadConfigOptions): Promise<LoadedConfig> {
  const read = options.readFile ?? readTextFile;
  const files: ConfigFile[] = [];
  const chain: { abs: string; path: string }[] = [];
  let rootRaw = '';

  const load = async (file: string, from: ConfigLocation | undefined): Promise<Part> => {
    const abs = resolve(file);
    const seen = chain.findIndex((c) => c.abs === abs);
    if (from !== undefined && seen >= 0) {
      const cycle = [...chain.slice(seen).map((c) => c.path), file].join(' → ');
      throw new ConfigError('INVALID_CONFIG', from, 'include', `the includes form a cycle: ${cycle}`);
    }
    if (from !== undefined && chain.length >= MAX_INCLUDE_DEPTH) {
      throw new ConfigError('INVALID_CONFIG', from, 'include', `includes nest more than ${MAX_INCLUDE_DEPTH} deep`);
    }
    let text: string;
    try {
      text = await read(file);
    } catch (err) {
      throw readFailure(err, file, from);
    }
    if (from === undefined) rootRaw = text;
    files.push({ path: file, sha256: sha256Hex(text), content: text });
    const part = parsePart(text, file);
    if (part.include === undefined) return part;
    chain.push({ abs, path: file });
    const target = isAbsolute(part.include.path) ? part.include.path : join(dirname(file), part.include.path);
    const base = await load(target, part.include.at);
    chain.pop();
    return merge(base, part);
  };

  const merged = await load(path, undefined);
  return { config: finish(merged, options.hostArch), files, raw: rootRaw, locations: merged.locs };
}
