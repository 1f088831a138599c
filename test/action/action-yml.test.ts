/**
 * action.yml as GitHub reads it: the Marketplace lists an Action only when its metadata passes
 * the Marketplace's checks, whatever the runner accepts.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { ACTION_DIR } from './helpers.ts';

describe('action.yml', () => {
  it('has a description the Marketplace takes: one line, under 125 characters', async () => {
    const action = parse(await readFile(`${ACTION_DIR}/action.yml`, 'utf8')) as { description?: unknown };
    assert.equal(typeof action.description, 'string');
    const description = action.description as string;
    assert.ok(description.trim() !== '', 'empty');
    assert.ok(!description.includes('\n'), 'more than one line');
    assert.ok(description.length < 125, `${description.length} characters: ${description}`);
  });
});
