/**
 * Time in reproducible output: `SOURCE_DATE_EPOCH` read in one place, and the one timestamp form
 * that image configs, indexes, SBOMs and provenance carry.
 *
 * https://reproducible-builds.org/specs/source-date-epoch/: the variable holds whole seconds
 * since 1970-01-01 UTC; an empty value is the same as none.
 */
import { ProvenantError } from './errors.ts';

/**
 * The seconds a `SOURCE_DATE_EPOCH` value holds, or undefined when it is unset or empty.
 *
 * @throws ProvenantError `USAGE` as {@link epochSeconds}
 */
export function parseSourceDateEpoch(text: string | undefined): number | undefined {
  return text === undefined || text === '' ? undefined : epochSeconds(text);
}

/** 9999-12-31T23:59:59Z: RFC 3339, which OCI, SPDX and CycloneDX times follow, has four-digit years. */
const LAST_SECOND = 253_402_300_799;

/**
 * Whole seconds since 1970, written in decimal, up to the end of the year 9999.
 *
 * @throws ProvenantError `USAGE` for anything else (a sign, a fraction, spaces, nothing, a later time)
 */
export function epochSeconds(text: string): number {
  if (!/^\d{1,12}$/.test(text) || Number(text) > LAST_SECOND) {
    throw new ProvenantError('USAGE', `SOURCE_DATE_EPOCH ${JSON.stringify(text)} is not a whole number of seconds`, {
      hint: 'set SOURCE_DATE_EPOCH to seconds since 1970-01-01, for example $(git log -1 --format=%ct)',
    });
  }
  return Number(text);
}

/**
 * A time as `YYYY-MM-DDThh:mm:ssZ` (UTC, whole seconds): the form OCI's `created`, SPDX's
 * `created` and CycloneDX's `timestamp` all accept. A number is seconds since 1970.
 */
export function formatTimestamp(time: number | Date): string {
  const date = typeof time === 'number' ? new Date(time * 1000) : time;
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
