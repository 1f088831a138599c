/**
 * A failure caused by a mistake in a file is annotated on that file's line, as GitHub places an
 * annotation: `::error file=PATH,line=N,col=M::`, the path relative to the workspace.
 */
import assert from 'node:assert/strict';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { annotationOf } from '../../src/action/annotation.ts';
import { ProvenantError } from '../../src/errors.ts';
import { ConfigError } from '../../src/yaml.ts';
import { type Job, makeJob, runnerEnv, runSources } from './helpers.ts';

describe('annotationOf', () => {
  const ws = '/home/runner/work/app/app';

  it('places a ConfigError at its file, line and column, relative to the workspace', () => {
    const err = new ConfigError('INVALID_CONFIG', { file: `${ws}/images/app.yaml`, line: 7, column: 3 }, 'contents.packages[2]', 'bad');
    assert.deepEqual(annotationOf(err, ws, ws), { title: 'Provenant', file: 'images/app.yaml', startLine: 7, startColumn: 3 });
  });

  it('reads a relative file from the step’s folder; one outside the workspace stays absolute', () => {
    const rel = new ConfigError('INVALID_CONFIG', { file: 'image.yaml', line: 2, column: 1 }, '', 'bad');
    assert.equal(annotationOf(rel, ws, ws)?.file, 'image.yaml');
    const outside = new ConfigError('INVALID_CONFIG', { file: '/tmp/runner/gen/image.yaml', line: 2, column: 1 }, '', 'bad');
    assert.equal(annotationOf(outside, ws, ws)?.file, '/tmp/runner/gen/image.yaml');
  });

  it('finds a ConfigError among the causes; a file without a line has no line', () => {
    const inner = new ConfigError('INVALID_CONFIG', { file: `${ws}/image.yaml` }, '', 'the file is not UTF-8 text');
    const outer = new ProvenantError('INVALID_CONFIG', 'wrapped', { cause: inner });
    assert.deepEqual(annotationOf(outer, ws, ws), { title: 'Provenant', file: 'image.yaml' });
  });

  it('takes a where of FILE:LINE only for a file in the workspace, never a reference or a URL', async () => {
    const dir = join(tmpdir(), `provenant-annotation-${process.pid}`);
    await mkdir(join(dir, 'targets'), { recursive: true });
    try {
      await writeFile(join(dir, 'targets', 'mine.yaml'), 'id: mine\n');
      const at = (where: string) => annotationOf(new ProvenantError('INVALID_CONFIG', 'bad', { where }), dir, dir);
      assert.deepEqual(at('targets/mine.yaml:4'), { title: 'Provenant', file: 'targets/mine.yaml', startLine: 4 });
      assert.deepEqual(at(`${dir}/targets/mine.yaml:4:2`), { title: 'Provenant', file: 'targets/mine.yaml', startLine: 4, startColumn: 2 });
      assert.equal(at('127.0.0.1:5000/acme/app:1'), undefined);
      assert.equal(at('targets:4'), undefined, 'a folder');
      assert.equal(at('https://example.org/APKINDEX.tar.gz:12'), undefined);
      assert.equal(annotationOf(new ProvenantError('USAGE', 'bad', { where: 'with: tags' }), dir, dir), undefined);
      assert.equal(annotationOf(new Error('boom'), dir, dir), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the Action’s sources, failing on a mistake in the configuration', () => {
  let job: Job;
  before(async () => {
    job = await makeJob();
  });
  after(async () => {
    if (job !== undefined) await rm(job.root, { recursive: true, force: true });
  });

  it('annotates the configuration’s line and column, relative to the workspace, and fails the step', async () => {
    await mkdir(join(job.workspace, 'images'), { recursive: true });
    await writeFile(
      join(job.workspace, 'images', 'bad.yaml'),
      'contents:\n  packages:\n    - [hello\nentrypoint: {command: /usr/bin/hello}\n',
    );
    const run = await runSources(job, runnerEnv(job, { config: 'images/bad.yaml', platforms: 'linux/amd64' }));
    assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
    const m = /^::error ([^:]*)::(.*)$/m.exec(run.stdout);
    assert.ok(m !== null, run.stdout);
    assert.match(m[1]!, /^title=Provenant,file=images\/bad\.yaml,line=\d+,col=\d+$/);
    assert.match(m[2]!, /images\/bad\.yaml:\d+:\d+: /);
    assert.doesNotMatch(run.stdout, /^::error::/m, 'one annotation, the placed one');
  });
});
