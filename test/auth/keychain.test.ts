// Credentials and the keychains: explicit, Docker's config.json with helpers, podman's auth.json, and a real registry.
import assert from 'node:assert/strict';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { inspect } from 'node:util';
import { Credentials } from '../../src/auth/credentials.ts';
import { DockerConfigKeychain, defaultKeychain, defaultKeychainPaths, PodmanAuthKeychain } from '../../src/auth/docker-config.ts';
import { chainKeychains, normalizeRegistry, StaticKeychain, staticKeychain } from '../../src/auth/keychain.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('auth');

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

async function configFile(content: unknown): Promise<string> {
  const path = join(await tempDir(), 'config.json');
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

/**
 * A fake `docker-credential-test` on a PATH of its own: it logs the server URL it was asked
 * about and answers from a table, as real helpers do (exit 1 and "credentials not found").
 */
async function fakeHelper(): Promise<{ env: Record<string, string>; asked: () => Promise<string[]> }> {
  const dir = await tempDir();
  const log = join(dir, 'asked.log');
  const script = `#!/bin/sh
[ "$1" = get ] || { echo "unsupported $1" >&2; exit 2; }
read -r server
printf '%s\\n' "$server" >> ${JSON.stringify(log)}
case "$server" in
  https://index.docker.io/v1/) echo '{"ServerURL":"https://index.docker.io/v1/","Username":"hubuser","Secret":"hub-secret"}' ;;
  tokens.example) echo '{"ServerURL":"tokens.example","Username":"<token>","Secret":"refresh-me"}' ;;
  helper.example:5000) echo '{"ServerURL":"helper.example:5000","Username":"helperuser","Secret":"helper-secret"}' ;;
  scoped.example) echo '{"ServerURL":"scoped.example","Username":"hostuser","Secret":"host-secret"}' ;;
  scoped.example/team) echo '{"ServerURL":"scoped.example/team","Username":"team-robot","Secret":"team-secret"}' ;;
  broken.example) echo 'not json' ;;
  crash.example) echo "I saw your secret hunter2" >&2; exit 3 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`;
  const path = join(dir, 'docker-credential-test');
  await writeFile(path, script);
  await chmod(path, 0o755);
  return {
    env: { PATH: `${dir}:/usr/bin:/bin` },
    asked: async () => (await readFile(log, 'utf8').catch(() => '')).split('\n').filter((l) => l !== ''),
  };
}

describe('Credentials', () => {
  it('never shows its secret in strings, JSON or inspect output', () => {
    const all = [
      new Credentials({ username: 'alice', password: 'p4ssw0rd-secret' }),
      new Credentials({ identityToken: 'idtoken-secret' }),
      new Credentials({ registryToken: 'regtoken-secret' }),
    ];
    for (const c of all) {
      const error = new ProvenantError('CREDENTIALS', 'x', { cause: c });
      for (const text of [
        String(c),
        `${c}`,
        JSON.stringify(c),
        JSON.stringify({ c }),
        inspect(c),
        inspect({ nested: { c } }),
        inspect(error),
      ]) {
        assert.ok(!/p4ssw0rd|idtoken-secret|regtoken-secret|alice/.test(text), text);
      }
    }
    const basic = all[0]!;
    assert.equal(basic.kind, 'basic');
    assert.equal(basic.password, 'p4ssw0rd-secret');
    assert.equal(basic.basicAuthorization(), `Basic ${b64('alice:p4ssw0rd-secret')}`);
    assert.equal(all[1]!.identityToken, 'idtoken-secret');
    assert.equal(all[1]!.password, undefined);
    assert.equal(all[2]!.registryToken, 'regtoken-secret');
  });
});

describe('DockerConfigKeychain', () => {
  it('reads auths: base64 auth, username/password, identity tokens, and every key spelling', async () => {
    const configPath = await configFile({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hub:hubpass') },
        '127.0.0.1:5000': { auth: b64('local:pa:ss') },
        'http://localhost:5001/v2/': { username: 'u2', password: 'p2' },
        'https://registry.example': { identitytoken: 'idt', auth: b64('tokenuser:') },
        'other.example': {},
      },
    });
    const k = new DockerConfigKeychain({ configPath });
    for (const hub of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      const c = await k.resolve(hub);
      assert.equal(c?.username, 'hub');
      assert.equal(c?.password, 'hubpass');
    }
    // A password may contain ":" (only the first one separates).
    assert.equal((await k.resolve('127.0.0.1:5000'))?.password, 'pa:ss');
    assert.equal((await k.resolve('localhost:5001'))?.username, 'u2');
    const token = await k.resolve('registry.example');
    assert.equal(token?.kind, 'identityToken');
    assert.equal(token?.identityToken, 'idt');
    assert.equal(await k.resolve('other.example'), undefined);
    assert.equal(await k.resolve('127.0.0.1:5999'), undefined);
  });

  it('a missing file is no credentials; a malformed one is CREDENTIALS without its content', async () => {
    const missing = new DockerConfigKeychain({ configPath: join(await tempDir(), 'nope', 'config.json') });
    assert.equal(await missing.resolve('docker.io'), undefined);
    const bad = new DockerConfigKeychain({ configPath: await configFile('{"auths": {"x": {"auth": "c2VjcmV0LXZhbHVl"}} oops') });
    await assert.rejects(bad.resolve('x'), (e) => {
      assert.ok(isProvenantError(e, 'CREDENTIALS'));
      assert.ok(!inspect(e).includes('c2VjcmV0LXZhbHVl'));
      return true;
    });
    const badAuth = new DockerConfigKeychain({ configPath: await configFile({ auths: { x: { auth: b64('no-colon') } } }) });
    await assert.rejects(badAuth.resolve('x'), (e) => isProvenantError(e, 'CREDENTIALS'));
  });

  it('asks credHelpers and credsStore programs, with Docker Hub as https://index.docker.io/v1/', async () => {
    const helper = await fakeHelper();
    const configPath = await configFile({
      auths: { 'fallback.example': { auth: b64('fb:fbpass') } },
      credsStore: 'test',
      credHelpers: { 'helper.example:5000': 'test' },
    });
    const k = new DockerConfigKeychain({ configPath, env: helper.env });
    const hub = await k.resolve('docker.io');
    assert.equal(hub?.username, 'hubuser');
    assert.equal(hub?.password, 'hub-secret');
    assert.equal((await k.resolve('helper.example:5000'))?.password, 'helper-secret');
    const token = await k.resolve('tokens.example');
    assert.equal(token?.kind, 'identityToken');
    assert.equal(token?.identityToken, 'refresh-me');
    // The store has nothing: that is no credentials, as in Docker's CLI, not the auths entry.
    assert.equal(await k.resolve('fallback.example'), undefined);
    assert.equal(await k.resolve('nothing.example'), undefined);
    assert.deepEqual(await helper.asked(), [
      'https://index.docker.io/v1/',
      'helper.example:5000',
      'tokens.example',
      'fallback.example',
      'nothing.example',
    ]);
  });

  it('never takes an auths entry for a registry with a helper: "not found" is none; an empty credHelpers entry opts out', async () => {
    const helper = await fakeHelper();
    const configPath = await configFile({
      auths: {
        'stale.example': { auth: b64('stale:old') },
        'helper.example:5000': { auth: b64('stale:old') },
        'optout.example': { auth: b64('file:fpass') },
      },
      credHelpers: { 'stale.example': 'test', 'helper.example:5000': 'test', 'optout.example': '' },
      credsStore: 'test',
    });
    const k = new DockerConfigKeychain({ configPath, env: helper.env });
    assert.equal(await k.resolve('stale.example'), undefined);
    assert.equal((await k.resolve('helper.example:5000'))?.username, 'helperuser');
    assert.equal((await k.resolve('optout.example'))?.username, 'file');
    assert.deepEqual(await helper.asked(), ['stale.example', 'helper.example:5000']);
  });

  it('reports a failing or missing helper as CREDENTIALS, without repeating what it printed', async () => {
    const helper = await fakeHelper();
    const k = new DockerConfigKeychain({ configPath: await configFile({ credsStore: 'test' }), env: helper.env });
    await assert.rejects(k.resolve('broken.example'), (e) => isProvenantError(e, 'CREDENTIALS'));
    await assert.rejects(k.resolve('crash.example'), (e) => {
      assert.ok(isProvenantError(e, 'CREDENTIALS'));
      assert.ok(!inspect(e).includes('hunter2'));
      assert.match(e.message, /docker-credential-test failed/);
      return true;
    });
    const none = new DockerConfigKeychain({ configPath: await configFile({ credsStore: 'absent-helper' }), env: helper.env });
    await assert.rejects(none.resolve('x.example'), (e) => isProvenantError(e, 'CREDENTIALS') && /not installed/.test(e.message));
    const evil = new DockerConfigKeychain({ configPath: await configFile({ credsStore: '../../bin/sh' }), env: helper.env });
    await assert.rejects(evil.resolve('x.example'), (e) => isProvenantError(e, 'CREDENTIALS'));
  });
});

describe('PodmanAuthKeychain', () => {
  it('prefers the most specific repository key, then the host', async () => {
    const authPath = await configFile({
      auths: {
        'registry.example.org': { auth: b64('host:h') },
        'registry.example.org/team': { auth: b64('team:t') },
        'registry.example.org/team/app': { auth: b64('app:a') },
      },
    });
    const k = new PodmanAuthKeychain({ authPath });
    assert.equal((await k.resolve('registry.example.org', 'team/app'))?.username, 'app');
    assert.equal((await k.resolve('registry.example.org', 'team/other'))?.username, 'team');
    assert.equal((await k.resolve('registry.example.org', 'else/x'))?.username, 'host');
    assert.equal((await k.resolve('registry.example.org'))?.username, 'host');
  });

  it('takes an empty repository key for none, and asks the credential store about the host, never about a namespace', async () => {
    const helper = await fakeHelper();
    // As `podman login` leaves it with a credential store: entries without credentials.
    const authPath = await configFile({ auths: { 'scoped.example/team': {}, 'scoped.example': {} }, credsStore: 'test' });
    const k = new PodmanAuthKeychain({ authPath, env: helper.env });
    assert.equal((await k.resolve('scoped.example', 'team/app'))?.username, 'hostuser');
    assert.equal((await k.resolve('scoped.example', 'other/app'))?.username, 'hostuser');
    assert.deepEqual(await helper.asked(), ['scoped.example', 'scoped.example']);
  });

  it("asks the host's credHelpers entry alone: no namespaced or host auths entry beside it", async () => {
    const helper = await fakeHelper();
    const authPath = await configFile({
      credHelpers: { 'scoped.example': 'test', 'stale.example': 'test' },
      auths: {
        'scoped.example/team': { auth: b64('stale-team:old') },
        'stale.example/team': { auth: b64('stale-team:old') },
        'stale.example': { auth: b64('stale-host:old') },
      },
    });
    const k = new PodmanAuthKeychain({ authPath, env: helper.env });
    assert.equal((await k.resolve('scoped.example', 'team/app'))?.username, 'hostuser');
    // The helper has nothing for this host: none, not the entries it replaced.
    assert.equal(await k.resolve('stale.example', 'team/app'), undefined);
    assert.equal(await k.resolve('stale.example'), undefined);
    assert.deepEqual(await helper.asked(), ['scoped.example', 'stale.example', 'stale.example']);
  });

  it('reads a null auths entry as an empty one, and refuses an entry that is not an object, naming it', async () => {
    const k = new PodmanAuthKeychain({
      authPath: await configFile({ auths: { 'null.example': null, 'x.example': { auth: b64('u:p') } } }),
    });
    assert.equal(await k.resolve('null.example', 'a/b'), undefined);
    assert.equal((await k.resolve('x.example', 'a/b'))?.username, 'u');
    const bad = new DockerConfigKeychain({ configPath: await configFile({ auths: { 'bad.example': 'text' } }) });
    await assert.rejects(bad.resolve('bad.example'), (e) => {
      assert.ok(isProvenantError(e, 'CREDENTIALS'), String(e));
      assert.match(e.message, /the "auths" entry "bad\.example" is not a JSON object/);
      return true;
    });
  });
});

describe('keychain composition and default paths', () => {
  it('chains keychains in order; a static keychain answers for its registry only', async () => {
    const configPath = await configFile({ auths: { 'a.example': { auth: b64('file:f') }, 'b.example': { auth: b64('fileb:fb') } } });
    const k = chainKeychains(staticKeychain('A.example', { username: 'cli', password: 'c' }), new DockerConfigKeychain({ configPath }));
    assert.equal((await k.resolve('a.example'))?.username, 'cli');
    assert.equal((await k.resolve('b.example'))?.username, 'fileb');
    const any = new StaticKeychain({ registryToken: 't' });
    assert.equal((await any.resolve('whatever.example'))?.kind, 'registryToken');
    assert.equal(normalizeRegistry('HTTPS://Index.Docker.io/v1/'), 'docker.io');
    assert.equal(normalizeRegistry('http://127.0.0.1:5000/v2/'), '127.0.0.1:5000');
  });

  it('finds the files from DOCKER_CONFIG, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR and the home folder', () => {
    assert.deepEqual(defaultKeychainPaths({}, '/home/u'), {
      podmanAuthPaths: ['/home/u/.config/containers/auth.json'],
      dockerConfigPath: '/home/u/.docker/config.json',
      order: ['docker', 'podman'],
    });
    assert.deepEqual(defaultKeychainPaths({ DOCKER_CONFIG: '/cfg', XDG_RUNTIME_DIR: '/run/user/1' }, '/home/u'), {
      podmanAuthPaths: ['/run/user/1/containers/auth.json', '/home/u/.config/containers/auth.json'],
      dockerConfigPath: '/cfg/config.json',
      order: ['docker', 'podman'],
    });
    assert.deepEqual(defaultKeychainPaths({ REGISTRY_AUTH_FILE: '/a.json', DOCKER_CONFIG: '' }, '/home/u'), {
      podmanAuthPaths: ['/a.json'],
      dockerConfigPath: '/home/u/.docker/config.json',
      order: ['podman', 'docker'],
    });
  });

  it("takes podman's /run/containers/$UID/auth.json when XDG_RUNTIME_DIR is unset, as containers/image does", () => {
    // Root in a container, CI, sudo: no runtime directory, and podman login writes here.
    assert.deepEqual(defaultKeychainPaths({}, '/home/u', 1000).podmanAuthPaths, [
      '/run/containers/1000/auth.json',
      '/home/u/.config/containers/auth.json',
    ]);
    assert.deepEqual(defaultKeychainPaths({ XDG_RUNTIME_DIR: '' }, '/root', 0).podmanAuthPaths, [
      '/run/containers/0/auth.json',
      '/root/.config/containers/auth.json',
    ]);
    // The runtime directory's file replaces it; REGISTRY_AUTH_FILE replaces both.
    assert.deepEqual(defaultKeychainPaths({ XDG_RUNTIME_DIR: '/run/user/1000' }, '/home/u', 1000).podmanAuthPaths, [
      '/run/user/1000/containers/auth.json',
      '/home/u/.config/containers/auth.json',
    ]);
    assert.deepEqual(defaultKeychainPaths({ REGISTRY_AUTH_FILE: '/a.json' }, '/home/u', 1000).podmanAuthPaths, ['/a.json']);
    // No uid given (the library reads no process state): the /run file is not read.
    assert.deepEqual(defaultKeychainPaths({}, '/home/u').podmanAuthPaths, ['/home/u/.config/containers/auth.json']);
  });

  it('defaultKeychain reads the files the environment names', async () => {
    const dockerDir = await tempDir();
    await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { 'd.example': { auth: b64('docker:d') } } }));
    const authFile = await configFile({ auths: { 'p.example': { auth: b64('podman:p') }, 'd.example': { auth: b64('podman-d:x') } } });
    const home = await tempDir();
    const k = defaultKeychain({ env: { DOCKER_CONFIG: dockerDir }, homedir: home });
    assert.equal((await k.resolve('d.example'))?.username, 'docker');
    const k2 = defaultKeychain({ env: { DOCKER_CONFIG: dockerDir, REGISTRY_AUTH_FILE: authFile }, homedir: home });
    assert.equal((await k2.resolve('d.example'))?.username, 'podman-d');
    assert.equal((await k2.resolve('p.example'))?.username, 'podman');
    assert.equal(await k2.resolve('none.example'), undefined);
  });
});

describe('keychains against the real registry', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'htpasswd' });

  it('a Docker config.json entry logs in to an htpasswd registry; a wrong one is UNAUTHORIZED without secrets', async () => {
    const good = await configFile({ auths: { [`http://${reg.host}`]: { auth: b64(`${reg.username}:${reg.password}`) } } });
    const client = new RegistryClient(reg.host, { keychain: new DockerConfigKeychain({ configPath: good }) });
    assert.deepEqual(
      await client.listTags('auth/none').catch((e: unknown) => (isProvenantError(e, 'NOT_FOUND') ? [] : Promise.reject(e))),
      [],
    );
    const wrongPassword = 'definitely-wrong-Pa55';
    const bad = await configFile({ auths: { [reg.host]: { auth: b64(`${reg.username}:${wrongPassword}`) } } });
    const badClient = new RegistryClient(reg.host, { keychain: new DockerConfigKeychain({ configPath: bad }) });
    await assert.rejects(badClient.listTags('auth/none'), (e) => {
      assert.ok(isProvenantError(e, 'UNAUTHORIZED'));
      assert.equal(e.message, `wrong username or password for ${reg.host}`);
      const all = `${inspect(e)} ${JSON.stringify(e)} ${e.hint ?? ''} ${e.where ?? ''}`;
      assert.ok(!all.includes(wrongPassword) && !all.includes(b64(`${reg.username}:${wrongPassword}`)), all);
      return true;
    });
  });
});
