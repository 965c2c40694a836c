export {};
export * from './media/index.js';
export * from './vos/index.js';
