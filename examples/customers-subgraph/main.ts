/**
 * The demo customers subgraph on its own (docker-compose.yml's `customers`
 * service): `node dist/examples/customers-subgraph/main.js`, on CUSTOMERS_PORT
 * (default 4003) of all interfaces.
 */
import { startCustomersSubgraph } from './customers-subgraph.js';

const port = Number(process.env.CUSTOMERS_PORT ?? 4003);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`CUSTOMERS_PORT must be between 1 and 65535 (got ${JSON.stringify(process.env.CUSTOMERS_PORT)})`);
  process.exit(64);
}
const running = await startCustomersSubgraph(port, '0.0.0.0');
console.log(JSON.stringify({ level: 'info', msg: 'customers subgraph ready', port }));
const stop = () => void running.stop().then(() => process.exit(0));
process.once('SIGTERM', stop).once('SIGINT', stop);
