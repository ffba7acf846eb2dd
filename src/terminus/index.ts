export { SessionStoreHealthIndicator } from './session-store.health.js';
