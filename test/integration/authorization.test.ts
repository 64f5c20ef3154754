import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMembers, createSegment } from '../helpers/fixtures.js';
import { execute, startSubgraph, type RunningSubgraph } from '../helpers/subgraph.js';
import { createTestStores, type TestStores } from '../helpers/test-environment.js';
import { TEST_AUTH, token } from '../helpers/tokens.js';

const CREATE = `mutation { createSegment(input: { name: "Sneaky", rule: { lastOrder: { olderThanDays: 60 } } }) { id } }`;
const PREVIEW = `{ previewSegment(rule: { lastOrder: { olderThanDays: 60 } }) { size } }`;
const LIST = `{ segments { totalCount } }`;

// Each way a token can fail to prove who is calling.
const invalidTokens: Array<[string, () => Promise<string | undefined>]> = [
  ['no token', async () => undefined],
  ['a malformed token', async () => 'not.a.jwt'],
  ['a token signed with another secret', () => token(['segments:write', 'segments:read'], { secret: 'another-secret-that-is-also-32-characters' })],
  ['an expired token', () => token(['segments:write', 'segments:read'], { expiresIn: Math.floor(Date.now() / 1000) - 60 })],
  ['a token from another issuer', () => token(['segments:write', 'segments:read'], { issuer: 'https://evil.test' })],
  ['a token for another audience', () => token(['segments:write', 'segments:read'], { audience: 'billing' })],
  [
    'an unsecured token (alg: none)',
    async () =>
      new UnsecuredJWT({ scope: 'segments:write segments:read' })
        .setSubject('admin@test')
        .setIssuer(TEST_AUTH.issuer!)
        .setAudience(TEST_AUTH.audience!)
        .setExpirationTime('5m')
        .encode(),
  ],
  [
    'a token signed with HS512',
    async () =>
      new SignJWT({ scope: 'segments:write segments:read' })
        .setProtectedHeader({ alg: 'HS512' })
        .setSubject('admin@test')
        .setIssuer(TEST_AUTH.issuer!)
        .setAudience(TEST_AUTH.audience!)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(TEST_AUTH.secret!.repeat(2))),
  ],
  [
    'a token without a subject',
    async () =>
      new SignJWT({ scope: 'segments:write segments:read' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(TEST_AUTH.issuer!)
        .setAudience(TEST_AUTH.audience!)
        .setExpirationTime('5m')
        .sign(new TextEncoder().encode(TEST_AUTH.secret)),
  ],
];

describe('authorization of the admin API', () => {
  let stores: TestStores;
  let subgraph: RunningSubgraph;
  const segmentCount = async () => (await stores.pool.query('SELECT count(*)::int AS n FROM segments')).rows[0].n;

  beforeAll(async () => {
    stores = await createTestStores();
    subgraph = await startSubgraph(stores);
  });
  afterAll(async () => {
    await subgraph?.stop();
    await stores?.dispose();
  });

  it.each(invalidTokens)('refuses %s with UNAUTHENTICATED and changes nothing', async (_case, make) => {
    const bearer = await make();
    for (const operation of [CREATE, PREVIEW, LIST]) {
      const result = await execute(subgraph.url, operation, {}, bearer);
      expect(result.data).toBeNull();
      expect(result.errors!.map((e) => e.extensions!.code)).toEqual(['UNAUTHENTICATED']);
    }
    expect(await segmentCount()).toBe(0);
  });

  it.each([
    ['a mutation', CREATE, ['segments:read'], 'segments:write'],
    ['a preview', PREVIEW, ['segments:write'], 'segments:read'],
    ['the segment listing', LIST, ['segments:write'], 'segments:read'],
    ['a mutation, with unrelated scopes', CREATE, ['orders:write', 'segments:writer'], 'segments:write'],
  ])('refuses %s without its scope with FORBIDDEN', async (_case, operation, scopes, needed) => {
    const result = await execute(subgraph.url, operation, {}, await token(scopes));
    expect(result.data).toBeNull();
    expect(result.errors).toEqual([
      expect.objectContaining({ message: `The token lacks the ${needed} scope`, extensions: { code: 'FORBIDDEN', scope: needed } }),
    ]);
    expect(await segmentCount()).toBe(0);
  });

  it('lets a token with the scope in, and records its subject in the history', async () => {
    const admin = await token(['segments:read', 'segments:write'], { subject: 'ada@ops' });
    const created = await execute(subgraph.url, CREATE, {}, admin);
    expect(created.errors).toBeUndefined();
    const history = await execute(
      subgraph.url,
      `query ($id: ID!) { segment(id: $id) { history { action actor version } } }`,
      { id: created.data!.createSegment.id },
      admin,
    );
    expect(history.data!.segment.history).toEqual([{ action: 'CREATED', actor: 'ada@ops', version: 1 }]);
    expect((await execute(subgraph.url, PREVIEW, {}, admin)).data).toEqual({ previewSegment: { size: 0 } });
  });

  it('serves customer segments to anyone, whatever the Authorization header holds', async () => {
    const segment = await createSegment(stores, 'Public');
    await addMembers(stores, segment.id, ['c-1']);
    const result = await execute(
      subgraph.url,
      `{ _entities(representations: [{ __typename: "Customer", id: "c-1" }]) { ... on Customer { segments { name } } } }`,
      {},
      'garbage',
    );
    expect(result).toEqual({ data: { _entities: [{ segments: [{ name: 'Public' }] }] } });
  });

  it('keeps rules and history from callers without segments:read', async () => {
    const segment = await createSegment(stores, 'Private rule');
    const query = `query ($id: ID!) { segment(id: $id) { name rule { inSegment } history { action } } }`;
    const anonymous = await execute(subgraph.url, query, { id: String(segment.id) });
    expect(anonymous.data).toEqual({ segment: null });
    expect(anonymous.errors!.map((e) => [e.path, e.extensions!.code])).toEqual([
      [['segment', 'rule'], 'UNAUTHENTICATED'],
      [['segment', 'history'], 'UNAUTHENTICATED'],
    ]);
  });
});
