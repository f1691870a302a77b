export * from './contracts/codec.js';
export * from './contracts/cipher.js';
export * from './contracts/store.js';
export * from './contracts/detector.js';
export * from './faulty-store.js';
export * from './servers/index.js';
