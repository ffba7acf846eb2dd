// The routes of the bare servers (`bare`, `fastify-bare`), shared so that both run exactly the same
// handlers: the session servers' routes, no sessions at all.
//   GET /seed   returns { count: 0 }
//   GET /read   returns a constant { count: 0 }
//   POST /write increments a module-level counter and returns it
import { Controller, Get, HttpCode, Post } from '@nestjs/common';
import { decorateMethod } from './common.mjs';

let counter = 0;

export class BareController {
  seed() {
    return { count: 0 };
  }
  read() {
    return { count: 0 };
  }
  write() {
    counter += 1;
    return { count: counter };
  }
}
decorateMethod(BareController, 'seed', Get('seed'));
decorateMethod(BareController, 'read', Get('read'));
decorateMethod(BareController, 'write', Post('write'), HttpCode(200));
Controller()(BareController);
