// docs/getting-started.md, run as a reader runs it: its shell blocks from step 2 on, in order, in one
// shell, with `provenant` on PATH (what set-up links) and the policy of step 5 in policy.yaml.
// The tutorial broke once without a test noticing (a key policy stopped reading the default
// referrer bundles, as policy-controller does): every command must end as the text says.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ROOT } from '../helpers/cli.ts';
import { useTempDir } from '../helpers/temp.ts';

const run = promisify(execFile);
const tempDir = useTempDir('getting-started');

const missing =
  (existsSync('/bin/busybox') ? false : '/bin/busybox is missing (Debian busybox-static; scripts/setup.sh installs it)') ||
  (process.arch === 'x64' ? false : 'the example packages an x86_64 busybox');

/** The fenced blocks of `lang` in the text, each with the number of the step (`## N.`) it is under. */
function blocks(text: string, lang: string): { step: number; body: string }[] {
  const out: { step: number; body: string }[] = [];
  let step = 0;
  let open: string[] | undefined;
  for (const line of text.split('\n')) {
    if (open !== undefined) {
      if (line === '```') {
        out.push({ step, body: open.join('\n') });
        open = undefined;
      } else open.push(line);
      continue;
    }
    const heading = /^## (\d+)\./.exec(line);
    if (heading !== null) step = Number(heading[1]);
    if (line === `\`\`\`${lang}`) open = [];
  }
  return out;
}

describe('docs/getting-started.md, as written', { skip: missing }, () => {
  it('runs from the example repository to the report, each command ending as the text says', async () => {
    const text = await readFile(join(ROOT, 'docs', 'getting-started.md'), 'utf8');
    const policy = blocks(text, 'yaml').filter((b) => b.step === 5);
    assert.equal(policy.length, 1, 'step 5 has one policy');
    // Step 1 is set-up (done for the tests); pushing to a registry of one's own is not run here.
    const shell = blocks(text, 'sh').filter((b) => b.step >= 2 && !b.body.includes('registry.example'));
    const lines = shell.flatMap((b) => b.body.split('\n')).filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
    assert.ok(
      lines.some((l) => l.startsWith('provenant policy test')),
      'step 5 runs the policy',
    );
    const dir = await tempDir();
    // Each line in this one shell (cd and export carry on), its exit status noted after it.
    const script = [
      'set -u',
      ...lines.map((line, i) => {
        const written = line
          .replace(/^(bash|cp) examples\//, `$1 ${ROOT}/examples/`)
          .replace('oci:image.oci@sha256:...', 'oci:image.oci@$(provenant digest oci:image.oci:latest --platform linux/amd64)');
        const policyFile = written.startsWith('provenant policy test') ? `cp ${dir}/policy.yaml . && ` : '';
        return `{ ${policyFile}${written}\n} >>${dir}/out.txt 2>&1; echo "${i} $?" >>${dir}/exits.txt`;
      }),
    ].join('\n');
    await writeFile(join(dir, 'policy.yaml'), `${policy[0]!.body}\n`);
    await writeFile(join(dir, 'run.sh'), script);
    await run('bash', [join(dir, 'run.sh')], {
      cwd: dir,
      env: { ...process.env, PATH: `${join(ROOT, 'bin')}:${process.env.PATH ?? ''}` },
      maxBuffer: 64 * 1024 * 1024,
    });
    const output = await readFile(join(dir, 'out.txt'), 'utf8');
    const exits = (await readFile(join(dir, 'exits.txt'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => Number(l.split(' ')[1]));
    assert.equal(exits.length, lines.length, output);
    for (const [i, line] of lines.entries()) {
      // check exits 7 when a target would refuse the image, as step 7 says (Lambda takes no index).
      const expected = line.startsWith('provenant check ') ? 7 : 0;
      assert.equal(exits[i], expected, `${line}\n${output}`);
    }
    assert.match(output, /: PASS\n/, output);
  });
});
