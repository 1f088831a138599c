/**
 * What an SBOM lists that is no installed package: the image and its layers (SPDX's `CONTAINER`
 * purpose, Provenant's image and apko's image and layers; CycloneDX's `container` components) and
 * the operating system (`OPERATING_SYSTEM`, `operating-system`). Every reader that counts or
 * compares an image's packages (report, policy, diff) leaves them out alike.
 */
const SPDX_NOT_INSTALLED: ReadonlySet<unknown> = new Set(['CONTAINER', 'OPERATING_SYSTEM']);
const CYCLONEDX_NOT_INSTALLED: ReadonlySet<unknown> = new Set(['container', 'operating-system']);

/** Whether an SPDX package whose `primaryPackagePurpose` is `purpose` can be an installed package. */
export function spdxInstalled(purpose: unknown): boolean {
  return !SPDX_NOT_INSTALLED.has(purpose);
}

/** Whether a CycloneDX component whose `type` is `type` can be an installed package. */
export function cycloneDxInstalled(type: unknown): boolean {
  return !CYCLONEDX_NOT_INSTALLED.has(type);
}
