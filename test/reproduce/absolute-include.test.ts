// A configuration that includes a file by its absolute path (under --include-root) is rebuilt
// from its provenance as one that names it relatively: the provenance holds no path of the
// building machine, and the rebuild reads none.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SLSA_V1 } from '../../src/attest/provenance.ts';
import { statement } from '../../src/attest/storage.ts';
import { type BuildResult, writeBuild } from '../../src/builder/build.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { type PlatformNotReplayable, reproduceImage } from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { useTempDir } from '../helpers/temp.ts';
import {
  buildAndDescribe,
  repositoryKey,
  type StaticServer,
  serveFolder,
  slsaStatements,
  writeConfig,
  writeRepository,
  writeWithAttestations,
} from './helpers.ts';

const tempDir = useTempDir('reproduce-absolute-include');

describe('reproduce a build whose configuration includes a file by its absolute path', () => {
  let root: string;
  let server: StaticServer;
  let store: LayoutStore;
  let included: string;
  let result: BuildResult;
  // biome-ignore lint/suspicious/noExplicitAny: the statement is JSON
  let statements: any[];

  before(async () => {
    root = await tempDir();
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    server = await serveFolder(join(root, 'served'));
    const configPath = await writeConfig(root, key, `${server.url}/repo`);
    included = join(root, 'cfg', 'shared', 'common.yaml');
    const text = await readFile(configPath, 'utf8');
    assert.ok(text.startsWith('include: ../shared/common.yaml\n'));
    await writeFile(configPath, text.replace('include: ../shared/common.yaml', `include: ${included}`));
    // Under the include root (cfg/, as --include-root names it), so the build reads it.
    const built = await buildAndDescribe(configPath, 'app');
    result = built.result;
    statements = slsaStatements(built.attested);
    store = await LayoutStore.open(join(root, 'layout'), { create: true });
    await writeWithAttestations(store, built, 'v1');
    // The rebuild must not need any configuration file of this machine.
    await rm(join(root, 'cfg'), { recursive: true });
  });
  after(async () => {
    await store?.close();
    await server?.close();
  });

  it('records the include relative to the file that names it, with the digest of the text recorded', () => {
    for (const s of statements) {
      const files = s.predicate.buildDefinition.externalParameters.config.files;
      assert.deepEqual(
        files.map((f: { path: string }) => f.path),
        ['image.yaml', '../shared/common.yaml'],
      );
      assert.match(files[0].content, /^include: \.\.\/shared\/common\.yaml\n/);
      assert.equal(files[0].digest.sha256, createHash('sha256').update(files[0].content).digest('hex'));
      assert.ok(!JSON.stringify(s).includes(root), 'the provenance names a path of the building machine');
    }
  });

  it('rebuilds every platform from the provenance alone, bit for bit', async () => {
    const report = await reproduceImage(store, 'v1');
    assert.equal(report.match, true, renderReproduce(report));
    assert.deepEqual(
      report.platforms.map((p) => p.status),
      ['match', 'match'],
    );
  });

  it('refuses the provenance of an earlier Provenant, which kept the absolute path, saying what to do', async () => {
    const old = await LayoutStore.open(join(root, 'old'), { create: true });
    const attested = result.images.map((image, i) => {
      const predicate = structuredClone(statements[i].predicate);
      const [first] = predicate.buildDefinition.externalParameters.config.files;
      first.content = first.content.replace('include: ../shared/common.yaml', `include: ${included}`);
      first.digest.sha256 = createHash('sha256').update(first.content).digest('hex');
      return { manifest: image.manifest, statements: [statement(SLSA_V1, predicate, [{ name: 'app', digest: image.manifest.digest }])] };
    });
    await writeBuild(result, old, ['v1'], { attestations: { attested, mode: 'referrers' } });
    const report = await reproduceImage(old, 'v1');
    await old.close();
    assert.equal(report.match, false);
    for (const p of report.platforms as PlatformNotReplayable[]) {
      assert.equal(p.status, 'not-replayable');
      assert.equal(
        p.reason,
        `the configuration includes ${included} by an absolute path of the machine that built it, which a rebuild does not read; Provenant now states such an include relative to the file that names it: build and attest the image again to make it replayable`,
      );
      assert.deepEqual(p.missing, [
        `externalParameters.config.files: the file included as ${included}, named relative to the including file`,
      ]);
    }
  });
});
