export { escapeKey, unescapeKey } from './mongo-key-escape.js';
export { MongoStore, type MongoLockDocument, type MongoSessionDocument, type MongoStoreOptions } from './mongodb.store.js';
export { parseMongoUrl, type MongoUrl } from './mongodb-store.url.js';
