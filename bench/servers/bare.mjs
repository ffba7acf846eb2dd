// `bare`: the same routes as the session servers, no sessions at all.
import { Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { decorateMethod, serve } from './common.mjs';

let counter = 0;

class BenchController {
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
decorateMethod(BenchController, 'seed', Get('seed'));
decorateMethod(BenchController, 'read', Get('read'));
decorateMethod(BenchController, 'write', Post('write'), HttpCode(200));
Controller()(BenchController);

class AppModule {}
Module({ controllers: [BenchController] })(AppModule);

await serve(AppModule);
