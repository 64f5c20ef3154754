import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

type CryptoKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTokenVerifier, type TokenVerifier } from '../../src/auth/token-verifier.js';

// Keys published at JWT_JWKS_URL, as an identity provider does.
describe('tokens verified with keys from JWT_JWKS_URL', () => {
  let server: http.Server;
  let verify: TokenVerifier;
  let privateKey: CryptoKey;
  let otherKey: CryptoKey;

  beforeAll(async () => {
    const published = await generateKeyPair('RS256');
    privateKey = published.privateKey;
    otherKey = (await generateKeyPair('RS256')).privateKey;
    const jwk = { ...(await exportJWK(published.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    server = http.createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    verify = createTokenVerifier({ jwksUrl: new URL(`http://127.0.0.1:${port}/.well-known/jwks.json`), issuer: 'https://idp.test', audience: 'segments', maxTokenAgeSeconds: 3600 });
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
  });

  const sign = (key: CryptoKey, claims: { iss?: string; aud?: string; exp?: number | null; iat?: number | null } = {}) => {
    const jwt = new SignJWT({ scope: 'segments:read' })
      .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
      .setSubject('svc-admin-ui')
      .setIssuer(claims.iss ?? 'https://idp.test')
      .setAudience(claims.aud ?? 'segments');
    if (claims.exp !== null) jwt.setExpirationTime(claims.exp ?? '5m');
    if (claims.iat !== null) jwt.setIssuedAt(claims.iat);
    return jwt.sign(key);
  };
  const now = () => Math.floor(Date.now() / 1000);

  it('accepts a token signed with a published key', async () => {
    expect(await verify(await sign(privateKey))).toEqual({ subject: 'svc-admin-ui', scopes: new Set(['segments:read']) });
  });

  it.each([
    ['signed with an unpublished key', () => sign(otherKey)],
    ['from another issuer', () => sign(privateKey, { iss: 'https://elsewhere.test' })],
    ['for another audience', () => sign(privateKey, { aud: 'billing' })],
    ['without an expiry', () => sign(privateKey, { exp: null })],
    ['without an issue time', () => sign(privateKey, { iat: null })],
    ['issued longer ago than the maximum token age', () => sign(privateKey, { iat: now() - 7200, exp: now() + 600 })],
  ])('refuses a token %s', async (_case, make) => {
    expect(await verify(await make())).toBeNull();
  });

  it('is not created for a JWKS without an issuer and an audience to check', () => {
    expect(() => createTokenVerifier({ jwksUrl: new URL('https://idp.test/jwks.json'), issuer: 'https://idp.test' })).toThrow(/issuer and an audience/);
  });
});
