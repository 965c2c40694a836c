export {};
export * from './media/index.js';
