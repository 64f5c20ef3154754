/**
 * npm run token -- [--scope "segments:read segments:write"] [--sub you@example.com] [--ttl 1h]
 *
 * Prints a bearer token signed with JWT_SECRET (and JWT_ISSUER / JWT_AUDIENCE
 * when set), for trying the admin API in Apollo Explorer on a development
 * setup. Production tokens come from your identity provider.
 */
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { ConfigError, loadConfig } from '../src/platform/config.js';

const USAGE = `Usage: npm run --silent token -- [--scope "segments:read segments:write"] [--sub developer] [--ttl 1h]

Prints a bearer token for the admin API, signed with JWT_SECRET (and JWT_ISSUER /
JWT_AUDIENCE when set). For development: production tokens come from your identity provider.`;

async function main() {
  const { values } = parseArgs({
    options: {
      scope: { type: 'string', default: 'segments:read segments:write' },
      sub: { type: 'string', default: 'developer' },
      ttl: { type: 'string', default: '1h' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const { auth } = loadConfig();
  if (!auth.secret) throw new ConfigError('JWT_SECRET is not set: tokens can only be minted for a shared secret');
  let jwt = new SignJWT({ scope: values.scope }).setProtectedHeader({ alg: 'HS256' }).setSubject(values.sub).setIssuedAt().setExpirationTime(values.ttl);
  if (auth.issuer) jwt = jwt.setIssuer(auth.issuer);
  if (auth.audience) jwt = jwt.setAudience(auth.audience);
  console.log(await jwt.sign(new TextEncoder().encode(auth.secret)));
}

main().catch((error: unknown) => {
  // parseArgs' own errors (an unknown option) are the caller's: say so, with the usage.
  const code = (error as { code?: unknown }).code;
  console.error(error instanceof Error ? error.message : error);
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) console.error(USAGE);
  process.exit(1);
});
