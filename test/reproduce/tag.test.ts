/**
 * A `name@tag` entry whose tag no repository has: refused when the configuration is resolved
 * (build, lock, a lock the user gave), built as apko builds it with `--compat apko`, and never
 * refused in a rebuild from a provenance, whose lock names the packages: an image built before
 * the refusal must stay reproducible.
 */
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { describeBuild } from '../../src/builder/describe.ts';
import { isProvenantError } from '../../src/errors.ts';
import type { Logger } from '../../src/io/types.ts';
import { renderReproduce } from '../../src/reproduce/render.ts';
import { reproduceImage } from '../../src/reproduce/reproduce.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { useTempDir } from '../helpers/temp.ts';
import { EPOCH, loadWrittenConfig, repositoryKey, writeConfig, writeRepository } from './helpers.ts';

const tempDir = useTempDir('reproduce-tag');

/** Warnings said, in order. */
function warnings(): Logger & { said: string[] } {
  const said: string[] = [];
  return { said, debug() {}, info() {}, warn: (m) => said.push(m) };
}

describe('a name@tag entry whose tag no repository has', () => {
  let root: string;
  /** The configuration, asking for tool@edge from an untagged repository alone. */
  let configPath: string;
  /** Its lock, as a build of the entries without the tag resolves them (and a build before the refusal did). */
  let lock: Awaited<ReturnType<typeof buildImage>>['lock'];

  before(async () => {
    root = await tempDir();
    const key = repositoryKey();
    await writeRepository(join(root, 'served'), key);
    configPath = await writeConfig(root, key, '../../served/repo');
    lock = (
      await buildImage({ config: await loadWrittenConfig(configPath), configPath, sourceDateEpoch: EPOCH, workers: 0, lockOnly: true })
    ).lock;
    const text = await readFile(configPath, 'utf8');
    await writeFile(configPath, text.replace('packages: [base, data, tool]', 'packages: [base, data, tool@edge]'));
    // Without the origin layering, which apko compatibility refuses.
    const common = join(root, 'cfg', 'shared', 'common.yaml');
    await writeFile(common, (await readFile(common, 'utf8')).replace(/layering:\n( {2}.*\n)+/, ''));
  });

  it('is refused at its line by a build, a lock and a build from a lock the user gave', async () => {
    const loaded = await loadWrittenConfig(configPath);
    for (const extra of [{}, { lockOnly: true }, { lock, lockPath: 'image.lock.json' }]) {
      await assert.rejects(buildImage({ config: loaded, configPath, sourceDateEpoch: EPOCH, workers: 0, ...extra }), (e: unknown) => {
        assert.ok(isProvenantError(e, 'INVALID_CONFIG'), String(e));
        assert.equal(e.message, '"tool@edge" asks for the repository tag @edge, and no repository has it');
        assert.match(e.where ?? '', /image\.yaml:5:\d+$/);
        return true;
      });
    }
  });

  it('is built as apko builds it with --compat apko, from the untagged repository, with a warning naming it', async () => {
    const logger = warnings();
    const result = await buildImage({
      config: await loadWrittenConfig(configPath),
      configPath,
      sourceDateEpoch: EPOCH,
      workers: 0,
      compat: 'apko',
      logger,
    });
    assert.deepEqual(
      result.lock.contents.packages.filter((p) => p.architecture === 'x86_64').map((p) => p.name),
      ['base', 'data', 'tool'],
    );
    const said = logger.said.filter((m) => m.includes('tool@edge'));
    assert.equal(said.length, 1, logger.said.join('\n'));
    assert.match(
      said[0] ?? '',
      /image\.yaml:5:\d+: "tool@edge" asks for the repository tag @edge, and no repository has it; built as apko builds it/,
    );
  });

  it('reproduces an image built from it before the refusal: the rebuild takes the packages its provenance names', async () => {
    // What a build before the refusal made: the packages of the untagged repository, from this
    // configuration. A rebuild's lock (which vouches for itself) builds it the same way.
    const result = await buildImage({
      config: await loadWrittenConfig(configPath),
      configPath,
      sourceDateEpoch: EPOCH,
      workers: 0,
      lock,
      lockVouches: true,
      resolvedLock: true,
    });
    const attested = describeBuild(result, {
      imageName: 'example/app',
      configPath,
      toolVersion: '0.0.0-test',
      sourceDateEpoch: EPOCH,
      builderId: 'https://example.com/builder',
      provenance: { mode: 'min', version: 'v1' },
      fromLock: false,
    });
    const store = await LayoutStore.open(join(root, 'layout'), { create: true });
    try {
      await writeBuild(result, store, ['v1'], { attestations: { attested, mode: 'referrers' } });
      const report = await reproduceImage(store, 'v1', { baseDir: join(root, 'cfg', 'app'), allowLocalFiles: true });
      assert.equal(report.match, true, renderReproduce(report));
      assert.deepEqual(
        report.platforms.map((p) => p.status),
        ['match', 'match'],
      );
    } finally {
      await store.close();
    }
  });
});
