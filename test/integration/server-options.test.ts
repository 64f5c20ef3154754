import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';

const INTROSPECTION = '{ __schema { queryType { name } } }';

describe('introspection and landing page switches', () => {
  let stores: TestStores;
  let development: RunningSubgraph;
  let production: RunningSubgraph;

  beforeAll(async () => {
    stores = await createTestStores();
    development = await startSubgraph(stores, { introspection: true, landingPage: true });
    production = await startSubgraph(stores, { introspection: false, landingPage: false });
  });
  afterAll(async () => {
    await development?.stop();
    await production?.stop();
    await stores?.dispose();
  });

  it('shows Apollo Sandbox on GET / in development', async () => {
    const response = await fetch(development.url, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/apollo/i);
  });

  it('shows no landing page when it is switched off', async () => {
    const response = await fetch(production.url, { headers: { accept: 'text/html' } });
    expect(response.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
  });

  it('answers introspection only when it is switched on', async () => {
    expect(await execute(development.url, INTROSPECTION)).toEqual({ data: { __schema: { queryType: { name: 'Query' } } } });
    const refused = await execute(production.url, INTROSPECTION);
    expect(refused.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('still gives the router its SDL through _service when introspection is off', async () => {
    const result = await execute(production.url, '{ _service { sdl } }');
    expect(result.data!._service.sdl).toMatch(/type Customer\s+@key\(fields: "id"\)/);
  });
});
