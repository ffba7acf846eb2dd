import { Injectable, type OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import type { EventPublisher } from './session-events.js';
import { SessionManager } from './session.manager.js';

/**
 * Connects the session events to `@nestjs/event-emitter` when the app has it: the package is an
 * optional peer, so it is looked for at start-up and its absence is no error. Registered by
 * `SessionModule`.
 * @internal
 */
@Injectable()
export class SessionEventEmitterBridge implements OnModuleInit {
  constructor(
    private readonly manager: SessionManager,
    private readonly moduleRef: ModuleRef,
  ) {}

  async onModuleInit(): Promise<void> {
    const emitter = await findEventEmitter(this.moduleRef);
    if (emitter !== undefined) this.manager.events.connect(emitter);
  }
}

/** The app's `EventEmitter2`, when `@nestjs/event-emitter` is installed and its module imported. */
async function findEventEmitter(moduleRef: ModuleRef): Promise<EventPublisher | undefined> {
  let token: unknown;
  try {
    ({ EventEmitter2: token } = await import('@nestjs/event-emitter'));
  } catch {
    return undefined;
  }
  try {
    return moduleRef.get(token as new () => EventPublisher, { strict: false });
  } catch {
    // Installed, but EventEmitterModule is not imported: nobody could listen.
    return undefined;
  }
}
