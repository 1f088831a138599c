export * from './location.ts';
export * from './reference.ts';
