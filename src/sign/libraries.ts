/**
 * The signing libraries, each loaded when a function first needs it rather than when the library
 * is imported: `@sigstore/sign` alone, with the HTTP client it brings (make-fetch-happen, cacache,
 * the proxy agents), is about 30 modules and 15 MB of a process that only parses a reference or
 * copies an image (issue 16, "each command loads only what it needs"). Node keeps a module once
 * loaded, so each call after the first costs a resolved promise.
 */

/** sigstore-js's signing: the bundle builders, Fulcio and the witnesses (Rekor, timestamp authorities). */
export const sigstoreSign = (): Promise<typeof import('@sigstore/sign')> => import('@sigstore/sign');

/** The protobuf-specs messages and enums (`HashAlgorithm`, `TrustedRoot`). */
export const protobufSpecs = (): Promise<typeof import('@sigstore/protobuf-specs')> => import('@sigstore/protobuf-specs');

/** sigstore-js's X.509, ASN.1 and RFC 3161 parsers. */
export const sigstoreCore = (): Promise<typeof import('@sigstore/core')> => import('@sigstore/core');
