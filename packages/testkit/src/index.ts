export * from './contracts/store.js';
export * from './contracts/detector.js';
export * from './contracts/codec.js';
export * from './contracts/cipher.js';
