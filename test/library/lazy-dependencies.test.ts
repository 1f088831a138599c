// Importing the library loads what parsing a reference, copying or inspecting runs, not the
// signing and CEL libraries: @sigstore/sign (with its HTTP client) and @bufbuild/cel (with
// @bufbuild/protobuf) were about 200 modules and 20 MB of a program that only parses a reference
// (issue 16, "each command loads only what it needs"). They load when a function first needs them.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RESOLVED_MODULES, ROOT } from '../helpers/cli.ts';

const INDEX = join(ROOT, 'src', 'index.ts');

/** The packages (`@sigstore/sign`, ...) a program loads that imports the library and runs `body` (given the library as `lib`). */
function packagesLoaded(body: string): string[] {
  const hook = `${RESOLVED_MODULES.setup}\nprocess.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(${RESOLVED_MODULES.list}) + '\\n'));`;
  const program = `const lib = await import(${JSON.stringify(INDEX)});\n${body}`;
  const r = spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, '--input-type=module', '-e', program],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  assert.ok(line !== undefined, r.stderr);
  const urls = JSON.parse(line.slice('LOADED '.length)) as string[];
  const names = urls.flatMap((u) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(u)?.[1] ?? []);
  return [...new Set(names)].sort();
}

const HEAVY = ['@sigstore/sign', '@bufbuild/cel', '@bufbuild/protobuf'];

describe('importing the library', () => {
  it('loads neither the signing client nor the CEL implementation to parse a reference', () => {
    const loaded = packagesLoaded("if (lib.parseReference('alpine').repository !== 'library/alpine') throw new Error('parsed wrong');");
    assert.deepEqual(
      HEAVY.filter((p) => loaded.includes(p)),
      [],
      loaded.join(', '),
    );
  });

  it('loads the CEL implementation with the first condition compiled', () => {
    const loaded = packagesLoaded(
      "const p = await lib.compileCel('predicateType != \"\"'); if (!('run' in p)) throw new Error(p.message);",
    );
    assert.ok(loaded.includes('@bufbuild/cel'), loaded.join(', '));
  });

  it('loads the signing client with the first signature made', () => {
    const sign = [
      "const { generateKeyPairSync } = await import('node:crypto');",
      "const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });",
      'const signed = await new lib.KeySigner(privateKey).sign({ kind: "message", bytes: new Uint8Array([1, 2, 3]) });',
      "if (signed.bundle.content.$case !== 'messageSignature') throw new Error('not a message signature');",
    ];
    const loaded = packagesLoaded(sign.join('\n'));
    assert.ok(loaded.includes('@sigstore/sign'), loaded.join(', '));
  });
});
