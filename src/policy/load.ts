/**
 * Loading policy files: YAML holding one or more ClusterImagePolicy documents
 * (policy.sigstore.dev/v1beta1 or v1alpha1, as sigstore/policy-controller defines them in
 * pkg/apis/policy/v1beta1/clusterimagepolicy_types.go), checked against what Provenant
 * evaluates. A policy that uses only that loads as it is; every other field is an error that
 * names it and says where (file:line:col), never silently ignored. Conditions are CEL
 * (`policy: {type: cel, data: ...}`) instead of CUE or Rego; built-in checks are Provenant's
 * own `builtin:` entries. docs/policy.md is the reference.
 */
import type { KeyObject } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { RE2JS } from '@bufbuild/re2';
import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseAllDocuments,
  type Scalar,
  type YAMLMap,
  type YAMLSeq,
} from 'yaml';
import { ProvenantError } from '../errors.ts';
import { keyId, parsePublicKey, pemDecodeAll, pemEncode } from '../sign/keys.ts';
import { PREDICATE_TYPES, parsePredicateType } from '../sign/payload.ts';
import { compileCel } from './cel.ts';
import { compileGlob, globProblem } from './glob.ts';
import type { AttestationRule, Authority, BuiltinCheck, Condition, Identity, ImagePolicy, Matcher } from './types.ts';

/** The apiVersions read. */
export const POLICY_API_VERSIONS = ['policy.sigstore.dev/v1beta1', 'policy.sigstore.dev/v1alpha1'] as const;

/** Options of {@link parsePolicies}. */
export interface ParsePolicyOptions {
  /**
   * Where `key.secretRef.name` is looked up (default: the policy file's folder). A secret is a
   * file of PEM public keys, or a folder with one file per key, as Kubernetes mounts a Secret.
   */
  baseDir?: string | undefined;
}

/**
 * Reads and checks a policy file.
 *
 * @throws ProvenantError `NOT_FOUND`/`IO` when the file cannot be read, `INVALID_CONFIG` (with
 *   `where` = file:line:col) for anything wrong or unsupported in it
 */
export async function loadPolicyFile(path: string): Promise<ImagePolicy[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    const code = (cause as { code?: unknown }).code === 'ENOENT' ? 'NOT_FOUND' : 'IO';
    throw new ProvenantError(code, `cannot read the policy file: ${(cause as Error).message}`, { where: path, cause });
  }
  return parsePolicies(text, path, { baseDir: dirname(resolve(path)) });
}

/**
 * Parses and checks policy YAML (`file` names it in messages). Documents that are empty are
 * skipped; at least one ClusterImagePolicy must be there.
 *
 * @throws ProvenantError `INVALID_CONFIG` for anything wrong or unsupported, `NOT_FOUND`/`IO`
 *   for a `secretRef` that cannot be read
 */
export async function parsePolicies(text: string, file: string, options: ParsePolicyOptions = {}): Promise<ImagePolicy[]> {
  const lines = new LineCounter();
  let docs: Document.Parsed[];
  try {
    docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true }) as Document.Parsed[];
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', `cannot parse the YAML: ${(cause as Error).message}`, { where: file, cause });
  }
  if (!Array.isArray(docs)) {
    // parseAllDocuments answers an EmptyStream for a text without documents.
    docs = [];
  }
  const out: ImagePolicy[] = [];
  const baseDir = options.baseDir ?? dirname(resolve(file));
  for (const doc of docs) {
    const ctx: Ctx = { file, text, doc, lines, nodes: 0, aliases: new Map(), baseDir };
    const syntax = doc.errors[0];
    if (syntax !== undefined) {
      throw new ProvenantError('INVALID_CONFIG', `invalid YAML: ${syntax.message.split('\n')[0]}`, {
        where: at(ctx, syntax.pos[0]),
        cause: syntax,
      });
    }
    const root = deref(ctx, doc.contents, '');
    if (isNull(root)) continue;
    out.push(await readPolicy(ctx, root!));
  }
  if (out.length === 0) {
    throw new ProvenantError('INVALID_CONFIG', 'the file holds no ClusterImagePolicy', {
      where: file,
      hint: 'a policy starts with apiVersion: policy.sigstore.dev/v1beta1 and kind: ClusterImagePolicy',
    });
  }
  const names = new Map<string, string>();
  for (const p of out) {
    const earlier = names.get(p.name);
    if (earlier !== undefined) {
      throw new ProvenantError('INVALID_CONFIG', `a second policy is named ${JSON.stringify(p.name)} (the first is at ${earlier})`, {
        where: p.where,
      });
    }
    names.set(p.name, p.where);
  }
  return out;
}

// ---- YAML nodes with their places -----------------------------------------------------------

type YNode = Scalar | YAMLMap | YAMLSeq;

interface Ctx {
  readonly file: string;
  readonly text: string;
  readonly doc: Document.Parsed;
  readonly lines: LineCounter;
  readonly aliases: Map<Alias, YNode | undefined>;
  readonly baseDir: string;
  nodes: number;
}

// More values than any policy needs: an alias bomb stops here.
const MAX_NODES = 100_000;

function at(ctx: Ctx, offset: number): string {
  const { line, col } = ctx.lines.linePos(offset);
  return `${ctx.file}:${line}:${col}`;
}

function whereOf(ctx: Ctx, node: { range?: readonly number[] | null | undefined } | undefined | null): string {
  return at(ctx, node?.range?.[0] ?? 0);
}

function fail(ctx: Ctx, node: YNode | Alias | Scalar | undefined | null, path: string, problem: string, hint?: string): never {
  throw new ProvenantError('INVALID_CONFIG', path === '' ? problem : `${path}: ${problem}`, { where: whereOf(ctx, node), hint });
}

function deref(ctx: Ctx, node: unknown, path: string): YNode | undefined {
  if (++ctx.nodes > MAX_NODES)
    fail(ctx, undefined, path, `the document expands to more than ${MAX_NODES} values (through aliases); refusing it`);
  if (node === null || node === undefined) return undefined;
  if (isAlias(node)) {
    if (!ctx.aliases.has(node)) ctx.aliases.set(node, node.resolve(ctx.doc) as YNode | undefined);
    const target = ctx.aliases.get(node);
    if (target === undefined) fail(ctx, node, path, `the alias *${node.source} names no anchor defined before it`);
    return target;
  }
  if (isScalar(node) || isMap(node) || isSeq(node)) return node;
  return fail(ctx, undefined, path, 'this YAML node is not supported here');
}

function isNull(node: YNode | undefined): boolean {
  return node === undefined || (isScalar(node) && node.value === null);
}

function describe(node: YNode | undefined): string {
  if (isNull(node)) return 'nothing';
  if (isMap(node)) return 'a mapping';
  if (isSeq(node)) return 'a list';
  const v = (node as Scalar).value;
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 37)}...` : v)}`;
  return `${typeof v === 'number' ? 'the number' : typeof v === 'boolean' ? 'the boolean' : 'the value'} ${String(v)}`;
}

interface Entry {
  key: string;
  keyNode: Scalar;
  node: YNode | undefined;
  path: string;
}

/** What a mapping may hold: known keys, and keys refused with a reason of their own. */
interface MapSpec {
  known: readonly string[];
  /** Keys policy-controller has and Provenant does not: key → [why, what to do]. */
  unsupported?: Readonly<Record<string, readonly [string, string]>>;
}

function childPath(parent: string, key: string): string {
  const k = /^[A-Za-z_][A-Za-z0-9_-]*$/.test(key) ? key : JSON.stringify(key);
  return parent === '' ? k : `${parent}.${k}`;
}

/** A mapping's entries checked against `spec`: an unknown key is an error with a suggestion. */
function fields(ctx: Ctx, node: YNode | undefined, path: string, spec: MapSpec, what: string): Map<string, Entry> {
  if (node === undefined || !isMap(node)) return fail(ctx, node, path, `expected ${what} (a mapping), got ${describe(node)}`);
  const out = new Map<string, Entry>();
  for (const pair of node.items) {
    const keyNode = deref(ctx, pair.key, path);
    if (keyNode === undefined || !isScalar(keyNode) || typeof keyNode.value !== 'string' || keyNode.value === '') {
      fail(ctx, keyNode ?? node, path, `a key must be a non-empty string, got ${describe(keyNode)}`);
    }
    const key = keyNode.value as string;
    const p = childPath(path, key);
    if (key === '<<') fail(ctx, keyNode, p, 'merge keys (<<) are not supported in policies');
    if (!spec.known.includes(key)) {
      const refused = spec.unsupported !== undefined && Object.hasOwn(spec.unsupported, key) ? spec.unsupported[key] : undefined;
      if (refused !== undefined) fail(ctx, keyNode, p, `${refused[0]}`, refused[1]);
      const guess = suggest(key, spec.known);
      fail(
        ctx,
        keyNode,
        p,
        `unknown field "${key}"${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
        `${path === '' ? 'a policy document has' : `${path} has`}: ${spec.known.join(', ')}`,
      );
    }
    out.set(key, { key, keyNode, node: deref(ctx, pair.value, p), path: p });
  }
  return out;
}

function str(ctx: Ctx, e: Entry | undefined): string | undefined {
  if (e === undefined || isNull(e.node)) return undefined;
  if (!isScalar(e.node) || typeof e.node.value !== 'string') return fail(ctx, e.node, e.path, `expected a string, got ${describe(e.node)}`);
  return e.node.value;
}

function required(ctx: Ctx, e: Entry | undefined, parent: YNode, parentPath: string, key: string): string {
  const v = str(ctx, e);
  if (v === undefined || v === '') fail(ctx, e?.keyNode ?? parent, childPath(parentPath, key), `"${key}" is required`);
  return v;
}

function bool(ctx: Ctx, e: Entry | undefined): boolean | undefined {
  if (e === undefined || isNull(e.node)) return undefined;
  if (!isScalar(e.node) || typeof e.node.value !== 'boolean')
    return fail(ctx, e.node, e.path, `expected true or false, got ${describe(e.node)}`);
  return e.node.value;
}

function list(ctx: Ctx, e: Entry | undefined): { node: YNode | undefined; path: string }[] {
  if (e === undefined || isNull(e.node)) return [];
  if (!isSeq(e.node)) return fail(ctx, e.node, e.path, `expected a list, got ${describe(e.node)}`);
  return e.node.items.map((item, i) => ({ node: deref(ctx, item, `${e.path}[${i}]`), path: `${e.path}[${i}]` }));
}

function oneOf<T extends string>(ctx: Ctx, e: Entry, choices: readonly T[]): T {
  const v = str(ctx, e);
  if (v === undefined || !(choices as readonly string[]).includes(v)) {
    const guess = v === undefined ? undefined : suggest(v, choices);
    fail(
      ctx,
      e.node,
      e.path,
      `${v === undefined ? 'nothing' : JSON.stringify(v)} is not one of ${choices.join(', ')}${guess === undefined ? '' : ` (did you mean "${guess}"?)`}`,
    );
  }
  return v as T;
}

// ---- the document -----------------------------------------------------------------------------

const TRUST_ROOT_HINT = 'give Provenant the trusted root JSON instead (verify --trusted-root)';

const DOCUMENT: MapSpec = {
  known: ['apiVersion', 'kind', 'metadata', 'spec'],
  unsupported: { status: ['status is written by the cluster, not part of a policy', 'remove it'] },
};
const METADATA: MapSpec = { known: ['name', 'namespace', 'labels', 'annotations'] };
const SPEC: MapSpec = {
  known: ['images', 'authorities', 'mode'],
  unsupported: {
    policy: [
      'spec.policy (a CUE or Rego policy over the results of all authorities) is not supported',
      'put CEL conditions on each attestation instead (attestations[].policy: {type: cel, data: ...})',
    ],
    match: ['spec.match selects Kubernetes resources, and there are none here', 'remove it; spec.images selects the images'],
  },
};
const IMAGE: MapSpec = { known: ['glob'] };
const AUTHORITY: MapSpec = {
  known: ['name', 'key', 'keyless', 'static', 'ctlog', 'attestations', 'signatureFormat'],
  unsupported: {
    source: [
      'source (signatures kept in another repository) is not supported: signatures are looked up next to the image',
      'copy the signatures to the image’s repository (provenant copy takes them along), or remove source',
    ],
    rfc3161timestamp: [
      'rfc3161timestamp (requiring a timestamp from a TrustRoot resource) is not supported; timestamps a signature carries are checked against the trusted root’s timestamp authorities',
      `remove it; ${TRUST_ROOT_HINT}`,
    ],
  },
};
const KEY: MapSpec = {
  known: ['data', 'secretRef', 'hashAlgorithm'],
  unsupported: {
    kms: [
      'key.kms (a key held in a KMS) is not supported',
      'export the public key (cosign public-key --key <kms-uri>) and put its PEM in key.data, or in a file named by key.secretRef',
    ],
  },
};
const SECRET_REF: MapSpec = { known: ['name', 'namespace'] };
const KEYLESS: MapSpec = {
  known: ['url', 'identities', 'insecureIgnoreSCT'],
  unsupported: {
    'ca-cert': [
      'keyless.ca-cert (a Fulcio CA given in the policy) is not supported',
      'put the CA into the trusted root (cosign trusted-root create --certificate-chain ...) and pass that',
    ],
    trustRootRef: ['keyless.trustRootRef (a TrustRoot resource) is not supported', TRUST_ROOT_HINT],
  },
};
const IDENTITY: MapSpec = { known: ['issuer', 'subject', 'issuerRegExp', 'subjectRegExp'] };
const STATIC: MapSpec = { known: ['action', 'message'] };
const CTLOG: MapSpec = {
  known: ['url'],
  unsupported: { trustRootRef: ['ctlog.trustRootRef (a TrustRoot resource) is not supported', TRUST_ROOT_HINT] },
};
const ATTESTATION: MapSpec = { known: ['name', 'predicateType', 'policy', 'builtin'] };
const CONDITION: MapSpec = {
  known: ['type', 'data'],
  unsupported: {
    remote: ['policy.remote (a policy fetched from a URL) is not supported', 'put the CEL expression in policy.data'],
    configMapRef: ['policy.configMapRef (a policy in a ConfigMap) is not supported', 'put the CEL expression in policy.data'],
    fetchConfigFile: ['policy.fetchConfigFile is not supported (policy-controller allows it only in spec.policy)', 'remove it'],
    includeSpec: ['policy.includeSpec is not supported: there is no Kubernetes resource here', 'remove it'],
    includeObjectMeta: ['policy.includeObjectMeta is not supported: there is no Kubernetes resource here', 'remove it'],
    includeTypeMeta: ['policy.includeTypeMeta is not supported: there is no Kubernetes resource here', 'remove it'],
  },
};
const BUILTINS = ['slsaBuilder', 'sbom', 'maxPackageAgeDays', 'repositories'] as const;
const BUILTIN: MapSpec = { known: BUILTINS };

async function readPolicy(ctx: Ctx, root: YNode): Promise<ImagePolicy> {
  const where = whereOf(ctx, root);
  if (!isMap(root)) fail(ctx, root, '', `expected a ClusterImagePolicy (a mapping), got ${describe(root)}`);
  const top = fields(ctx, root, '', DOCUMENT, 'a ClusterImagePolicy');
  const kindEntry = top.get('kind');
  const kind = required(ctx, kindEntry, root, '', 'kind');
  if (kind !== 'ClusterImagePolicy') {
    const hint = kind === 'TrustRoot' ? TRUST_ROOT_HINT : 'write kind: ClusterImagePolicy';
    fail(ctx, kindEntry!.node, 'kind', `${JSON.stringify(kind)} is not read here; only ClusterImagePolicy is`, hint);
  }
  const apiEntry = top.get('apiVersion');
  const apiVersion = required(ctx, apiEntry, root, '', 'apiVersion');
  if (!(POLICY_API_VERSIONS as readonly string[]).includes(apiVersion)) {
    fail(ctx, apiEntry!.node, 'apiVersion', `${JSON.stringify(apiVersion)} is not one of ${POLICY_API_VERSIONS.join(', ')}`);
  }
  const metaEntry = top.get('metadata');
  if (metaEntry === undefined) fail(ctx, root, 'metadata', '"metadata" with a name is required');
  const meta = fields(ctx, metaEntry.node, 'metadata', METADATA, 'metadata');
  const name = required(ctx, meta.get('name'), metaEntry.node!, 'metadata', 'name');
  str(ctx, meta.get('namespace'));
  for (const k of ['labels', 'annotations']) stringMap(ctx, meta.get(k));
  const specEntry = top.get('spec');
  if (specEntry === undefined) fail(ctx, root, 'spec', '"spec" is required');
  const spec = fields(ctx, specEntry.node, 'spec', SPEC, 'the spec');
  const imagesEntry = spec.get('images');
  const images = list(ctx, imagesEntry).map(({ node, path }) => {
    const f = fields(ctx, node, path, IMAGE, 'an image pattern');
    const glob = required(ctx, f.get('glob'), node!, path, 'glob');
    const problem = globProblem(glob);
    if (problem !== undefined) fail(ctx, f.get('glob')!.node, `${path}.glob`, `${JSON.stringify(glob)}: ${problem}`);
    return { glob, pattern: compileGlob(glob), where: whereOf(ctx, f.get('glob')!.node) };
  });
  if (images.length === 0) fail(ctx, imagesEntry?.keyNode ?? specEntry.keyNode, 'spec.images', 'at least one image glob is required');
  const authoritiesEntry = spec.get('authorities');
  const authorityNodes = list(ctx, authoritiesEntry);
  if (authorityNodes.length === 0) {
    fail(
      ctx,
      authoritiesEntry?.keyNode ?? specEntry.keyNode,
      'spec.authorities',
      'at least one authority is required',
      'an authority is a key, keyless or static block',
    );
  }
  const authorities: Authority[] = [];
  for (const [i, { node, path }] of authorityNodes.entries()) authorities.push(await readAuthority(ctx, node, path, i));
  const seen = new Map<string, string>();
  for (const a of authorities) {
    if (seen.has(a.name)) fail(ctx, undefined, 'spec.authorities', `two authorities are named ${JSON.stringify(a.name)}`);
    seen.set(a.name, a.where);
  }
  const modeEntry = spec.get('mode');
  const mode = modeEntry === undefined || isNull(modeEntry.node) ? 'enforce' : oneOf(ctx, modeEntry, ['enforce', 'warn'] as const);
  return { name, apiVersion, where, images, authorities, mode };
}

function stringMap(ctx: Ctx, e: Entry | undefined): void {
  if (e === undefined || isNull(e.node)) return;
  if (!isMap(e.node)) fail(ctx, e.node, e.path, `expected a mapping of strings, got ${describe(e.node)}`);
  for (const pair of e.node.items) {
    const k = deref(ctx, pair.key, e.path);
    const v = deref(ctx, pair.value, e.path);
    if (!isScalar(k) || typeof k.value !== 'string') fail(ctx, k ?? e.node, e.path, `a key must be a string, got ${describe(k)}`);
    if (!isNull(v) && (!isScalar(v) || typeof v!.value !== 'string'))
      fail(ctx, v, childPath(e.path, k.value as string), `expected a string, got ${describe(v)}`);
  }
}

async function readAuthority(ctx: Ctx, node: YNode | undefined, path: string, index: number): Promise<Authority> {
  const f = fields(ctx, node, path, AUTHORITY, 'an authority');
  const where = whereOf(ctx, node);
  const name = str(ctx, f.get('name')) || `authority-${index}`;
  const kinds = (['key', 'keyless', 'static'] as const).filter((k) => f.has(k));
  if (kinds.length !== 1) {
    fail(
      ctx,
      kinds.length === 0 ? node : f.get(kinds[1]!)!.keyNode,
      path,
      kinds.length === 0
        ? 'an authority needs one of key, keyless or static'
        : `an authority has one of key, keyless or static, not ${kinds.join(' and ')}`,
    );
  }
  const kind = kinds[0]!;
  if (kind === 'static') {
    for (const k of ['attestations', 'ctlog', 'signatureFormat']) {
      const e = f.get(k);
      if (e !== undefined) fail(ctx, e.keyNode, e.path, `a static authority checks nothing, so ${k} has no meaning in it`);
    }
    const e = f.get('static')!;
    const s = fields(ctx, e.node, e.path, STATIC, 'static');
    const actionEntry = s.get('action');
    if (actionEntry === undefined) fail(ctx, e.node, `${e.path}.action`, '"action" (pass or fail) is required');
    return { kind: 'static', name, where, action: oneOf(ctx, actionEntry, ['pass', 'fail'] as const), message: str(ctx, s.get('message')) };
  }
  const formatEntry = f.get('signatureFormat');
  const signatureFormat =
    formatEntry === undefined || isNull(formatEntry.node) ? undefined : oneOf(ctx, formatEntry, ['legacy', 'bundle'] as const);
  const ctlogEntry = f.get('ctlog');
  let ctlog: { url: string | undefined } | undefined;
  if (ctlogEntry !== undefined) {
    const c = isNull(ctlogEntry.node) ? new Map<string, Entry>() : fields(ctx, ctlogEntry.node, ctlogEntry.path, CTLOG, 'ctlog');
    ctlog = { url: url(ctx, c.get('url')) };
  }
  const attestations = list(ctx, f.get('attestations')).map(({ node: n, path: p }) => readAttestation(ctx, n, p));
  const names = new Set<string>();
  for (const a of attestations) {
    if (names.has(a.name)) fail(ctx, undefined, `${path}.attestations`, `two attestations are named ${JSON.stringify(a.name)}`);
    names.add(a.name);
  }
  const base = { name, where, signatureFormat, ctlog, attestations };
  if (kind === 'key') {
    const e = f.get('key')!;
    return { kind: 'key', ...base, keys: await readKeys(ctx, e) };
  }
  const e = f.get('keyless')!;
  const k = fields(ctx, e.node, e.path, KEYLESS, 'keyless');
  const idsEntry = k.get('identities');
  const identities = list(ctx, idsEntry).map(({ node: n, path: p }) => readIdentity(ctx, n, p));
  if (identities.length === 0) {
    fail(
      ctx,
      idsEntry?.keyNode ?? e.keyNode,
      `${e.path}.identities`,
      'at least one identity (issuer and subject) is required',
      'keyless signatures are only as good as the identity they must carry',
    );
  }
  const ignore = k.get('insecureIgnoreSCT');
  if (bool(ctx, ignore) === true) {
    fail(
      ctx,
      ignore!.node,
      ignore!.path,
      'insecureIgnoreSCT: true is not supported: every SCT a certificate carries is checked against the trusted root’s CT logs',
      'remove it, or put the CT log that issued the SCTs into the trusted root',
    );
  }
  return { kind: 'keyless', ...base, url: url(ctx, k.get('url')), identities };
}

function url(ctx: Ctx, e: Entry | undefined): string | undefined {
  const v = str(ctx, e);
  if (v === undefined) return undefined;
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return fail(ctx, e!.node, e!.path, `${JSON.stringify(v)} is not a URL`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') fail(ctx, e!.node, e!.path, `${JSON.stringify(v)} is not an http(s) URL`);
  return v;
}

async function readKeys(ctx: Ctx, e: Entry): Promise<{ key: KeyObject; id: string; source: string }[]> {
  const k = fields(ctx, e.node, e.path, KEY, 'key');
  const hash = k.get('hashAlgorithm');
  const hashName = str(ctx, hash);
  if (hashName !== undefined && hashName !== 'sha256') {
    fail(
      ctx,
      hash!.node,
      hash!.path,
      `hashAlgorithm ${JSON.stringify(hashName)} is not supported; signatures are checked with sha256, cosign's default`,
    );
  }
  const data = k.get('data');
  const ref = k.get('secretRef');
  if ((data === undefined) === (ref === undefined)) {
    fail(
      ctx,
      e.node,
      e.path,
      data === undefined
        ? 'key needs data (an inline PEM public key) or secretRef (a file of them)'
        : 'key has one of data or secretRef, not both',
    );
  }
  if (data !== undefined) {
    const pem = str(ctx, data) ?? '';
    return pemKeys(pem, `${e.path}.data`, (problem) => fail(ctx, data.node, data.path, problem));
  }
  const r = fields(ctx, ref!.node, ref!.path, SECRET_REF, 'secretRef');
  const name = required(ctx, r.get('name'), ref!.node!, ref!.path, 'name');
  str(ctx, r.get('namespace'));
  const path = resolve(ctx.baseDir, name);
  const refFail = (problem: string): never => fail(ctx, r.get('name')!.node, `${ref!.path}.name`, problem);
  let files: string[];
  try {
    files = (await stat(path)).isDirectory()
      ? (await readdir(path, { withFileTypes: true }))
          .filter((d) => d.isFile() && !d.name.startsWith('.'))
          .map((d) => resolve(path, d.name))
          .sort()
      : [path];
  } catch (cause) {
    return refFail(`the secret ${JSON.stringify(name)} cannot be read (${path}): ${(cause as Error).message}`);
  }
  const keys: { key: KeyObject; id: string; source: string }[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = await readFile(f, 'utf8');
    } catch (cause) {
      return refFail(`cannot read ${f}: ${(cause as Error).message}`);
    }
    keys.push(...pemKeys(text, f, (problem) => refFail(`${f}: ${problem}`)));
  }
  if (keys.length === 0) refFail(`the secret ${JSON.stringify(name)} (${path}) holds no public key`);
  return keys;
}

function pemKeys(text: string, source: string, problem: (why: string) => never): { key: KeyObject; id: string; source: string }[] {
  const blocks = pemDecodeAll(text);
  if (blocks.length === 0) problem('expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  return blocks.map((b, i) => {
    if (b.type !== 'PUBLIC KEY') problem(`PEM block ${i + 1} is a ${b.type}, not a PUBLIC KEY`);
    let key: KeyObject;
    try {
      key = parsePublicKey(pemEncode(b.type, b.bytes));
    } catch (err) {
      return problem(`PEM block ${i + 1} is not a public key: ${(err as Error).message}`);
    }
    return { key, id: keyId(key), source };
  });
}

function readIdentity(ctx: Ctx, node: YNode | undefined, path: string): Identity {
  const f = fields(ctx, node, path, IDENTITY, 'an identity');
  const matcher = (exactKey: string, reKey: string): Matcher => {
    const exact = f.get(exactKey);
    const re = f.get(reKey);
    if (exact !== undefined && re !== undefined) fail(ctx, re.keyNode, path, `an identity has one of ${exactKey} or ${reKey}, not both`);
    if (exact === undefined && re === undefined) fail(ctx, node, path, `an identity needs ${exactKey} or ${reKey}`);
    if (exact !== undefined) return { exact: required(ctx, exact, node!, path, exactKey) };
    const pattern = required(ctx, re, node!, path, reKey);
    let compiled: RE2JS;
    try {
      compiled = RE2JS.compile(pattern);
    } catch (err) {
      return fail(ctx, re!.node, re!.path, `${JSON.stringify(pattern)} is not an RE2 regular expression: ${(err as Error).message}`);
    }
    return { regexp: pattern, test: (text: string) => compiled.test(text) };
  };
  return { issuer: matcher('issuer', 'issuerRegExp'), subject: matcher('subject', 'subjectRegExp') };
}

function readAttestation(ctx: Ctx, node: YNode | undefined, path: string): AttestationRule {
  const f = fields(ctx, node, path, ATTESTATION, 'an attestation');
  const where = whereOf(ctx, node);
  const name = required(ctx, f.get('name'), node!, path, 'name');
  const builtinEntry = f.get('builtin');
  if (builtinEntry !== undefined) {
    for (const k of ['predicateType', 'policy']) {
      const e = f.get(k);
      if (e !== undefined)
        fail(
          ctx,
          e.keyNode,
          e.path,
          `a builtin check chooses its own attestations, so it takes no ${k}`,
          'use a separate attestation entry for a CEL condition',
        );
    }
    const { check, types, text } = readBuiltin(ctx, builtinEntry);
    return {
      name,
      where,
      predicateTypes: types,
      predicateTypeText: text,
      condition: { kind: 'builtin', check, where: whereOf(ctx, builtinEntry.node) },
    };
  }
  const typeEntry = f.get('predicateType');
  const typeText = required(ctx, typeEntry, node!, path, 'predicateType');
  let predicateType: string;
  try {
    predicateType = parsePredicateType(typeText);
  } catch {
    return fail(
      ctx,
      typeEntry!.node,
      typeEntry!.path,
      `${JSON.stringify(typeText)} is not a predicate type`,
      `use a URI, or one of ${Object.keys(PREDICATE_TYPES).join(', ')}`,
    );
  }
  const policyEntry = f.get('policy');
  const condition: Condition = policyEntry === undefined || isNull(policyEntry.node) ? { kind: 'none' } : readCondition(ctx, policyEntry);
  return { name, where, predicateTypes: [predicateType], predicateTypeText: typeText, condition };
}

function readCondition(ctx: Ctx, e: Entry): Condition {
  const f = fields(ctx, e.node, e.path, CONDITION, 'a policy');
  const typeEntry = f.get('type');
  const type = required(ctx, typeEntry, e.node!, e.path, 'type');
  if (type === 'cue' || type === 'rego') {
    fail(
      ctx,
      typeEntry!.node,
      typeEntry!.path,
      `${type === 'cue' ? 'CUE' : 'Rego'} policies are not supported; conditions are written in CEL`,
      'write type: cel and a CEL expression in data, e.g. predicateType == "https://spdx.dev/Document" (see docs/policy.md)',
    );
  }
  if (type !== 'cel') fail(ctx, typeEntry!.node, typeEntry!.path, `${JSON.stringify(type)} is not a policy type; the one supported is cel`);
  const dataEntry = f.get('data');
  const expression = required(ctx, dataEntry, e.node!, e.path, 'data');
  const compiled = compileCel(expression);
  const scalar = dataEntry!.node as Scalar;
  if (!('run' in compiled)) {
    const place = compiled.line === undefined ? whereOf(ctx, scalar) : celPlace(ctx, scalar, compiled.line, compiled.column ?? 1);
    throw new ProvenantError('INVALID_CONFIG', `${dataEntry!.path}: the CEL expression does not compile: ${compiled.message}`, {
      where: place,
      hint: 'a condition is a CEL expression over predicateType, predicate, subject, statement and now that is true or false',
    });
  }
  return { kind: 'cel', expression, program: compiled, where: whereOf(ctx, scalar) };
}

/** The file position of line:column of a CEL expression held in `scalar`. */
function celPlace(ctx: Ctx, scalar: Scalar, line: number, column: number): string {
  const start = scalar.range?.[0] ?? 0;
  const pos = ctx.lines.linePos(start);
  if (scalar.type === 'BLOCK_LITERAL' || scalar.type === 'BLOCK_FOLDED') {
    // The text starts on the line after the `|` or `>` indicator, at the block's indentation.
    const first = ctx.text.split('\n')[pos.line] ?? '';
    const indent = first.length - first.trimStart().length;
    return `${ctx.file}:${pos.line + line}:${indent + column}`;
  }
  const quoted = scalar.type === 'QUOTE_DOUBLE' || scalar.type === 'QUOTE_SINGLE' ? 1 : 0;
  return line === 1 ? `${ctx.file}:${pos.line}:${pos.col + quoted + column - 1}` : `${ctx.file}:${pos.line + line - 1}`;
}

const SBOM_TYPES = { spdx: ['https://spdx.dev/Document'], cyclonedx: ['https://cyclonedx.org/bom'] } as const;
const SLSA_TYPES = ['https://slsa.dev/provenance/v1', 'https://slsa.dev/provenance/v0.2', 'https://slsa.dev/provenance/v0.1'];

function readBuiltin(ctx: Ctx, e: Entry): { check: BuiltinCheck; types: string[]; text: string } {
  const f = fields(ctx, e.node, e.path, BUILTIN, 'a builtin check');
  if (f.size !== 1) {
    fail(
      ctx,
      e.node,
      e.path,
      `a builtin entry holds exactly one check (${BUILTINS.join(', ')}), it has ${f.size === 0 ? 'none' : [...f.keys()].join(' and ')}`,
      'write one attestation entry per check',
    );
  }
  const [key, entry] = [...f.entries()][0]!;
  switch (key) {
    case 'slsaBuilder': {
      const id = required(ctx, entry, e.node!, e.path, key);
      return { check: { slsaBuilder: id }, types: SLSA_TYPES, text: 'SLSA provenance' };
    }
    case 'repositories': {
      const items = list(ctx, entry).map(({ node, path }) => {
        if (!isScalar(node) || typeof node.value !== 'string' || node.value === '')
          fail(ctx, node, path, `expected a repository URL prefix, got ${describe(node)}`);
        return node.value;
      });
      if (items.length === 0) fail(ctx, entry.node, entry.path, 'at least one repository is required');
      return { check: { repositories: items }, types: SLSA_TYPES, text: 'SLSA provenance' };
    }
    case 'sbom': {
      const nodes = isSeq(entry.node) ? list(ctx, entry) : [{ node: entry.node, path: entry.path }];
      const formats = nodes.map(({ node, path }) => {
        if (!isScalar(node) || (node.value !== 'spdx' && node.value !== 'cyclonedx'))
          fail(ctx, node, path, `${describe(node)} is not an SBOM format; use spdx or cyclonedx`);
        return node.value as 'spdx' | 'cyclonedx';
      });
      if (formats.length === 0) fail(ctx, entry.node, entry.path, 'name spdx, cyclonedx or both');
      return {
        check: { sbom: formats },
        types: formats.flatMap((x) => [...SBOM_TYPES[x]]),
        text: formats.map((x) => (x === 'spdx' ? 'SPDX' : 'CycloneDX')).join(' or '),
      };
    }
    default: {
      const n = entry.node;
      if (!isScalar(n) || typeof n.value !== 'number' || !Number.isInteger(n.value) || n.value < 0) {
        fail(ctx, n, entry.path, `expected a whole number of days, got ${describe(n)}`);
      }
      return { check: { maxPackageAgeDays: n.value as number }, types: [...SBOM_TYPES.spdx, ...SBOM_TYPES.cyclonedx], text: 'SBOM' };
    }
  }
}

// ---- suggestions ------------------------------------------------------------------------------

function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      // Two letters swapped are one typo (optimal string alignment distance).
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/** The known word closest to `word`, when close enough to be a typo (case ignored). */
function suggest(word: string, known: readonly string[]): string | undefined {
  if (word.length > 64) return undefined;
  let best: string | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const score = distance(word.toLowerCase(), candidate.toLowerCase());
    if (score < bestScore) {
      best = candidate;
      bestScore = score;
    }
  }
  return best !== undefined && bestScore <= Math.max(1, Math.floor(Math.min(word.length, best.length) / 3)) ? best : undefined;
}
