/**
 * The name `provenant build -o REGISTRY/REPO:TAG` gives the image in its SBOMs and provenance: the
 * repository without the tag, as the Action names it (statementImageName), so the same build
 * written under another tag gives the same statements.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EPOCH, writeFixtureRepo } from '../action/fixture-repo.ts';
import { registryMissing, useRegistry } from '../helpers/registry.ts';
import { useTempDir } from '../helpers/temp.ts';
import { provenant } from './provenant.ts';

const temp = useTempDir('cli-build-name');
const env = { SOURCE_DATE_EPOCH: String(EPOCH) };

describe('provenant build -o REGISTRY/REPO:TAG, the name the statements give the image', { skip: registryMissing }, () => {
  const reg = useRegistry();

  it('v1, then v2: the same index (BuildKit storage), and the subject is the repository without a tag', async () => {
    const config = await writeFixtureRepo(await temp());
    const build = async (tag: string): Promise<string> => {
      const out = `${reg.host}/acme/named:${tag}`;
      const r = await provenant(
        ['build', config, '-o', out, '--platform', 'linux/amd64', '--attestations', 'buildkit', '--format', 'json'],
        {
          env,
        },
      );
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { digest: string }).digest;
    };
    const v1 = await build('v1');
    assert.equal(await build('v2'), v1, 'a tag is not part of the image');
    const r = await provenant(['sbom', `${reg.host}/acme/named:v2`, '--platform', 'linux/amd64', '--type', 'spdx']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`"name": ?"${reg.host}/acme/named@sha256:`), r.stdout);
    assert.doesNotMatch(r.stdout, /tag=v|named:v/, r.stdout);
  });
});
