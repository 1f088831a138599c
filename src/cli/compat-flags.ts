/**
 * The flags that name targets: what a command's spec lists. Apart from compat.ts so that a
 * command that only may check a target (`build --target`) loads the profiles and the checker
 * when one is named, not on every run.
 */
import type { FlagSpec } from './args.ts';

/** `--target`: ids, comma-separated or repeated, each optionally `@version`. */
export const TARGET_FLAG: FlagSpec = {
  type: 'string',
  multiple: true,
  description: 'targets, comma-separated or repeated: id or id@version (aws-lambda, amazon-ecr, ghcr, ...; see docs/targets.md)',
};

/** `--profiles DIR`: more target profiles, added to (or replacing, by id) the built-in ones. */
export const PROFILES_FLAG: FlagSpec = {
  type: 'string',
  multiple: true,
  description: 'a folder of more target profiles (*.yaml), added to the built-in ones',
};
