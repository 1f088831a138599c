import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeBuild } from '../../src/builder/build.ts';
import { describeBuild, describeIndex } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import {
  buildAndDescribe,
  EPOCH,
  repositoryKey,
  type StaticServer,
  serveFolder,
  slsaStatements,
  writeConfig,
  writeRepository,
} from './helpers.ts';

const SECRET = 's3cretTOKEN';

describe('a build from a repository that wants credentials', () => {
  let root: string;
  let server: StaticServer;
  let plain: string;
  let withAuth: string;
  let built: Awaited<ReturnType<typeof buildAndDescribe>>;
  let configPath: string;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-credentials-'));
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'), `alice:${SECRET}`);
    plain = `${server.url}/repo`;
    withAuth = plain.replace('http://', `http://alice:${SECRET}@`);
    configPath = await writeConfig(root, key, withAuth);
    built = await buildAndDescribe(configPath, 'example/app');
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('was built with them (the server refuses anyone else)', () => {
    assert.ok(built.result.images.length === 2);
    assert.ok(server.requests.some((p) => p.endsWith('.apk')));
  });

  it('writes them into no SBOM and no provenance, v1 or v0.2, with or without file lists', () => {
    const options = { imageName: 'example/app', configPath, toolVersion: '0', sourceDateEpoch: EPOCH, builderId: 'b', fromLock: false };
    const statements = [
      ...built.attested,
      ...describeBuild(built.result, { ...options, sbomFiles: true, provenance: { mode: 'max', version: 'v0.2' } }),
      describeIndex(built.result, options),
    ].flatMap((a) => a?.statements ?? []);
    assert.ok(statements.length >= 10);
    for (const s of statements) {
      const text = Buffer.from(s.bytes).toString();
      assert.ok(!text.includes(SECRET), `${s.predicateType} holds the password`);
      assert.ok(!text.includes('alice'), `${s.predicateType} holds the user name`);
    }
    // The places the review found it: the configuration's text, the requested contents, each
    // package's location. They still name the repository, without credentials.
    const slsa = slsaStatements(built.attested)[0];
    const params = slsa.predicate.buildDefinition.externalParameters;
    assert.match(params.config.files[0].content, new RegExp(`repositories: \\[${plain}\\]`));
    assert.deepEqual(params.config.contents.repositories, [plain]);
    const uris: string[] = slsa.predicate.buildDefinition.resolvedDependencies.flatMap((d: { uri?: string }) => d.uri ?? []);
    assert.ok(uris.length > 3 && uris.every((u) => u.startsWith(`${plain}/x86_64/`)), uris.join('\n'));
  });

  it('reproduces with the credentials given again as an override, and says how when they are missing', async () => {
    const store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeBuild(built.result, store, ['v1'], { attestations: { attested: built.attested, mode: 'referrers' } });
    await assert.rejects(reproduceImage(store, 'v1'), (err: unknown) => {
      assert.ok(isProvenantError(err, 'NETWORK'), String(err));
      assert.match(err.message, /answered HTTP 401/);
      assert.match(err.hint ?? '', /PROVENANT_REPOSITORY_OVERRIDE=OLD=http\(s\):\/\/USER:PASSWORD@/);
      return true;
    });
    const report = await reproduceImage(store, 'v1', { repositoryOverrides: [[plain, withAuth]] });
    assert.equal(report.match, true, renderReproduce(report));
    assert.ok(!JSON.stringify(report).includes(SECRET));
    assert.ok(!renderReproduce(report).includes(SECRET));
    assert.deepEqual(
      report.overrides.map((o) => [o.from, o.to]),
      [[plain, plain]],
    );
    await store.close();
  });
});

describe('a build whose configuration spells the credentials with escapes', () => {
  // A cold review: a JSON file written by python's json.dump (`\u00e4`), or a YAML double-quoted
  // `\x`, hid the password from a redaction of the text as written, and the provenance published it.
  let root: string;
  let server: StaticServer;
  const key = repositoryKey();

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'provenant-credentials-escaped-'));
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'), `alice:${SECRET}`);
  });
  after(async () => {
    await server?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('publishes them in no spelling, and reproduces with them given again', async () => {
    const plain = `${server.url}/repo`;
    const configPath = join(await writeConfig(root, key, plain), '..', 'image.json');
    // Every character of the user info escaped, as JSON (and YAML, which reads JSON) allows.
    const escaped = [...`alice:${SECRET}`].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('');
    const url = plain.replace('http://', `http://${escaped}@`).replaceAll('/', '\\/');
    const json = `{"include": "../shared/common.yaml", "contents": {"repositories": ["${url}"], "keyring": ["./keys/${key.name}"], "packages": ["base", "data", "tool"]}, "archs": ["x86_64", "aarch64"]}\n`;
    await writeFile(configPath, json);
    const built = await buildAndDescribe(configPath, 'example/app');
    assert.ok(server.requests.some((p) => p.endsWith('.apk')));
    for (const s of built.attested.flatMap((a) => a.statements)) {
      const text = Buffer.from(s.bytes).toString();
      for (const part of [SECRET, 'alice', escaped.slice(0, 12), '\\\\u0061'])
        assert.ok(!text.includes(part), `${s.predicateType} holds ${part}`);
    }
    const store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeBuild(built.result, store, ['v1'], { attestations: { attested: built.attested, mode: 'referrers' } });
    const report = await reproduceImage(store, 'v1', {
      repositoryOverrides: [[plain, plain.replace('http://', `http://alice:${SECRET}@`)]],
    });
    assert.equal(report.match, true, renderReproduce(report));
    await store.close();
  });
});
