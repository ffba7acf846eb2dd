import { ApolloDriver, type ApolloDriverConfig } from '@nestjs/apollo';
import { HttpException, type DynamicModule } from '@nestjs/common';
import { GraphQLModule } from '@nestjs/graphql';
import { MercuriusDriver, type MercuriusDriverConfig } from '@nestjs/mercurius';
import { GraphQLError } from 'graphql';
import type { AdapterName } from './test-app.js';

/** The GraphQL servers the suites run on. */
export type GraphqlServer = 'apollo' | 'mercurius';

/** For `describe.each(SERVERS)`: each server with the HTTP platform it runs on. */
export const SERVERS: Array<[GraphqlServer, AdapterName]> = [
  ['apollo', 'express'],
  ['apollo', 'fastify'],
  ['mercurius', 'fastify'],
];

/** Codes for refusals, as Nest's Apollo driver gives them; Mercurius needs the app's own `errorFormatter` for them. */
const CODES: Record<number, string> = { 401: 'UNAUTHENTICATED', 403: 'FORBIDDEN' };

/**
 * The recipe in docs/transports.md: Mercurius reports a Nest HttpException with its message only,
 * so give each error the code Apollo would, and answer 200 with the errors in the body (GraphQL
 * over HTTP), as Apollo does.
 */
export const mercuriusErrorFormatter: MercuriusDriverConfig['errorFormatter'] = (execution) => {
  const errors = (execution.errors ?? []).map((error) => {
    const original = error.originalError;
    if (!(original instanceof HttpException)) return error.toJSON();
    const code = CODES[original.getStatus()] ?? 'INTERNAL_SERVER_ERROR';
    const extensions = { ...error.extensions, code, originalError: original.getResponse() };
    return new GraphQLError(error.message, { nodes: error.nodes, path: error.path, extensions }).toJSON();
  });
  return { statusCode: 200, response: { data: execution.data ?? null, errors } };
};

/** `GraphQLModule` on `server`, with guards on field resolvers too. */
export function graphqlDriver(server: GraphqlServer): DynamicModule {
  if (server === 'mercurius') {
    return GraphQLModule.forRoot<MercuriusDriverConfig>({
      driver: MercuriusDriver,
      autoSchemaFile: true,
      graphiql: false,
      fieldResolverEnhancers: ['guards'],
      errorFormatter: mercuriusErrorFormatter,
    });
  }
  return GraphQLModule.forRoot<ApolloDriverConfig>({
    driver: ApolloDriver,
    autoSchemaFile: true,
    graphiql: false,
    fieldResolverEnhancers: ['guards'],
  });
}
