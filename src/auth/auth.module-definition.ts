import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { AuthModuleOptions } from './auth-options.interface.js';

/** Module-level switches given beside the options: they decide which controllers and providers exist, so they cannot wait for `useFactory`. */
export interface AuthModuleExtras {
  /**
   * Make `AuthManager` and the guards injectable everywhere.
   * @default false
   */
  isGlobal?: boolean;
  /**
   * Path prefix of the login, callback, logout and back-channel logout routes, or `false` to
   * register none (write your own controller with `AuthManager`).
   * @default 'auth'
   * @example { routes: 'account' } // GET /account/login, GET /account/callback, ...
   */
  routes?: string | false;
  /**
   * Register `AuthenticatedGuard` globally: every route needs a login unless marked `@Public()`.
   * @default false
   */
  globalGuard?: boolean;
}

export const {
  ConfigurableModuleClass: ConfigurableAuthModule,
  MODULE_OPTIONS_TOKEN,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<AuthModuleOptions>({ moduleName: 'Auth' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createAuthOptions')
  .setExtras<AuthModuleExtras>({ isGlobal: false, routes: 'auth', globalGuard: false }, (definition) => definition)
  .build();
