/**
 * SBOM and provenance generation time for a 100-package image, against the build itself.
 *
 *   node bench/describe.ts [--packages 100] [--runs 5]
 *
 * Makes 100 small signed packages (each a few files, depending on the previous ones) in a temp
 * repository, builds an image from them with the library, then times `describeBuild` (SPDX 2.3,
 * CycloneDX 1.6 and SLSA v1 for the image) and the build, median of the runs.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { buildImage } from '../src/builder/build.ts';
import { loadConfig } from '../src/builder/config.ts';
import { describeBuild } from '../src/builder/describe.ts';
import { generateApkKeyPair } from '../src/pkg/apk/keys.ts';
import { buildApk, buildApkIndex } from '../src/pkg/apk/write.ts';
import { benchArgs } from './lib.ts';

const values = benchArgs(import.meta.filename, { packages: { type: 'string', default: '100' }, runs: { type: 'string', default: '5' } }, [
  'packages',
  'runs',
]);
const count = Number(values.packages);
const runs = Number(values.runs);

const dir = await mkdtemp(join(tmpdir(), 'provenant-bench-describe-'));
try {
  const key = generateApkKeyPair('bench', { bits: 2048 });
  const repo = join(dir, 'repo', 'x86_64');
  await mkdir(repo, { recursive: true });
  const apks: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const files = Array.from({ length: 5 }, (_, f) => ({
      path: `usr/share/p${i}/f${f}.txt`,
      type: 'file' as const,
      body: new TextEncoder().encode(`package ${i} file ${f}\n`.repeat(50)),
    }));
    const apk = await buildApk(
      {
        name: `p${i}`,
        version: `1.${i}-r0`,
        arch: 'x86_64',
        license: i % 3 === 0 ? 'MIT' : 'Apache-2.0 OR MIT',
        origin: `o${i % 40}`,
        depends: i === 0 ? [] : [`p${i - 1}`, `p${Math.floor(i / 2)}`].filter((d, k, a) => a.indexOf(d) === k && d !== `p${i}`),
        files,
      },
      { key: { privateKeyPem: key.privateKeyPem, name: key.name } },
    );
    apks.push(apk);
    await writeFile(join(repo, `p${i}-1.${i}-r0.apk`), apk);
  }
  await writeFile(
    join(repo, 'APKINDEX.tar.gz'),
    (await buildApkIndex(apks, { key: { privateKeyPem: key.privateKeyPem, name: key.name } })).bytes,
  );
  await writeFile(join(dir, key.name), key.publicKeyPem);
  const configPath = join(dir, 'image.yaml');
  await writeFile(
    configPath,
    `contents:\n  repositories: [./repo]\n  keyring: [./${key.name}]\n  packages: [p${count - 1}]\narchs: [x86_64]\n`,
  );
  const config = await loadConfig(configPath, { hostArch: 'x86_64' });

  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  const buildTimes: number[] = [];
  const describeTimes: number[] = [];
  let installed = 0;
  for (let r = 0; r < runs; r++) {
    let t = performance.now();
    const result = await buildImage({ config, configPath, cacheDir: join(dir, 'cache') });
    buildTimes.push(performance.now() - t);
    installed = result.images[0]?.packages.length ?? 0;
    t = performance.now();
    const attested = describeBuild(result, { imageName: 'bench', configPath, toolVersion: '0.1.0', builderId: 'bench', fromLock: false });
    describeTimes.push(performance.now() - t);
    if (attested[0]?.statements.length !== 3) throw new Error('expected three statements');
  }
  const b = median(buildTimes);
  const d = median(describeTimes);
  console.log(
    `machine: ${cpus()[0]?.model ?? 'unknown'}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
  );
  console.log(`packages installed: ${installed}; runs: ${runs} (median; build from cached packages after the first)`);
  console.log(
    `| step | median ms |\n|---|---:|\n| build (resolve, verify, assemble, layer) | ${b.toFixed(0)} |\n| SBOMs (SPDX + CycloneDX) and provenance | ${d.toFixed(1)} |\n| ratio | ${((d / b) * 100).toFixed(1)} % |`,
  );
} finally {
  await rm(dir, { recursive: true, force: true });
}
