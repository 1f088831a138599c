// Basic and Bearer authentication against the real registry.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { DockerConfigKeychain } from '../../src/auth/docker-config.ts';
import { staticKeychain } from '../../src/auth/keychain.ts';
import { isProvenantError, ProvenantError } from '../../src/errors.ts';
import { makeImage } from '../helpers/images.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { storeAt } from './common.ts';

const tempDir = useTempDir('auth');

function assertNoSecret(err: unknown, secret: string): void {
  assert.ok(err instanceof ProvenantError);
  for (const text of [err.message, err.where ?? '', err.hint ?? '', String(err), JSON.stringify(err)]) {
    assert.ok(!text.includes(secret), `the secret leaked into: ${text}`);
  }
}

describe('htpasswd (Basic) auth', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'htpasswd' });

  it('pushes and reads with the right password', async () => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const store = storeAt(reg.host, 'auth/basic', { keychain });
    const made = await makeImage(store, { tag: 'v1' });
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
  });

  it('says UNAUTHORIZED for a wrong password, without the password', async () => {
    const wrong = `${reg.password}-wrong-Secret`;
    const store = storeAt(reg.host, 'auth/basic', { keychain: staticKeychain(reg.host, { username: reg.username!, password: wrong }) });
    const err = await store.listTags().then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'UNAUTHORIZED'), String(err));
    assert.match((err as ProvenantError).message, new RegExp(`for ${reg.host.replace(/\./g, '\\.')}`));
    assertNoSecret(err, wrong);
  });

  it('reads credentials from a Docker config.json (base64 auth)', async () => {
    const dir = await tempDir();
    const configPath = join(dir, 'config.json');
    const auth = Buffer.from(`${reg.username}:${reg.password}`).toString('base64');
    await writeFile(configPath, JSON.stringify({ auths: { [`http://${reg.host}`]: { auth } } }));
    const store = storeAt(reg.host, 'auth/config', { keychain: new DockerConfigKeychain({ configPath }) });
    const made = await makeImage(store, { tag: 'v1' });
    assert.equal((await store.resolve('v1'))?.digest, made.root.digest);
  });

  it('says UNAUTHORIZED when no credentials are given', async () => {
    const store = storeAt(reg.host, 'auth/basic');
    await assert.rejects(store.resolve('v1'), (e) => isProvenantError(e, 'UNAUTHORIZED'));
  });
});

describe('token (Bearer) auth', { skip: registryMissing }, () => {
  const reg = useRegistry({ auth: 'token' });

  it('pushes and pulls with tokens, and caches them', async () => {
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const logs: string[] = [];
    const logger = { debug: (m: string) => logs.push(m), info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m) };
    const store = storeAt(reg.host, 'auth/token', { keychain, logger });
    const before = reg.tokenServer!.tokensIssued();
    const made = await makeImage(store, { tag: 'v1', layers: 3 });
    for (const m of made.manifests) assert.deepEqual((await store.getManifest(m.digest)).bytes, m.bytes);
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
    assert.deepEqual(await store.listTags(), ['v1']);
    const issued = reg.tokenServer!.tokensIssued() - before;
    // 8 blobs, 3 manifests, reads: tens of requests, but only a token or two per scope set.
    assert.ok(issued >= 1 && issued <= 4, `tokens issued: ${issued}`);
    assert.ok(logs.length > 0);
    for (const line of logs) {
      assert.ok(!line.includes(reg.password!), `the password leaked into the log: ${line}`);
      assert.ok(!/bearer\s+\S{20,}/i.test(line), `a token leaked into the log: ${line}`);
    }
  });

  it('fetches a new token once the cached one expires', async () => {
    let now = Date.now();
    const keychain = staticKeychain(reg.host, { username: reg.username!, password: reg.password! });
    const store = storeAt(reg.host, 'auth/refresh', { keychain, clock: () => now });
    const made = await makeImage(store, { tag: 'v1' });
    const afterPush = reg.tokenServer!.tokensIssued();
    // Reads reuse a cached token (a push token covers pull, or one pull token is fetched once).
    for (let i = 0; i < 5; i++) await store.resolve('v1');
    const afterReads = reg.tokenServer!.tokensIssued();
    assert.ok(afterReads - afterPush <= 1, `reads issued ${afterReads - afterPush} tokens`);
    // An hour later every cached token has expired: the next request gets a fresh one and works.
    now += 3600_000;
    assert.deepEqual((await store.getManifest('v1')).bytes, made.root.bytes);
    assert.ok(reg.tokenServer!.tokensIssued() > afterReads, 'no new token after expiry');
  });

  it('says UNAUTHORIZED for a wrong password, without the password', async () => {
    const wrong = `${reg.password}-nope-Secret`;
    const store = storeAt(reg.host, 'auth/token', { keychain: staticKeychain(reg.host, { username: reg.username!, password: wrong }) });
    const err = await store.resolve('v1').then(
      () => assert.fail('expected an error'),
      (e: unknown) => e,
    );
    assert.ok(isProvenantError(err, 'UNAUTHORIZED'), String(err));
    assertNoSecret(err, wrong);
  });
});
