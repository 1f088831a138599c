// `provenant completion bash|zsh|fish`: each script, loaded into its shell, completes the
// commands, a command's flags, a subcommand and a flag's values as the specs give them.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliOk, runCli } from '../helpers/cli.ts';
import { toolMissing } from '../helpers/images.ts';
import { useTempDir } from '../helpers/temp.ts';

const exec = promisify(execFile);
const tempDir = useTempDir('completion');

async function script(shell: string): Promise<string> {
  const path = join(await tempDir(), `provenant.${shell}`);
  await writeFile(path, (await cliOk(['completion', shell])).stdout);
  return path;
}

describe('provenant completion', () => {
  it('bash: commands, flags, subcommands and values', { skip: toolMissing('bash') }, async () => {
    const path = await script('bash');
    const complete = async (...words: string[]) => {
      const line = words.map((w) => `'${w}'`).join(' ');
      const { stdout } = await exec('bash', [
        '-c',
        `source '${path}'; COMP_WORDS=(${line}); COMP_CWORD=${words.length - 1}; _provenant; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      return stdout.trim().split('\n');
    };
    assert.deepEqual(await complete('provenant', 'co'), ['completion', 'copy']);
    assert.deepEqual(await complete('provenant', 'copy', '--pl'), ['--platform']);
    assert.deepEqual(await complete('provenant', 'apk', ''), ['keygen', 'build', 'index']);
    assert.deepEqual(await complete('provenant', 'inspect', '--format', ''), ['text', 'json']);
    assert.deepEqual(await complete('provenant', 'sbom', '--type', ''), ['spdx', 'cyclonedx']);
    // Each command's own values for the same flag.
    assert.deepEqual(await complete('provenant', 'build', '--attestations', ''), [
      'referrers',
      'buildkit',
      'buildkit-artifact',
      'cosign',
      'none',
    ]);
    assert.deepEqual(await complete('provenant', 'attest', '--attestations', ''), ['referrers', 'cosign', 'buildkit', 'buildkit-artifact']);
    assert.deepEqual(await complete('provenant', 'index', '--attestations', ''), ['keep', 'buildkit', 'referrers']);
    assert.deepEqual(await complete('provenant', 'help', 'insp'), ['inspect']);
    // Target ids, read from the profiles when the script is written.
    assert.deepEqual(await complete('provenant', 'check', '--target', 'amazon-'), ['amazon-ecr', 'amazon-ecr-public']);
    assert.deepEqual(await complete('provenant', 'report', '--target', 'no'), ['none']);
    assert.deepEqual(await complete('provenant', 'check', '--target', 'no'), ['']);
    // A flag's own values, as its help shows them: report writes html or json, not text.
    assert.deepEqual(await complete('provenant', 'report', '--format', ''), ['html', 'json']);
    assert.match((await cliOk(['help', 'report'])).stdout, /--format html\|json\n/);
  });

  it('zsh: the script parses and registers its function for provenant', { skip: toolMissing('zsh') }, async () => {
    const path = await script('zsh');
    await exec('zsh', ['-n', path]);
    const { stdout } = await exec('zsh', [
      '-f',
      '-c',
      `autoload -U compinit; compinit -u -D; source '${path}'; print -- \${_comps[provenant]}; whence -w _provenant`,
    ]);
    assert.equal(stdout, '_provenant\n_provenant: function\n');
  });

  it('fish: commands with their summaries, flags, subcommands and values', { skip: toolMissing('fish') }, async () => {
    const path = await script('fish');
    // In an empty folder: file names are completed too, and there are none.
    const cwd = await tempDir();
    const complete = async (line: string) => {
      const { stdout } = await exec('fish', ['--no-config', '-c', `source '${path}'; complete -C '${line}'`], { cwd });
      return stdout.trim().split('\n');
    };
    assert.ok((await complete('provenant co')).includes('copy\tcopy an image with everything it references between any two stores'));
    assert.deepEqual(
      (await complete('provenant copy --pl')).map((l) => l.split('\t')[0]),
      ['--platform'],
    );
    assert.deepEqual(
      (await complete('provenant apk ')).map((l) => l.split('\t')[0]),
      ['build', 'index', 'keygen'],
    );
    assert.deepEqual(
      (await complete('provenant inspect --format ')).map((l) => l.split('\t')[0]),
      ['json', 'text'],
    );
  });

  it('refuses a shell it has no script for (exit 2)', async () => {
    const r = await runCli(['completion', 'tcsh']);
    assert.equal(r.status, 2);
    assert.match(
      r.stderr,
      /^provenant completion: no completion for the shell "tcsh"\n {2}hint: write provenant completion bash, zsh or fish\n$/,
    );
  });
});
