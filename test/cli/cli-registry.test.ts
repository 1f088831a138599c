// The CLI against a registry with basic auth: credentials from flags and from DOCKER_CONFIG, never printed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { recordingRegistry, registryMissing, useRegistry } from '../helpers/registry.ts';
import { NO_HOME, useTempDir } from '../helpers/temp.ts';
import { provenant as provenantAsync } from './provenant.ts';

const root = join(import.meta.dirname, '..', '..');
const example = `oci:${join(root, 'examples', 'hello-oci')}:latest`;

function provenant(args: string[], options: { env?: Record<string, string>; input?: string } = {}) {
  const r = spawnSync(process.execPath, [join(root, 'src', 'cli', 'main.ts'), ...args], {
    encoding: 'utf8',
    input: options.input ?? '',
    env: { PATH: process.env.PATH ?? '', HOME: NO_HOME, DOCKER_CONFIG: '/nonexistent', ...options.env },
  });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('provenant CLI against a registry with basic auth', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'htpasswd' });
  const tempDir = useTempDir('cli-reg');
  let dir: string;
  before(async () => {
    dir = await tempDir();
  });

  it('fails with exit 4 and no secret without the right credentials', () => {
    let r = provenant(['copy', '--quiet', example, `${reg.host}/cli/app:1`]);
    assert.equal(r.status, 4, r.stderr);
    assert.match(r.stderr, new RegExp(`provenant copy: .*${reg.host.replace('.', '\\.')}`));
    r = provenant(['copy', '--quiet', '--username', reg.username!, '--password-stdin', example, `${reg.host}/cli/app:1`], {
      input: 'wrong-password\n',
    });
    assert.equal(r.status, 4, r.stderr);
    assert.doesNotMatch(r.stderr, /wrong-password/);
  });

  it('says that PROVENANT_PASSWORD without --username is not used', () => {
    const r = provenant(['copy', '--quiet', example, `${reg.host}/cli/app:1`], { env: { PROVENANT_PASSWORD: reg.password! } });
    assert.equal(r.status, 4, r.stderr);
    assert.equal(r.stderr.match(/PROVENANT_PASSWORD is set but --username is not/g)?.length, 1, r.stderr);
    assert.doesNotMatch(r.stderr, new RegExp(reg.password!));
  });

  it('sends --username to the one registry the command names, and refuses a command that names two', async () => {
    const other = await recordingRegistry();
    const { host, seen } = other;
    try {
      // Asynchronous: the recording server runs in this process.
      const run = (args: string[]) => provenantAsync(args, { input: `${reg.password}\n` });
      const copy = (src: string, dst: string) => run(['copy', '--quiet', '--username', reg.username!, '--password-stdin', src, dst]);
      const two = await copy(`${host}/pub/app:1`, `${reg.host}/cli/app:2`);
      assert.equal(two.status, 2, two.stderr);
      assert.match(two.stderr, /--username is for one registry/);
      // Docker Hub by a short reference is a registry too.
      const hub = await copy(`${host}/pub/app:1`, 'me/app:1');
      assert.equal(hub.status, 2, hub.stderr);
      assert.match(hub.stderr, /reaches 127\.0\.0\.1:\d+ and docker\.io/);
      // A command that opens its images one at a time names them all the same.
      const pub = join(dir, 'verify.pub');
      await writeFile(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
      for (const command of ['verify', 'verify-attestation']) {
        const both = await run([
          command,
          '--key',
          pub,
          '--username',
          reg.username!,
          '--password-stdin',
          `${reg.host}/cli/app:1`,
          `${host}/evil/x:1`,
        ]);
        assert.equal(both.status, 2, both.stderr);
        assert.match(both.stderr, /--username is for one registry/);
      }
      assert.deepEqual(seen, [], 'a registry was asked before the command was refused');
      // A source in another registry, named by the destination only: the source gets nothing.
      const one = await copy(`${host}/pub/app:1`, `oci:${join(dir, 'x')}`);
      assert.equal(one.status, 4, one.stderr);
      assert.ok(seen.length > 0);
      assert.ok(
        seen.some((a) => a !== undefined),
        'the named registry got the credentials',
      );
      seen.length = 0;
      // A file argument in a folder whose name has a dot names no registry.
      await mkdir(join(dir, 'policies.d'), { recursive: true });
      const pem = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
      const key = pem
        .trim()
        .split('\n')
        .map((l) => `        ${l}`)
        .join('\n');
      await writeFile(
        join(dir, 'policies.d', 'p.yaml'),
        `apiVersion: policy.sigstore.dev/v1beta1\nkind: ClusterImagePolicy\nmetadata: {name: p}\nspec:\n  images: [{glob: "**"}]\n  authorities:\n  - key:\n      data: |\n${key}\n`,
      );
      const policy = await provenantAsync(
        ['policy', 'test', 'policies.d/p.yaml', `${reg.host}/cli/app:1`, '--username', reg.username!, '--password-stdin'],
        { cwd: dir, input: `${reg.password}\n` },
      );
      assert.doesNotMatch(policy.stderr, /--username is for one registry/);
      // It went on to the registry (where the image is missing).
      assert.match(policy.stderr, /cli\/app/, policy.stderr);
      const pin = await run(['pin', '--username', reg.username!, '--password-stdin']);
      assert.equal(pin.status, 2, pin.stderr);
      assert.match(pin.stderr, /username/);
    } finally {
      await other.close();
    }
  });

  it('pushes with --password-stdin, then reads with credentials from DOCKER_CONFIG', async () => {
    const r = provenant(['copy', '--username', reg.username!, '--password-stdin', example, `${reg.host}/cli/app:1`], {
      input: `${reg.password}\n`,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /sha256:[a-f0-9]{64}/);
    assert.doesNotMatch(r.stdout + r.stderr, new RegExp(reg.password!));
    await writeFile(
      join(dir, 'config.json'),
      JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${reg.username}:${reg.password}`).toString('base64') } } }),
    );
    const env = { DOCKER_CONFIG: dir };
    const tags = provenant(['tags', `${reg.host}/cli/app`], { env });
    assert.equal(tags.status, 0, tags.stderr);
    assert.equal(tags.stdout, '1\n');
    const want = provenant(['digest', example]).stdout;
    assert.equal(provenant(['digest', `${reg.host}/cli/app:1`], { env }).stdout, want);
    const inspect = provenant(['inspect', `${reg.host}/cli/app:1`], { env });
    assert.equal(inspect.status, 0, inspect.stderr);
    assert.match(inspect.stdout, /linux\/arm64/);
    const back = provenant(['copy', '--quiet', '--platform', 'linux/amd64', `${reg.host}/cli/app:1`, `oci:${join(dir, 'back')}:amd64`], {
      env,
    });
    assert.equal(back.status, 0, back.stderr);
    const missing = provenant(['inspect', `${reg.host}/cli/app:nope`], { env });
    assert.equal(missing.status, 3, missing.stderr);
    // --password-stdin is read once: a command that opens its images one at a time uses it for each.
    const pub = join(dir, 'twice.pub');
    await writeFile(pub, generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString());
    const twice = provenant(
      ['verify', '--key', pub, '--username', reg.username!, '--password-stdin', `${reg.host}/cli/app:1`, `${reg.host}/cli/app:1`],
      {
        input: `${reg.password}\n`,
      },
    );
    assert.doesNotMatch(twice.stderr, /username or password|UNAUTHORIZED|credentials/i, twice.stderr);
    assert.match(twice.stderr, /not signed|no signature|signature/i, twice.stderr);
  });
});
