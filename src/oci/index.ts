/** The OCI model: digests, media types, descriptors, manifests and indexes with their bytes, platforms, validation. */
export * from './content.ts';
export * from './digest.ts';
export * from './mediatypes.ts';
export * from './platform.ts';
export * from './types.ts';
export * from './validate.ts';
