/** Image references and store locations. */
export * from './location.ts';
export * from './reference.ts';
