// Where the shared real-world fixtures are, and the skip reason when they are not (not a test file).
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * The one way tests find the shared real-world fixtures: `PROVENANT_FIXTURES`, else
 * `../shared/fixtures` beside the checkout. Fixtures are read in place, never copied here.
 */
export const fixturesDir = resolve(process.env.PROVENANT_FIXTURES ?? join(import.meta.dirname, '..', '..', '..', 'shared', 'fixtures'));

/** True when the fixtures folder is there. */
export const haveFixtures = existsSync(fixturesDir);

/**
 * The reason to pass as `skip` for tests that need fixtures, said plainly, or false when they
 * are present. `node:test` prints it next to the test.
 */
export const fixturesMissing: string | false = haveFixtures
  ? false
  : `fixtures not found at ${fixturesDir}; set PROVENANT_FIXTURES to the shared fixtures folder`;

/** The path of a fixture, e.g. `fixture('oci', 'buildkit-oci-layout_index.json')`. */
export function fixture(...parts: string[]): string {
  return join(fixturesDir, ...parts);
}

/** A fixture's bytes. */
export async function readFixture(...parts: string[]): Promise<Uint8Array> {
  return new Uint8Array(await readFile(fixture(...parts)));
}
