// renderDiff, the text form of a diff, on differences built by hand.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderDiff } from '../../src/image/diff-render.ts';
import type { ImageDiff, PlatformDiff, ValueChange } from '../../src/image/diff-types.ts';

const A = `sha256:${'a'.repeat(64)}` as const;
const B = `sha256:${'b'.repeat(64)}` as const;

/** A diff of two single-platform images that differ only in their provenance's `changes`. */
function provenanceDiff(changes: ValueChange[]): ImageDiff {
  const build = { predicateType: 'https://slsa.dev/provenance/v1', builderId: 'https://example.org/builder', buildType: 'x' };
  const image: PlatformDiff = {
    platform: 'linux/amd64',
    a: { digest: A, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    b: { digest: B, mediaType: 'application/vnd.oci.image.manifest.v1+json' },
    identical: false,
    config: [],
    layers: { shared: [], onlyA: [], onlyB: [], sharedPrefix: 0 },
    files: { added: [], removed: [], changed: [] },
    packages: { source: { a: 'apk', b: 'apk' }, added: [], removed: [], changed: [] },
    attachments: { onlyA: [], onlyB: [], common: [] },
    provenance: { a: build, b: build, changes, dependencies: { added: [], removed: [], changed: [] } },
    notes: [],
  };
  return {
    identical: false,
    a: { name: 'a', digest: A, mediaType: image.a.mediaType },
    b: { name: 'b', digest: B, mediaType: image.b.mediaType },
    platforms: { onlyA: [], onlyB: [] },
    annotations: [],
    attachments: { onlyA: [], onlyB: [], common: [] },
    images: [image],
  };
}

describe('renderDiff', () => {
  it('shows two long values that part late from where they part, not two equal beginnings', () => {
    const head = `# ${'comment '.repeat(40)}\ncontents:\n  repositories: [https://example.org/repo]\n`;
    const a = `${head}  packages: [base, data, tool]\narchs: [x86_64]\n`;
    const b = `${head}  packages: [base, data]\narchs: [x86_64]\n`;
    const text = renderDiff(provenanceDiff([{ field: 'externalParameters.config.files[0].content', a, b }]));
    const line = text.split('\n').find((l) => l.includes('config.files[0].content')) ?? '';
    const [left, right] = line.split(' → ') as [string, string];
    assert.notEqual(left.replace(/^.*?: /, ''), right, line);
    assert.match(left, /….*packages: \[base, data, tool\]/);
    assert.match(right, /^….*packages: \[base, data\]\\narchs/);
    assert.ok(left.length < 250 && right.length < 200, line);
  });

  it('shows short values whole, and long ones that part early from their start', () => {
    const long = 'x'.repeat(300);
    const text = renderDiff(
      provenanceDiff([
        { field: 'externalParameters.sourceDateEpoch', a: 1, b: 2 },
        { field: 'externalParameters.note', a: `a${long}`, b: `b${long}` },
      ]),
    );
    assert.match(text, /~ externalParameters\.sourceDateEpoch: 1 → 2$/m);
    assert.match(text, /~ externalParameters\.note: "ax{157}… → "bx{157}…$/m);
  });
});
