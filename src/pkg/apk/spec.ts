/**
 * A package spec in YAML (`provenant apk build spec.yaml`): the `.PKGINFO` fields and the files,
 * read with the shared position-aware reader (../../yaml.ts) so that each mistake names its
 * `file:line:column`, and the files it names read from disk.
 */
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ProvenantError } from '../../errors.ts';
import {
  type Entry,
  entries,
  fail,
  isNull,
  list,
  locOf,
  readYaml,
  scalarText,
  type YamlContext,
  type YamlErrorFactory,
  type YNode,
} from '../../yaml.ts';
import { type ApkFileSpec, type ApkSpec, apkAtomProblem, checkApkPath, checkApkSpec, fsError } from './write.ts';

const SPEC_KEYS = [
  'name',
  'version',
  'arch',
  'description',
  'url',
  'license',
  'origin',
  'maintainer',
  'depends',
  'provides',
  'replaces',
  'install-if',
  'builddate',
  'files',
] as const;
const FILE_KEYS = ['path', 'type', 'source', 'content', 'target', 'mode', 'uid', 'gid'] as const;

/** Errors name the place in `where` (`file:line:column`) and the key path in the message. */
const specError: YamlErrorFactory = (code, at, keyPath, problem, details) =>
  new ProvenantError(code, `${keyPath === '' ? '' : `${keyPath}: `}${problem}`, {
    where: at.line === undefined ? at.file : `${at.file}:${at.line}:${at.column ?? 1}`,
    hint: details.hint,
    cause: details.cause,
  });

/**
 * Parses a package spec written in YAML and reads the files it names:
 *
 * ```yaml
 * name: hello
 * version: 1.0-r0
 * arch: x86_64
 * description: says hello
 * license: MIT
 * depends: [musl]
 * provides: [cmd:hello=1.0-r0]
 * files:
 *   - { path: usr/bin/hello, source: build/hello, mode: "0755" }
 *   - { path: etc/hello.conf, content: "greeting = hi\n" }
 *   - { path: usr/bin/hi, type: symlink, target: hello }
 *   - { path: var/lib/hello, type: dir }
 * ```
 *
 * Also `url`, `origin`, `maintainer`, `replaces`, `install-if`, `builddate`; a file entry also
 * takes `uid` and `gid`. A `source` is relative to the YAML file's folder. Modes are octal.
 *
 * @param file the YAML file's path: sources are found from it and errors name it
 * @throws ProvenantError `INVALID_CONFIG` with `where` = `file:line:column` for invalid YAML, an
 *   unknown key, a missing or mistyped value; `NOT_FOUND`/`IO` at the entry's line when a source
 *   cannot be read; `USAGE` from `buildApk`'s checks, which run here too
 */
export async function parseApkSpecYaml(text: string, file: string): Promise<ApkSpec> {
  const { ctx, root } = readYaml(text, file, { error: specError });
  const top = mapping(ctx, root, '', SPEC_KEYS, 'the package spec');
  const str = (key: string): string | undefined => scalarText(ctx, top.get(key)?.node, key);
  const required = (key: string): string => {
    const v = str(key);
    return v === undefined || v === '' ? fail(ctx, root, key, 'is required') : v;
  };
  const spec: ApkSpec = { name: required('name'), version: required('version'), arch: required('arch'), files: [] };
  const set = <K extends keyof ApkSpec>(k: K, v: ApkSpec[K] | undefined): void => {
    if (v !== undefined) spec[k] = v;
  };
  set('description', str('description'));
  set('url', str('url'));
  set('license', str('license'));
  set('origin', str('origin'));
  set('maintainer', str('maintainer'));
  set('depends', atoms(ctx, top.get('depends'), 'depends'));
  set('provides', atoms(ctx, top.get('provides'), 'provides'));
  set('replaces', atoms(ctx, top.get('replaces'), 'replaces'));
  set('installIf', atoms(ctx, top.get('install-if'), 'installIf'));
  const builddate = str('builddate');
  if (builddate !== undefined) {
    if (!/^\d{1,15}$/.test(builddate)) fail(ctx, top.get('builddate')?.node, 'builddate', 'expected seconds since the epoch');
    spec.builddate = Number(builddate);
  }
  spec.files = await fileSpecs(ctx, top.get('files'), dirname(resolve(file)));
  try {
    checkApkSpec(spec);
  } catch (err) {
    if (err instanceof ProvenantError) throw new ProvenantError(err.code, err.message, { where: file, hint: err.hint, cause: err });
    throw err;
  }
  return spec;
}

/** A mapping's entries by key, refusing keys not in `known` (at the key's line). */
function mapping(ctx: YamlContext, node: YNode | undefined, path: string, known: readonly string[], what: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  if (node === undefined) return fail(ctx, node, path, `expected ${what}`);
  for (const e of entries(ctx, node, path, what)) {
    if (!known.includes(e.key)) fail(ctx, e.keyNode, e.path, 'is not a known key', `known keys: ${known.join(', ')}`);
    out.set(e.key, e);
  }
  return out;
}

/**
 * A list of dependency atoms, each one apk reads (apkAtomProblem), refused at its line;
 * undefined when the key is absent or null.
 */
function atoms(ctx: YamlContext, e: Entry | undefined, field: 'depends' | 'provides' | 'installIf' | 'replaces'): string[] | undefined {
  if (e === undefined || isNull(e.node)) return undefined;
  return list(ctx, e, 'strings').map(({ node, path }) => {
    const text = scalarText(ctx, node, path);
    if (text === undefined || text === '') return fail(ctx, node, path, 'expected a non-empty string');
    if (/[\s\0]/.test(text)) return fail(ctx, node, path, `${JSON.stringify(text)} is not one atom (no spaces; one per item)`);
    const why = apkAtomProblem(field, text);
    if (why !== undefined) fail(ctx, node, path, `${JSON.stringify(text)}: ${why.message}`, why.hint);
    return text;
  });
}

/** The `files` list, with each `source` read (relative to `base`, the spec's folder). */
async function fileSpecs(ctx: YamlContext, e: Entry | undefined, base: string): Promise<ApkFileSpec[]> {
  if (e === undefined || isNull(e.node)) return [];
  const files: ApkFileSpec[] = [];
  for (const { node, path } of list(ctx, e, 'files')) files.push(await fileSpec(ctx, node, path, base));
  return files;
}

/** One entry of `files`: a file (from `source` or `content`), a folder or a symlink. */
async function fileSpec(ctx: YamlContext, node: YNode | undefined, key: string, base: string): Promise<ApkFileSpec> {
  const f = mapping(ctx, node, key, FILE_KEYS, 'a file (a mapping with path)');
  const get = (k: string): string | undefined => scalarText(ctx, f.get(k)?.node, `${key}.${k}`);
  const bad = (k: string, problem: string): never => fail(ctx, f.get(k)?.node ?? node, k === '' ? key : `${key}.${k}`, problem);
  const path = get('path') ?? bad('', 'has no path');
  try {
    checkApkPath(path);
  } catch (err) {
    bad('path', (err as ProvenantError).message);
  }
  const type = get('type') ?? 'file';
  if (type !== 'file' && type !== 'dir' && type !== 'symlink') {
    bad('type', `is ${JSON.stringify(type)}; expected file, dir or symlink${type === 'directory' ? ' (write "dir")' : ''}`);
  }
  const entry: ApkFileSpec = { path, type: type as ApkFileSpec['type'] };
  const mode = get('mode');
  if (mode !== undefined) {
    if (!/^(0o?)?[0-7]{1,4}$/.test(mode)) bad('mode', `${JSON.stringify(mode)} is not an octal mode such as "0755"`);
    entry.mode = Number.parseInt(mode.replace(/^0o/, ''), 8);
  }
  for (const id of ['uid', 'gid'] as const) {
    const v = get(id);
    if (v === undefined) continue;
    if (!/^\d{1,10}$/.test(v) || Number(v) > 0xffff_ffff) bad(id, `${JSON.stringify(v)} is not a numeric id`);
    entry[id] = Number(v);
  }
  const source = get('source');
  const content = get('content');
  const target = get('target');
  if (entry.type === 'file') {
    if (source !== undefined && content !== undefined) bad('content', 'a file has a source or a content, not both');
    if (target !== undefined) bad('target', 'only a symlink has a target');
    if (source !== undefined) entry.body = await readSource(ctx, resolve(base, source), f.get('source'), key);
    else if (content !== undefined) entry.body = new TextEncoder().encode(content);
  } else {
    for (const k of ['source', 'content'] as const) if (f.has(k)) bad(k, `a ${entry.type} has no ${k}`);
    if (entry.type === 'symlink') entry.target = target === undefined || target === '' ? bad('', 'is a symlink without a target') : target;
    else if (target !== undefined) bad('target', 'only a symlink has a target');
  }
  return entry;
}

/** A file's `source`, read whole; a failure names the entry and the line of its `source`. */
async function readSource(ctx: YamlContext, from: string, at: Entry | undefined, key: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(from));
  } catch (err) {
    const e = fsError(err, from);
    const place = locOf(ctx, at?.node);
    throw new ProvenantError(e.code, `${key}.source: ${e.message}`, { where: `${place.file}:${place.line}:${place.column}`, cause: err });
  }
}
