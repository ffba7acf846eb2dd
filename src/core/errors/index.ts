export * from './session.error.js';
