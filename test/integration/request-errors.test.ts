import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

// Whatever a client sends, the answer is GraphQL-shaped JSON with a code:
// never Express' HTML page, never a stack trace or a path on this machine.
describe('requests refused before GraphQL runs', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  const send = async (init: RequestInit & { path?: string }) => {
    const response = await fetch(new URL(init.path ?? '/', subgraph.url), init);
    const text = await response.text();
    expect(response.headers.get('content-type')).toMatch(/^application\/(graphql-response\+)?json/);
    expect(text).not.toMatch(/<html|<pre|stack|\/work\/|node_modules|\.ts:\d+|\.js:\d+/i);
    return { status: response.status, body: JSON.parse(text) as { errors: Array<{ message: string; extensions: { code: string } }> } };
  };
  const post = (body: string, contentType = 'application/json') =>
    send({ method: 'POST', headers: { 'content-type': contentType }, body });

  it.each([
    ['malformed JSON', () => post('{"query": "{ __typename }"'), 400, 'BAD_REQUEST'],
    ['a body over the 1 MB limit', () => post(JSON.stringify({ query: `{ __typename } #${'x'.repeat(1024 * 1024)}` })), 413, 'PAYLOAD_TOO_LARGE'],
    ['a text/plain body', () => post('{ __typename }', 'text/plain'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a form body', () => post('query=%7B__typename%7D', 'application/x-www-form-urlencoded'), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a POST without a body', () => send({ method: 'POST' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
    ['a JSON body that is not an operation', () => post('"{ __typename }"'), 400, 'BAD_REQUEST'],
    ['a batch of operations', () => post('[{"query":"{ __typename }"},{"query":"{ __typename }"}]'), 400, 'BAD_REQUEST'],
    ['a GET without a query', () => send({ method: 'GET', headers: { 'apollo-require-preflight': 'true' } }), 400, 'BAD_REQUEST'],
    ['a path other than /', () => send({ method: 'POST', path: '/graphql', headers: { 'content-type': 'application/json' }, body: '{"query":"{ __typename }"}' }), 404, 'NOT_FOUND'],
  ])('%s', async (_name, request, status, code) => {
    const { status: actual, body } = await request();
    expect(actual).toBe(status);
    expect(body.errors).toHaveLength(1);
    expect(body.errors[0]!.extensions.code).toBe(code);
    expect(body.errors[0]!.message).toEqual(expect.any(String));
  });

  // Plain JSON takes the fast path straight into Apollo Server; other bodies go through Express.
  it.each([
    ['plain JSON', { 'content-type': 'application/json' }, (text: string) => text],
    ['JSON with a charset', { 'content-type': 'application/json; charset=utf-8' }, (text: string) => text],
    ['gzip-encoded JSON', { 'content-type': 'application/json', 'content-encoding': 'gzip' }, (text: string) => gzipSync(text)],
  ])('still answers a well-formed operation sent as %s', async (_name, headers, encode) => {
    const { status, body } = await send({ method: 'POST', headers, body: encode('{"query":"{ __typename }"}') });
    expect(status).toBe(200);
    expect(body).toEqual({ data: { __typename: 'Query' } });
  });
});
