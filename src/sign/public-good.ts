/**
 * The public-good Sigstore instance's URLs, in a module of their own so that the command line
 * can name them in its help without loading the signing libraries.
 */

/** The public-good Sigstore instance's Fulcio, what cosign and sigstore-js sign with by default. */
export const PUBLIC_FULCIO = 'https://fulcio.sigstore.dev';
/** The public-good instance's Rekor. */
export const PUBLIC_REKOR = 'https://rekor.sigstore.dev';
