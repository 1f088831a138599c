/**
 * Loading policy files: the documented examples, policies shaped like policy-controller's own
 * examples (and those files themselves when a checkout is at hand), every refusal by name with
 * its file:line:col, and a property test that random input only ever fails with a typed error.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { loadPolicyFile, parsePolicies } from '../../src/policy/load.ts';
import type { ImagePolicy, KeyAuthority, KeylessAuthority } from '../../src/policy/types.ts';
import { generateSigningKeyPair, keyId, publicKeyPem } from '../../src/sign/keys.ts';
import { docExample } from './helpers.ts';

const alice = generateSigningKeyPair();
const bob = generateSigningKeyPair();
const alicePem = publicKeyPem(alice.publicKey);
let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'provenant-policy-load-'));
  await writeFile(join(dir, 'cosign.pub'), alicePem);
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const parse = (text: string, file = 'policy.yaml') => parsePolicies(text, file, { baseDir: dir });

/** Asserts that `text` is refused with INVALID_CONFIG at `where`, with a message matching each of `patterns`. */
async function refused(text: string, where: string, ...patterns: RegExp[]): Promise<ProvenantError> {
  let caught: unknown;
  try {
    await parse(text);
  } catch (err) {
    caught = err;
  }
  assert.ok(isProvenantError(caught, 'INVALID_CONFIG'), `expected INVALID_CONFIG, got ${String(caught)}`);
  const e = caught as ProvenantError;
  assert.equal(e.where, where, `${e.message} at ${e.where}`);
  for (const p of patterns) assert.match(`${e.message}\n${e.hint ?? ''}`, p);
  return e;
}

const HEAD = `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata:
  name: p
spec:
  images:
  - glob: "**"
  authorities:
`;

describe('the documented examples', () => {
  it('each loads, with the key read from the secretRef file', async () => {
    const [own] = await parse(await docExample('own-key'));
    assert.equal(own!.name, 'signed-with-our-key');
    const a = own!.authorities[0] as KeyAuthority;
    assert.equal(a.kind, 'key');
    assert.equal(a.key.id, keyId(alice.publicKey));
    const [gh] = await parse(await docExample('github-actions'));
    const k = gh!.authorities[0] as KeylessAuthority;
    assert.equal(k.kind, 'keyless');
    assert.equal(k.url, 'https://fulcio.sigstore.dev');
    assert.deepEqual(k.ctlog, { url: 'https://rekor.sigstore.dev' });
    const id = k.identities[0]!;
    assert.deepEqual(id.issuer, { exact: 'https://token.actions.githubusercontent.com' });
    assert.ok('test' in id.subject);
    assert.ok(id.subject.test('https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main'));
    assert.ok(id.subject.test('https://github.com/acme/app/.github/workflows/ci.yaml@refs/tags/v1.2.0'));
    assert.ok(!id.subject.test('https://github.com/acme/app-fork/.github/workflows/release.yml@refs/heads/main'));
    assert.ok(
      !id.subject.test(
        'https://github.com/evil/x/.github/workflows/a.yml@refs/heads/main?https://github.com/acme/app/.github/workflows/a.yml@refs/heads/x',
      ),
    );
    const [both] = await parse(await docExample('provenance-and-sbom'));
    const b = both!.authorities[0] as KeyAuthority;
    assert.deepEqual(
      b.attestations.map((r) => [r.name, r.predicateTypes, r.condition.kind]),
      [
        ['provenance', ['https://slsa.dev/provenance/v1'], 'cel'],
        ['sbom', ['https://spdx.dev/Document', 'https://cyclonedx.org/bom'], 'builtin'],
      ],
    );
  });

  it('loadPolicyFile reads secretRef relative to the policy file, and a folder of one key as a mounted Secret', async () => {
    const sub = join(dir, 'sub');
    await mkdir(join(sub, 'keys'), { recursive: true });
    await writeFile(join(sub, 'keys', 'a.pub'), alicePem);
    await writeFile(join(sub, 'p.yaml'), `${HEAD}  - key:\n      secretRef:\n        name: keys\n        namespace: cosign-system\n`);
    const [p] = await loadPolicyFile(join(sub, 'p.yaml'));
    assert.equal((p!.authorities[0] as KeyAuthority).key.id, keyId(alice.publicKey));
    await assert.rejects(loadPolicyFile(join(sub, 'missing.yaml')), (e: unknown) => isProvenantError(e, 'NOT_FOUND'));
  });

  it('an unquoted glob that starts with * is a YAML alias: the error says to quote it', async () => {
    const withGlob = (glob: string) => `${HEAD.replace('- glob: "**"', `- glob: ${glob}`)}  - static: {action: pass}\n`;
    await refused(withGlob('*'), 'policy.yaml:7:11', /^invalid YAML: Alias cannot be an empty string\n/, /quote it \("\*"\)/);
    await refused(withGlob('**'), 'policy.yaml:7:11', /the alias \*\* names no anchor/, /quote it \("\*\*"\)/);
    await refused(withGlob('*/*'), 'policy.yaml:7:11', /the alias \*\/\* names no anchor/, /quote it \("\*\/\*"\)/);
  });

  it('one key per authority, as policy-controller reads them: a secret of two entries and two PEM blocks are refused', async () => {
    // policy-controller refuses a Secret with more than one entry, and reads only the first PEM
    // block of a key: the second key would verify here and never on the cluster.
    const keys = join(dir, 'two-keys');
    await mkdir(keys, { recursive: true });
    await writeFile(join(keys, 'a.pub'), alicePem);
    await writeFile(join(keys, 'b.pub'), publicKeyPem(bob.publicKey));
    await refused(
      `${HEAD}  - key:\n      secretRef: {name: two-keys}\n`,
      'policy.yaml:10:25',
      /the secret "two-keys" \(.*\) holds 2 entries \(a\.pub, b\.pub\): policy-controller takes a secret of one entry only/,
      /give each key its own authority/,
    );
    const both = `${alicePem}${publicKeyPem(bob.publicKey)}`;
    await writeFile(join(dir, 'both.pub'), both);
    await refused(
      `${HEAD}  - key:\n      secretRef: {name: both.pub}\n`,
      'policy.yaml:10:25',
      /both\.pub: 2 PEM blocks, where policy-controller reads the first only and ignores the others/,
    );
    const inline = both
      .trim()
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n');
    await refused(`${HEAD}  - key:\n      data: |\n${inline}\n`, 'policy.yaml:10:13', /^spec\.authorities\[0\]\.key\.data: 2 PEM blocks/);
  });

  it('the one key is refused for what it is: an empty secret, a PEM block that is no public key', async () => {
    await mkdir(join(dir, 'empty-secret'), { recursive: true });
    await refused(
      `${HEAD}  - key:\n      secretRef: {name: empty-secret}\n`,
      'policy.yaml:10:25',
      /the secret "empty-secret" \(.*\) holds no public key/,
    );
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    await writeFile(join(dir, 'private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await refused(
      `${HEAD}  - key:\n      secretRef: {name: private.pem}\n`,
      'policy.yaml:10:25',
      /private\.pem: PEM block 1 is a PRIVATE KEY, not a PUBLIC KEY/,
    );
    await writeFile(join(dir, 'garbage.pub'), '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n');
    await refused(
      `${HEAD}  - key:\n      secretRef: {name: garbage.pub}\n`,
      'policy.yaml:10:25',
      /garbage\.pub: PEM block 1 is not a public key: /,
    );
  });

  it('a key file that is not there is NOT_FOUND (exit 3) at its policy line, in words: missing, through a file, a link to nothing', async () => {
    const notFound = async (name: string, pattern: RegExp) => {
      await assert.rejects(parse(`${HEAD}  - key:\n      secretRef: {name: ${name}}\n`), (e: unknown) => {
        assert.ok(isProvenantError(e, 'NOT_FOUND'), String(e));
        assert.equal(e.where, 'policy.yaml:10:25');
        assert.match(e.message, pattern);
        assert.doesNotMatch(e.message, /ENOENT|ENOTDIR/);
        return true;
      });
    };
    await notFound(
      'missing.pub',
      /^spec\.authorities\[0\]\.key\.secretRef\.name: the secret "missing\.pub" does not exist: there is no file or folder .*missing\.pub$/,
    );
    await notFound('cosign.pub/x.pub', /the secret "cosign\.pub\/x\.pub" does not exist/);
    const secret = join(dir, 'dangling');
    await mkdir(secret, { recursive: true });
    await symlink('..data/cosign.pub', join(secret, 'cosign.pub'));
    // Each link to nothing names where it points, as --key does: one in a folder, and the secret itself.
    await notFound(
      'dangling',
      /the secret "dangling" \(.*dangling\) holds cosign\.pub, a symbolic link to \.\.data\/cosign\.pub, which is not there$/,
    );
    await symlink('gone.pub', join(dir, 'link.pub'));
    await notFound(
      'link.pub',
      /^spec\.authorities\[0\]\.key\.secretRef\.name: the secret "link\.pub" \(.*link\.pub\) is a symbolic link to gone\.pub, which is not there$/,
    );
  });

  it('a key file this user may not read is said in words, as --key says it (IO), naming the folder that refused', async (t) => {
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) return t.skip('needs root and setpriv');
    const base = await mkdtemp(join(tmpdir(), 'provenant-policy-eacces-'));
    try {
      await chmod(base, 0o755);
      await writeFile(join(base, 'own.pub'), alicePem, { mode: 0o600 });
      await mkdir(join(base, 'locked'), { mode: 0o700 });
      await writeFile(join(base, 'locked', 'cosign.pub'), alicePem, { mode: 0o644 });
      await mkdir(join(base, 'secret'), { mode: 0o755 });
      await symlink('../own.pub', join(base, 'secret', 'cosign.pub'));
      /** What parsing a policy naming `name` says, as nobody (uid 65534). */
      const asNobody = (name: string) => {
        const module = JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'policy', 'load.ts')).href);
        const text = JSON.stringify(`${HEAD}  - key:\n      secretRef: {name: ${name}}\n`);
        const script = `import { parsePolicies } from ${module};\nawait parsePolicies(${text}, 'policy.yaml', { baseDir: ${JSON.stringify(base)} }).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message, where: e.where, hint: e.hint })));`;
        const r = spawnSync(
          'setpriv',
          ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script],
          { encoding: 'utf8' },
        );
        assert.equal(r.status, 0, r.stderr);
        return JSON.parse(r.stdout) as { code: string; message: string; where: string; hint: string };
      };
      const own = asNobody('own.pub');
      assert.equal(own.code, 'IO', own.message);
      assert.equal(own.where, 'policy.yaml:10:25');
      assert.equal(
        own.message,
        `spec.authorities[0].key.secretRef.name: ${join(base, 'own.pub')} cannot be read: permission denied: this user may not read it (or enter a folder above it)`,
      );
      assert.match(own.hint, /^this user may not read it: run as a user who may, or change its permissions/);
      // A folder above it may not be entered: that folder is named.
      const locked = asNobody('locked/cosign.pub');
      assert.equal(locked.code, 'IO', locked.message);
      assert.doesNotMatch(locked.message, /EACCES/);
      assert.match(locked.message, /the secret "locked\/cosign\.pub" \(.*\) cannot be read: permission denied/);
      assert.match(locked.hint, new RegExp(`^this user may not enter ${join(base, 'locked')}, a folder above it`));
      // A folder secret whose one key may not be read: the key is named.
      const folder = asNobody('secret');
      assert.equal(folder.code, 'IO', folder.message);
      assert.doesNotMatch(folder.message, /EACCES/);
      assert.match(folder.message, /cosign\.pub cannot be read: permission denied/);
      // The policy file itself, as well.
      const file = join(base, 'own.yaml');
      await writeFile(file, HEAD, { mode: 0o600 });
      const module = JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'src', 'policy', 'load.ts')).href);
      const script = `import { loadPolicyFile } from ${module};\nawait loadPolicyFile(${JSON.stringify(file)}).catch((e) => console.log(JSON.stringify({ code: e.code, message: e.message, hint: e.hint })));`;
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script],
        {
          encoding: 'utf8',
        },
      );
      assert.deepEqual(JSON.parse(r.stdout), {
        code: 'IO',
        message: 'the policy file cannot be read: permission denied: this user may not read it (or enter a folder above it)',
        hint: `this user may not read it: run as a user who may, or change its permissions (ls -ld ${file})`,
      });
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  it('reads an RSA PUBLIC KEY (PKCS#1) block as --key does', async () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'rsa.pub'), publicKey.export({ type: 'pkcs1', format: 'pem' }));
    const [p] = await parse(`${HEAD}  - key:\n      secretRef: {name: rsa.pub}\n`);
    assert.equal((p!.authorities[0] as KeyAuthority).key.id, keyId(publicKey));
  });

  it('a Secret as Kubernetes mounts it: each key a link through ..data into a hidden folder; what a link reaches must be a small regular file', async () => {
    const secret = join(dir, 'mounted');
    await mkdir(join(secret, '..2026_12_05_13_00_00.123'), { recursive: true });
    await writeFile(join(secret, '..2026_12_05_13_00_00.123', 'cosign.pub'), alicePem);
    await symlink('..2026_12_05_13_00_00.123', join(secret, '..data'));
    await symlink('..data/cosign.pub', join(secret, 'cosign.pub'));
    // A key mounted with `items[].path: sub/key` makes a folder: it is no key, and no refusal.
    await mkdir(join(secret, 'sub'));
    await writeFile(join(secret, 'sub', 'carol.pub'), alicePem);
    const policy = `${HEAD}  - key:\n      secretRef: {name: mounted}\n`;
    const [p] = await parse(policy);
    assert.deepEqual(
      [(p!.authorities[0] as KeyAuthority).key.id, (p!.authorities[0] as KeyAuthority).key.source],
      [keyId(alice.publicKey), join(secret, 'cosign.pub')],
    );
    // A link to a named pipe would wait for ever; one to a file over 1 MiB is not a key.
    await rm(join(secret, 'cosign.pub'));
    assert.equal(spawnSync('mkfifo', [join(secret, '..2026_12_05_13_00_00.123', 'fifo')]).status, 0);
    await symlink('..data/fifo', join(secret, 'fifo.pub'));
    await refused(policy, 'policy.yaml:10:25', /mounted\/fifo\.pub is a named pipe, not a file of PEM public keys/);
    await rm(join(secret, 'fifo.pub'));
    await writeFile(join(secret, '..2026_12_05_13_00_00.123', 'big'), `${alicePem}${'#'.repeat(1 << 20)}`);
    await symlink('..data/big', join(secret, 'big.pub'));
    await refused(policy, 'policy.yaml:10:25', /mounted\/big\.pub is larger than 1 MiB; refusing it/);
  });

  it('refuses a policy file that is a named pipe, a folder or over 1 MiB, and policy text over 1 MiB, without reading on', async () => {
    const sub = join(dir, 'refused');
    await mkdir(sub, { recursive: true });
    // A named pipe with no writer: reading it would wait for ever.
    assert.equal(spawnSync('mkfifo', [join(sub, 'fifo.yaml')]).status, 0);
    const refusedFile = async (path: string, pattern: RegExp) => {
      await assert.rejects(loadPolicyFile(path), (e: unknown) => {
        assert.ok(isProvenantError(e, 'INVALID_CONFIG'), String(e));
        assert.equal(e.where, path);
        assert.match(e.message, pattern);
        return true;
      });
    };
    await refusedFile(join(sub, 'fifo.yaml'), /the policy file is a named pipe, not a policy file/);
    await refusedFile(sub, /the policy file is a directory/);
    const big = `${HEAD}  - key:\n      data: |\n${'        x\n'.repeat(110_000)}`;
    await writeFile(join(sub, 'big.yaml'), big);
    await refusedFile(join(sub, 'big.yaml'), /larger than 1 MiB/);
    await refused(big, 'policy.yaml', /the policy is larger than 1 MiB/);
    await writeFile(join(sub, 'latin1.yaml'), Buffer.from([0x6e, 0x61, 0x6d, 0x65, 0x3a, 0x20, 0xe9, 0x0a]));
    await refusedFile(join(sub, 'latin1.yaml'), /the policy file is not UTF-8 text/);
  });
});

// Policies built from the documented schema (clusterimagepolicy_types.go) with every field that
// policy-controller's examples/policies use; the examples' own text is not copied here.
describe('policies shaped like policy-controller’s examples', () => {
  it('keyless with url, issuer and subject, and ctlog (v1alpha1 and v1beta1) load unchanged', async () => {
    for (const v of ['v1alpha1', 'v1beta1']) {
      const text = `apiVersion: policy.sigstore.dev/${v}
kind: ClusterImagePolicy
metadata:
  name: signed-by-a-workflow
spec:
  images:
  # every image
  - glob: "**"
  - glob: "registry.example/app@sha256:${'ab'.repeat(32)}"
  authorities:
  - keyless:
      # the public Fulcio
      url: https://fulcio.sigstore.dev
      identities:
      - issuer: https://token.actions.githubusercontent.com
        subject: "https://github.com/example/repo/.github/workflows/release.yaml@refs/tags/v1.0.0"
    ctlog:
      url: https://rekor.sigstore.dev
`;
      const [p] = await parse(text);
      assert.equal(p!.apiVersion, `policy.sigstore.dev/${v}`);
      const a = p!.authorities[0] as KeylessAuthority;
      assert.equal(a.name, 'authority-0');
      assert.deepEqual(a.identities[0]!.subject, {
        exact: 'https://github.com/example/repo/.github/workflows/release.yaml@refs/tags/v1.0.0',
      });
      assert.equal(p!.mode, 'enforce');
      assert.deepEqual(
        p!.images.map((i) => i.where),
        ['policy.yaml:8:11', 'policy.yaml:9:11'],
      );
    }
  });

  it('a named key authority with inline data, ctlog and an attestation by short predicate type loads; with its CUE policy it is refused naming CUE', async () => {
    const indented = alicePem
      .trimEnd()
      .split('\n')
      .map((l) => `        ${l}`)
      .join('\n');
    const base = `apiVersion: policy.sigstore.dev/v1alpha1
kind: ClusterImagePolicy
metadata:
  name: key-attestation-spdx
spec:
  images:
  - glob: "**"
  authorities:
  - name: custom-key
    key:
      data: |
${indented}
    ctlog:
      url: https://rekor.sigstore.dev
    attestations:
    - name: must-have-spdxjson
      predicateType: spdxjson
`;
    const [p] = await parse(base);
    const a = p!.authorities[0] as KeyAuthority;
    assert.equal(a.name, 'custom-key');
    assert.deepEqual(a.ctlog, { url: 'https://rekor.sigstore.dev' });
    assert.deepEqual(a.attestations[0]!.predicateTypes, ['https://spdx.dev/Document']);
    const withCue = `${base}      policy:\n        type: cue\n        data: |\n          predicateType: "https://spdx.dev/Document"\n`;
    await refused(withCue, 'policy.yaml:22:15', /attestations\[0\]\.policy\.type/, /CUE policies are not supported/, /type: cel/);
    const withCel = `${base}      policy:\n        type: cel\n        data: predicateType == "https://spdx.dev/Document"\n`;
    const [q] = await parse(withCel);
    assert.equal((q!.authorities[0] as KeyAuthority).attestations[0]!.condition.kind, 'cel');
  });

  it('KMS keys, a CIP-level CUE policy with includeTypeMeta and a static authority: the unsupported parts are refused by name', async () => {
    await refused(
      `${HEAD}  - name: aws-kms\n    key:\n      kms: awskms:///arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\n`,
      'policy.yaml:11:7',
      /key\.kms/,
      /KMS/,
      /cosign public-key/,
    );
    const cipPolicy = `${HEAD}  - static:\n      action: pass\n  policy:\n    includeTypeMeta: true\n    type: cue\n    data: |\n      typemeta:\n        kind: "Pod"\n`;
    await refused(cipPolicy, 'policy.yaml:11:3', /spec\.policy/, /not supported/);
    const [s] = await parse(`${HEAD}  - static:\n      action: pass\n`);
    assert.deepEqual(s!.authorities[0], {
      kind: 'static',
      name: 'authority-0',
      where: 'policy.yaml:9:5',
      action: 'pass',
      message: undefined,
    });
  });
});

const CONTROLLER =
  process.env.PROVENANT_POLICY_CONTROLLER ?? join(import.meta.dirname, '..', '..', '..', '.mirror', 'sigstore+policy-controller', 'repo');
const controllerMissing = existsSync(CONTROLLER)
  ? false
  : `no policy-controller checkout at ${CONTROLLER}; set PROVENANT_POLICY_CONTROLLER to one`;

/** A file of the checkout: from a work tree, or with git from a (bare) git directory. */
function controllerFile(path: string): string {
  const inTree = join(CONTROLLER, path);
  if (existsSync(inTree)) return inTree;
  const r = spawnSync('git', ['--git-dir', CONTROLLER, 'show', `HEAD:${path}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git show ${path}: ${r.stderr}`);
  const file = join(dir, path.replaceAll('/', '_'));
  spawnSync('sh', ['-c', 'cat > "$1"', 'sh', file], { input: r.stdout });
  return file;
}

describe('policy-controller’s examples/policies, read from a checkout', { skip: controllerMissing }, () => {
  it('the two within our support load unchanged; the others are refused naming what is unsupported', async () => {
    for (const name of ['signed-by-github-actions.yaml', 'release-signed-by-github-actions.yaml']) {
      const policies = await loadPolicyFile(controllerFile(`examples/policies/${name}`));
      assert.equal(policies.length, 1, name);
      assert.equal(policies[0]!.authorities[0]!.kind, 'keyless', name);
    }
    const expect: Record<string, RegExp> = {
      'custom-key-attestation-sbom-spdxjson.yaml': /policy\.type: CUE policies are not supported/,
      'keyless-attestation-sbom-spdxjson.yaml': /policy\.type: CUE policies are not supported/,
      'signed-by-aws-kms-key.yaml': /key\.kms: key\.kms \(a key held in a KMS\) is not supported/,
      'signed-by-gcp-kms-key.yaml': /key\.kms/,
      'allow-only-pods.yaml': /spec\.policy/,
    };
    for (const [name, pattern] of Object.entries(expect)) {
      const file = controllerFile(`examples/policies/${name}`);
      await assert.rejects(loadPolicyFile(file), (e: unknown) => {
        assert.ok(isProvenantError(e, 'INVALID_CONFIG'), name);
        assert.match(e.message, pattern, name);
        assert.match(e.where ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+$`), name);
        return true;
      });
    }
  });
});

describe('refusals, each naming the field and its place', () => {
  const cases: [string, string, string, RegExp[]][] = [
    [
      'a misspelt field',
      `${HEAD}  - keyles:\n      url: https://fulcio.sigstore.dev\n`,
      'policy.yaml:9:5',
      [/unknown field "keyles" \(did you mean "keyless"\?\)/],
    ],
    ['a misspelt top-level field', HEAD.replace('spec:', 'sepc:'), 'policy.yaml:5:1', [/unknown field "sepc" \(did you mean "spec"\?\)/]],
    [
      'source',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    source:\n    - oci: registry.example/signatures\n`,
      'policy.yaml:11:5',
      [/authorities\[0\]\.source/, /another repository/],
    ],
    [
      'rfc3161timestamp',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    rfc3161timestamp:\n      trustRootRef: tsa\n`,
      'policy.yaml:11:5',
      [/rfc3161timestamp/],
    ],
    [
      'keyless.ca-cert',
      `${HEAD}  - keyless:\n      ca-cert:\n        data: x\n      identities: [{issuer: a, subject: b}]\n`,
      'policy.yaml:10:7',
      [/keyless\.ca-cert/, /trusted root/],
    ],
    [
      'insecureIgnoreSCT: true',
      `${HEAD}  - keyless:\n      insecureIgnoreSCT: true\n      identities: [{issuer: a, subject: b}]\n`,
      'policy.yaml:10:26',
      [/insecureIgnoreSCT: true is not supported/],
    ],
    [
      'keyless.trustRootRef',
      `${HEAD}  - keyless:\n      trustRootRef: mine\n      identities: [{issuer: a, subject: b}]\n`,
      'policy.yaml:10:7',
      [/keyless\.trustRootRef/, /--trusted-root/],
    ],
    [
      'ctlog.trustRootRef',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    ctlog:\n      trustRootRef: mine\n`,
      'policy.yaml:12:7',
      [/ctlog\.trustRootRef/],
    ],
    ['spec.match', `${HEAD}  - static: {action: pass}\n  match:\n  - resource: pods\n`, 'policy.yaml:10:3', [/spec\.match/, /Kubernetes/]],
    [
      'Rego',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      predicateType: custom\n      policy:\n        type: rego\n        data: x\n`,
      'policy.yaml:15:15',
      [/Rego policies are not supported/, /type: cel/],
    ],
    [
      'policy.remote',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      predicateType: custom\n      policy:\n        type: cel\n        remote:\n          url: https://example.org/p\n`,
      'policy.yaml:16:9',
      [/policy\.remote/],
    ],
    [
      'hashAlgorithm sha512',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n      hashAlgorithm: sha512\n`,
      'policy.yaml:11:22',
      [/hashAlgorithm "sha512" is not supported/],
    ],
    [
      'a List of another apiVersion',
      `apiVersion: v2\nkind: List\nitems:\n- ${HEAD.trimEnd().split('\n').join('\n  ')}\n    - static: {action: pass}\n`,
      'policy.yaml:1:13',
      [/"v2" is not the apiVersion of a List, v1/],
    ],
    [
      'a List holding something else',
      `apiVersion: v1\nkind: List\nitems:\n- apiVersion: apps/v1\n  kind: Deployment\n`,
      'policy.yaml:5:9',
      [/"Deployment" is not read here/],
    ],
    ['a TrustRoot', HEAD.replace('ClusterImagePolicy', 'TrustRoot'), 'policy.yaml:2:7', [/"TrustRoot" is not read here/, /--trusted-root/]],
    ['another apiVersion', HEAD.replace('v1beta1', 'v2'), 'policy.yaml:1:13', [/"policy\.sigstore\.dev\/v2" is not one of/]],
    [
      'an unknown mode',
      `${HEAD}  - static: {action: pass}\n  mode: enforced\n`,
      'policy.yaml:10:9',
      [/"enforced" is not one of enforce, warn \(did you mean "enforce"\?\)/],
    ],
    [
      'key, keyless and static together',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    static: {action: pass}\n`,
      'policy.yaml:11:5',
      [/one of key, keyless or static, not key and static/],
    ],
    [
      'attestations on a static authority',
      `${HEAD}  - static: {action: pass}\n    attestations: []\n`,
      'policy.yaml:10:5',
      [/static authority checks nothing/],
    ],
    [
      'keyless without identities',
      `${HEAD}  - keyless:\n      url: https://fulcio.sigstore.dev\n`,
      'policy.yaml:9:5',
      [/at least one identity/],
    ],
    [
      'issuer and issuerRegExp',
      `${HEAD}  - keyless:\n      identities: [{issuer: a, issuerRegExp: b, subject: c}]\n`,
      'policy.yaml:10:32',
      [/one of issuer or issuerRegExp, not both/],
    ],
    [
      'an invalid RE2 expression',
      `${HEAD}  - keyless:\n      identities: [{issuer: a, subjectRegExp: "a(?=b)"}]\n`,
      'policy.yaml:10:47',
      [/subjectRegExp: "a\(\?=b\)" is not an RE2 regular expression/],
    ],
    [
      'an invalid glob',
      HEAD.replace('"**"', '"registry.example/[abc]"'),
      'policy.yaml:7:11',
      [/images\[0\]\.glob/, /only letters, digits/],
    ],
    ['no authorities', HEAD, 'policy.yaml:8:3', [/at least one authority/]],
    ['key data that is not a key', `${HEAD}  - key:\n      data: hello\n`, 'policy.yaml:10:13', [/key\.data: expected a PEM public key/]],
    [
      'an unknown predicate type',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      predicateType: sbomish\n`,
      'policy.yaml:13:22',
      [/"sbomish" is not a predicate type/, /spdxjson/],
    ],
    [
      'two builtin checks in one entry',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      builtin: {sbom: spdx, maxPackageAgeDays: 3}\n`,
      'policy.yaml:13:16',
      [/exactly one check/],
    ],
    [
      'a builtin with a predicateType',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      predicateType: spdx\n      builtin: {sbom: spdx}\n`,
      'policy.yaml:13:7',
      [/chooses its own attestations/],
    ],
    [
      'a misspelt builtin',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      builtin: {slsaBuilders: x}\n`,
      'policy.yaml:13:17',
      [/unknown field "slsaBuilders" \(did you mean "slsaBuilder"\?\)/],
    ],
    [
      'a negative age',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      builtin: {maxPackageAgeDays: -1}\n`,
      'policy.yaml:13:36',
      [/whole number of days/],
    ],
    [
      'an SBOM format that is none',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      builtin: {sbom: [spdx, swid]}\n`,
      'policy.yaml:13:30',
      [/"swid" is not an SBOM format/],
    ],
    [
      'a repository prefix with a tab, which URL parsers drop',
      `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: a\n      builtin: {repositories: ["https://packages.acme.example/alpine/\\t"]}\n`,
      'policy.yaml:13:32',
      [/"https:\/\/packages\.acme\.example\/alpine\/\\t" has whitespace or a control character/],
    ],
    ['invalid YAML', `${HEAD}  - key: [\n`, 'policy.yaml:10:1', [/invalid YAML/]],
    [
      'two policies of one name',
      `${HEAD}  - static: {action: pass}\n---\n${HEAD}  - static: {action: pass}\n`,
      'policy.yaml:11:1',
      [/a second policy is named "p" \(the first is at policy\.yaml:1:1\)/],
    ],
    [
      'two authorities of one name, at the second',
      `${HEAD}  - name: a\n    static: {action: pass}\n  - name: a\n    static: {action: fail}\n`,
      'policy.yaml:11:5',
      [/^spec\.authorities\[1\]: a second authority is named "a" \(the first is at policy\.yaml:9:5\)\n/],
    ],
    [
      'two attestations of one name in an authority, at the second',
      `${HEAD}  - key: {secretRef: {name: cosign.pub}}\n    attestations:\n    - {name: x, predicateType: custom}\n    - {name: x, predicateType: spdx}\n`,
      'policy.yaml:12:7',
      [/^spec\.authorities\[0\]\.attestations\[1\]: a second attestation is named "x" \(the first is at policy\.yaml:11:7\)\n/],
    ],
    [
      'a duplicate key',
      `${HEAD}  - static: {action: pass}\n  mode: warn\n  mode: enforce\n`,
      'policy.yaml:11:3',
      [/invalid YAML: Map keys must be unique/],
    ],
    ['nothing at all', '# just a comment\n', 'policy.yaml', [/no ClusterImagePolicy/]],
  ];
  for (const [name, text, where, patterns] of cases) {
    it(name, async () => {
      await refused(text, where, ...patterns);
    });
  }

  it('a policy as kubectl exports it loads: the metadata the cluster writes, status, and a List of policies', async () => {
    const exported = HEAD.replace(
      '  name: p\n',
      '  name: p\n  uid: 0b5c6f1e\n  resourceVersion: "123"\n  generation: 2\n  creationTimestamp: "2026-12-01T10:00:00Z"\n  managedFields: [{manager: kubectl}]\n',
    );
    assert.ok(exported !== HEAD);
    const [one] = await parse(`${exported}  - static: {action: pass}\nstatus: {conditions: []}\n`);
    assert.equal(one!.name, 'p');
    // `kubectl get cip -o yaml` of several: a List, each item a policy, placed at its line.
    const item = (name: string) =>
      `- ${HEAD.replace('name: p', `name: ${name}`).trimEnd().split('\n').join('\n  ')}\n    - static: {action: pass}\n`;
    const listed = await parse(`apiVersion: v1\nkind: List\nmetadata: {resourceVersion: ""}\nitems:\n${item('a')}${item('b')}`);
    assert.deepEqual(
      listed.map((p) => [p.name, p.where]),
      [
        ['a', 'policy.yaml:5:3'],
        ['b', 'policy.yaml:14:3'],
      ],
    );
  });

  it('several documents in one file load in order; empty documents are skipped', async () => {
    const text = `---\n${HEAD}  - static: {action: pass}\n---\n---\n${HEAD.replace('name: p', 'name: q')}  - static: {action: fail, message: no}\n  mode: warn\n`;
    const ps = await parse(text);
    assert.deepEqual(
      ps.map((p) => [p.name, p.mode, p.where]),
      [
        ['p', 'enforce', 'policy.yaml:2:1'],
        ['q', 'warn', 'policy.yaml:13:1'],
      ],
    );
  });
});

describe('CEL conditions are compiled when the policy loads', () => {
  const withCel = (data: string) =>
    `${HEAD}  - key:\n      secretRef: {name: cosign.pub}\n    attestations:\n    - name: cond\n      predicateType: slsaprovenance1\n      policy:\n        type: cel\n        data: ${data}\n`;

  it('a syntax error is placed in the file: on the line, and on the line of a block', async () => {
    await refused(withCel('"predicate.a == "'), 'policy.yaml:16:28', /does not compile/);
    await refused(
      withCel('predicate.a ==== 1'),
      'policy.yaml:16:27',
      /does not compile \(policy\.yaml:16:27\): syntax error: found = but expecting end of input/,
    );
    await refused(withCel('|\n          predicate.a == 1 &&\n            predicate.b +\n'), 'policy.yaml:18:25', /does not compile/);
  });

  // @bufbuild/cel's parser names where it gave up, after backtracking: "found =" for a string not
  // closed, "found &" for an `&&` with nothing after it.
  it('a syntax mistake is said as what it is, at its place in the file, under the line of the expression with a caret', async () => {
    const open = await refused(
      withCel('|\n          true &&\n          predicate.a == "x\n'),
      'policy.yaml:18:26',
      /a string is not closed/,
    );
    assert.ok(open.message.endsWith('\n      predicate.a == "x\n                     ^'), open.message);
    await refused(withCel("'1 == 1 &&'"), 'policy.yaml:16:23', /the condition ends with "&&", which needs something after it/);
    await refused(
      withCel('|\n          subject.exists(s)\n'),
      'policy.yaml:17:18',
      /exists is written LIST\.exists\(x, CONDITION\): a variable, then a condition on it; here it has 1 argument/,
    );
    // On the line of the block it is on, not at the block's `|`.
    const unknown = await refused(withCel('|\n          true &&\n            x.y\n'), 'policy.yaml:18:13', /unknown variable "x"/);
    assert.ok(unknown.message.endsWith('\n        x.y\n        ^'), unknown.message);
  });

  it('a pattern of matches written as a string is compiled at load: one RE2 refuses is refused at its place', async () => {
    await refused(
      withCel(`'predicate.a.matches("(")'`),
      'policy.yaml:16:36',
      /the regular expression "\(" of matches is not one RE2 reads: .*missing closing \)/,
    );
    await refused(
      withCel(`|\n          true &&\n          matches(predicate.a, '[')\n`),
      'policy.yaml:18:32',
      /the regular expression "\[" of matches/,
    );
    // A pattern computed at evaluation is left to it.
    await parse(withCel(`'predicate.a.matches(predicate.b) && predicate.a.matches("^(a|b)$")'`));
  });

  it('an unknown variable is named, with the variables there are', async () => {
    await refused(
      withCel('predicat.a == 1'),
      'policy.yaml:16:15',
      /unknown variable "predicat"/,
      /predicateType, predicate, subject, statement, now/,
    );
    // Comprehension variables are bound, type names are known.
    const [p] = await parse(withCel('"predicate.materials.all(m, m.uri.startsWith(\\"https://\\")) && type(predicateType) == string"'));
    assert.equal((p!.authorities[0] as KeyAuthority).attestations[0]!.condition.kind, 'cel');
  });

  it('an unknown function, a function in a form it does not have, and a condition that is never a bool are refused at their place', async () => {
    await refused(
      withCel('|\n          predicate.a == 1 &&\n            predicate.b.startswith("x")'),
      'policy.yaml:18:24',
      /^spec\.authorities\[0\]\.attestations\[0\]\.policy\.data: the CEL condition \(document 1\) does not compile \(policy\.yaml:18:24\): unknown function startswith \(did you mean startsWith\?\), in predicate\.b\.startswith\("x"\)/,
    );
    await refused(
      withCel('\'startsWith(predicate.b, "x")\''),
      'policy.yaml:16:16',
      /no function startsWith\(_, _\): startsWith is written x\.startsWith\(_\), in startsWith\(predicate\.b, "x"\)/,
    );
    // In the second document of the file, which the message names.
    const second = `${HEAD}  - static: {action: pass}\n---\n${withCel('\'"1"\'').replace('name: p', 'name: q')}`;
    await refused(
      second,
      'policy.yaml:26:15',
      /\(document 2\) does not compile \(policy\.yaml:26:15\): the condition "1" gives a string, never true or false/,
    );
    await refused(withCel('size(predicate.materials)'), 'policy.yaml:16:15', /gives an int \(what size returns\), never true or false/);
    await refused(withCel('predicate.materials.map(m, m.uri)'), 'policy.yaml:16:15', /gives a list, never true or false/);
    // What may be true or false at evaluation loads: fields, indexing, macros, the functions there are.
    for (const ok of [
      'predicate.ok',
      'predicate.materials[0]',
      'predicate.materials.exists_one(m, m.uri.matches("^https://") && size(m.digest) > 0)',
      // cel-go's global form, which policy-controller's CEL has.
      'matches(predicate.b, "^x")',
      'true ? predicate.a : predicate.b',
      'now.getFullYear() > 2000 && "a" in predicate && dyn(predicate.a)',
    ]) {
      const [p] = await parse(withCel(`'${ok}'`));
      assert.equal((p!.authorities[0] as KeyAuthority).attestations[0]!.condition.kind, 'cel', ok);
    }
  });
});

describe('the loader on random input', () => {
  const isTyped = (e: unknown) => e instanceof ProvenantError && typeof e.message === 'string' && e.message.length > 0;

  it('random YAML values never crash it: a policy or a typed error', async () => {
    const value = fc.letrec((tie) => ({
      any: fc.oneof({ depthSize: 'small' }, fc.string(), fc.integer(), fc.boolean(), fc.constant(null), tie('arr'), tie('obj')),
      arr: fc.array(tie('any'), { maxLength: 4 }),
      obj: fc.dictionary(
        fc.oneof(
          fc.string(),
          fc.constantFrom('apiVersion', 'kind', 'metadata', 'spec', 'images', 'authorities', 'key', 'keyless', 'glob', 'name'),
        ),
        tie('any'),
        { maxKeys: 5 },
      ),
    })).any;
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        try {
          await parse(stringify(v));
        } catch (e) {
          assert.ok(isTyped(e), String(e));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('random text and random edits of a valid policy never crash it', async () => {
    const valid = await docExample('provenance-and-sbom');
    const edit = fc.tuple(fc.nat(valid.length), fc.nat(12), fc.string({ maxLength: 12 }));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string({ maxLength: 200 }), fc.array(edit, { minLength: 1, maxLength: 4 })), async (input) => {
        let text: string;
        if (typeof input === 'string') text = input;
        else {
          text = valid;
          for (const [at, cut, insert] of input) text = text.slice(0, at) + insert + text.slice(at + cut);
        }
        try {
          const policies: ImagePolicy[] = await parse(text);
          assert.ok(policies.length > 0);
        } catch (e) {
          assert.ok(isTyped(e), String(e));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('an alias bomb is refused, not expanded', async () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 9; i++)
      lines.push(
        `a${i}: &a${i} [${Array(10)
          .fill(`*a${i - 1}`)
          .join(', ')}]`,
      );
    const text = `${lines.join('\n')}\n${HEAD.replace('  name: p', '  name: p\n  labels: *a8')}  - static: {action: pass}\n`;
    // Refused when the document is read, at the alias that takes it past the limit.
    await refused(text, 'policy.yaml:6:15', /the alias \*a4 expands the document to more than 200000 values/);
  });
});
