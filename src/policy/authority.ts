/**
 * The authorities of a policy: `key` (inline PEM or a secretRef file or folder), `keyless`
 * (identities, exact or RE2), `static`, with `ctlog`, `signatureFormat` and `attestations`, as
 * policy-controller's clusterimagepolicy_types.go defines them; what Provenant does not support
 * is refused by name.
 */
import type { KeyObject } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { RE2JS } from '@bufbuild/re2';
import { ProvenantError } from '../errors.ts';
import { unreadableNamed } from '../io/files.ts';
import { readNamedFile } from '../io/named-file.ts';
import { keyId, parsePublicKey, pemDecodeAll, pemEncode } from '../sign/keys.ts';
import { locOf, MAX_YAML_BYTES } from '../yaml.ts';
import { readAttestation } from './attestation-rule.ts';
import {
  bool,
  type Ctx,
  type Entry,
  fail,
  fields,
  isNull,
  list,
  type MapSpec,
  oneOf,
  required,
  str,
  whereOf,
  type YNode,
} from './nodes.ts';
import type { AttestationRule, Authority, Identity, KeyAuthority, Matcher } from './types.ts';

/** Where to read a trusted root instead of a TrustRoot resource. */
export const TRUST_ROOT_HINT = 'give Provenant the trusted root JSON instead (verify --trusted-root)';

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

/** The authority at `path` (the `index`th of its policy). */
export async function readAuthority(ctx: Ctx, node: YNode | undefined, path: string, index: number): Promise<Authority> {
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
  if (kind === 'key' && signatureFormat === 'bundle') {
    // policy-controller's validator (checkOptsFromAuthority in pkg/webhook/validator.go) refuses
    // it on every image: "when using the new bundle format, the authority must be keyless".
    fail(
      ctx,
      formatEntry!.node,
      formatEntry!.path,
      'signatureFormat: bundle needs a keyless authority: policy-controller verifies Sigstore bundles only against keyless identities, and fails a key authority that asks for them on every image',
      'sign the image in the legacy format too (cosign’s .sig tag; provenant sign writes both) and remove signatureFormat, or sign keyless',
    );
  }
  const ctlogEntry = f.get('ctlog');
  let ctlog: { url: string | undefined } | undefined;
  // `ctlog: null` is no ctlog, as Go's JSON decoding leaves the pointer nil; `ctlog: {}` is one
  // that names no log, which policy-controller reads as "no Rekor" (types.ts).
  if (ctlogEntry !== undefined && !isNull(ctlogEntry.node)) {
    const c = fields(ctx, ctlogEntry.node, ctlogEntry.path, CTLOG, 'ctlog');
    ctlog = { url: url(ctx, c.get('url')) };
  }
  const names = new Map<string, string>();
  const attestations: AttestationRule[] = [];
  for (const { node: n, path: p } of list(ctx, f.get('attestations'))) {
    const a = await readAttestation(ctx, n, p);
    const first = names.get(a.name);
    if (first !== undefined) fail(ctx, n, p, `a second attestation is named ${JSON.stringify(a.name)} (the first is at ${first})`);
    names.set(a.name, a.where);
    attestations.push(a);
  }
  const base = { name, where, signatureFormat, ctlog, attestations };
  if (kind === 'key') {
    const e = f.get('key')!;
    return { kind: 'key', ...base, key: await readKey(ctx, e) };
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

async function readKey(ctx: Ctx, e: Entry): Promise<KeyAuthority['key']> {
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
    return pemKey(pem, `${e.path}.data`, (problem, hint) => fail(ctx, data.node, data.path, problem, hint));
  }
  const r = fields(ctx, ref!.node, ref!.path, SECRET_REF, 'secretRef');
  const name = required(ctx, r.get('name'), ref!.node!, ref!.path, 'name');
  str(ctx, r.get('namespace'));
  const path = resolve(ctx.baseDir, name);
  const refFail = (problem: string, hint?: string): never => fail(ctx, r.get('name')!.node, `${ref!.path}.name`, problem, hint);
  // A key file that is not there is not found (exit 3), as the policy file itself and an image
  // are: the policy may be right and the file not yet in place. A path through a file (ENOTDIR)
  // names no file either. What cannot be read is said as --key says it (io/files.ts,
  // unreadableNamed): a link to nothing names its target, a refused permission is said in words
  // with the folder that refused (IO). Anything else stays a refusal of the policy at this line.
  const unreadable = (cause: unknown, at: string): never => {
    const { code, problem, hint } = unreadableNamed(cause, at);
    const secret = `the secret ${JSON.stringify(name)}`;
    let message: string;
    if (at !== path)
      message = `${secret} (${path}) holds ${basename(at)}, ${problem.startsWith('is ') ? problem.slice(3) : `which ${problem}`}`;
    else if (problem === 'does not exist') message = `${secret} does not exist: there is no file or folder ${path}`;
    else message = `${secret} (${path}) ${problem}`;
    throw ctx.error(code === 'USAGE' ? 'INVALID_CONFIG' : code, locOf(ctx, r.get('name')!.node), `${ref!.path}.name`, message, {
      hint: hint ?? (code === 'NOT_FOUND' ? "secretRef.name is a path from the policy file's folder" : undefined),
      cause,
    });
  };
  let files: string[];
  try {
    // A folder is read as Kubernetes mounts a Secret: each key a file named after it, which is a
    // symbolic link into a hidden timestamped folder (`cosign.pub -> ..data/cosign.pub`,
    // `..data -> ..2026_01_01_00_00_00.1`); names starting with a dot are that machinery.
    // A folder among them (a key mounted with `items[].path: sub/key`) is not a key.
    files = (await stat(path)).isDirectory()
      ? (
          await Promise.all(
            (
              await readdir(path)
            )
              .filter((n) => !n.startsWith('.'))
              .sort()
              .map(async (n) => {
                const f = resolve(path, n);
                return (await stat(f)).isDirectory() ? [] : [f];
              }),
          )
        ).flat()
      : [path];
  } catch (cause) {
    const at = (cause as { path?: unknown }).path;
    return unreadable(cause, typeof at === 'string' ? at : path);
  }
  if (files.length > 1) {
    // policy-controller inlines a Secret of one entry only (pkg/reconciler/clusterimagepolicy:
    // "contains multiple data entries, only one is supported"), so the cluster would refuse this.
    refFail(
      `the secret ${JSON.stringify(name)} (${path}) holds ${files.length} entries (${files.map((f) => basename(f)).join(', ')}): policy-controller takes a secret of one entry only, and refuses this policy`,
      ONE_KEY_HINT,
    );
  }
  const f = files[0];
  if (f === undefined) return refFail(`the secret ${JSON.stringify(name)} (${path}) holds no public key`);
  let text: string;
  try {
    // Links followed; what they reach must be a regular file no larger than a policy may be (a
    // named pipe is refused, not waited on: a cluster mounts a Secret as files).
    text = new TextDecoder().decode(await readNamedFile(f, f, { maxBytes: MAX_YAML_BYTES, regularOnly: 'a file of PEM public keys' }));
  } catch (cause) {
    if (!(cause instanceof ProvenantError)) throw cause;
    // Said by readNamedFile, naming the file; a file refused for what it is refuses the policy.
    throw ctx.error(
      cause.code === 'USAGE' ? 'INVALID_CONFIG' : cause.code,
      locOf(ctx, r.get('name')!.node),
      `${ref!.path}.name`,
      cause.message,
      {
        hint: cause.hint,
        cause,
      },
    );
  }
  return pemKey(text, f, (problem, hint) => refFail(`${f}: ${problem}`, hint));
}

/** What to do instead of several keys in one authority. */
const ONE_KEY_HINT = 'give each key its own authority: the authorities of a policy are alternatives, one passing is enough';

function pemKey(text: string, source: string, problem: (why: string, hint?: string) => never): KeyAuthority['key'] {
  const blocks = pemDecodeAll(text);
  if (blocks.length === 0) problem('expected a PEM public key (-----BEGIN PUBLIC KEY-----)');
  // policy-controller reads the first PEM block only (cryptoutils.UnmarshalPEMToPublicKey): the
  // others would verify here and never on the cluster.
  if (blocks.length > 1) {
    problem(`${blocks.length} PEM blocks, where policy-controller reads the first only and ignores the others`, ONE_KEY_HINT);
  }
  const b = blocks[0]!;
  if (b.type !== 'PUBLIC KEY' && b.type !== 'RSA PUBLIC KEY') problem(`PEM block 1 is a ${b.type}, not a PUBLIC KEY`);
  let key: KeyObject;
  try {
    key = parsePublicKey(pemEncode(b.type, b.bytes));
  } catch (err) {
    return problem(`PEM block 1 is not a public key: ${(err as Error).message}`);
  }
  return { key, id: keyId(key), source };
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
