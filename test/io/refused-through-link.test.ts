/**
 * A read refused for want of permission names the folder that refused (`ls -ld` of it shows why).
 * When a folder on the path as written is a symbolic link, the folder that refused is further
 * along the link: the hint named the link, whose own permissions are not the ones that count.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { useTempDir } from '../helpers/temp.ts';

const tempDir = useTempDir('refused-link');
const src = (path: string) => JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', '..', 'src', path)).href);

/** What fileError and readNamedFile say of reading `path`, as nobody (uid 65534). */
function asNobody(path: string): { fileError: string; named: { code: string; message: string; hint: string } } {
  const script = `import { readFileSync } from 'node:fs';
import { fileError } from ${src('io/files.ts')};
import { readNamedFile } from ${src('io/named-file.ts')};
const p = ${JSON.stringify(path)};
const out = {};
try { readFileSync(p); } catch (e) { out.fileError = fileError(e, 'x').hint; }
await readNamedFile(p, 'the key file').catch((e) => { out.named = { code: e.code, message: e.message, hint: e.hint }; });
console.log(JSON.stringify(out));`;
  const r = spawnSync(
    'setpriv',
    ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('a read refused by a folder reached through a symbolic link', () => {
  it('names the real folder that refused, and the link that leads there', async (t) => {
    if (process.getuid?.() !== 0 || spawnSync('setpriv', ['--version']).status !== 0) return t.skip('needs root and setpriv');
    const dir = await tempDir();
    await chmod(dir, 0o755);
    const locked = join(dir, 'real', 'locked');
    await mkdir(join(locked, 'keys'), { recursive: true });
    await chmod(join(dir, 'real'), 0o755);
    await writeFile(join(locked, 'keys', 'cosign.pub'), 'k', { mode: 0o644 });
    await chmod(locked, 0o700);
    await symlink(join('real', 'locked', 'keys'), join(dir, 'link'));
    const seen = asNobody(join(dir, 'link', 'cosign.pub'));
    const hint = `this user may not enter ${locked}, a folder above it through the link ${join(dir, 'link')}: run as a user who may, or change that folder's permissions (ls -ld ${locked})`;
    assert.equal(seen.fileError, hint);
    assert.deepEqual(seen.named, {
      code: 'IO',
      message: 'the key file cannot be read: permission denied: this user may not read it (or enter a folder above it)',
      hint,
    });
    // A link to a folder that may not be entered itself: that folder is named.
    await symlink(locked, join(dir, 'to-locked'));
    assert.equal(
      asNobody(join(dir, 'to-locked', 'keys', 'cosign.pub')).fileError,
      `this user may not enter ${locked}, a folder above it through the link ${join(dir, 'to-locked')}: run as a user who may, or change that folder's permissions (ls -ld ${locked})`,
    );
    // No link on the way: the folder as written, as before.
    assert.equal(
      asNobody(join(locked, 'keys', 'cosign.pub')).fileError,
      `this user may not enter ${locked}, a folder above it: run as a user who may, or change that folder's permissions (ls -ld ${locked})`,
    );
  });
});
