// Debian machine-readable copyright files (DEP-5) as a package's license.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  DEB_COPYRIGHT_MAX_BYTES,
  DEP5_SPDX_EXCEPTIONS,
  debCopyrightLicense,
  dep5LicenseExpression,
} from '../../../src/pkg/deb/copyright.ts';
import { isSpdxLicenseExpression, packageLicenseExpression } from '../../../src/sbom/spdx.ts';
import { SPDX_EXCEPTION_IDS } from '../../../src/sbom/spdx-licenses.ts';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const FORMAT = 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/';

describe('dep5LicenseExpression', () => {
  it('maps short names to SPDX ids where the format says they match one', () => {
    for (const [synopsis, want] of [
      ['GPL-2', 'GPL-2.0-only'],
      ['GPL-2+', 'GPL-2.0-or-later'],
      ['GPL-2.0+', 'GPL-2.0-or-later'],
      ['GPLv3+', 'GPL-3.0-or-later'],
      ['LGPL-2.1+', 'LGPL-2.1-or-later'],
      ['LGPL-2', 'LGPL-2.0-only'],
      ['AGPL-3', 'AGPL-3.0-only'],
      ['GFDL-1.3+', 'GFDL-1.3-or-later'],
      ['GFDL-NIV-1.3+', 'GFDL-1.3-no-invariants-or-later'],
      ['GPL-2.0-only', 'GPL-2.0-only'],
      ['Expat', 'MIT'],
      ['CC0', 'CC0-1.0'],
      ['Apache-2', 'Apache-2.0'],
      ['Apache-2.0', 'Apache-2.0'],
      ['MPL-2', 'MPL-2.0'],
      ['Artistic-2', 'Artistic-2.0'],
      ['CC-BY-SA-4', 'CC-BY-SA-4.0'],
      ['BSD-3-clause', 'BSD-3-Clause'],
      // Names the format defines with no SPDX id, and GNU licenses of no (or no known) version.
      ['public-domain', 'LicenseRef-public-domain'],
      ['Perl', 'LicenseRef-Perl'],
      ['GPL', 'LicenseRef-GPL'],
      ['GPL-4+', 'LicenseRef-GPL-4-or-later'],
      // Anything else as written: the SBOM writers decide whether the list has it.
      ['Zlib', 'Zlib'],
      ['BSL-1.0', 'BSL-1.0'],
      ['BSD-variant', 'BSD-variant'],
    ]) {
      assert.equal(dep5LicenseExpression(synopsis as string), want, synopsis);
    }
  });

  it('reads or, and, the comma that binds loosest and exceptions', () => {
    assert.equal(dep5LicenseExpression('GPL-1+ or Artistic'), 'GPL-1.0-or-later OR Artistic');
    assert.equal(dep5LicenseExpression('MPL-1.1 or GPL-2+ or LGPL-2.1+'), 'MPL-1.1 OR GPL-2.0-or-later OR LGPL-2.1-or-later');
    // and binds tighter than or, as in SPDX.
    assert.equal(dep5LicenseExpression('Apache-2.0 or MIT and Zlib'), 'Apache-2.0 OR MIT AND Zlib');
    assert.equal(dep5LicenseExpression('GPL-2+ or Artistic-2.0, and BSD-3-clause'), '(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause');
    assert.equal(dep5LicenseExpression('GPL-2+ with OpenSSL exception'), 'LicenseRef-GPL-2-or-later-with-OpenSSL-exception');
    assert.equal(
      dep5LicenseExpression('LGPL-2.1+ or GPL-2+ with Autoconf exception'),
      'LGPL-2.1-or-later OR LicenseRef-GPL-2-or-later-with-Autoconf-exception',
    );
  });

  it('says an exception WITH its SPDX id only where its words name exactly one; any other is one LicenseRef', () => {
    for (const [synopsis, want] of [
      // DEP-5's Font keyword is the FSF's font exception, SPDX's Font-exception-2.0.
      ['GPL-2+ with Font exception', 'GPL-2.0-or-later WITH Font-exception-2.0'],
      ['GPL-3+ with font-exception', 'GPL-3.0-or-later WITH Font-exception-2.0'],
      ['Apache-2.0 with LLVM exception', 'Apache-2.0 WITH LLVM-exception'],
      ['GPL-2 with Classpath-2.0 exception', 'GPL-2.0-only WITH Classpath-exception-2.0'],
      ['GPL-3+ with GCC-runtime-3.1 exception', 'GPL-3.0-or-later WITH GCC-exception-3.1'],
      ['GPL-2+ with Bison-2.2-exception', 'GPL-2.0-or-later WITH Bison-exception-2.2'],
      // The license before WITH is mapped as any short name is.
      ['GPL with Font exception', 'LicenseRef-GPL WITH Font-exception-2.0'],
      ['MIT or GPL-2+ with Font exception', 'MIT OR GPL-2.0-or-later WITH Font-exception-2.0'],
      ['GPL-2+ with Font exception, and Expat', '(GPL-2.0-or-later WITH Font-exception-2.0) AND MIT'],
      // DEP-5's OpenSSL text is none of SPDX's project-specific OpenSSL exceptions.
      ['GPL-2+ with OpenSSL exception', 'LicenseRef-GPL-2-or-later-with-OpenSSL-exception'],
      ['GPL-2+ with OpenSSL-exception', 'LicenseRef-GPL-2-or-later-with-OpenSSL-exception'],
      // No version where the list has several texts: not guessed.
      ['GPL-3+ with GCC-runtime exception', 'LicenseRef-GPL-3-or-later-with-GCC-runtime-exception'],
      ['GPL-2 with Classpath exception', 'LicenseRef-GPL-2-with-Classpath-exception'],
      ['GPL-2+ with Autoconf exception', 'LicenseRef-GPL-2-or-later-with-Autoconf-exception'],
      ['GPL-2+ with Font or OpenSSL exception', 'LicenseRef-GPL-2-or-later-with-Font-or-OpenSSL-exception'],
    ]) {
      const got = dep5LicenseExpression(synopsis as string);
      assert.equal(got, want, synopsis);
      // What the SBOM writers declare, with exceptions only from the SPDX list.
      assert.ok(packageLicenseExpression({ license: got as string }) !== undefined, `${synopsis} -> ${got}`);
    }
    assert.equal(dep5LicenseExpression('GPL-2+ with exception'), undefined);
    const listed = new Set(SPDX_EXCEPTION_IDS);
    for (const [words, id] of Object.entries(DEP5_SPDX_EXCEPTIONS)) assert.ok(listed.has(id), `${words} -> ${id} is on the SPDX list`);
  });

  it('never throws on any text, and what it gives the SBOM writers take', () => {
    const word = fc.oneof(
      fc.constantFrom('with', 'With', 'exception', 'Exception', 'and', 'or', 'OR', 'AND', 'WITH', ',', '(', ')', '+'),
      fc.constantFrom('Font', 'font-exception', 'OpenSSL-exception', 'LLVM', 'Classpath-2.0', 'GPL-2+', 'Expat', 'NONE', 'NOASSERTION'),
      fc.constantFrom(
        'LicenseRef-',
        'LicenseRef-x',
        'DocumentRef-a:LicenseRef-b',
        'DocumentRef-a',
        '-exception',
        'GPL-4+',
        'public-domain',
      ),
      fc.string({ maxLength: 8 }),
    );
    const text = fc.oneof(
      fc.string(),
      fc.array(word, { maxLength: 12 }).map((w) => w.join(' ')),
      fc.array(word, { maxLength: 12 }).map((w) => w.join(', ')),
    );
    fc.assert(
      fc.property(text, (s) => {
        const e = dep5LicenseExpression(s);
        if (e === undefined) return;
        assert.ok(isSpdxLicenseExpression(e), `${JSON.stringify(s)} -> ${e}`);
        assert.ok(packageLicenseExpression({ license: e }) !== undefined, `${JSON.stringify(s)} -> ${e}`);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(text, (synopsis) => {
        const license = debCopyrightLicense(enc(`${FORMAT}\n\nFiles: *\nCopyright: x\nLicense: ${synopsis}\n`));
        assert.ok(license === '' || packageLicenseExpression({ license }) !== undefined, `${synopsis} -> ${license}`);
      }),
    );
  });

  it('takes no prose, lists without operators or dangling operators', () => {
    for (const bad of [
      '',
      'Permission to use, copy, modify, and distribute this software',
      'GPL-2+, LGPL-2+',
      'GPL-2+ or',
      'and MIT',
      'MIT and/or GPL-2+',
      'GPL-2+ with OpenSSL',
    ]) {
      assert.equal(dep5LicenseExpression(bad), undefined, bad);
    }
  });

  it('gives an SPDX expression by the grammar for any well-formed synopsis', () => {
    const name = fc.oneof(
      fc.constantFrom('GPL-2+', 'LGPL-2.1', 'Expat', 'public-domain', 'BSD-3-clause', 'Apache-2', 'GPL', 'X11'),
      fc.stringMatching(/^[A-Za-z][A-Za-z0-9._+-]{0,12}$/).filter((n) => !/^(and|or|with)$/i.test(n)),
    );
    const part = fc
      .tuple(name, fc.array(fc.tuple(fc.constantFrom('and', 'or'), name), { maxLength: 3 }))
      .map(([first, rest]) => [first, ...rest.flat()].join(' '));
    const synopsis = fc
      .tuple(part, fc.array(fc.tuple(fc.constantFrom(', and ', ', or '), part), { maxLength: 2 }))
      .map(([first, rest]) => first + rest.map(([op, p]) => op + p).join(''));
    fc.assert(
      fc.property(synopsis, (s) => {
        const e = dep5LicenseExpression(s);
        assert.ok(e !== undefined && isSpdxLicenseExpression(e), `${s} -> ${e}`);
      }),
    );
  });
});

describe('debCopyrightLicense', () => {
  const dep5 = [
    FORMAT,
    'Upstream-Name: example',
    'Source: https://example.org/',
    '',
    'Files: *',
    'Copyright: 2001 Someone',
    'License: GPL-2+',
    '',
    'Files: lib/*',
    '  include/*',
    'Copyright: 2002 Someone Else',
    'License: LGPL-2.1+ or Artistic',
    ' This part is under either.',
    '',
    'Files: debian/*',
    'Copyright: 2003 The Maintainer',
    'License: GPL-2+',
    '',
    '# A comment between paragraphs.',
    'License: GPL-2+',
    ' This program is free software; ...',
    ' .',
    ' On Debian systems, see /usr/share/common-licenses/GPL-2.',
    '',
    'License: Artistic',
    ' The "Artistic License" ...',
    '',
    'License: MIT',
    ' A license no Files paragraph uses: it adds nothing.',
    '',
  ].join('\n');

  it("is the conjunction of the Files paragraphs' licenses, each once, in a stable order", () => {
    assert.equal(debCopyrightLicense(enc(dep5)), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)');
    // Line ends and the order of the paragraphs change nothing.
    assert.equal(debCopyrightLicense(enc(dep5.replaceAll('\n', '\r\n'))), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)');
    const [header, ...rest] = dep5.split('\n\n');
    assert.equal(
      debCopyrightLicense(enc([header, ...rest.reverse()].join('\n\n'))),
      'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)',
    );
  });

  it("adds the header's License, and passes over a header License that is prose alone", () => {
    const withHeader = dep5.replace('Upstream-Name: example', 'Upstream-Name: example\nLicense: Zlib');
    assert.equal(debCopyrightLicense(enc(withHeader)), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic) AND Zlib');
    const prose = dep5.replace('Upstream-Name: example', 'Upstream-Name: example\nLicense:\n Different licenses apply to different files.');
    assert.equal(debCopyrightLicense(enc(prose)), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)');
  });

  it('accepts the URLs of the DEP-5 drafts as the format', () => {
    const draft = dep5.replace(FORMAT, 'Format: http://dep.debian.net/deps/dep5');
    assert.equal(debCopyrightLicense(enc(draft)), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)');
    // A draft's revision in the old version control browsers, under either field name.
    for (const line of [
      'Format: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135',
      'Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=59',
      'Format: http://anonscm.debian.org/viewvc/dep/web/deps/dep5.mdwn?view=markup&pathrev=174',
    ]) {
      assert.equal(debCopyrightLicense(enc(dep5.replace(FORMAT, line))), 'GPL-2.0-or-later AND (LGPL-2.1-or-later OR Artistic)', line);
    }
    // Another page of those browsers is not the format.
    assert.equal(debCopyrightLicense(enc(dep5.replace(FORMAT, 'Format: http://svn.debian.org/wsvn/dep/web/deps/dep3.mdwn'))), '');
  });

  it('gives no license rather than a guess', () => {
    for (const [why, text] of [
      ['prose, as most files before DEP-5', 'This is the Debian prepackaged version of the GNU C Library.\n\nIt is under the LGPL.\n'],
      ['prose that names a license field', 'Some package\n\nLicense: GPL-2+\n'],
      ['no Format', dep5.replace(`${FORMAT}\n`, '')],
      ['another Format', dep5.replace(FORMAT, 'Format: https://example.org/my-format')],
      ['no Files paragraph', `${FORMAT}\n\nLicense: GPL-2+\n text\n`],
      [
        'a Files paragraph without License',
        dep5.replace('Copyright: 2003 The Maintainer\nLicense: GPL-2+', 'Copyright: 2003 The Maintainer'),
      ],
      ['a Files paragraph whose License is prose', dep5.replace('License: LGPL-2.1+ or Artistic', 'License: see the file COPYING')],
      ['a line that is no field', dep5.replace('Copyright: 2001 Someone', 'Copyright 2001 Someone')],
    ]) {
      assert.equal(debCopyrightLicense(enc(text as string)), '', why);
    }
    const large = new Uint8Array(DEB_COPYRIGHT_MAX_BYTES + 1).fill(0x20);
    large.set(enc(dep5));
    assert.equal(debCopyrightLicense(large), '', 'larger than the cap');
  });
});
