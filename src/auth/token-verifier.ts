import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { AuthConfig } from '../platform/config.js';

/** Who is calling, as their token says. */
export interface Principal {
  /** The token's `sub`; recorded in segment history. */
  subject: string;
  scopes: ReadonlySet<string>;
}

export type TokenVerifier = (token: string) => Promise<Principal | null>;

// Asymmetric algorithms a JWKS may use; `none` and HMAC are never accepted with keys from a URL.
const JWKS_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];

/**
 * Verifies bearer tokens with jose: HS256 with the shared secret, or keys from
 * the JWKS URL (fetched and cached by jose). Resolves to null for any token
 * that does not verify (bad signature, expired, not yet valid, unsecured
 * `alg: none`, wrong issuer or audience, no `exp`, no `iat` or issued longer
 * ago than `maxTokenAgeSeconds`), never throws for a bad token. Keys from a
 * URL are used only with an issuer and an audience to check.
 */
export function createTokenVerifier(config: AuthConfig): TokenVerifier {
  if (config.jwksUrl && (!config.issuer || !config.audience)) throw new Error('a JWKS needs an issuer and an audience to check');
  const options = {
    ...(config.issuer ? { issuer: config.issuer } : {}),
    ...(config.audience ? { audience: config.audience } : {}),
    // A token without an end is valid forever once leaked.
    requiredClaims: ['exp', 'iat'],
    maxTokenAge: config.maxTokenAgeSeconds ?? 86_400,
  };
  const keys: Array<{ key: Uint8Array | JWTVerifyGetKey; algorithms: string[] }> = [];
  if (config.secret) keys.push({ key: new TextEncoder().encode(config.secret), algorithms: ['HS256'] });
  if (config.jwksUrl) keys.push({ key: createRemoteJWKSet(config.jwksUrl), algorithms: JWKS_ALGORITHMS });

  return async (token) => {
    for (const { key, algorithms } of keys) {
      try {
        const { payload } = await jwtVerify(token, key as Uint8Array, { ...options, algorithms });
        if (typeof payload.sub !== 'string' || payload.sub === '') return null;
        const scope = typeof payload.scope === 'string' ? payload.scope : '';
        return { subject: payload.sub, scopes: new Set(scope.split(' ').filter(Boolean)) };
      } catch {
        // Try the next key source; a token no source accepts is not authenticated.
      }
    }
    return null;
  };
}
