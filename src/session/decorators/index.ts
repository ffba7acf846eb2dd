export * from './flash.decorator.js';
export * from './session.decorator.js';
