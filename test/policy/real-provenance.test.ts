/**
 * The SLSA built-in checks against the provenance of a real build (an apk repository served on
 * 127.0.0.1, built as `provenant build` builds it, the statement signed as it signs it), not a
 * made-up one: what the build states of its keys is what `repositories` reads.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBuild } from '../../src/builder/build.ts';
import { evaluatePolicies } from '../../src/policy/evaluate.ts';
import { parsePolicies } from '../../src/policy/load.ts';
import { generateSigningKeyPair, publicKeyPem } from '../../src/sign/keys.ts';
import { attestImage } from '../../src/sign/sign.ts';
import { KeySigner } from '../../src/sign/signer.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { buildAndDescribe, repositoryKey, type StaticServer, serveFolder, writeConfig, writeRepository } from '../reproduce/helpers.ts';

const signing = generateSigningKeyPair();
const key = repositoryKey();
let root: string;
let server: StaticServer;
let configPath: string;
const previousCache = process.env.XDG_CACHE_HOME;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'provenant-policy-real-'));
  process.env.XDG_CACHE_HOME = join(root, 'cache');
  await writeRepository(join(root, 'served'), key);
  // The key is published beside the repository too, for the build that fetches it by URL.
  await writeFile(join(root, 'served', key.name), key.publicKeyPem);
  server = await serveFolder(join(root, 'served'));
  configPath = await writeConfig(root, key, `${server.url}/repo`);
  await writeFile(join(root, 'cosign.pub'), publicKeyPem(signing.publicKey));
});
after(async () => {
  await server.close();
  if (previousCache === undefined) delete process.env.XDG_CACHE_HOME;
  else process.env.XDG_CACHE_HOME = previousCache;
  await rm(root, { recursive: true, force: true });
});

const policy = (prefixes: string[]) =>
  parsePolicies(
    `apiVersion: policy.sigstore.dev/v1beta1
kind: ClusterImagePolicy
metadata: {name: repos}
spec:
  images: [{glob: "**"}]
  authorities:
  - name: k
    key: {secretRef: {name: cosign.pub}}
    attestations:
    - name: from-our-repo
      builtin: {repositories: ${JSON.stringify(prefixes)}}
`,
    'policy.yaml',
    { baseDir: root },
  );

/** Builds `config`, writes its x86_64 image to a layout and signs that image's provenance statement into it. */
async function builtAndAttested(config: string, name: string) {
  const built = await buildAndDescribe(config, 'registry.test/app');
  const image = built.result.images.find((i) => i.arch === 'x86_64')!;
  const layout = await LayoutStore.open(join(root, name), { create: true });
  await writeBuild(built.result, layout, ['v1']);
  const statements = built.attested
    .filter((a) => a.manifest.digest === image.manifest.digest)
    .flatMap((a) => a.statements.filter((s) => s.predicateType === 'https://slsa.dev/provenance/v1'));
  assert.equal(statements.length, 1);
  await attestImage(layout, image.manifest.digest, statements, { signer: new KeySigner(signing.privateKey), storage: 'cosign' });
  const provenance = JSON.parse(new TextDecoder().decode(statements[0]!.bytes)) as {
    predicate: { buildDefinition: { resolvedDependencies: Record<string, unknown>[] } };
  };
  return { layout, digest: image.manifest.digest, deps: provenance.predicate.buildDefinition.resolvedDependencies };
}

describe('repositories on a real build’s provenance', () => {
  it('passes when the key is read from a local file: the provenance carries it, content and digest', async () => {
    const { layout, digest, deps } = await builtAndAttested(configPath, 'local-key');
    const keyDep = deps.find((d) => (d.annotations as { kind?: string }).kind === 'apk-key');
    assert.ok(keyDep !== undefined && keyDep.uri === undefined && typeof keyDep.content === 'string', JSON.stringify(keyDep));
    const report = await evaluatePolicies(layout, digest, 'registry.test/app', await policy([`${server.url}/repo`]));
    assert.deepEqual(report.failures, []);
    assert.match(
      report.policies[0]!.authorities[0]!.attestations![0]!.message,
      /^all 4 fetched dependencies come from the allowed repositories; the provenance holds the other 1 itself/,
    );
    // Another repository's prefix still fails on the packages and indexes.
    const other = await evaluatePolicies(layout, digest, 'registry.test/app', await policy(['http://127.0.0.1:1/repo']));
    assert.match(other.failures[0] ?? '', /4 of 5 dependencies come from elsewhere than http:\/\/127\.0\.0\.1:1\/repo/);
    await layout.close();
  });

  it('a key fetched by URL is named by its uri, without user info, and must lie under a prefix', async () => {
    const config = join(root, 'cfg', 'app', 'by-url.yaml');
    const text = await readFile(configPath, 'utf8');
    const hostPort = server.url.slice('http://'.length);
    await writeFile(config, text.replace(/keyring: \[[^\]]*\]/, `keyring: [http://someone:secret@${hostPort}/${key.name}]`));
    const { layout, digest, deps } = await builtAndAttested(config, 'url-key');
    const keyDep = deps.find((d) => (d.annotations as { kind?: string }).kind === 'apk-key');
    assert.equal(keyDep?.uri, `${server.url}/${key.name}`);
    const onlyRepo = await evaluatePolicies(layout, digest, 'registry.test/app', await policy([`${server.url}/repo`]));
    assert.deepEqual(onlyRepo.failures, [
      `repos / k / from-our-repo: 1 of 5 dependencies come from elsewhere than ${server.url}/repo: ${server.url}/${key.name}`,
    ]);
    const both = await evaluatePolicies(
      layout,
      digest,
      'registry.test/app',
      await policy([`${server.url}/repo`, `${server.url}/${key.name}`]),
    );
    assert.deepEqual(both.failures, []);
    await layout.close();
  });
});
