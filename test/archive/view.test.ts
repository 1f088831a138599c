// TarView: a tar file's members read in place, links resolved inside the archive only.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { type TarWriteEntry, tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { TarView } from '../../src/archive/view.ts';
import { isProvenantError } from '../../src/errors.ts';
import { useTempDir } from '../helpers/temp.ts';
import { collect, text } from './helpers.ts';

const tempDir = useTempDir('view');

let n = 0;
async function view(entries: TarWriteEntry[]): Promise<TarView> {
  const dir = await tempDir();
  const path = join(dir, `v${n++}.tar`);
  // Hostile names too: the view is what must refuse them.
  await writeFile(path, await tarBytes(entries, { unsafeNames: true }));
  return TarView.open(path, { where: `test:${path}` });
}

const file = (name: string, content: string): TarWriteEntry => {
  const body = text(content);
  return { header: tarHeader({ name, size: body.length }), body };
};
const symlink = (name: string, linkname: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'symlink', linkname }) });
const hardlink = (name: string, linkname: string): TarWriteEntry => ({ header: tarHeader({ name, type: 'hardlink', linkname }) });

async function content(v: TarView, name: string): Promise<string | undefined> {
  const f = v.file(name);
  return f === undefined ? undefined : new TextDecoder().decode(await collect(v.read(f)));
}

describe('TarView', () => {
  it('finds members by cleaned name and follows links inside the archive only', async () => {
    const v = await view([
      { header: tarHeader({ name: './d/', type: 'dir', mode: 0o755 }) },
      file('./d//f', 'F'),
      file(`${'long/'.repeat(30)}x`, 'LONG'), // over 100 bytes: a PAX path
      symlink('d/s', 'f'), // relative to its own folder
      symlink('top', 'd/s'), // a link to a link
      symlink('e', 'd'), // a linked folder
      symlink('d/up', '../d/./f'),
      hardlink('h', 'd/f'), // relative to the root, as tar stores it
      hardlink('hs', 'top'), // a hardlink to a symlink stands for what the symlink leads to
      symlink('dangling', 'nowhere'),
      symlink('root', '.'),
    ]);
    assert.deepEqual(v.names(), ['d', 'd/f', `${'long/'.repeat(30)}x`, 'd/s', 'top', 'e', 'd/up', 'h', 'hs', 'dangling', 'root']);
    for (const name of ['d/f', './d/f', 'd/s', 'top', 'e/f', 'e/s', 'd/up', 'h', 'hs', 'root/e/f', 'root/root/top']) {
      assert.equal(await content(v, name), 'F', name);
      assert.equal(v.file(name)?.name, 'd/f', name);
    }
    assert.equal(await content(v, `${'long/'.repeat(30)}x`), 'LONG');
    for (const name of ['d', 'e', 'dangling', 'nowhere', 'd/f/x', 'h/x', '.', 'root']) assert.equal(v.file(name), undefined, name);
    for (const name of ['../d/f', '/d/f', 'd/../../f']) {
      assert.throws(
        () => v.file(name),
        (e: unknown) => isProvenantError(e, 'UNSAFE_PATH'),
        name,
      );
    }
  });

  it('reads part of a body', async () => {
    const v = await view([file('f', 'abcdef')]);
    const f = v.file('f')!;
    assert.equal(new TextDecoder().decode(await collect(v.read(f, 2))), 'cdef');
    assert.equal(new TextDecoder().decode(await collect(v.read(f, 1, 3))), 'bc');
    assert.equal((await collect(v.read(f, 0, 0))).length, 0);
  });

  it('takes the last of repeated names', async () => {
    const v = await view([file('f', 'one'), symlink('g', 'f'), file('./f', 'two'), file('g', 'three')]);
    assert.equal(await content(v, 'f'), 'two');
    assert.equal(await content(v, 'g'), 'three');
    assert.deepEqual(v.names(), ['f', 'g']);
  });

  it('follows a chain of 40 links and refuses 41', async () => {
    const chain = (links: number): TarWriteEntry[] => [
      file('f', 'end'),
      ...Array.from({ length: links }, (_, i) => symlink(`l${i}`, i === links - 1 ? 'f' : `l${i + 1}`)),
    ];
    assert.equal(await content(await view(chain(40)), 'l0'), 'end');
    await assert.rejects(view(chain(41)), (e: unknown) => isProvenantError(e, 'INVALID_ARCHIVE') && /more than 40 links/.test(e.message));
  });

  it('refuses what could reach outside, with the entry named', async () => {
    const cases: Array<[TarWriteEntry[], string, RegExp]> = [
      [[file('../x', 'x')], 'UNSAFE_PATH', /climbs above the root/],
      [[file('/x', 'x')], 'UNSAFE_PATH', /absolute/],
      [[symlink('a/s', '../../x')], 'UNSAFE_PATH', /"a\/s" -> "..\/..\/x" points outside/],
      [[symlink('s', '/etc')], 'UNSAFE_PATH', /absolute path/],
      [[hardlink('h', '../x')], 'UNSAFE_PATH', /"h" -> "..\/x" points outside/],
      [[hardlink('a/h', '/etc/passwd')], 'UNSAFE_PATH', /absolute path/],
      // Too long to hold is said as such, not as outside (a cold review).
      [[symlink(`${'d'.repeat(3000)}/s`, 'x'.repeat(1500))], 'UNSAFE_PATH', /leads to a path of 4501 bytes, more than PATH_MAX/],
      // A lexical check of each link alone passes these; the entries beneath links give them away.
      [
        [symlink('a/b/c/up', '../../..'), symlink('a/b/c/up/q', '../../..'), file('a/b/c/up/q/ESCAPED', 'x')],
        'UNSAFE_PATH',
        /beneath the symlink "a\/b\/c\/up"/,
      ],
      [[file('f', 'x'), hardlink('h', 'f'), file('h/x', 'x')], 'UNSAFE_PATH', /beneath the hardlink "h"/],
      [[file('f', 'x'), file('f/g', 'x')], 'INVALID_ARCHIVE', /beneath the file "f"/],
      [[symlink('.', 'x')], 'UNSAFE_PATH', /root/],
      [[symlink('a', 'b'), symlink('b', 'a')], 'INVALID_ARCHIVE', /loop/],
      [[{ header: tarHeader({ name: 'sda', type: 'block', devmajor: 8 }) }], 'INVALID_ARCHIVE', /block/],
      [[], 'INVALID_ARCHIVE', /empty/],
    ];
    for (const [entries, code, message] of cases) {
      await assert.rejects(view(entries), (e: unknown) => {
        assert.ok(isProvenantError(e), String(e));
        assert.equal(e.code, code, e.message);
        assert.match(e.message, message);
        assert.ok(e.where?.startsWith('test:'), e.where);
        return true;
      });
    }
  });
});
