import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { printableText } from '../../src/bytes.ts';
import { bytes } from '../../src/report/html.ts';
import { escapeHtml, Html, html, raw } from '../../src/report/template.ts';

/** Decodes the five references escapeHtml writes (and nothing else, so a double escape shows). */
function decodeReferences(text: string): string {
  return text.replace(
    /&(amp|lt|gt|quot|#39);/g,
    (_, name: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[name] as string,
  );
}

describe('the html template', () => {
  it('escapes every interpolation and leaves the template and Html values alone', () => {
    const value = `<script>alert("x")</script>&'`;
    assert.equal(
      html`<td title="${value}">${value}</td>`.toString(),
      '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>',
    );
    assert.equal(html`<p>${html`<b>${'<'}</b>`}${raw('<br>')}</p>`.toString(), '<p><b>&lt;</b><br></p>');
    assert.equal(html`<ul>${['a<', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.toString(), '<ul><li>a&lt;</li><li>b</li></ul>');
    assert.equal(html`${undefined}${null}${false}${0}${''}`.toString(), '0');
  });

  it('refuses values it cannot show (true, objects) rather than printing [object Object]', () => {
    assert.throws(() => html`${true as unknown as string}`, TypeError);
    assert.throws(() => html`${{ toString: () => '<b>' } as unknown as string}`, TypeError);
  });

  it('only html and raw make Html; a string that looks like one is escaped', () => {
    const fake = { toString: () => '<script></script>' };
    assert.ok(!(fake instanceof Html));
    assert.equal(html`${String(fake)}`.toString(), '&lt;script&gt;&lt;/script&gt;');
  });

  it('escaping leaves no markup character and loses nothing (property)', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.string({ unit: fc.constantFrom('<', '>', '&', '"', "'", 'a', ';', '#', '/') }),
        (a, b) => {
          for (const s of [a, b]) {
            const out = html`<td>${s}</td><td title="${s}"></td>`.toString();
            const escaped = escapeHtml(s);
            assert.doesNotMatch(escaped, /[<>"']/);
            assert.equal(decodeReferences(escaped), s);
            // Controls and invisible characters are written as `\uXXXX` text first.
            const shown = escapeHtml(printableText(s));
            assert.equal(out, `<td>${shown}</td><td title="${shown}"></td>`);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('shows zero-width and bidirectional characters as the CLI does, so a look-alike name is seen', () => {
    assert.equal(html`<td>${'open\u200bssl'}</td>`.toString(), '<td>open\\u200bssl</td>');
    assert.equal(html`<td>${'evil\u202egnp.exe'}</td>`.toString(), '<td>evil\\u202egnp.exe</td>');
  });

  it('prints sizes for a person, exactly below a KiB', () => {
    assert.deepEqual([0, 1023, 1024, 1536, 10 * 1024 * 1024, 5 * 1024 ** 3].map(bytes), [
      '0 B',
      '1023 B',
      '1.0 KiB',
      '1.5 KiB',
      '10 MiB',
      '5.0 GiB',
    ]);
  });
});
