import { SignJWT } from 'jose';
import type { AuthConfig } from '../../src/platform/config.js';

/** The auth settings test subgraphs run with. */
export const TEST_AUTH: AuthConfig = {
  secret: 'test-secret-that-is-at-least-32-characters-long',
  issuer: 'https://auth.test',
  audience: 'segments',
};

export interface TokenOptions {
  subject?: string;
  secret?: string;
  issuer?: string;
  audience?: string;
  expiresIn?: string | number;
}

/** A signed HS256 token carrying `scopes`, valid for TEST_AUTH unless options say otherwise. */
export async function token(scopes: string[], options: TokenOptions = {}): Promise<string> {
  return new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(options.subject ?? 'admin@test')
    .setIssuer(options.issuer ?? TEST_AUTH.issuer!)
    .setAudience(options.audience ?? TEST_AUTH.audience!)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? '5m')
    .sign(new TextEncoder().encode(options.secret ?? TEST_AUTH.secret));
}

export const adminToken = () => token(['segments:read', 'segments:write']);
export const readerToken = () => token(['segments:read']);
