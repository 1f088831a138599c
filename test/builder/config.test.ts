// The image config loader: apko's golden config, every key, includes, the errors (each with its
// file:line:column), octal permissions, architectures, and fuzzing of the reader.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { stringify } from 'yaml';
import { apkArchToPlatform, normalizeArch } from '../../src/builder/arch.ts';
import { checkLocalSources, loadConfig, parseConfig, portableConfigFiles } from '../../src/builder/config.ts';
import type { LoadedConfig, PathMutation } from '../../src/builder/config-types.ts';
import { exitCodeFor } from '../../src/cli/exit.ts';
import { type ErrorCode, isProvenantError } from '../../src/errors.ts';
import { ConfigError } from '../../src/yaml.ts';
import { fixture, fixturesMissing } from '../helpers/fixtures.ts';
import { useTempDir } from '../helpers/temp.ts';

const HERE = join(import.meta.dirname, 'fixtures');
const host = { hostArch: 'x86_64' };

function parse(text: string): LoadedConfig {
  return parseConfig(text, 'image.yaml', host);
}

/** Asserts that `fn` throws a ConfigError with `code`, at `place` (file:line:column), whose message matches. */
async function rejects(fn: () => unknown, code: ErrorCode, place: string, message: RegExp): Promise<ConfigError> {
  let caught: unknown;
  try {
    await fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected a ConfigError, got ${String(caught)}`);
  assert.ok(isProvenantError(caught, code), `expected ${code}, got ${caught.code}: ${caught.message}`);
  assert.ok(caught.message.startsWith(`${place}: `), `expected the message to start with ${place}: ${caught.message}`);
  assert.match(caught.message, message);
  return caught;
}

/** A readFile over an in-memory set of files, recording what was read. */
function memory(files: Record<string, string>): { readFile: (p: string) => Promise<string>; reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    readFile: async (p: string) => {
      reads.push(p);
      const text = files[p];
      if (text === undefined) throw Object.assign(new Error(`ENOENT: ${p}`), { code: 'ENOENT' });
      return text;
    },
  };
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('apko compatibility', () => {
  it('reads the apko golden config', { skip: fixturesMissing }, async () => {
    const path = fixture('apk', 'apkotest-golden-apko.yaml');
    const loaded = await loadConfig(path, host);
    const c = loaded.config;
    assert.deepEqual(c.contents, {
      repositories: ['./testdata/packages'],
      buildRepositories: [],
      runtimeRepositories: [],
      keyring: ['./testdata/melange.rsa.pub'],
      packages: ['replayout'],
    });
    assert.deepEqual(c.entrypoint, { command: '/bin/sh -l', services: {} });
    assert.deepEqual(c.archs, ['x86_64', 'aarch64']);
    assert.equal(c.archsFromHost, false);
    assert.equal(loaded.files.length, 1);
    assert.equal(loaded.files[0]!.path, path);
    assert.equal(loaded.files[0]!.sha256, sha256(loaded.raw));
    assert.deepEqual(loaded.locations.get('contents.packages[0]'), { file: path, line: 7, column: 7 });
    assert.deepEqual(loaded.locations.get('archs[1]'), { file: path, line: 14, column: 3 });
  });

  it('reads every key apko has (and os-release, which older apko had)', () => {
    const { config: c } = parse(`
contents:
  repositories: [https://packages.example.org/os/, "@local /work/packages"]
  build_repositories: [https://build.example/os]
  runtime_repositories: [https://runtime.example/os]
  keyring: [https://packages.example.org/os/wolfi-signing.rsa.pub]
  packages: [wolfi-base, "busybox>1.36"]
entrypoint:
  command: /usr/bin/server --port 8080
  shell-fragment: echo hi
cmd: --verbose
stop-signal: SIGQUIT
work-dir: /app
accounts:
  run-as: nonroot
  users:
    - {username: nonroot, uid: 65532, gid: 65533, shell: /bin/bash, homedir: /srv}
    - {username: other, uid: 1000}
  groups:
    - {groupname: nonroot, gid: 65533, members: [nonroot]}
archs: [amd64, aarch64, arm/v7, armhf, "386", ppc64le, s390x, riscv64, loong64]
environment:
  LANG: C.UTF-8
  EMPTY:
  NUMBER: 0755
paths:
  - {path: /app, type: directory, uid: 65532, gid: 65532, recursive: true}
vcs-url: https://github.com/example/app
annotations:
  org.opencontainers.image.url: https://example.com
volumes: [/data]
layering: {strategy: origin, budget: 5}
format: tar
os-release: {id: wolfi, name: Wolfi, pretty-name: Wolfi OS, version-id: "2024", home-url: https://distro.example.org, bug-report-url: https://x/issues}
`);
    assert.deepEqual(c.contents, {
      repositories: ['https://packages.example.org/os', '@local /work/packages'],
      buildRepositories: ['https://build.example/os'],
      runtimeRepositories: ['https://runtime.example/os'],
      keyring: ['https://packages.example.org/os/wolfi-signing.rsa.pub'],
      packages: ['wolfi-base', 'busybox>1.36'],
    });
    assert.deepEqual(c.entrypoint, { command: '/usr/bin/server --port 8080', shellFragment: 'echo hi', services: {} });
    assert.equal(c.cmd, '--verbose');
    assert.equal(c.stopSignal, 'SIGQUIT');
    assert.equal(c.workDir, '/app');
    assert.deepEqual(c.accounts, {
      runAs: 'nonroot',
      users: [
        { username: 'nonroot', uid: 65532, gid: 65533, shell: '/bin/bash', homedir: '/srv' },
        { username: 'other', uid: 1000, gid: 1000, shell: '/bin/sh', homedir: '/home/other' },
      ],
      groups: [{ groupname: 'nonroot', gid: 65533, members: ['nonroot'] }],
    });
    assert.deepEqual(c.archs, ['x86_64', 'aarch64', 'armv7', 'armhf', 'x86', 'ppc64le', 's390x', 'riscv64', 'loongarch64']);
    // A string field takes a scalar's text as written, as yaml.v3 does: 0755 stays "0755".
    assert.deepEqual(c.environment, { LANG: 'C.UTF-8', EMPTY: '', NUMBER: '0755' });
    assert.deepEqual(c.paths, [{ path: '/app', type: 'directory', uid: 65532, gid: 65532, recursive: true }]);
    assert.equal(c.vcsUrl, 'https://github.com/example/app');
    assert.deepEqual(c.annotations, { 'org.opencontainers.image.url': 'https://example.com' });
    assert.deepEqual(c.volumes, ['/data']);
    assert.deepEqual(c.layering, { strategy: 'origin', budget: 5 });
    assert.deepEqual(c.osRelease, {
      id: 'wolfi',
      name: 'Wolfi',
      prettyName: 'Wolfi OS',
      versionId: '2024',
      homeUrl: 'https://distro.example.org',
      bugReportUrl: 'https://x/issues',
    });
  });

  it('reads scalars as yaml.v3 does: run-as: 65532 is a string, yes/no are booleans, null is absent', () => {
    const { config: c } = parse(`
accounts: {run-as: 65532}
cmd: ~
work-dir: ""
paths:
  - {path: /a, type: empty-file, recursive: yes}
  - {path: /b, type: empty-file, recursive: Off}
  - {path: /c, type: empty-file, recursive: TRUE}
`);
    assert.equal(c.accounts.runAs, '65532');
    assert.equal(c.cmd, undefined);
    assert.equal(c.workDir, undefined);
    assert.deepEqual(
      c.paths.map((p) => p.recursive),
      [true, false, true],
    );
  });

  it('follows anchors, aliases and merge keys', () => {
    const { config: c } = parse(`
environment: &env
  A: "1"
  B: "2"
annotations:
  <<: *env
  B: override
contents:
  packages: &pkgs [a, b]
  keyring: *pkgs
`);
    assert.deepEqual(c.annotations, { B: 'override', A: '1' });
    assert.deepEqual(c.contents.keyring, ['a', 'b']);
  });

  it('refuses a service-bundle and services at their line: the s6 tree apko writes is not written', async () => {
    await rejects(
      () => parse('entrypoint:\n  type: service-bundle\n  services:\n    nginx: /usr/sbin/nginx -g "daemon off;"\n'),
      'INVALID_CONFIG',
      'image.yaml:2:9',
      /entrypoint\.type: service-bundle is not supported yet/,
    );
    // apko writes /sv/NAME/run for every service, with or without the type.
    await rejects(
      () => parse('entrypoint:\n  command: /bin/s6-svscan /sv\n  services:\n    web: /usr/sbin/nginx\n'),
      'INVALID_CONFIG',
      'image.yaml:3:3',
      /entrypoint\.services: services are not supported yet/,
    );
    assert.deepEqual(parse('entrypoint:\n  command: /bin/app\n  services: {}\n').config.entrypoint, { command: '/bin/app', services: {} });
  });

  it('refuses a cmd or entrypoint.command that cannot be split into words at its line, as apko fails to split it', async () => {
    await rejects(
      () => parse('archs: [x86_64]\ncmd: "a \'b"\n'),
      'INVALID_CONFIG',
      'image.yaml:2:6',
      /cmd: an unterminated quote in "a 'b"/,
    );
    await rejects(
      () => parse('entrypoint:\n  command: /bin/app \\\n'),
      'INVALID_CONFIG',
      'image.yaml:2:12',
      /entrypoint\.command: a "\\" at the end/,
    );
    // An included file's command is refused at its own line.
    const fs = memory({ 'image.yaml': 'include: base.yaml\narchs: [x86_64]\n', 'base.yaml': '\ncmd: "\\"x"\n' });
    await rejects(
      () => loadConfig('image.yaml', { ...host, readFile: fs.readFile }),
      'INVALID_CONFIG',
      'base.yaml:2:6',
      /cmd: an unterminated quote/,
    );
    // Beside a shell-fragment the command is not split (apko runs the fragment), so it is not checked.
    assert.equal(parse('entrypoint:\n  command: "a \'b"\n  shell-fragment: exec app\n').config.entrypoint.command, "a 'b");
  });

  it('treats layering: {} as no layering, as apko does', () => {
    assert.equal(parse('layering: {}\n').config.layering, undefined);
    assert.deepEqual(parse('layering: {strategy: origin}\n').config.layering, { strategy: 'origin', budget: 0 });
    assert.deepEqual(parse('layering: {strategy: per-package}\n').config.layering, { strategy: 'per-package', budget: 0 });
    assert.deepEqual(parse('layering: {strategy: per-package, budget: 20}\n').config.layering, { strategy: 'per-package', budget: 20 });
  });

  it('an empty mapping is an empty config for the host architecture; a file with no document is refused, as apko does', () => {
    for (const text of ['', '# nothing\n', '~\n']) {
      assert.throws(
        () => parseConfig(text, 'empty.yaml', { hostArch: 'arm64' }),
        (e: unknown) =>
          e instanceof ConfigError && e.code === 'INVALID_CONFIG' && e.file === 'empty.yaml' && /holds no configuration/.test(e.message),
      );
    }
    const { config: c } = parseConfig('{}\n', 'empty.yaml', { hostArch: 'arm64' });
    assert.deepEqual(c.archs, ['aarch64']);
    assert.equal(c.archsFromHost, true);
    assert.deepEqual(c.contents.packages, []);
    assert.deepEqual(c.environment, {});
  });
});

describe('our differences from apko', () => {
  it('a directory without permissions has none in the config (the build makes the folder 0o755; apko: 0000)', () => {
    const { config: c } = parse(`
paths:
  - {path: /d, type: directory}
  - {path: /e, type: empty-file}
  - {path: /l, type: symlink, source: /d}
  - {path: /h, type: hardlink, source: /e, permissions: 0o600}
`);
    const expected: PathMutation[] = [
      { path: '/d', type: 'directory', recursive: false },
      { path: '/e', type: 'empty-file', recursive: false },
      { path: '/l', type: 'symlink', source: '/d', recursive: false },
      { path: '/h', type: 'hardlink', source: '/e', permissions: 0o600, recursive: false },
    ];
    assert.deepEqual(c.paths, expected);
  });

  it('archs defaults to the host architecture (apko: all of them); Node names are accepted for the host', () => {
    for (const [hostArch, apk] of [
      ['x64', 'x86_64'],
      ['arm64', 'aarch64'],
      ['ia32', 'x86'],
      ['arm', 'armv7'],
      ['ppc64', 'ppc64le'],
      ['loong64', 'loongarch64'],
      ['amd64', 'x86_64'],
      ['armhf', 'armhf'],
    ] as const) {
      const { config: c } = parseConfig('contents: {packages: [a]}\n', 'image.yaml', { hostArch });
      assert.deepEqual(c.archs, [apk], hostArch);
      assert.equal(c.archsFromHost, true);
    }
  });

  it('an unknown host architecture only matters when the config names none', () => {
    assert.deepEqual(parseConfig('archs: [s390x]\n', 'image.yaml', { hostArch: 'mips' }).config.archs, ['s390x']);
    assert.throws(
      () => parseConfig('{}\n', 'image.yaml', { hostArch: 'mips' }),
      (err) => isProvenantError(err, 'USAGE') && /mips/.test(err.message),
    );
  });

  it('duplicate architectures are listed once, in the order first written', () => {
    assert.deepEqual(parse('archs: [arm64, x86_64, aarch64, amd64]\n').config.archs, ['aarch64', 'x86_64']);
  });
});

describe('permissions', () => {
  const mode = (written: string): number | undefined =>
    parse(`paths:\n  - path: /x\n    type: permissions\n    permissions: ${written}\n`).config.paths[0]!.permissions;

  it('accepts the octal forms and the integer', () => {
    assert.equal(mode('0o755'), 0o755);
    assert.equal(mode('0O755'), 0o755);
    assert.equal(mode('0755'), 0o755); // YAML 1.1 / Go: a leading 0 is octal, as apko reads it
    assert.equal(mode('493'), 0o755);
    assert.equal(mode('420'), 0o644);
    assert.equal(mode('0x1ed'), 0o755);
    assert.equal(mode('0o1777'), 0o1777);
    assert.equal(mode('02775'), 0o2775);
    assert.equal(mode('0o4_755'), 0o4755);
    assert.equal(mode('0'), 0);
    assert.equal(mode('511'), 0o777);
  });

  it('refuses what is not a mode, at the value', async () => {
    const at = 'image.yaml:4:18';
    await rejects(() => mode('"0755"'), 'INVALID_CONFIG', at, /paths\[0\]\.permissions: expected an integer, got the quoted string "0755"/);
    await rejects(() => mode('0999'), 'INVALID_CONFIG', at, /0999 is not an octal number/);
    await rejects(() => mode('0o10000'), 'INVALID_CONFIG', at, /out of range \(0 to 0o7777\)/);
    await rejects(() => mode('-1'), 'INVALID_CONFIG', at, /out of range/);
    await rejects(() => mode('7.5'), 'INVALID_CONFIG', at, /expected an integer, got "7\.5"/);
    await rejects(() => mode('rwxr-xr-x'), 'INVALID_CONFIG', at, /expected an integer/);
    await rejects(() => mode('[1]'), 'INVALID_CONFIG', at, /expected an integer, got a list/);
  });

  it('refuses a decimal number that was meant as an octal mode', async () => {
    const err = await rejects(() => mode('755'), 'INVALID_CONFIG', 'image.yaml:4:18', /755 is a decimal number \(mode 0o1363\)/);
    assert.match(err.hint ?? '', /0o755/);
    await rejects(() => mode('644'), 'INVALID_CONFIG', 'image.yaml:4:18', /not the octal mode 0o644/);
  });

  it('a permissions entry needs permissions, a link needs a source', async () => {
    await rejects(
      () => parse('paths:\n  - path: /x\n    type: permissions\n'),
      'INVALID_CONFIG',
      'image.yaml:2:5',
      /paths\[0\]: a "permissions" entry needs permissions/,
    );
    await rejects(
      () => parse('paths:\n  - {path: /x, type: symlink}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:5',
      /paths\[0\]: a symlink entry needs a source/,
    );
    await rejects(() => parse('paths:\n  - {type: directory}\n'), 'INVALID_CONFIG', 'image.yaml:2:5', /paths\[0\]: "path" is required/);
  });

  it('refuses a path with a ".." part, which a layer would hold as a name, and leaves out "." parts as apko does', async () => {
    const cleaned = await parse(
      'paths:\n  - {path: /usr/./lib/., type: directory}\n  - {path: ./x, type: hardlink, source: /usr/./bin/sh}\n',
    );
    assert.deepEqual(
      cleaned.config.paths.map((m) => [m.path, m.source]),
      [
        ['/usr/lib', undefined],
        ['x', '/usr/bin/sh'],
      ],
    );
    for (const entry of ['{path: foo/.., type: empty-file}', '{path: /a/../../etc, type: directory}']) {
      await rejects(() => parse(`paths:\n  - ${entry}\n`), 'INVALID_CONFIG', 'image.yaml:2:5', /paths\[0\]: the path .* has a "\.\." part/);
    }
    await rejects(
      () => parse('paths:\n  - {path: /x, type: hardlink, source: /etc/../etc/passwd}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:5',
      /the source .* has a "\.\." part/,
    );
    // A symlink's source is its target, which may go up.
    const ok = await parse('paths:\n  - {path: /usr/bin/sh, type: symlink, source: ../../bin/busybox}\n');
    assert.equal(ok.config.paths[0]?.source, '../../bin/busybox');
  });

  it('takes /app/ as /app (no entry named "app/" beside the folder), and refuses the root, naming the line', async () => {
    const cleaned = await parse(
      'paths:\n  - {path: /app/, type: directory}\n  - {path: /srv//data/, type: permissions, permissions: 0o700}\n  - {path: x/, type: hardlink, source: /usr/bin//sh/}\n',
    );
    assert.deepEqual(
      cleaned.config.paths.map((m) => [m.path, m.source]),
      [
        ['/app', undefined],
        ['/srv/data', undefined],
        ['x', '/usr/bin/sh'],
      ],
    );
    for (const root of ['/', '/.', '.', './', '//']) {
      for (const type of ['directory', 'empty-file', 'permissions, permissions: 0o755']) {
        await rejects(
          () => parse(`os-release: {id: x}\npaths:\n  - {path: "${root}", type: ${type}}\n`),
          'INVALID_CONFIG',
          'image.yaml:3:5',
          /paths\[0\]: the path .* is the image root/,
        );
      }
    }
    await rejects(
      () => parse('paths:\n  - {path: "/a\\0b", type: empty-file}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:5',
      /paths\[0\]: the path .* holds a NUL character/,
    );
  });

  it('refuses a path with a whiteout part (.wh.), which would delete package files in the image', async () => {
    for (const [target, part] of [
      ['/etc/.wh.passwd', '.wh.passwd'],
      ['/usr/.wh..wh..opq', '.wh..wh..opq'],
      ['/.wh.etc/x', '.wh.etc'],
    ] as const) {
      await rejects(
        () => parse(`paths:\n  - {path: "${target}", type: empty-file}\n`),
        'INVALID_CONFIG',
        'image.yaml:2:5',
        new RegExp(`paths\\[0\\]: the path .* has the part "${part.replaceAll('.', '\\.')}", an OCI whiteout name`),
      );
    }
    // A name that only holds ".wh." further in is an ordinary name.
    assert.equal((await parse('paths:\n  - {path: /etc/a.wh.b, type: empty-file}\n')).config.paths[0]?.path, '/etc/a.wh.b');
  });
});

describe('architectures', () => {
  it('normalizes apko, OCI and Docker names to apk names', () => {
    const table: [string, string][] = [
      ['x86_64', 'x86_64'],
      ['amd64', 'x86_64'],
      ['aarch64', 'aarch64'],
      ['arm64', 'aarch64'],
      ['arm64/v8', 'aarch64'],
      ['armv7', 'armv7'],
      ['arm/v7', 'armv7'],
      ['armhf', 'armhf'],
      ['arm/v6', 'armhf'],
      ['x86', 'x86'],
      ['386', 'x86'],
      ['ppc64le', 'ppc64le'],
      ['s390x', 's390x'],
      ['riscv64', 'riscv64'],
      ['loong64', 'loongarch64'],
      ['loongarch64', 'loongarch64'],
    ];
    for (const [name, apk] of table) assert.equal(normalizeArch(name), apk, name);
  });

  it('maps apk names to OCI platforms as apko does', () => {
    assert.deepEqual(apkArchToPlatform('x86_64'), { os: 'linux', architecture: 'amd64' });
    assert.deepEqual(apkArchToPlatform('aarch64'), { os: 'linux', architecture: 'arm64' });
    assert.deepEqual(apkArchToPlatform('armv7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
    assert.deepEqual(apkArchToPlatform('armhf'), { os: 'linux', architecture: 'arm', variant: 'v6' });
    assert.deepEqual(apkArchToPlatform('x86'), { os: 'linux', architecture: '386' });
    assert.deepEqual(apkArchToPlatform('loongarch64'), { os: 'linux', architecture: 'loong64' });
    assert.deepEqual(apkArchToPlatform('riscv64'), { os: 'linux', architecture: 'riscv64' });
    assert.deepEqual(apkArchToPlatform('amd64'), { os: 'linux', architecture: 'amd64' });
  });

  it('refuses other names, with a suggestion', async () => {
    assert.throws(
      () => normalizeArch('X86_64'),
      (err) => isProvenantError(err, 'USAGE') && /did you mean "x86_64"/.test(err.message),
    );
    assert.throws(
      () => normalizeArch('sparc'),
      (err) => isProvenantError(err, 'USAGE'),
    );
    await rejects(
      () => parse('archs:\n  - x86_64\n  - amd46\n'),
      'INVALID_CONFIG',
      'image.yaml:3:5',
      /archs\[1\]: "amd46" is not an architecture \(did you mean "amd64"\?\)/,
    );
    await rejects(() => parse('archs: [all]\n'), 'INVALID_CONFIG', 'image.yaml:1:9', /command line only/);
  });
});

describe('errors name the file, line, column and key path', () => {
  it('an unknown key, with a suggestion and the known keys as a hint', async () => {
    const err = await rejects(
      () => parse('contents:\n  packages: [a]\n  pakages: [b]\n'),
      'INVALID_CONFIG',
      'image.yaml:3:3',
      /contents\.pakages: unknown key "pakages" \(did you mean "packages"\?\)/,
    );
    assert.equal(err.file, 'image.yaml');
    assert.equal(err.line, 3);
    assert.equal(err.column, 3);
    assert.equal(err.keyPath, 'contents.pakages');
    assert.match(err.hint ?? '', /repositories, build_repositories/);
    await rejects(() => parse('workdir: /x\n'), 'INVALID_CONFIG', 'image.yaml:1:1', /did you mean "work-dir"/);
    await rejects(() => parse('stop_signal: TERM\n'), 'INVALID_CONFIG', 'image.yaml:1:1', /did you mean "stop-signal"/);
    await rejects(() => parse('packages: [a]\n'), 'INVALID_CONFIG', 'image.yaml:1:1', /did you mean "contents\.packages"/);
    await rejects(
      () => parse('accounts:\n  users:\n    - username: a\n      uid: 1\n      home: /x\n'),
      'INVALID_CONFIG',
      'image.yaml:5:7',
      /accounts\.users\[0\]\.home: unknown key "home" \(did you mean "homedir"\?\)/,
    );
    await rejects(() => parse('zzz: 1\n'), 'INVALID_CONFIG', 'image.yaml:1:1', /^image\.yaml:1:1: zzz: unknown key "zzz"$/);
  });

  it('a value of the wrong type', async () => {
    await rejects(
      () => parse('contents:\n  packages:\n    - a\n    - b\n    - [c]\n'),
      'INVALID_CONFIG',
      'image.yaml:5:7',
      /contents\.packages\[2\]: expected a string, got a list/,
    );
    await rejects(
      () => parse('contents:\n  packages: busybox\n'),
      'INVALID_CONFIG',
      'image.yaml:2:13',
      /contents\.packages: expected a list of strings, got "busybox"/,
    );
    await rejects(() => parse('cmd: [a, b]\n'), 'INVALID_CONFIG', 'image.yaml:1:6', /cmd: expected a string, got a list/);
    await rejects(
      () => parse('environment: [A=B]\n'),
      'INVALID_CONFIG',
      'image.yaml:1:14',
      /environment: expected "environment" \(a mapping\), got a list/,
    );
    await rejects(
      () => parse('accounts:\n  users:\n    - username: a\n      uid: abc\n'),
      'INVALID_CONFIG',
      'image.yaml:4:12',
      /accounts\.users\[0\]\.uid: expected an integer, got "abc"/,
    );
    await rejects(
      () => parse('paths:\n  - {path: /x, type: directory, recursive: maybe}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:44',
      /recursive: expected true or false/,
    );
    await rejects(
      () => parse('- a\n'),
      'INVALID_CONFIG',
      'image.yaml:1:1',
      /expected a configuration \(a mapping of keys such as contents and entrypoint\), got a list/,
    );
  });

  it('a value out of its set', async () => {
    await rejects(
      () => parse('paths:\n  - {path: /x, type: dir}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:22',
      /paths\[0\]\.type: "dir" is not one of directory, empty-file/,
    );
    await rejects(
      () => parse('entrypoint: {type: s6}\n'),
      'INVALID_CONFIG',
      'image.yaml:1:20',
      /entrypoint\.type: "s6" is not one of service-bundle/,
    );
    await rejects(
      () => parse('layering:\n  strategy: size\n'),
      'INVALID_CONFIG',
      'image.yaml:2:13',
      /layering\.strategy: "size" is not one of origin/,
    );
    await rejects(
      () => parse('contents:\n  repositories: ["a b c"]\n'),
      'INVALID_CONFIG',
      'image.yaml:2:18',
      /contents\.repositories\[0\]: "a b c" is not a repository/,
    );
  });

  it('accounts: missing names and ids, uid 0', async () => {
    await rejects(
      () => parse('accounts:\n  users:\n    - uid: 5\n'),
      'INVALID_CONFIG',
      'image.yaml:3:7',
      /accounts\.users\[0\]: "username" is required/,
    );
    await rejects(() => parse('accounts:\n  users:\n    - username: a\n'), 'INVALID_CONFIG', 'image.yaml:3:7', /user "a" has no uid/);
    const err = await rejects(
      () => parse('accounts:\n  users:\n    - username: a\n      uid: 0\n'),
      'INVALID_CONFIG',
      'image.yaml:4:12',
      /uid: user "a" has uid 0/,
    );
    assert.match(err.hint ?? '', /run-as: 0/);
    await rejects(() => parse('accounts:\n  groups:\n    - groupname: g\n'), 'INVALID_CONFIG', 'image.yaml:3:7', /group "g" has no gid/);
    await rejects(
      () => parse('accounts:\n  users:\n    - {username: a, uid: 4294967296}\n'),
      'INVALID_CONFIG',
      'image.yaml:3:26',
      /out of range/,
    );
  });

  it('accounts: a user or group name configured twice, differently, at the second, naming the first, across an include too', async () => {
    // The review's case: two bob users made two lines, and run-as: bob took the first uid.
    const err = await rejects(
      () => parse('accounts:\n  run-as: bob\n  users:\n    - username: bob\n      uid: 1000\n    - username: bob\n      uid: 1001\n'),
      'INVALID_CONFIG',
      'image.yaml:6:17',
      /^image\.yaml:6:17: accounts\.users\[1\]: user "bob" is configured again, differently \(first as accounts\.users\[0\], image\.yaml:4\): an image has one user of each name$/,
    );
    assert.match(err.hint ?? '', /keep one entry for "bob"/);
    await rejects(
      () => parse('accounts:\n  groups:\n    - {groupname: g, gid: 5}\n    - {groupname: g, gid: 6}\n'),
      'INVALID_CONFIG',
      'image.yaml:4:19',
      /accounts\.groups\[1\]: group "g" is configured again, differently \(first as accounts\.groups\[0\], image\.yaml:3\)/,
    );
    const fs = memory({
      'image.yaml': 'include: base.yaml\naccounts:\n  users:\n    - {username: bob, uid: 1001}\n',
      'base.yaml': 'accounts:\n  users:\n    - {username: bob, uid: 1000}\n',
    });
    await rejects(
      () => loadConfig('image.yaml', { ...host, readFile: fs.readFile }),
      'INVALID_CONFIG',
      'image.yaml:4:18',
      /accounts\.users\[1\]: user "bob" is configured again, differently \(first as accounts\.users\[0\], base\.yaml:3\)/,
    );
    // Any field differing is two accounts: a group's members, a user's shell.
    await rejects(
      () => parse('accounts:\n  groups:\n    - {groupname: g, gid: 5}\n    - {groupname: g, gid: 5, members: [bob]}\n'),
      'INVALID_CONFIG',
      'image.yaml:4:19',
      /group "g" is configured again, differently/,
    );
    await rejects(
      () => parse('accounts:\n  users:\n    - {username: bob, uid: 1000}\n    - {username: bob, uid: 1000, shell: /bin/ash}\n'),
      'INVALID_CONFIG',
      'image.yaml:4:18',
      /user "bob" is configured again, differently/,
    );
    // A user and a group may share a name (the usual user's own group), and two names two accounts.
    const ok = parse(
      'accounts:\n  users:\n    - {username: bob, uid: 1000}\n    - {username: amy, uid: 1001}\n  groups:\n    - {groupname: bob, gid: 1000}\n',
    );
    assert.deepEqual(
      ok.config.accounts.users.map((u) => u.username),
      ['bob', 'amy'],
    );
  });

  it('accounts: the same user and group in an include and the file including it are kept, both, as apko writes them', async () => {
    // The final reader's case: one nonroot account, written out in both files (apko concatenates
    // the lists and writes both lines; Provenant did too before refusing a name configured twice).
    const account =
      'accounts:\n  groups:\n    - {groupname: nonroot, gid: 65532}\n  users:\n    - {username: nonroot, uid: 65532, gid: 65532}\n';
    const fs = memory({ 'image.yaml': `include: base.yaml\n${account}`, 'base.yaml': `${account}  run-as: nonroot\n` });
    const { config } = await loadConfig('image.yaml', { ...host, readFile: fs.readFile });
    assert.deepEqual(
      config.accounts.users.map((u) => [u.username, u.uid, u.gid, u.shell, u.homedir]),
      [
        ['nonroot', 65532, 65532, '/bin/sh', '/home/nonroot'],
        ['nonroot', 65532, 65532, '/bin/sh', '/home/nonroot'],
      ],
    );
    assert.deepEqual(
      config.accounts.groups.map((g) => [g.groupname, g.gid]),
      [
        ['nonroot', 65532],
        ['nonroot', 65532],
      ],
    );
    // Written the same in one file; and a default written out is the same as left out.
    const one = parse(
      'accounts:\n  users:\n    - {username: bob, uid: 1000}\n    - {username: bob, uid: 1000, gid: 1000, shell: /bin/sh}\n',
    );
    assert.equal(one.config.accounts.users.length, 2);
  });

  it('accounts: a name configured twice, differently, is kept when read back to rebuild an image already built', async () => {
    // What an earlier Provenant built from it (both lines) must still reproduce: the provenance's
    // configuration and apko's /etc/apko.json are read with `rebuild`.
    const text = 'accounts:\n  users:\n    - {username: bob, uid: 1000}\n    - {username: bob, uid: 1001}\n';
    assert.throws(
      () => parse(text),
      (e: unknown) => isProvenantError(e, 'INVALID_CONFIG'),
    );
    const { config } = parseConfig(text, 'image.yaml', { ...host, rebuild: true });
    assert.deepEqual(
      config.accounts.users.map((u) => [u.username, u.uid]),
      [
        ['bob', 1000],
        ['bob', 1001],
      ],
    );
    const fs = memory({ 'image.yaml': text });
    const loaded = await loadConfig('image.yaml', { ...host, readFile: fs.readFile, rebuild: true });
    assert.equal(loaded.config.accounts.users.length, 2);
  });

  it('accounts: a name, shell or home that would end a field or a line of /etc/passwd, at its line', async () => {
    // The review's case: a user name that writes a uid-0 line of its own into /etc/passwd.
    await rejects(
      () => parse('accounts:\n  users:\n    - {username: "evil:x:0:0::/:/bin/sh\\nz", uid: 5}\n'),
      'INVALID_CONFIG',
      'image.yaml:3:18',
      /accounts\.users\[0\]\.username: the user name .* holds ":"/,
    );
    const cases: [string, string, RegExp][] = [
      ['users:\n    - {username: "a\\nb", uid: 5}', '3:18', /users\[0\]\.username: the user name .* holds "\\n"/],
      ['users:\n    - {username: a, uid: 5, shell: "/bin/sh\\0"}', '3:36', /users\[0\]\.shell: the shell .* holds "\\u0000"/],
      ['users:\n    - {username: a, uid: 5, homedir: "/home/a:b"}', '3:38', /users\[0\]\.homedir: the home folder .* holds ":"/],
      ['groups:\n    - {groupname: "g:x", gid: 5}', '3:19', /groups\[0\]\.groupname: the group name .* holds ":"/],
      ['groups:\n    - {groupname: g, gid: 5, members: [a, "b,root"]}', '3:43', /groups\[0\]\.members\[1\]: the member name .* holds ","/],
      ['groups:\n    - {groupname: g, gid: 5, members: ["b\\rc"]}', '3:40', /groups\[0\]\.members\[0\]: the member name .* holds "\\r"/],
    ];
    for (const [lines, at, message] of cases) {
      await rejects(() => parse(`accounts:\n  ${lines}\n`), 'INVALID_CONFIG', `image.yaml:${at}`, message);
    }
  });

  it('keys apko has that Provenant does not support yet are refused by name', async () => {
    await rejects(
      () => parse('certificates:\n  additional: []\n'),
      'INVALID_CONFIG',
      'image.yaml:1:1',
      /certificates: .*not supported yet/,
    );
    await rejects(
      () => parse('contents:\n  baseimage: {image: x}\n'),
      'INVALID_CONFIG',
      'image.yaml:2:3',
      /contents\.baseimage: .*not supported yet/,
    );
    await rejects(
      () => parse('contents:\n  runtime_keyring: []\n'),
      'INVALID_CONFIG',
      'image.yaml:2:3',
      /runtime_keyring.*not supported yet/,
    );
    await rejects(
      () => parse('format: erofs\n'),
      'INVALID_CONFIG',
      'image.yaml:1:9',
      /format: the "erofs" layer format is not supported yet/,
    );
    await rejects(() => parse('options: {}\n'), 'INVALID_CONFIG', 'image.yaml:1:1', /options: apko removed/);
  });

  it('YAML mistakes: syntax, duplicate keys, unknown aliases, self-merges, alias bombs', async () => {
    await rejects(() => parse('contents:\n  packages: [a\n'), 'INVALID_CONFIG', 'image.yaml:3:1', /invalid YAML/);
    await rejects(() => parse('cmd: a\ncmd: b\n'), 'INVALID_CONFIG', 'image.yaml:2:1', /invalid YAML: Map keys must be unique/);
    await rejects(() => parse('cmd: *nope\n'), 'INVALID_CONFIG', 'image.yaml:1:6', /cmd: the alias \*nope names no anchor/);
    await rejects(
      () => parse('environment: &e {<<: *e}\n'),
      'INVALID_CONFIG',
      'image.yaml:1:22',
      /the alias \*e is inside the node it names/,
    );
    await rejects(() => parse('a: 1\n---\nb: 2\n'), 'INVALID_CONFIG', 'image.yaml:2:1', /invalid YAML/);
    // Merge keys expand maps into maps: nine levels of ten aliases each would be 10^8 entries.
    const levels = ['&m0 {a: x}'];
    for (let i = 1; i <= 8; i++)
      levels.push(
        `&m${i} {<<: [${Array(10)
          .fill(`*m${i - 1}`)
          .join(', ')}]}`,
      );
    await rejects(
      () => parse(`environment:\n  <<: [${levels.join(', ')}]\n`),
      'INVALID_CONFIG',
      'image.yaml:2:308',
      /the alias \*m4 expands the document to more than 200000 values/,
    );
  });

  it('parseConfig refuses an include (loadConfig follows it)', async () => {
    await rejects(
      () => parse('include: base.yaml\n'),
      'INVALID_CONFIG',
      'image.yaml:1:10',
      /include: includes are followed only when loading from a file/,
    );
  });

  it('maps INVALID_CONFIG to exit code 2', () => {
    assert.equal(exitCodeFor('INVALID_CONFIG'), 2);
  });
});

describe('include', () => {
  it('merges as apko does: the included file is the base, the including file overrides', async () => {
    const path = join(HERE, 'overlay.yaml');
    const loaded = await loadConfig(path, host);
    const c = loaded.config;
    assert.deepEqual(c.contents.packages, ['wolfi-baselayout', 'ca-certificates-bundle', 'busybox']);
    assert.deepEqual(c.contents.repositories, ['https://packages.example.org/os']);
    assert.deepEqual(c.environment, { LANG: 'C.UTF-8', TZ: 'Europe/Paris' });
    assert.deepEqual(c.entrypoint, { command: '/bin/sh -l', services: {} });
    assert.equal(c.cmd, '--help');
    assert.equal(c.accounts.runAs, '65532');
    assert.deepEqual(c.archs, ['x86_64']);
    assert.equal(c.archsFromHost, false);
    // Provenance: every file read, the root first; raw is the root's exact text.
    assert.deepEqual(
      loaded.files.map((f) => f.path),
      [path, join(HERE, 'base.yaml')],
    );
    assert.match(loaded.raw, /^# Includes base\.yaml/);
    assert.equal(loaded.files[0]!.sha256, sha256(loaded.raw));
    // Locations follow the merge: the including file's package comes after the base's two.
    assert.deepEqual(loaded.locations.get('contents.packages[2]'), { file: path, line: 6, column: 7 });
    assert.deepEqual(loaded.locations.get('contents.packages[0]'), { file: join(HERE, 'base.yaml'), line: 8, column: 7 });
    assert.deepEqual(loaded.locations.get('environment.TZ'), { file: path, line: 9, column: 7 });
    assert.equal(loaded.locations.get('environment.LANG')?.file, join(HERE, 'base.yaml'));
  });

  it('resolves an include relative to the file that names it, through several levels', async () => {
    const fs = memory({
      'images/app.yaml': 'include: ../lib/base.yaml\ncontents: {packages: [app]}\n',
      'lib/base.yaml': 'include: common/core.yaml\ncontents: {packages: [base]}\nentrypoint: {command: /base}\n',
      'lib/common/core.yaml': 'contents: {packages: [core]}\nentrypoint: {command: /core}\narchs: [arm64]\nvcs-url: https://core\n',
    });
    // ../lib is outside images/, the root file's folder: includeRoot names a wider one.
    const loaded = await loadConfig('images/app.yaml', { ...host, readFile: fs.readFile, includeRoot: '.' });
    assert.deepEqual(fs.reads, ['images/app.yaml', 'lib/base.yaml', 'lib/common/core.yaml']);
    assert.deepEqual(loaded.config.contents.packages, ['core', 'base', 'app']);
    assert.equal(loaded.config.entrypoint.command, '/base');
    assert.deepEqual(loaded.config.archs, ['aarch64']);
    // apko drops an included vcs-url; Provenant keeps it.
    assert.equal(loaded.config.vcsUrl, 'https://core');
    assert.deepEqual(loaded.locations.get('contents.packages[2]'), { file: 'images/app.yaml', line: 2, column: 23 });
  });

  it('detects a cycle, naming the include that closes it', async () => {
    const err = await rejects(
      () => loadConfig(join(HERE, 'cycle-a.yaml'), host),
      'INVALID_CONFIG',
      `${join(HERE, 'cycle-b.yaml')}:2:10`,
      /include: the includes form a cycle/,
    );
    assert.match(err.message, /cycle-a\.yaml → .*cycle-b\.yaml → .*cycle-a\.yaml/);
    const self = memory({ 'a.yaml': 'include: ./a.yaml\n' });
    await rejects(
      () => loadConfig('a.yaml', { ...host, readFile: self.readFile }),
      'INVALID_CONFIG',
      'a.yaml:1:10',
      /cycle: a\.yaml → a\.yaml/,
    );
  });

  it('a missing include is NOT_FOUND at the include line; a missing root is NOT_FOUND', async () => {
    const fs = memory({ 'image.yaml': 'cmd: x\ninclude: nope.yaml\n' });
    const err = await rejects(
      () => loadConfig('image.yaml', { ...host, readFile: fs.readFile }),
      'NOT_FOUND',
      'image.yaml:2:10',
      /include: the included file nope\.yaml does not exist/,
    );
    assert.match(err.hint ?? '', /relative to the folder/);
    await rejects(() => loadConfig(join(HERE, 'absent.yaml'), host), 'NOT_FOUND', join(HERE, 'absent.yaml'), /does not exist/);
  });

  it('layering: {} in the including file turns off an included layering, as in apko', async () => {
    const fs = memory({ 'image.yaml': 'include: base.yaml\nlayering: {}\n', 'base.yaml': 'layering: {strategy: origin, budget: 3}\n' });
    assert.equal((await loadConfig('image.yaml', { ...host, readFile: fs.readFile })).config.layering, undefined);
    const kept = memory({ 'image.yaml': 'include: base.yaml\n', 'base.yaml': 'layering: {strategy: origin, budget: 3}\n' });
    assert.deepEqual((await loadConfig('image.yaml', { ...host, readFile: kept.readFile })).config.layering, {
      strategy: 'origin',
      budget: 3,
    });
  });

  it('states an include by absolute path relative to its file for a provenance, and loads the same elsewhere', async () => {
    const fs = memory({
      '/w/images/app.yaml': "include: '/w/lib/base.yaml' # the base\ncontents: {packages: [app]}\n",
      '/w/lib/base.yaml': 'contents: {packages: [base]}\ninclude: /w/lib/common/core.yaml\n',
      '/w/lib/common/core.yaml': 'include: ../../lib/last.yaml\ncontents: {packages: [core]}\n',
      '/w/lib/last.yaml': 'entrypoint: {command: /last}\n',
    });
    const loaded = await loadConfig('/w/images/app.yaml', { ...host, readFile: fs.readFile, includeRoot: '/w' });
    const files = portableConfigFiles(loaded.files, '/w/images');
    assert.deepEqual(
      files.map((f) => [f.path, f.content]),
      [
        ['app.yaml', 'include: ../lib/base.yaml # the base\ncontents: {packages: [app]}\n'],
        ['../lib/base.yaml', 'contents: {packages: [base]}\ninclude: common/core.yaml\n'],
        // A relative include is stated as written.
        ['../lib/common/core.yaml', 'include: ../../lib/last.yaml\ncontents: {packages: [core]}\n'],
        ['../lib/last.yaml', 'entrypoint: {command: /last}\n'],
      ],
    );
    for (const f of files) assert.equal(f.sha256, sha256(f.content), f.path);
    // The stated files load by themselves in another folder, to the same configuration.
    const elsewhere = memory(Object.fromEntries(files.map((f) => [join('/else/where', f.path), f.content])));
    const again = await loadConfig('/else/where/app.yaml', { ...host, readFile: elsewhere.readFile, includeRoot: '/else' });
    assert.deepEqual(again.config, loaded.config);
  });

  it('leaves an absolute include written through an alias as it is: rewriting the anchor would change another value', async () => {
    const text = 'vcs-url: &base /w/base.yaml\ninclude: *base\n';
    const fs = memory({ '/w/app.yaml': text, '/w/base.yaml': 'cmd: x\n' });
    const loaded = await loadConfig('/w/app.yaml', { ...host, readFile: fs.readFile });
    assert.equal(portableConfigFiles(loaded.files, '/w')[0]?.content, text);
  });

  it('an error in an included file names that file', async () => {
    const fs = memory({ 'image.yaml': 'include: base.yaml\n', 'base.yaml': 'contents:\n  packages: [a, {b: c}]\n' });
    await rejects(
      () => loadConfig('image.yaml', { ...host, readFile: fs.readFile }),
      'INVALID_CONFIG',
      'base.yaml:2:17',
      /contents\.packages\[1\]/,
    );
  });
});

describe('include: what may be read', () => {
  const tempDir = useTempDir('config-include');

  /** A folder `root/` (the config's folder) and a file beside it, outside: `secret.txt`. */
  async function layout(): Promise<{ dir: string; root: string }> {
    const dir = await tempDir();
    const root = join(dir, 'root');
    await mkdir(join(root, 'sub'), { recursive: true });
    await writeFile(join(dir, 'secret.txt'), 'contents: {packages: [outside]}\n');
    await writeFile(join(root, 'sub', 'base.yaml'), 'contents: {packages: [base]}\n');
    return { dir, root };
  }

  it("reads an include under the root config's folder, by a relative path, an absolute one or a link inside it", async () => {
    const { root } = await layout();
    await symlink(join(root, 'sub', 'base.yaml'), join(root, 'link.yaml'));
    for (const include of ['sub/base.yaml', join(root, 'sub', 'base.yaml'), 'link.yaml']) {
      await writeFile(join(root, 'image.yaml'), `include: ${include}\n`);
      assert.deepEqual((await loadConfig(join(root, 'image.yaml'), host)).config.contents.packages, ['base']);
    }
  });

  it('refuses an include outside that folder, by ../, an absolute path or a symbolic link, unless includeRoot allows it', async () => {
    const { dir, root } = await layout();
    await symlink(join(dir, 'secret.txt'), join(root, 'link.yaml'));
    const image = join(root, 'image.yaml');
    for (const include of ['../secret.txt', join(dir, 'secret.txt'), 'link.yaml', 'sub/../../secret.txt']) {
      await writeFile(image, `include: ${include}\n`);
      await rejects(
        () => loadConfig(image, host),
        'INVALID_CONFIG',
        `${image}:1:10`,
        /include: .* is outside .*, the folder includes are read from/,
      );
      const loaded = await loadConfig(image, { ...host, includeRoot: dir });
      assert.deepEqual(loaded.config.contents.packages, ['outside']);
    }
  });

  it('does not quote a file that is not a configuration: a credential stays out of the message', async () => {
    const { root } = await layout();
    await writeFile(join(root, 'gitcred'), 'https://user:ghp_SECRETSECRET0123456789@github.com\n');
    await writeFile(join(root, 'list.yaml'), '- ghp_SECRETSECRET0123456789\n');
    for (const [file, shape] of [
      ['gitcred', 'a single value'],
      ['list.yaml', 'a list'],
    ] as const) {
      await writeFile(join(root, 'image.yaml'), `include: ${file}\n`);
      const err = await rejects(
        () => loadConfig(join(root, 'image.yaml'), host),
        'INVALID_CONFIG',
        `${join(root, file)}:1:1`,
        new RegExp(`expected a configuration \\(a mapping.*\\), got ${shape}$`),
      );
      assert.doesNotMatch(`${err.message} ${err.hint}`, /ghp_|SECRET/);
    }
  });

  it('refuses a named pipe, a device, a folder and a file over 1 MiB without reading them', async () => {
    const { root } = await layout();
    const fifo = spawnSync('mkfifo', [join(root, 'fifo')]);
    assert.equal(fifo.status, 0, String(fifo.stderr));
    await writeFile(join(root, 'big.yaml'), `# ${'x'.repeat(1024 * 1024)}\n`);
    const image = join(root, 'image.yaml');
    for (const [include, what] of [
      ['fifo', 'is a named pipe'],
      ['/dev/zero', 'is a device'],
      ['sub', 'is a directory'],
      ['big.yaml', 'is larger than 1 MiB'],
    ] as const) {
      await writeFile(image, `include: ${include}\n`);
      await rejects(
        () => loadConfig(image, { ...host, includeRoot: '/' }),
        'INVALID_CONFIG',
        `${image}:1:10`,
        new RegExp(`include: the included file .*${include} ${what}`),
      );
    }
    // The root file is read the same way.
    await rejects(() => loadConfig(join(root, 'fifo'), host), 'INVALID_CONFIG', join(root, 'fifo'), /the config file .* is a named pipe/);
  });

  it('says that a remote include is not supported, rather than that a file does not exist', async () => {
    const { root } = await layout();
    await writeFile(join(root, 'image.yaml'), 'include: https://example.com/x.yaml\n');
    await rejects(
      () => loadConfig(join(root, 'image.yaml'), host),
      'INVALID_CONFIG',
      `${join(root, 'image.yaml')}:1:10`,
      /include: remote includes are not supported/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Fuzzing
// ---------------------------------------------------------------------------------------------

const KEYS = [
  'contents',
  'packages',
  'repositories',
  'keyring',
  'entrypoint',
  'command',
  'services',
  'cmd',
  'accounts',
  'users',
  'groups',
  'username',
  'uid',
  'gid',
  'run-as',
  'archs',
  'environment',
  'paths',
  'path',
  'type',
  'permissions',
  'recursive',
  'layering',
  'strategy',
  'budget',
  'include',
  'annotations',
  'volumes',
  '<<',
];
const tokenArb = fc.oneof(
  fc.constantFrom(...KEYS.map((k) => `${k}:`)),
  fc.constantFrom(
    '\n',
    '\n  ',
    '\n    ',
    '- ',
    ': ',
    ', ',
    '[',
    ']',
    '{',
    '}',
    '&a ',
    '*a',
    '&b ',
    '*b',
    '"',
    "'",
    '|',
    '>',
    '? ',
    '!!str ',
    '!x ',
    '#',
    '---\n',
    '~',
    '\t',
  ),
  fc.constantFrom(
    '0o755',
    '0755',
    '0999',
    '493',
    '-1',
    'yes',
    'x86_64',
    'amd64',
    'directory',
    'symlink',
    'origin',
    'service-bundle',
    '1e9',
    '0x10',
  ),
  fc.string({ maxLength: 6 }),
);
const TOP_KEYS = [
  'contents',
  'entrypoint',
  'cmd',
  'accounts',
  'archs',
  'environment',
  'paths',
  'layering',
  'annotations',
  'volumes',
  'os-release',
];
const tokensArb = fc.array(tokenArb, { maxLength: 40 }).map((t) => t.join(''));
// Half start as a mapping with a real key, so the reader gets past the root.
const yamlish = fc.oneof(
  tokensArb,
  fc.tuple(fc.constantFrom(...TOP_KEYS), tokensArb).map(([k, t]) => `${k}:\n  ${t}`),
);

/** A random value of any shape. */
const shapeArb: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.boolean(),
    fc.constant(null),
    fc.constantFrom('0o755', '0999', 'x86_64', 'directory', 'origin', '~', '<<'),
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(fc.constantFrom(...KEYS), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A valid config that uses every section; the mutation fuzzer replaces one of its values. */
const RICH = {
  contents: { repositories: ['https://r'], build_repositories: ['https://b'], keyring: ['k.pub'], packages: ['a', 'b'] },
  entrypoint: { command: 'x', 'shell-fragment': 'y' },
  cmd: 'c',
  'stop-signal': 'SIGTERM',
  'work-dir': '/w',
  accounts: {
    'run-as': 'u',
    users: [{ username: 'u', uid: 1, gid: 2, shell: '/bin/sh', homedir: '/h' }],
    groups: [{ groupname: 'g', gid: 2, members: ['u'] }],
  },
  archs: ['x86_64', 'arm64'],
  environment: { A: 'b' },
  paths: [{ path: '/p', type: 'directory', uid: 1, gid: 1, permissions: 493, source: '/s', recursive: true }],
  'vcs-url': 'https://v',
  annotations: { a: 'b' },
  volumes: ['/v'],
  layering: { strategy: 'origin', budget: 2 },
  format: 'tar',
  'os-release': { id: 'i', name: 'n', 'pretty-name': 'p', 'version-id': '1', 'home-url': 'h', 'bug-report-url': 'b' },
};

/** Every path to a value in `v`, as lists of keys and indexes. */
function leaves(v: unknown, at: (string | number)[] = []): (string | number)[][] {
  const here = at.length === 0 ? [] : [at];
  if (Array.isArray(v)) return [...here, ...v.flatMap((x, i) => leaves(x, [...at, i]))];
  if (v !== null && typeof v === 'object') return [...here, ...Object.entries(v).flatMap(([k, x]) => leaves(x, [...at, k]))];
  return here;
}
const RICH_PATHS = leaves(RICH);

function mutate(path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(RICH) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1)!] = value;
  return copy;
}

function onlyProvenantErrors(text: string): void {
  try {
    parseConfig(text, 'fuzz.yaml', host);
  } catch (err) {
    if (!isProvenantError(err)) throw err;
    assert.match(err.message, /^fuzz\.yaml(:\d+:\d+)?: /);
  }
}

describe('entrypoint', () => {
  it('suggests entrypoint.command or the top-level cmd for entrypoint.cmd (and args)', async () => {
    for (const key of ['cmd', 'args']) {
      const err = await rejects(
        () => parse(`entrypoint:\n  ${key}: /bin/sh\n`),
        'INVALID_CONFIG',
        'image.yaml:2:3',
        new RegExp(`entrypoint\\.${key}: unknown key "${key}" \\(did you mean "entrypoint\\.command", or the top-level "cmd"\\?\\)`),
      );
      assert.match(err.hint ?? '', /Entrypoint.*Cmd/);
    }
  });
});

describe('contents.packages', () => {
  it('refuses a package entry holding whitespace, at its line, pointing to a list item per package (exit 2)', async () => {
    const err = await rejects(
      () => parse('contents:\n  packages: [busybox, "busybox hello"]\n'),
      'INVALID_CONFIG',
      'image.yaml:2:23',
      /contents\.packages\[1\]: "busybox hello" holds whitespace/,
    );
    assert.equal(err.hint, 'write each package as its own list item: packages: [busybox, hello]');
    assert.equal(exitCodeFor(err.code), 2);
  });

  const deb = 'contents:\n  repositories: ["deb http://127.0.0.1:9/debian bookworm main"]\n  packages: ';

  it('takes a Debian relation with spaces in its parentheses, as docs/config.md writes it', () => {
    for (const item of ['alt-b (>= 2.0)', 'libc6:amd64 ( << 2.37 )', 'alt-b(>=2.0)', 'dash (= 0.5.12-2) [!amd64]']) {
      assert.deepEqual(parse(`${deb}[${JSON.stringify(item)}]\n`).config.contents.packages, [item], item);
    }
    // With the sources in an included file, the loader cannot tell: the relation is left to the source.
    assert.deepEqual(parse('contents:\n  packages: ["alt-b (>= 2.0)"]\n').config.contents.packages, ['alt-b (>= 2.0)']);
  });

  it('still refuses split words in a Debian configuration, naming the relation form too', async () => {
    const err = await rejects(
      () => parse(`${deb}[busybox, "busybox hello"]\n`),
      'INVALID_CONFIG',
      'image.yaml:3:23',
      /"busybox hello" holds whitespace; .*or a Debian relation such as "name \(>= VERSION\)"/,
    );
    assert.equal(err.hint, 'write each package as its own list item: packages: [busybox, hello]');
  });

  it('refuses several Debian relations in one item, its hint one item per package (the first alternative of each)', async () => {
    const err = await rejects(
      () => parse(`${deb}["libc6 (>= 2.36), debconf | debconf-2.0"]\n`),
      'INVALID_CONFIG',
      'image.yaml:3:14',
      /holds several packages \("," or "\|"\); an item is one package/,
    );
    assert.equal(
      err.hint,
      'write each package as its own list item, choosing one of any alternatives: packages: ["libc6 (>= 2.36)", debconf]',
    );
  });

  it("refuses a Debian relation among apk repositories, with apk's spelling of it", async () => {
    const err = await rejects(
      () => parse('contents:\n  repositories: [https://example.org/alpine/main]\n  packages: ["busybox (<< 1.37)"]\n'),
      'INVALID_CONFIG',
      'image.yaml:3:14',
      /"busybox \(<< 1\.37\)" is a Debian relation, and these repositories are apk's/,
    );
    assert.equal(err.hint, 'write it as apk does, without spaces: busybox<1.37');
  });

  it('refuses a Debian relation among the apk repositories of an included file, at its line', async () => {
    const fs = memory({
      'image.yaml': 'include: repos.yaml\ncontents:\n  packages: [busybox, "busybox (>= 1.36)"]\n',
      'repos.yaml': 'contents:\n  repositories: [https://example.org/alpine/main]\n',
    });
    const err = await rejects(
      () => loadConfig('image.yaml', { ...host, readFile: fs.readFile }),
      'INVALID_CONFIG',
      'image.yaml:3:23',
      /contents\.packages\[1\]: "busybox \(>= 1\.36\)" is a Debian relation, and these repositories are apk's/,
    );
    assert.equal(err.hint, 'write it as apk does, without spaces: busybox>=1.36');
    // Debian sources in the included file: the relation is taken.
    const deb = memory({
      'image.yaml': 'include: repos.yaml\ncontents:\n  packages: ["busybox (>= 1.36)"]\n',
      'repos.yaml': 'contents:\n  repositories: ["deb http://127.0.0.1:9/debian bookworm main"]\n',
    });
    assert.deepEqual((await loadConfig('image.yaml', { ...host, readFile: deb.readFile })).config.contents.packages, ['busybox (>= 1.36)']);
  });

  it('reads "name >= VERSION" as a relation with spaces, not three packages, and says how to write it', async () => {
    const hint = async (text: string, place = 'image.yaml:3:14') =>
      (await rejects(() => parse(text), 'INVALID_CONFIG', place, /"busybox >= 1\.36" holds whitespace/)).hint;
    assert.equal(
      await hint('contents:\n  repositories: [https://example.org/alpine/main]\n  packages: ["busybox >= 1.36"]\n'),
      'write busybox>=1.36, as apk writes a relation: without spaces',
    );
    assert.equal(await hint(`${deb}["busybox >= 1.36"]\n`), 'write "busybox (>= 1.36)", as Debian writes a relation, or busybox=VERSION');
    assert.equal(
      await hint('contents:\n  packages: ["busybox >= 1.36"]\n', 'image.yaml:2:14'),
      'write busybox>=1.36 for apk repositories, "busybox (>= 1.36)" for Debian sources',
    );
  });

  it('spells each spaced operator in both syntaxes, and "~" in apk\'s alone', async () => {
    const hint = async (text: string, repositories = '') =>
      (
        await rejects(
          () => parse(`contents:\n${repositories}  packages: ["${text}"]\n`),
          'INVALID_CONFIG',
          `image.yaml:${repositories === '' ? 2 : 3}:14`,
          /holds whitespace/,
        )
      ).hint;
    assert.equal(await hint('busybox << 1.36'), 'write busybox<1.36 for apk repositories, "busybox (<< 1.36)" for Debian sources');
    assert.equal(await hint('busybox > 1.36'), 'write busybox>1.36 for apk repositories, "busybox (>> 1.36)" for Debian sources');
    assert.equal(await hint('busybox ~ 1.36'), 'write busybox~1.36, as apk writes a relation: without spaces');
    assert.equal(
      await hint('busybox ~ 1.36', '  repositories: ["deb http://127.0.0.1:9/debian bookworm main"]\n'),
      'write busybox=VERSION for one version',
    );
  });
});

describe('os-release', () => {
  it('refuses a value with a line break or another control character, at its line', async () => {
    for (const value of ['"a\\nID=evil"', '"a\\tb"']) {
      await rejects(
        () => parse(`os-release:\n  id: t\n  name: ${value}\n`),
        'INVALID_CONFIG',
        'image.yaml:3:9',
        /os-release\.name: holds a control character/,
      );
    }
  });
});

describe('include: relative repositories and keys', () => {
  const tempDir = useTempDir('config-include-paths');

  it("resolves an included file's relative repositories and keys against its own folder, as its include", async () => {
    const root = await tempDir();
    await mkdir(join(root, 'sub', 'inc'), { recursive: true });
    await writeFile(
      join(root, 'sub', 'inc', 'base.yaml'),
      [
        'contents:',
        '  repositories: [./repo, "@edge ../edge", https://example.org/alpine, /abs/repo, "deb [signed-by=./k.gpg,/usr/k.gpg] https://example.org/debian bookworm main"]',
        '  build_repositories: [file:///srv/repo]',
        '  keyring: [./keys/a.rsa.pub, https://example.org/k.pub]',
        '',
      ].join('\n'),
    );
    await writeFile(join(root, 'image.yaml'), 'include: sub/inc/base.yaml\ncontents: {repositories: [./top], keyring: [./top.pub]}\n');
    const { contents } = (await loadConfig(join(root, 'image.yaml'), host)).config;
    assert.deepEqual(contents.repositories, [
      './sub/inc/repo',
      '@edge ./sub/edge',
      'https://example.org/alpine',
      '/abs/repo',
      'deb [signed-by=./sub/inc/k.gpg,/usr/k.gpg] https://example.org/debian bookworm main',
      './top',
    ]);
    assert.deepEqual(contents.buildRepositories, ['file:///srv/repo']);
    assert.deepEqual(contents.keyring, ['./sub/inc/keys/a.rsa.pub', 'https://example.org/k.pub', './top.pub']);
  });

  it("adds each nested include's folder once, at two and three levels", async () => {
    const root = await tempDir();
    await mkdir(join(root, 'a', 'b', 'c', 'keys'), { recursive: true });
    await mkdir(join(root, 'a', 'b', 'repo'), { recursive: true });
    await mkdir(join(root, 'a', 'b', 'c', 'repo'), { recursive: true });
    await mkdir(join(root, 'a', 'repo'), { recursive: true });
    await writeFile(join(root, 'a', 'b', 'c', 'keys', 'c.pub'), 'key');
    const image = join(root, 'image.yaml');
    await writeFile(image, 'include: a/a.yaml\n');
    await writeFile(join(root, 'a', 'a.yaml'), 'include: b/b.yaml\ncontents: {repositories: [./repo]}\n');
    await writeFile(join(root, 'a', 'b', 'b.yaml'), 'contents:\n  repositories: [./repo, ../up]\n  keyring: [./c/keys/c.pub]\n');
    const two = await loadConfig(image, host);
    assert.deepEqual(two.config.contents.repositories, ['./a/b/repo', './a/up', './a/repo']);
    assert.deepEqual(two.config.contents.keyring, ['./a/b/c/keys/c.pub']);
    await writeFile(join(root, 'a', 'b', 'b.yaml'), 'include: c/c.yaml\ncontents: {repositories: [./repo]}\n');
    await writeFile(join(root, 'a', 'b', 'c', 'c.yaml'), 'contents:\n  repositories: [./repo]\n  keyring: [./keys/c.pub]\n');
    const three = await loadConfig(image, host);
    assert.deepEqual(three.config.contents.repositories, ['./a/b/c/repo', './a/b/repo', './a/repo']);
    assert.deepEqual(three.config.contents.keyring, ['./a/b/c/keys/c.pub']);
    await checkLocalSources(three, image, root, { repositories: true });
  });

  it('keeps ./ before a folder whose name starts with a dot, and writes a path that climbs as ../', async () => {
    const root = await tempDir();
    const repositories = async (image: string, include: string, includeRoot?: string) => {
      await writeFile(image, `include: ${include}\n`);
      return (await loadConfig(image, { ...host, includeRoot })).config.contents.repositories;
    };
    for (const folder of ['.cfg', '..cfg', 'a:b', 'top']) {
      await mkdir(join(root, folder));
      await writeFile(join(root, folder, 'base.yaml'), 'contents: {repositories: [./repo, ..repo]}\n');
    }
    const image = join(root, 'image.yaml');
    assert.deepEqual(await repositories(image, '.cfg/base.yaml'), ['./.cfg/repo', './.cfg/..repo']);
    assert.deepEqual(await repositories(image, '..cfg/base.yaml'), ['./..cfg/repo', './..cfg/..repo']);
    // Without ./, `a:b/repo` would be read as a location with the scheme a:.
    assert.deepEqual(await repositories(image, 'a:b/base.yaml'), ['./a:b/repo', './a:b/..repo']);
    assert.deepEqual(await repositories(join(root, 'top', 'image.yaml'), '../.cfg/base.yaml', root), ['../.cfg/repo', '../.cfg/..repo']);
  });

  it('names the line of the included file for a key or repository that is missing, and refuses a folder for a key', async () => {
    const root = await tempDir();
    await mkdir(join(root, 'sub', 'repo'), { recursive: true });
    await mkdir(join(root, 'sub', 'keys'), { recursive: true });
    const base = join(root, 'sub', 'base.yaml');
    const image = join(root, 'image.yaml');
    await writeFile(image, 'include: sub/base.yaml\n');
    const check = async () => {
      const loaded = await loadConfig(image, host);
      await checkLocalSources(loaded, image, root, { repositories: true });
    };
    await writeFile(base, 'contents:\n  repositories: [./repo]\n  keyring: [./keys/missing.pub]\n');
    await rejects(check, 'NOT_FOUND', `${base}:3:13`, /contents\.keyring\[0\]: .*sub\/keys\/missing\.pub does not exist/);
    await writeFile(base, 'contents:\n  repositories: [./repo]\n  keyring: [./keys]\n');
    const err = await rejects(check, 'INVALID_CONFIG', `${base}:3:13`, /contents\.keyring\[0\]: .*sub\/keys is not a regular file/);
    assert.equal(exitCodeFor(err.code), 2);
    await writeFile(base, 'contents:\n  repositories: [./nowhere]\n');
    await rejects(check, 'NOT_FOUND', `${base}:2:18`, /contents\.repositories\[0\]: .*sub\/nowhere does not exist/);
    await writeFile(join(root, 'sub', 'keys', 'k.pub'), 'key');
    await writeFile(base, 'contents:\n  repositories: [./repo]\n  keyring: [./keys/k.pub]\n');
    await check();
  });

  it("names the line of the included file for a Debian source's signed-by keyring that is missing or a folder, lock or not", async () => {
    const root = await tempDir();
    await mkdir(join(root, 'sub', 'keys'), { recursive: true });
    const base = join(root, 'sub', 'base.yaml');
    const image = join(root, 'image.yaml');
    await writeFile(image, 'include: sub/base.yaml\n');
    const line = (keys: string) => `contents:\n  repositories:\n    - "deb [signed-by=${keys}] https://example.org/debian bookworm main"\n`;
    for (const repositories of [true, false]) {
      const check = async () => checkLocalSources(await loadConfig(image, host), image, root, { repositories });
      await writeFile(base, line('https://example.org/k.gpg,./keys/missing.gpg'));
      const err = await rejects(
        check,
        'NOT_FOUND',
        `${base}:3:7`,
        /contents\.repositories\[0\]: the signed-by keyring .*sub\/keys\/missing\.gpg does not exist/,
      );
      assert.match(err.hint ?? '', /relative to the folder of the file that writes it/);
      await writeFile(base, line('./keys'));
      await rejects(
        check,
        'INVALID_CONFIG',
        `${base}:3:7`,
        /contents\.repositories\[0\]: the signed-by keyring .*sub\/keys is not a regular file/,
      );
    }
    await writeFile(join(root, 'sub', 'keys', 'k.gpg'), 'key');
    await writeFile(base, line('./keys/k.gpg,https://example.org/k.gpg'));
    await checkLocalSources(await loadConfig(image, host), image, root, { repositories: true });
  });
});

describe('fuzzing', () => {
  it('random YAML-ish text never throws anything but a ProvenantError', () => {
    fc.assert(fc.property(yamlish, onlyProvenantErrors), { numRuns: 3000 });
  });

  it('a valid config with one value replaced by a random one never throws anything but a ProvenantError', () => {
    assert.doesNotThrow(() => parseConfig(stringify(RICH), 'rich.yaml', host));
    fc.assert(
      fc.property(fc.constantFrom(...RICH_PATHS), shapeArb, (path, value) => onlyProvenantErrors(stringify(mutate(path, value)))),
      { numRuns: 3000 },
    );
  });

  it('valid configs written by a YAML library read back to the same values', () => {
    const word = fc.stringMatching(/^[a-z][a-z0-9.+-]{0,12}$/);
    const envKey = fc.string({ minLength: 1, maxLength: 10 }).filter((k) => !k.includes('=') && !k.includes('\0') && k !== '<<');
    const configArb = fc.record({
      packages: fc.array(word, { maxLength: 5 }),
      environment: fc.dictionary(envKey, fc.string({ maxLength: 10 }), { maxKeys: 4 }),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      uid: fc.integer({ min: 1, max: 0xffff_ffff }),
    });
    fc.assert(
      fc.property(configArb, ({ packages, environment, mode, uid }) => {
        const env = { ...environment };
        const text = stringify({
          contents: { packages },
          environment: env,
          paths: [{ path: '/x', type: 'permissions', permissions: `0o${mode.toString(8)}` }],
          accounts: { users: [{ username: 'u', uid }] },
        }).replace(/permissions: "?(0o[0-7]+)"?/, 'permissions: $1');
        const { config: c } = parseConfig(text, 'rt.yaml', host);
        assert.deepEqual(c.contents.packages, packages);
        assert.deepEqual({ ...c.environment }, env);
        assert.equal(c.paths[0]!.permissions, mode);
        assert.equal(c.accounts.users[0]!.uid, uid);
      }),
      { numRuns: 500 },
    );
  });
});

describe('Debian keys (Provenant extensions)', () => {
  it('reads deb sources, recommends, merged-usr and timezone, with file:line errors', async () => {
    const { parseConfig } = await import('../../src/builder/config.ts');
    const { config } = parseConfig(
      'contents:\n  repositories:\n    - deb [arch=amd64] http://mirror.invalid/debian bookworm main\n  packages: [base-files]\n  recommends: true\n  merged-usr: yes\ntimezone: Europe/Paris\narchs: [x86_64]\n',
      'd.yaml',
      { hostArch: 'x86_64' },
    );
    assert.deepEqual(config.contents.repositories, ['deb [arch=amd64] http://mirror.invalid/debian bookworm main']);
    assert.equal(config.contents.recommends, true);
    assert.equal(config.contents.mergedUsr, true);
    assert.equal(config.timezone, 'Europe/Paris');
    assert.throws(
      () => parseConfig('timezone: ../../etc/shadow\n', 'd.yaml', { hostArch: 'x86_64' }),
      (err: unknown) => err instanceof Error && /^d\.yaml:1:\d+: timezone: .* is not a time zone name/.test(err.message),
    );
    assert.throws(
      () => parseConfig('contents:\n  repositories: [deb bookworm]\n', 'd.yaml', { hostArch: 'x86_64' }),
      (err: unknown) => err instanceof Error && /^d\.yaml:2:\d+: contents\.repositories\[0\]: .* is not a Debian source/.test(err.message),
    );
  });
});
