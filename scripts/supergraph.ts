/**
 * npm run supergraph [-- --print | --check]
 *
 * A supergraph a newcomer can open: the demo customers subgraph
 * (examples/customers-subgraph) and this subgraph, composed with
 * @apollo/composition and served by @apollo/gateway with Apollo Sandbox on
 * http://localhost:SUPERGRAPH_PORT/ (4000). Start the segments subgraph first
 * (`npm start`): the gateway finds it on the same PORT (4001), or at
 * SUPERGRAPH_SEGMENTS_URL, and sends it ROUTER_SHARED_SECRET in
 * ROUTER_SECRET_HEADER when set, as the subgraph reads them.
 *
 * --print  prints the supergraph schema (for ops/router/supergraph.graphql) and exits
 * --check  composes, fails on composition errors or when ops/router/supergraph.graphql
 *          is not the current composition, and exits (CI)
 *
 * The gateway and the composition library are devDependencies: a demo, not a
 * production router (docker-compose.yml runs Apollo Router for that).
 */
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { composeDemoSupergraph, CompositionError, startDemoSupergraph } from '../examples/supergraph/index.js';

const SUPERGRAPH_FILE = new URL('../ops/router/supergraph.graphql', import.meta.url);

const port = z.coerce.number().int().min(0).max(65535);
const environment = z.object({
  SUPERGRAPH_PORT: port.default(4000),
  PORT: port.default(4001),
  SUPERGRAPH_SEGMENTS_URL: z.url().optional(),
  ROUTER_SHARED_SECRET: z.string().optional(),
  ROUTER_SECRET_HEADER: z.string().default('Router-Authorization'),
  SUPERGRAPH_CUSTOMERS_URL: z.url().optional(),
  CUSTOMERS_PORT: port.default(4003),
});

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { print: { type: 'boolean' }, check: { type: 'boolean' } } });
  if (values.print) {
    process.stdout.write(composeDemoSupergraph());
    return;
  }
  if (values.check) {
    const current = composeDemoSupergraph();
    const committed = await readFile(SUPERGRAPH_FILE, 'utf8').catch(() => '');
    if (committed !== current) {
      throw new CompositionError(
        'ops/router/supergraph.graphql is not the current composition: run `npm run --silent supergraph -- --print > ops/router/supergraph.graphql`',
      );
    }
    console.log('supergraph composes; ops/router/supergraph.graphql is current');
    return;
  }
  const present = Object.fromEntries(Object.entries(process.env).filter(([, v]) => v !== undefined && v !== ''));
  const env = environment.safeParse(present);
  if (!env.success) {
    const issue = env.error.issues[0]!;
    throw new CompositionError(`Invalid configuration: ${issue.path.join('.')} ${issue.message}`);
  }
  const segmentsUrl = env.data.SUPERGRAPH_SEGMENTS_URL ?? `http://localhost:${env.data.PORT}/`;
  const supergraph = await startDemoSupergraph({
    port: env.data.SUPERGRAPH_PORT,
    segmentsUrl,
    customersPort: env.data.CUSTOMERS_PORT,
    ...(env.data.SUPERGRAPH_CUSTOMERS_URL ? { customersUrl: env.data.SUPERGRAPH_CUSTOMERS_URL } : {}),
    ...(env.data.ROUTER_SHARED_SECRET ? { segmentsSecret: { secret: env.data.ROUTER_SHARED_SECRET, header: env.data.ROUTER_SECRET_HEADER } } : {}),
  });
  console.log(`supergraph ready: ${supergraph.url} (customers subgraph: ${supergraph.customersUrl}, segments subgraph: ${segmentsUrl})`);
  const stop = () => void supergraph.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop).once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error instanceof CompositionError ? error.message : error);
  process.exit(1);
});
