export * from './errors.js';
export type * from './store.js';
export type * from './codec.js';
export type * from './cipher.js';
export type * from './detector.js';
export type * from './descriptors.js';
export * from './retry.js';
export * from './store-url.js';
