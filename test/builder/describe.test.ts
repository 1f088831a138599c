import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { SLSA_V1, SLSA_V02 } from '../../src/attest/provenance.ts';
import { buildImage, writeBuild } from '../../src/builder/build.ts';
import { loadConfig } from '../../src/builder/config.ts';
import { CYCLONEDX_PREDICATE, describeBuild, describeIndex, SPDX_PREDICATE } from '../../src/builder/describe.ts';
import type { Lock } from '../../src/builder/lock.ts';
import { imageSbom } from '../../src/image/attestations.ts';
import { inspectImage } from '../../src/image/inspect.ts';
import { celInput, compileCel } from '../../src/policy/cel.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { copyApkoRepository } from '../helpers/apk.ts';
import { fixturesMissing } from '../helpers/fixtures.ts';

interface Statement {
  _type: string;
  subject: { name: string; digest: { sha256: string } }[];
  predicateType: string;
  // biome-ignore lint/suspicious/noExplicitAny: JSON read back, checked by the assertions
  predicate: Record<string, any>;
}

async function testdata(dir: string): Promise<string> {
  await copyApkoRepository(dir);
  await writeFile(join(dir, 'base.yaml'), 'entrypoint:\n  command: /bin/sh -l\n');
  await writeFile(
    join(dir, 'apko.yaml'),
    'include: base.yaml\ncontents:\n  keyring: [./testdata/melange.rsa.pub]\n  repositories: [./testdata/packages]\n  packages: [replayout, custom-ca-certs-1]\narchs: [x86_64, aarch64]\n',
  );
  return join(dir, 'apko.yaml');
}

const run = promisify(execFile);
const parse = (bytes: Uint8Array): Statement => JSON.parse(Buffer.from(bytes).toString()) as Statement;

describe('SBOMs and provenance of a build', { skip: fixturesMissing }, () => {
  let dir: string;
  let configPath: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'provenant-describe-'));
    configPath = await testdata(dir);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes SPDX, CycloneDX and SLSA v1 statements about each platform manifest, deterministically', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: 1700000000 });
    const options = {
      imageName: 'example.com/app:1',
      configPath,
      toolVersion: '0.1.0',
      sourceDateEpoch: 1700000000,
      builderId: 'https://ci.example/builder',
      fromLock: false,
    };
    const attested = describeBuild(result, options);
    const again = describeBuild(result, options);
    assert.deepEqual(
      again.map((a) => a.statements.map((s) => Buffer.from(s.bytes).toString())),
      attested.map((a) => a.statements.map((s) => Buffer.from(s.bytes).toString())),
    );
    for (const [i, a] of attested.entries()) {
      const image = result.images[i];
      assert.ok(image);
      assert.deepEqual(
        a.statements.map((s) => s.predicateType),
        [SPDX_PREDICATE, CYCLONEDX_PREDICATE, SLSA_V1],
      );
      for (const s of a.statements.map((x) => parse(x.bytes))) {
        assert.equal(s._type, 'https://in-toto.io/Statement/v1');
        assert.deepEqual(s.subject, [{ name: 'example.com/app:1', digest: { sha256: image.manifest.digest.slice(7) } }]);
      }
      const [spdx, cdx, slsa] = a.statements.map((x) => parse(x.bytes).predicate);
      const names = image.packages.map((p) => `${p.name}@${p.version}`).sort();
      assert.deepEqual(
        ((spdx as { packages: unknown }).packages as { name: string; versionInfo: string; primaryPackagePurpose?: string }[])
          .filter((p) => p.primaryPackagePurpose === 'LIBRARY' || p.primaryPackagePurpose === undefined)
          .map((p) => `${p.name}@${p.versionInfo}`)
          .sort(),
        names,
      );
      assert.deepEqual(
        ((cdx as { components: unknown }).components as { type: string; name: string; version: string }[])
          .filter((c) => c.type === 'library')
          .map((c) => `${c.name}@${c.version}`)
          .sort(),
        names,
      );
      const def = slsa?.buildDefinition;
      assert.equal(def.buildType, 'https://provenant.dev/build/apk/v1');
      assert.deepEqual(
        def.externalParameters.config.files.map((f: { path: string }) => f.path),
        ['apko.yaml', 'base.yaml'],
      );
      assert.equal(def.externalParameters.config.files[1].content, 'entrypoint:\n  command: /bin/sh -l\n');
      assert.equal(def.externalParameters.sourceDateEpoch, 1700000000);
      // What the configuration asked for, its includes merged, so that a policy reads it without
      // parsing YAML: the condition docs/policy.md and the issue write holds over a real build.
      assert.deepEqual(def.externalParameters.config.contents, {
        repositories: ['./testdata/packages'],
        keyring: ['./testdata/melange.rsa.pub'],
        packages: ['replayout', 'custom-ca-certs-1'],
      });
      const condition = compileCel('predicate.buildDefinition.externalParameters.config.contents.packages.exists(p, p == "replayout")');
      assert.ok('run' in condition, JSON.stringify(condition));
      const input = celInput(
        { type: 'https://in-toto.io/Statement/v1', predicateType: SLSA_V1, subjects: [], predicate: slsa },
        new Date(),
      );
      assert.deepEqual(condition.run(input as Parameters<typeof condition.run>[0]), { value: true });
      assert.equal(slsa?.runDetails.builder.id, 'https://ci.example/builder');
      assert.deepEqual(
        slsa?.runDetails.byproducts.map((b: { name: string }) => b.name),
        ['sbom.spdx.json', 'sbom.cdx.json'],
      );
      // min mode: nothing about the machine or the run.
      assert.equal(def.internalParameters, undefined);
      assert.equal(slsa?.runDetails.metadata, undefined);
    }
  });

  it('reads the configuration files once for all platforms, not once a platform', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: 1700000000 });
    assert.equal(result.images.length, 2);
    const options = {
      imageName: 'example.com/app:1',
      configPath,
      toolVersion: '0.1.0',
      sourceDateEpoch: 1700000000,
      builderId: 'https://ci.example/builder',
      fromLock: false,
      sbom: false,
    };
    /** How often describeBuild reads the files' text, for `images` platform images. */
    const reads = (images: typeof result.images): number => {
      let n = 0;
      const configFiles = result.configFiles.map((f) => ({
        path: f.path,
        sha256: f.sha256,
        get content() {
          n++;
          return f.content;
        },
      }));
      describeBuild({ ...result, images, configFiles }, options);
      return n;
    };
    const one = reads(result.images.slice(0, 1));
    assert.ok(one > 0);
    assert.equal(reads(result.images), one);
  });

  it('holds everything a rebuild needs: the same image again from the provenance alone', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, sourceDateEpoch: 1700000000 });
    const attested = describeBuild(result, {
      imageName: 'x',
      configPath,
      toolVersion: '0.1.0',
      sourceDateEpoch: 1700000000,
      builderId: 'b',
      fromLock: false,
    });
    // Rebuild in a fresh folder from what the provenance of each platform says.
    const rebuild = await mkdtemp(join(tmpdir(), 'provenant-rebuild-'));
    try {
      const lock: Lock = {
        version: 'v1',
        config: { name: '', checksum: '' },
        contents: { keyring: [], build_repositories: [], runtime_repositories: [], repositories: [], packages: [] },
      };
      // biome-ignore lint/suspicious/noExplicitAny: JSON read back, checked by the assertions
      let external: any;
      for (const a of attested) {
        const slsa = parse(a.statements.find((s) => s.predicateType === SLSA_V1)?.bytes ?? new Uint8Array()).predicate;
        external = slsa.buildDefinition.externalParameters;
        for (const d of slsa.buildDefinition.resolvedDependencies) {
          if (d.annotations.kind === 'apk') {
            const range = (t: string | undefined) =>
              t === undefined ? undefined : { range: t.split(' ')[0] ?? '', checksum: t.split(' ')[1] ?? '' };
            lock.contents.packages.push({
              name: d.name,
              version: d.annotations.version,
              architecture: d.annotations.arch,
              url: d.uri,
              checksum: d.annotations.checksum,
              signature: range(d.annotations.signature),
              control: range(d.annotations.control),
              data: range(d.annotations.data),
            });
          }
          if (d.annotations.kind === 'apk-key' && !lock.contents.keyring.some((k) => k.name === d.name)) {
            lock.contents.keyring.push({ name: `./testdata/${d.name}`, url: d.name, content: Buffer.from(d.content, 'base64').toString() });
          }
        }
      }
      for (const f of external.config.files) await writeFile(join(rebuild, f.path), f.content);
      // Packages by their URLs (relative to the config's folder), as a mirror would serve them.
      await cp(join(dir, 'testdata', 'packages'), join(rebuild, 'testdata', 'packages'), { recursive: true });
      const rebuiltConfig = join(rebuild, external.config.path);
      const again = await buildImage({
        config: await loadConfig(rebuiltConfig, { hostArch: 'x86_64' }),
        configPath: rebuiltConfig,
        lock,
        // As reproduce rebuilds: the provenance's keys and packages, taken as they are.
        lockVouches: true,
        archs: external.archs,
        sourceDateEpoch: external.sourceDateEpoch,
      });
      assert.equal(again.index?.digest, result.index?.digest);
    } finally {
      await rm(rebuild, { recursive: true, force: true });
    }
  });

  it('states each SBOM by the digest the recipe of docs/provenance.md gives of what `provenant sbom` prints', async () => {
    const recipe = /`(provenant sbom IMAGE \|[^`]*\| sha256sum)`/.exec(
      await readFile(join(import.meta.dirname, '..', '..', 'docs', 'provenance.md'), 'utf8'),
    )?.[1];
    assert.ok(recipe, 'docs/provenance.md gives a recipe for the byproducts digest');
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const built = await buildImage({ config: loaded, configPath, archs: ['x86_64'] });
    // Text as a package may describe itself: U+007F, which jq and JSON.stringify write differently.
    const result = {
      ...built,
      images: built.images.map((i) => ({ ...i, packages: i.packages.map((p) => ({ ...p, description: `${p.description} \x7f\u2028é` })) })),
    };
    const options = { imageName: 'x', configPath, toolVersion: '0.1.0', builderId: 'b', fromLock: false };
    const [attested] = describeBuild(result, options);
    const [spdx, cdx, slsa] = (attested?.statements ?? []).map((x) => parse(x.bytes).predicate);
    const stated: { name: string; digest: { sha256: string } }[] = slsa?.runDetails.byproducts ?? [];
    const byproducts = new Map(stated.map((b) => [b.name, b.digest.sha256]));
    assert.equal(byproducts.size, 2);
    for (const [name, doc] of [
      ['sbom.spdx.json', spdx],
      ['sbom.cdx.json', cdx],
    ] as const) {
      assert.ok(JSON.stringify(doc).includes('\x7f'), name);
      // What `provenant sbom` prints (cli/commands/sbom.ts), fed to the recipe in its place.
      const printed = join(dir, `printed-${name}`);
      await writeFile(printed, `${JSON.stringify(doc, null, 2)}\n`);
      const { stdout }: { stdout: string } = await run('sh', ['-c', recipe.replace('provenant sbom IMAGE', 'cat "$1"'), 'sh', printed], {
        env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` },
      });
      assert.equal(stdout.split(/\s/)[0], byproducts.get(name), name);
    }
  });

  it("writes BuildKit's v0.2 shape on request, and mode=max records the CI run without secrets", async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath, archs: ['x86_64'] });
    const base = { imageName: 'x', configPath, toolVersion: '0.1.0', builderId: 'b', fromLock: false, sbom: false };
    const [v02] = describeBuild(result, { ...base, provenance: { mode: 'min', version: 'v0.2' } });
    const s = parse(v02?.statements[0]?.bytes ?? new Uint8Array());
    assert.equal(s._type, 'https://in-toto.io/Statement/v0.1');
    assert.equal(s.predicateType, SLSA_V02);
    assert.ok(s.predicate.materials.length > 0);
    const [max] = describeBuild(result, {
      ...base,
      provenance: { mode: 'max', version: 'v1' },
      invocation: { id: 'https://github.com/o/r/actions/runs/1/attempts/1', environment: { GITHUB_SHA: 'abc' } },
    });
    const p = parse(max?.statements[0]?.bytes ?? new Uint8Array()).predicate;
    assert.equal(p.runDetails.metadata.invocationId, 'https://github.com/o/r/actions/runs/1/attempts/1');
    assert.deepEqual(p.buildDefinition.internalParameters, { environment: { GITHUB_SHA: 'abc' } });
  });

  it('attaches them so that sbom finds the SPDX document again', async () => {
    const loaded = await loadConfig(configPath, { hostArch: 'x86_64' });
    const result = await buildImage({ config: loaded, configPath });
    const options = { imageName: 'x', configPath, toolVersion: '0.1.0', builderId: 'b', fromLock: false };
    const attested = describeBuild(result, options);
    const indexSbom = describeIndex(result, options);
    assert.ok(indexSbom);
    const out = join(dir, 'layout');
    const store = await LayoutStore.open(out, { create: true });
    await writeBuild(result, store, ['latest'], { attestations: { attested: [...attested, indexSbom], mode: 'referrers' } });
    // The index has its own SBOM (the index and its platform images), as apko's sbom-index.
    const seen = await inspectImage(store, 'latest', 'x');
    assert.deepEqual(
      seen.attachments.map((a) => a.predicateTypes),
      [[SPDX_PREDICATE]],
    );
    const indexDoc = parse(indexSbom.statements[0]?.bytes ?? new Uint8Array()).predicate as {
      packages: { primaryPackagePurpose?: string }[];
    };
    assert.equal(indexDoc.packages.filter((p) => p.primaryPackagePurpose === 'CONTAINER').length, 3);
    const sbom = await imageSbom(store, 'latest', 'x', { toolVersion: '0.1.0', platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(sbom.generated, false);
    assert.equal(sbom.platform, 'linux/arm64');
    const spdxOfArm = parse(attested[1]?.statements[0]?.bytes ?? new Uint8Array()).predicate;
    assert.deepEqual(sbom.document, spdxOfArm);
    await store.close();
    assert.ok((await readFile(join(out, 'index.json'), 'utf8')).includes('application/vnd.docker.attestation.manifest.v1+json'));
  });
});
