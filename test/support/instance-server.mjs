// One app instance for the multi-instance and fault tests: a separate Node process running the
// built package (imported by name) against the store named by STORE_URL, as a deployment would.
// Plain ESM JavaScript with Reflect.decorate, so it needs no build of its own.
import 'reflect-metadata';
import { Body, Controller, Get, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Session, SessionModule } from 'nest-sessions';

function decorateMethod(Class, name, ...decorators) {
  const proto = Class.prototype;
  const descriptor = Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  if (descriptor) Object.defineProperty(proto, name, descriptor);
}
const param = (index, decorator) => (target, key) => decorator(target, key, index);

class InstanceController {
  all(session) {
    return { ...session.toJSON(), servedBy: process.pid };
  }
  set(session, body) {
    for (const [key, value] of Object.entries(body)) session.set(key, value);
    return { ok: true, servedBy: process.pid };
  }
  increment(session, body) {
    const key = body?.key ?? 'count';
    session.set(key, (session.get(key) ?? 0) + 1);
    return { [key]: session.get(key) };
  }
}
decorateMethod(InstanceController, 'all', Get('all'), param(0, Session()));
decorateMethod(InstanceController, 'set', Post('set'), HttpCode(200), param(0, Session()), param(1, Body()));
decorateMethod(InstanceController, 'increment', Post('increment'), HttpCode(200), param(0, Session()), param(1, Body()));
Controller()(InstanceController);

class AppModule {}
Module({
  imports: [
    SessionModule.forRoot({
      secret: process.env.SESSION_SECRET,
      store: process.env.STORE_URL,
      cookie: { secure: false },
      storeTimeout: Number(process.env.STORE_TIMEOUT ?? 1000),
      onError: process.env.LOG_ERRORS ? (error) => console.error('SESSION_ERROR', error.code, error.message, String(error.cause)) : () => undefined,
    }),
  ],
  controllers: [InstanceController],
})(AppModule);

const app = await NestFactory.create(AppModule, { logger: process.env.LOG_ERRORS ? ['error'] : false });
await app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
const stop = () => app.close().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdout.write(`${JSON.stringify({ ready: true, port: app.getHttpServer().address().port, pid: process.pid })}\n`);
