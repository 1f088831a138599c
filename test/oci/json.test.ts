import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sameJson } from '../../src/oci/json.ts';

describe('sameJson', () => {
  it('is equality of JSON whatever the order of object keys, at any depth, arrays in their order', () => {
    assert.ok(sameJson({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 }));
    assert.ok(!sameJson([1, 2], [2, 1]));
    assert.ok(sameJson({ a: 1, b: undefined }, { a: 1 }));
    // An absent field is not one that is null, nor an empty one.
    assert.ok(sameJson(undefined, undefined));
    assert.ok(!sameJson(undefined, null));
    assert.ok(!sameJson(undefined, {}));
    assert.ok(!sameJson({ a: '1' }, { a: 1 }));
  });
});
