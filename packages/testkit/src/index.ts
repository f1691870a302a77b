export * from './contracts/store.js';
export * from './contracts/detector.js';
