// The shared YAML reader (src/yaml.ts): aliases resolved and duplicate keys found in one pass
// over the document, the size cap, and where an alias bomb is reported.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Alias } from 'yaml';
import { isProvenantError } from '../src/errors.ts';
import { ConfigError, entries, MAX_YAML_BYTES, readYaml, scalarText, suggest, suggestions } from '../src/yaml.ts';

function caught(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.ok(isProvenantError(err, 'INVALID_CONFIG'));
    return err;
  }
  assert.fail('expected a ConfigError');
}

/** The mapping at the root of `text`, as key → scalar text. */
function readMap(text: string): Map<string, string | undefined> {
  const { ctx, root } = readYaml(text, 'doc.yaml');
  return new Map(entries(ctx, root, '', 'a mapping').map((e) => [e.key, scalarText(ctx, e.node, e.path)]));
}

describe('readYaml', () => {
  it('resolves 8,000 aliases without walking the document for each (the library does)', () => {
    const lines = ['anchor: &s hello'];
    for (let i = 0; i < 8000; i++) lines.push(`k${i}: *s`);
    const resolve = Alias.prototype.resolve;
    let calls = 0;
    Alias.prototype.resolve = function (this: Alias, ...args: Parameters<Alias['resolve']>) {
      calls++;
      return resolve.apply(this, args);
    };
    let map: Map<string, string | undefined>;
    try {
      map = readMap(`${lines.join('\n')}\n`);
    } finally {
      Alias.prototype.resolve = resolve;
    }
    assert.equal(calls, 0);
    assert.equal(map.size, 8001);
    assert.equal(map.get('k0'), 'hello');
    assert.equal(map.get('k7999'), 'hello');
  });

  it('an alias names the last node anchored with its name before it', () => {
    const map = readMap('a: &x one\nb: *x\nc: &x two\nd: *x\n');
    assert.deepEqual([...map.values()], ['one', 'one', 'two', 'two']);
  });

  it('reads a mapping of 32,000 keys, and finds a duplicate among them at the second one', () => {
    const lines: string[] = [];
    for (let i = 0; i < 32_000; i++) lines.push(`k${i}: v${i}`);
    const map = readMap(`${lines.join('\n')}\n`);
    assert.equal(map.size, 32_000);
    assert.equal(map.get('k31999'), 'v31999');
    const err = caught(() => readYaml(`${lines.join('\n')}\nk5: again\n`, 'doc.yaml'));
    assert.match(err.message, /^doc\.yaml:32001:1: invalid YAML: Map keys must be unique \("k5" is also at line 6\)$/);
  });

  it('finds a duplicate key in a nested flow mapping and one that is quoted differently', () => {
    assert.match(
      caught(() => readYaml('a: {b: 1, "b": 2}\n', 'doc.yaml')).message,
      /^doc\.yaml:1:11: invalid YAML: Map keys must be unique/,
    );
  });

  it('refuses an alias inside the node it names, at the alias', () => {
    assert.match(
      caught(() => readYaml('a: &l [x, *l]\n', 'doc.yaml')).message,
      /^doc\.yaml:1:11: the alias \*l is inside the node it names/,
    );
  });

  it('reports an alias bomb at the alias that takes it past the limit, not at 1:1', () => {
    const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (const [from, to] of [
      ['a', 'b'],
      ['b', 'c'],
      ['c', 'd'],
      ['d', 'e'],
    ]) {
      lines.push(`${to}: &${to} [${Array(10).fill(`*${from}`).join(', ')}]`);
    }
    lines.push('f: [*e, *e, *e]');
    const err = caught(() => readYaml(`${lines.join('\n')}\n`, 'doc.yaml'));
    // *e is 111,111 values; the second *e on line 6 (column 9) takes the document past 200,000.
    assert.match(err.message, /^doc\.yaml:6:9: the alias \*e expands the document to more than 200000 values/);
    assert.equal(err.line, 6);
  });

  it(`refuses a text over ${MAX_YAML_BYTES} bytes of UTF-8, before parsing it`, () => {
    assert.equal(readMap(`a: ${'x'.repeat(MAX_YAML_BYTES - 4)}\n`).get('a')?.length, MAX_YAML_BYTES - 4);
    const err = caught(() => readYaml(`a: ${'x'.repeat(MAX_YAML_BYTES)}\n`, 'big.yaml'));
    assert.equal(err.message, 'big.yaml: the file is larger than 1 MiB; refusing it');
    // Fewer characters than the cap, more bytes: é is two bytes in UTF-8.
    assert.match(caught(() => readYaml(`a: ${'é'.repeat(MAX_YAML_BYTES / 2)}\n`, 'big.yaml')).message, /larger than 1 MiB/);
  });
});

// A final review: words of lengths 4 or more apart were given their length difference as their
// distance, so a long word was "close" to any other long one (--target gke-autopilt: did you mean
// google-cloud-run?, 13 edits away).
it('suggests only a word a few edits away, whatever the lengths', () => {
  const targets = ['aws-lambda', 'google-cloud-run', 'amazon-ecr', 'amazon-ecr-public', 'google-artifact-registry'];
  assert.equal(suggest('gke-autopilt', targets), undefined);
  assert.equal(suggest('aws-lamda', targets), 'aws-lambda');
  assert.equal(suggest('google-cloud-runn', targets), 'google-cloud-run');
  assert.equal(suggest('google-artifact-registy', targets), 'google-artifact-registry');
});

// A final review: of words that tied, the first was suggested (--target azure: did you mean
// azure-aci?, though azure-acr and azure-functions are as near; amazon-ecr-publc: amazon-ecr, cut
// short, before amazon-ecr-public, one edit away). A tie names them all or, as one guess, none.
it('names every word that ties for closest, and suggests none of them alone', () => {
  const targets = ['amazon-ecr', 'amazon-ecr-public', 'azure-aci', 'azure-acr', 'azure-functions', 'aws-lambda'];
  assert.deepEqual(suggestions('azure', targets), ['azure-aci', 'azure-acr', 'azure-functions']);
  assert.equal(suggest('azure', targets), undefined);
  // Running on past amazon-ecr, amazon-ecr-publc is one edit from amazon-ecr-public: that one.
  assert.deepEqual(suggestions('amazon-ecr-publc', targets), ['amazon-ecr-public']);
  assert.equal(suggest('amazon-ecr-publc', targets), 'amazon-ecr-public');
  assert.deepEqual(suggestions('aws-lamda', targets), ['aws-lambda']);
  assert.equal(suggest('aws-lamda', targets), 'aws-lambda');
  assert.deepEqual(suggestions('gke-autopilt', targets), []);
});

// A final read: a word one edit from a long name, that also runs on past a short one, tied the
// two, and so got no guess: --insecure-ignore-tlg (insecure, insecure-ignore-tlog), arm64v8
// (arm64, arm64/v8). A real edit is the likelier; running on past a word alone still suggests it.
it('takes a word one edit away over one the typed word only runs on past', () => {
  const flags = ['insecure', 'insecure-ignore-tlog', 'insecure-ignore-sct', 'key'];
  assert.equal(suggest('insecure-ignore-tlg', flags), 'insecure-ignore-tlog');
  assert.equal(suggest('arm64v8', ['amd64', 'arm64', 'arm64/v8', 'riscv64']), 'arm64/v8');
  assert.equal(suggest('homedirs', ['homedir', 'shell']), 'homedir');
  assert.deepEqual(suggestions('azure', ['azure-aci', 'azure-acr', 'azure-functions']), ['azure-aci', 'azure-acr', 'azure-functions']);
});
