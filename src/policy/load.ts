/**
 * Loading policy files: YAML holding one or more ClusterImagePolicy documents
 * (policy.sigstore.dev/v1beta1 or v1alpha1, as sigstore/policy-controller defines them in
 * pkg/apis/policy/v1beta1/clusterimagepolicy_types.go), checked against what Provenant
 * evaluates. A policy that uses only that loads as it is; every other field is an error that
 * names it and says where (file:line:col), never silently ignored. Conditions are CEL
 * (`policy: {type: cel, data: ...}`) instead of CUE or Rego; built-in checks are Provenant's
 * own `builtin:` entries. docs/policy.md is the reference.
 */
import { dirname, resolve } from 'node:path';
import { type Document, isMap, LineCounter, parseAllDocuments } from 'yaml';
import { ProvenantError } from '../errors.ts';
import { RefusedFile, readSmallFile, unreadableNamed } from '../io/files.ts';
import { MAX_YAML_BYTES } from '../yaml.ts';
import { readAuthority, TRUST_ROOT_HINT } from './authority.ts';
import { compileGlob, globProblem } from './glob.ts';
import {
  at,
  type Ctx,
  deref,
  describe,
  fail,
  fields,
  isNull,
  list,
  type MapSpec,
  oneOf,
  policyContext,
  quoteHint,
  required,
  str,
  stringMap,
  whereOf,
  type YNode,
} from './nodes.ts';
import type { Authority, ImagePolicy } from './types.ts';

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
  let bytes: Uint8Array;
  try {
    bytes = await readSmallFile(path, MAX_YAML_BYTES, 'a policy file');
  } catch (cause) {
    if (cause instanceof RefusedFile)
      throw new ProvenantError('INVALID_CONFIG', `the policy file ${cause.problem}`, { where: path, cause });
    // Said as a key file is (unreadableNamed): a path through a file (ENOTDIR) names no file
    // either, not found, as attest's --predicate says it; a link to nothing names its target; a
    // refused permission is said in words, with the folder that refused.
    const { code, problem, hint } = unreadableNamed(cause, path);
    const message = problem === 'does not exist' ? `the policy file ${path} does not exist` : `the policy file ${problem}`;
    throw new ProvenantError(code, message, { where: path, cause, hint });
  }
  let text: string;
  try {
    // As a configuration is read: invalid UTF-8 is refused, not read as U+FFFD.
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', 'the policy file is not UTF-8 text', { where: path, cause });
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
  if (text.length > MAX_YAML_BYTES || Buffer.byteLength(text, 'utf8') > MAX_YAML_BYTES) {
    throw new ProvenantError('INVALID_CONFIG', `the policy is larger than ${MAX_YAML_BYTES / 1024 / 1024} MiB; refusing it`, {
      where: file,
      hint: 'a policy this large is not one a person wrote; check that the path names the right file',
    });
  }
  const lines = new LineCounter();
  let docs: Document.Parsed[];
  try {
    // Duplicate keys are refused by scanDocument (policyContext), in one pass: the library's
    // uniqueKeys compares every key of a mapping with every other, and its error came second.
    docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: false }) as Document.Parsed[];
  } catch (cause) {
    throw new ProvenantError('INVALID_CONFIG', `cannot parse the YAML: ${(cause as Error).message}`, { where: file, cause });
  }
  if (!Array.isArray(docs)) {
    // parseAllDocuments answers an EmptyStream for a text without documents.
    docs = [];
  }
  const out: ImagePolicy[] = [];
  const baseDir = options.baseDir ?? dirname(resolve(file));
  for (const [i, doc] of docs.entries()) {
    const ctx = policyContext(file, text, doc, lines, baseDir, i + 1);
    const syntax = doc.errors[0];
    if (syntax !== undefined) {
      throw new ProvenantError('INVALID_CONFIG', `invalid YAML: ${syntax.message.split('\n')[0]}`, {
        where: at(ctx, syntax.pos[0]),
        cause: syntax,
        // `glob: *` unquoted is an alias without a name.
        hint: syntax.code === 'BAD_ALIAS' ? quoteHint('*') : undefined,
      });
    }
    const root = deref(ctx, doc.contents, '');
    if (isNull(root)) continue;
    // `kubectl get clusterimagepolicies -o yaml` writes the policies as the items of a List.
    const items = listItems(ctx, root!);
    if (items === undefined) out.push(await readPolicy(ctx, root!));
    else for (const item of items) out.push(await readPolicy(ctx, item));
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

// ---- the document -----------------------------------------------------------------------------

// `status` is written by the cluster, and policy-controller reads only the spec: a policy as
// `kubectl get -o yaml` exports it loads as the one applied.
const DOCUMENT: MapSpec = { known: ['apiVersion', 'kind', 'metadata', 'spec', 'status'] };
/**
 * Kubernetes' ObjectMeta: `name` names the policy; the others (what the cluster writes, as
 * `uid` and `resourceVersion`, and `labels`, `annotations`) have no effect, as in policy-controller.
 */
const OBJECT_META = [
  'name',
  'namespace',
  'labels',
  'annotations',
  'generateName',
  'selfLink',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'ownerReferences',
  'finalizers',
  'managedFields',
];
const METADATA: MapSpec = { known: OBJECT_META };
const LIST: MapSpec = { known: ['apiVersion', 'kind', 'metadata', 'items'] };

/**
 * The items of a Kubernetes List (`apiVersion: v1`, `kind: List`, as `kubectl get -o yaml`
 * writes several resources), or undefined for a document that is not one.
 */
function listItems(ctx: Ctx, root: YNode): YNode[] | undefined {
  if (!isMap(root) || root.get('kind') !== 'List') return undefined;
  const top = fields(ctx, root, '', LIST, 'a List');
  const apiEntry = top.get('apiVersion');
  const apiVersion = required(ctx, apiEntry, root, '', 'apiVersion');
  if (apiVersion !== 'v1') fail(ctx, apiEntry!.node, 'apiVersion', `${JSON.stringify(apiVersion)} is not the apiVersion of a List, v1`);
  return list(ctx, top.get('items')).map(({ node, path }) => {
    if (node === undefined || isNull(node)) fail(ctx, node ?? root, path, 'expected a ClusterImagePolicy, got nothing');
    return node;
  });
}
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
  const seen = new Map<string, string>();
  for (const [i, { node, path }] of authorityNodes.entries()) {
    const a = await readAuthority(ctx, node, path, i);
    const first = seen.get(a.name);
    if (first !== undefined) fail(ctx, node, path, `a second authority is named ${JSON.stringify(a.name)} (the first is at ${first})`);
    seen.set(a.name, a.where);
    authorities.push(a);
  }
  const modeEntry = spec.get('mode');
  const mode = modeEntry === undefined || isNull(modeEntry.node) ? 'enforce' : oneOf(ctx, modeEntry, ['enforce', 'warn'] as const);
  return { name, apiVersion, where, images, authorities, mode };
}
