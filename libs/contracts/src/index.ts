export * from './id.js';
export * from './problem.js';
export * from './pagination.js';
export * from './access.js';
export * from './health.js';
export * from './text.js';
export * from './datasets.js';
export * from './fine-tunes.js';
