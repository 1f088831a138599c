// The bundled example image (examples/hello-oci: an index of two platform images) where a CLI test
// signs, attests or pushes it: a folder holding a copy of it and cosign key pairs, or the real
// registry with it pushed (not a test file).
import assert from 'node:assert/strict';
import { cp } from 'node:fs/promises';
import { join } from 'node:path';
import { copyImage } from '../../src/image/copy.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { LayoutStore } from '../../src/store/layout.ts';
import { RegistryStore } from '../../src/store/registry.ts';
import { exampleDir, provenant } from '../cli/provenant.ts';
import { type TestRegistry, useRegistry } from './registry.ts';

/**
 * Fills `dir` (a new temporary folder) with a copy of the example image as `layout`, so that a
 * command names it `oci:layout:latest`, and a key pair per prefix of `keys` (`cosign.key` and
 * `cosign.pub` unless told), made by `provenant generate-key-pair` under `password`. Gives `dir`.
 */
export async function exampleWorkspace(dir: string, options: { password: string; keys?: readonly string[] }): Promise<string> {
  await cp(exampleDir, join(dir, 'layout'), { recursive: true });
  for (const prefix of options.keys ?? ['cosign']) {
    const args = prefix === 'cosign' ? ['generate-key-pair'] : ['generate-key-pair', '--output-key-prefix', prefix];
    const r = await provenant(args, { cwd: dir, env: { COSIGN_PASSWORD: options.password } });
    assert.equal(r.status, 0, r.stderr);
  }
  return dir;
}

/**
 * The real registry of the `describe` it is called in (see {@link useRegistry}), and `push(name)`,
 * which pushes the example image there as `name` (`REPOSITORY:TAG`, a repository per test that
 * changes it) and gives its reference, `HOST/REPOSITORY:TAG`.
 */
export function useRegistryWithExample(): {
  registry: TestRegistry;
  push(name: string): Promise<string>;
} {
  const registry = useRegistry();
  return {
    registry,
    async push(name) {
      const [repository = '', tag = 'latest'] = name.split(':');
      const example = await LayoutStore.open(exampleDir);
      try {
        await copyImage(example, 'latest', new RegistryStore(new RegistryClient(registry.host), repository), { tags: [tag] });
      } finally {
        await example.close();
      }
      return `${registry.host}/${repository}:${tag}`;
    },
  };
}
