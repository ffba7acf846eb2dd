import { startSampleApp } from './server.js';

/** `npm start`: the sample app with its configuration from the environment (see server.ts and auth-config.ts). */
const { app } = await startSampleApp();
// On SIGINT/SIGTERM, Nest closes the app and runs the shutdown hooks (which stop the development provider).
app.enableShutdownHooks();
