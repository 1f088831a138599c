// The command line's contract (docs/cli.md) where a first run goes wrong: a file-like name taken
// for a Docker Hub image, an environment default a command cannot take, an error's place, a path
// checked before the flags it would need, `-o -`, an output over its input, a subcommand's typo,
// an empty configuration. Each is said before any work, as the error it is.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { formatError } from '../../src/cli/help.ts';
import { parseLocationOrPath } from '../../src/cli/stores.ts';
import { ProvenantError } from '../../src/errors.ts';
import { cliOk, ROOT, runCli } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('cli-contract');
const example = `oci:${join(ROOT, 'examples', 'hello-oci')}:latest`;
/** A configuration of no packages: it builds without a repository. */
const NOTHING = 'contents:\n  packages: []\nentrypoint:\n  command: /bin/sh\narchs: [x86_64]\n';

describe('a file-like name as a destination', () => {
  for (const [args, name] of [
    [['build', 'cfg.yaml', '-o', 'out.oci', '--cache-dir', 'cache'], 'out.oci'],
    [['build', 'cfg.yaml', '-o', 'out.tar', '--cache-dir', 'cache'], 'out.tar'],
    [['copy', example, 'out2.oci'], 'out2.oci'],
    [['copy', example, 'out.tar.gz:v1'], 'out.tar.gz:v1'],
    [['index', 'create', 'out.oci.tar', example], 'out.oci.tar'],
  ] as const) {
    it(`${args.join(' ')}: USAGE before any work, with the prefix to write`, async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'cfg.yaml'), NOTHING);
      const r = await runCli(args, { cwd: dir });
      assert.equal(r.status, 2, r.stderr);
      const quoted = name.replaceAll('.', '\\.');
      assert.match(r.stderr, new RegExp(`"${quoted}" reads as a file name, but without a prefix it names an image on Docker Hub`));
      assert.match(r.stderr, /hint: .*(oci|oci-archive|docker-archive):/);
      // Nothing was done: no progress, no download cache.
      assert.doesNotMatch(r.stderr, /resolving|pushing|cannot reach/);
      assert.equal(existsSync(join(dir, 'cache')), false);
    });
  }

  it('a name with a namespace or a registry is taken as written', () => {
    for (const text of ['docker.io/library/out.oci', 'docker://out.tar', 'me/out.tar', '127.0.0.1:5000/out.tar']) {
      assert.equal(parseLocationOrPath(text).kind, 'registry', text);
    }
  });
});

describe('an empty configuration', () => {
  for (const [what, text] of [
    ['an empty file', ''],
    ['comments only', '# to do\n\n# contents:\n'],
  ] as const) {
    it(`${what}: build and lock refuse it as INVALID_CONFIG naming the file`, async () => {
      const dir = await tempDir();
      await writeFile(join(dir, 'empty.yaml'), text);
      for (const command of ['build', 'lock']) {
        const r = await runCli([command, 'empty.yaml', '--cache-dir', 'cache'], { cwd: dir });
        assert.equal(r.status, 2, r.stderr);
        assert.match(r.stderr, new RegExp(`^provenant ${command}: empty\\.yaml: the file holds no configuration`));
      }
      assert.equal(existsSync(join(dir, 'empty.lock.json')), false);
      assert.equal(existsSync(join(dir, 'empty.oci')), false);
    });
  }

  it('a configuration of no packages is still taken, as apko takes it', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'cfg.yaml'), NOTHING);
    await cliOk(['lock', 'cfg.yaml', '--cache-dir', 'cache'], { cwd: dir });
    assert.equal(JSON.parse(await readFile(join(dir, 'cfg.lock.json'), 'utf8')).contents.packages.length, 0);
  });
});

describe('PROVENANT_FORMAT, a default for commands whose formats differ', () => {
  it('a value another command takes is left to it: text for report, html for digest', async () => {
    const dir = await tempDir();
    const report = await runCli(['report', example, '-o', 'r.html', '--target', 'none', '--probe', 'false'], {
      cwd: dir,
      env: { PROVENANT_FORMAT: 'text' },
    });
    assert.equal(report.status, 0, report.stderr);
    assert.match(await readFile(join(dir, 'r.html'), 'utf8'), /^<!DOCTYPE html>/i);
    const digest = await runCli(['digest', example], { env: { PROVENANT_FORMAT: 'html' } });
    assert.equal(digest.status, 0, digest.stderr);
    assert.match(digest.stdout, /^sha256:[0-9a-f]{64}\n$/);
    // One every command takes is taken by each.
    const json = await runCli(['digest', example], { env: { PROVENANT_FORMAT: 'json' } });
    assert.equal(JSON.parse(json.stdout).digest.startsWith('sha256:'), true);
  });

  it('a value no command takes is refused, naming the variable rather than --format', async () => {
    for (const command of [
      ['digest', example],
      ['report', example, '-o', '-'],
    ]) {
      const r = await runCli(command, { env: { PROVENANT_FORMAT: 'yaml' } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, new RegExp(`^provenant ${command[0]}: PROVENANT_FORMAT must be \\w+ or json for ${command[0]}, not "yaml"`));
      assert.doesNotMatch(r.stderr, /--format must/);
    }
    // Typed on the command line, the flag is named.
    const typed = await runCli(['digest', example, '--format', 'yaml'], { env: { PROVENANT_FORMAT: 'json' } });
    assert.equal(typed.status, 2);
    assert.match(typed.stderr, /--format must be text or json, not "yaml"/);
  });
});

describe("an error's place", () => {
  it('is shown unless the message names it as a whole token', () => {
    const line = (message: string, where: string) => formatError('verify', new ProvenantError('NOT_FOUND', message, { where }), false);
    assert.equal(line('the key file does not exist', 'key'), 'provenant verify: the key file does not exist (key)\n');
    assert.equal(line('the key file does not exist', 'e'), 'provenant verify: the key file does not exist (e)\n');
    assert.equal(line('the key file does not exist', 'file'), 'provenant verify: the key file does not exist (file)\n');
    assert.equal(line('cannot read keys/k.pub: EACCES', 'keys/k.pub'), 'provenant verify: cannot read keys/k.pub: EACCES\n');
    assert.equal(line('"key" is not a key', 'key'), 'provenant verify: "key" is not a key\n');
    assert.equal(line('cannot read keys/k.pub.bak', 'keys/k.pub'), 'provenant verify: cannot read keys/k.pub.bak (keys/k.pub)\n');
  });
});

describe('apk', () => {
  it('build of a path that is not there is NOT_FOUND, before the flags a folder needs', async () => {
    const dir = await tempDir();
    const r = await runCli(['apk', 'build', 'nofile'], { cwd: dir });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /^provenant apk: the folder nofile does not exist\n$/);
    await writeFile(join(dir, 'afile'), 'x');
    const file = await runCli(['apk', 'build', 'afile'], { cwd: dir });
    assert.equal(file.status, 2, file.stderr);
    assert.match(file.stderr, /afile is not a folder; apk build takes a folder to package, or a spec file ending in \.yaml/);
  });

  it('index and build refuse to write over a file they read', async () => {
    const dir = await tempDir();
    await mkdir(join(dir, 'pkg'));
    await writeFile(join(dir, 'pkg', 'f'), 'x');
    await cliOk(['apk', 'build', 'pkg', '--name', 'y', '--version', '1-r0', '--arch', 'noarch', '-o', 'y.apk'], { cwd: dir });
    const before = await readFile(join(dir, 'y.apk'));
    const r = await runCli(['apk', 'index', 'y.apk', '-o', './y.apk'], { cwd: dir });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /^provenant apk: -o \.\/y\.apk is a package it indexes; writing there would replace it\n/);
    assert.deepEqual(await readFile(join(dir, 'y.apk')), before);
    await writeFile(join(dir, 'spec.yaml'), 'name: y\nversion: 1-r0\narch: noarch\n');
    const spec = await runCli(['apk', 'build', 'spec.yaml', '-o', 'spec.yaml'], { cwd: dir });
    assert.equal(spec.status, 2, spec.stderr);
    assert.match(spec.stderr, /-o spec\.yaml is the spec it reads/);
    await cliOk(['apk', 'index', 'y.apk', '--allow-untrusted', '-o', 'APKINDEX.tar.gz'], { cwd: dir });
  });
});

describe('lock -o -', () => {
  it('writes the lock to standard output and no file; a lock of nothing names no architecture', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'cfg.yaml'), 'contents:\n  packages: []\n');
    const r = await cliOk(['lock', 'cfg.yaml', '-o', '-', '--cache-dir', 'cache', '-q'], { cwd: dir });
    assert.equal(JSON.parse(r.stdout).config.name, 'cfg.yaml');
    assert.equal(existsSync(join(dir, '-')), false);
    assert.equal(existsSync(join(dir, 'cfg.lock.json')), false);
    const file = await cliOk(['lock', 'cfg.yaml', '--cache-dir', 'cache', '-q'], { cwd: dir });
    assert.equal(file.stdout, 'locked 0 packages in cfg.lock.json\n');
  });
});

describe('a subcommand typo', () => {
  for (const [args, said] of [
    [['policy', 'tst'], 'policy has no subcommand "tst": did you mean policy test?'],
    [['index', 'craete'], 'index has no subcommand "craete": did you mean index create?'],
  ] as const) {
    it(`${args.join(' ')} names the closest subcommand, as apk and help do`, async () => {
      const r = await runCli(args);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.split('\n')[0]!, new RegExp(`: ${said.replace(/[?"]/g, '\\$&')}$`));
    });
  }
});
