// cleanEntryPath: the lexical check every archive entry name passes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cleanEntryPath, PATH_MAX, PATH_PARTS_MAX, refuseLinkTarget } from '../../src/archive/paths.ts';
import { tarBytes, tarHeader } from '../../src/archive/tar.ts';
import { isProvenantError } from '../../src/errors.ts';

describe('cleanEntryPath', () => {
  const cases: Array<[string, string]> = [
    ['a', 'a'],
    ['./a', 'a'],
    ['a/', 'a'],
    ['./a/b/', 'a/b'],
    ['a//b', 'a/b'],
    ['a/./b', 'a/b'],
    ['././a', 'a'],
    ['a/../b', 'b'],
    ['a/b/../../c', 'c'],
    ['a/..', '.'],
    ['./', '.'],
    ['.', '.'],
    ['blobs/sha256/abc', 'blobs/sha256/abc'],
    ['a/..b', 'a/..b'],
    ['...', '...'],
    ['ü/ñ', 'ü/ñ'],
  ];
  for (const [input, want] of cases) {
    it(`cleans ${JSON.stringify(input)} to ${JSON.stringify(want)}`, () => {
      assert.equal(cleanEntryPath(input), want);
    });
  }

  const unsafe: Array<[string, RegExp]> = [
    ['', /is empty/],
    ['/etc/passwd', /absolute/],
    ['//x', /absolute/],
    ['..', /climbs above the root/],
    ['../x', /climbs above the root/],
    ['./../x', /climbs above the root/],
    ['a/../../x', /climbs above the root/],
    ['a/b/../../..', /climbs above the root/],
    ['a\0b', /NUL/],
  ];
  for (const [input, message] of unsafe) {
    it(`refuses ${JSON.stringify(input)} with UNSAFE_PATH`, () => {
      assert.throws(
        () => cleanEntryPath(input, 'layer.tar'),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') && message.test(err.message) && err.where === 'layer.tar' && err.hint !== undefined,
      );
    });
  }

  it('refuses a name longer than PATH_MAX bytes, or of more parts than PATH_PARTS_MAX, at once and shown cut short', () => {
    // `a/` 100,000 times: a PAX `path` record holds it in a 708-byte .deb, and the tree made a
    // string of each of its 100,000 folders' paths (a heap of gigabytes) before this check.
    const deep = `./${'a/'.repeat(100_000)}f`;
    for (const [name, why] of [
      [deep, /is 200003 bytes long, more than PATH_MAX \(4096\)/],
      [`${'x'.repeat(PATH_MAX)}/`, /is 4097 bytes long/],
      // UTF-8 bytes, not UTF-16 units: 1,366 three-byte characters are 4,098 bytes.
      ['\u20ac'.repeat(1366), /is 4098 bytes long/],
      [`${'a/'.repeat(PATH_PARTS_MAX)}f`, /has more than 1024 parts/],
    ] as const) {
      assert.throws(
        () => cleanEntryPath(name, `evil.deb: ${name}`),
        (err: unknown) =>
          isProvenantError(err, 'UNSAFE_PATH') &&
          why.test(err.message) &&
          err.message.length < 400 &&
          err.where !== undefined &&
          err.where.startsWith('evil.deb: ./') === name.startsWith('./') &&
          err.where.length < 200 &&
          /PATH_MAX/.test(err.hint ?? ''),
        name.slice(0, 20),
      );
    }
  });

  it('accepts a name of PATH_MAX bytes and of PATH_PARTS_MAX parts, and `..` parts that keep it shallow', () => {
    const longest = `./${'x'.repeat(PATH_MAX - 2)}`;
    assert.equal(cleanEntryPath(longest), longest.slice(2));
    const deepest = `${'a/'.repeat(PATH_PARTS_MAX - 1)}f`;
    assert.equal(cleanEntryPath(deepest), deepest);
    assert.equal(cleanEntryPath('\u20ac'.repeat(1365)), '\u20ac'.repeat(1365));
    assert.equal(cleanEntryPath(`${'a/../'.repeat(800)}f`), 'f');
  });

  it('holds every cleaned path to PATH_MAX bytes and PATH_PARTS_MAX parts, and refuses a name only for a reason it gives (property)', () => {
    // Names around both limits: many short parts (deep, under PATH_MAX bytes or not), or a few
    // long ones of characters of one to four UTF-8 bytes.
    const short = fc.constantFrom('a', '.', '', '..', 'bb');
    const long = fc
      .string({ unit: 'grapheme', minLength: 1, maxLength: 1500, size: 'max' })
      .filter((s) => !s.includes('/') && !s.includes('\0'));
    const name = fc
      .oneof(
        fc.array(fc.constantFrom('a', 'bb', 'a', '.', ''), { minLength: 900, maxLength: 2200, size: 'max' }),
        fc.array(fc.oneof({ weight: 5, arbitrary: short }, { weight: 1, arbitrary: long }), { minLength: 1, maxLength: 20 }),
      )
      .map((parts) => parts.join('/'));
    const seen = { refusedLong: 0, refusedDeep: 0, accepted: 0 };
    fc.assert(
      fc.property(name, (n) => {
        let out: string;
        try {
          out = cleanEntryPath(n);
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          const long = Buffer.byteLength(n) > PATH_MAX;
          assert.ok(long || /parts|climbs|absolute|empty/.test(err.message), err.message);
          assert.equal(/PATH_MAX \(4096\)/.test(err.message), long, err.message);
          if (long) seen.refusedLong++;
          else if (/parts/.test(err.message)) seen.refusedDeep++;
          return;
        }
        seen.accepted++;
        assert.ok(Buffer.byteLength(n) <= PATH_MAX);
        assert.ok(out.split('/').length <= PATH_PARTS_MAX, `${out.split('/').length} parts`);
      }),
      { numRuns: 300 },
    );
    // The names reached each outcome: the property says something of both limits.
    assert.ok(seen.refusedLong > 0 && seen.refusedDeep > 0 && seen.accepted > 0, JSON.stringify(seen));
  });

  it('never returns an absolute path or a ".." component, and is idempotent', () => {
    const segment = fc.oneof(
      fc.constantFrom('..', '.', '', 'a', 'b', '...', '..a', ' '),
      fc.string({ unit: 'grapheme', minLength: 1, maxLength: 4 }).filter((s) => !s.includes('/') && !s.includes('\0')),
    );
    const name = fc.array(segment, { minLength: 1, maxLength: 8 }).map((parts) => parts.join('/'));
    fc.assert(
      fc.property(name, (n) => {
        let out: string;
        try {
          out = cleanEntryPath(n);
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          return;
        }
        assert.ok(!out.startsWith('/'), out);
        assert.ok(!out.split('/').includes('..'), out);
        assert.ok(out.length > 0);
        assert.equal(cleanEntryPath(out), out);
      }),
      { numRuns: 1000 },
    );
  });

  it('accepts every name made only of normal segments, unchanged', () => {
    const segment = fc.stringMatching(/^[a-zA-Z0-9_-]{1,8}$/);
    fc.assert(
      fc.property(fc.array(segment, { minLength: 1, maxLength: 6 }), (parts) => {
        assert.equal(cleanEntryPath(parts.join('/')), parts.join('/'));
        assert.equal(cleanEntryPath(`./${parts.join('/')}/`), parts.join('/'));
      }),
    );
  });
});

describe('refuseLinkTarget', () => {
  const symlink = (linkname: string) => ({ type: 'symlink' as const, linkname });
  it('refuses a link target of more than PATH_MAX bytes, naming the package and entry', () => {
    assert.doesNotThrow(() => refuseLinkTarget(symlink('x'.repeat(PATH_MAX)), './l', 'p.deb'));
    assert.doesNotThrow(() => refuseLinkTarget({ type: 'file', linkname: '' }, './f', 'p.deb'));
    assert.throws(
      () => refuseLinkTarget(symlink(`/${'a/'.repeat(500_000)}`), './l', 'p.deb'),
      (err: unknown) =>
        isProvenantError(err, 'UNSAFE_PATH') &&
        /links to a target of 1000001 bytes, more than PATH_MAX/.test(err.message) &&
        err.where === 'p.deb: "./l"',
    );
    assert.throws(() => refuseLinkTarget(symlink('\u20ac'.repeat(1366)), './l', 'p.deb'), /4098 bytes/);
  });

  it('refuses an empty symlink or hardlink target and one holding a NUL, naming the package and entry', () => {
    for (const [header, why] of [
      [symlink(''), /symlink "\.\/usr\/lib\/libfoo\.so" has a target that is empty/],
      [{ type: 'hardlink' as const, linkname: '' }, /hardlink .* has a target that is empty/],
      [symlink('libfoo.so.1\0/../../etc/shadow'), /has a target that holds a NUL byte: "libfoo\.so\.1\\u0000\/\.\.\/\.\.\/etc\/shadow"/],
    ] as const) {
      assert.throws(
        () => refuseLinkTarget(header, './usr/lib/libfoo.so', 'p.deb'),
        (err: unknown) => isProvenantError(err, 'UNSAFE_PATH') && why.test(err.message) && err.where === 'p.deb: "./usr/lib/libfoo.so"',
      );
    }
  });

  it('lets through only what a layer can hold: every symlink target it accepts, the tar writer writes (property)', async () => {
    const target = fc.string({ unit: fc.constantFrom('a', '/', '.', '\0', 'é', '\u{1F600}'), maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(target, async (linkname) => {
        let refused = false;
        try {
          refuseLinkTarget(symlink(linkname), './l', 'p.deb');
        } catch (err) {
          assert.ok(isProvenantError(err, 'UNSAFE_PATH'), String(err));
          refused = true;
        }
        const written = await tarBytes([{ header: tarHeader({ name: 'l', type: 'symlink', linkname }) }]).then(
          () => true,
          (err: unknown) => {
            assert.ok(isProvenantError(err), String(err));
            return false;
          },
        );
        assert.equal(!refused, written, JSON.stringify(linkname));
      }),
      { numRuns: 300 },
    );
  });
});
