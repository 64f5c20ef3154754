/** One customer of the demo customers subgraph. */
export interface DemoCustomer {
  id: string;
  name: string;
  email: string;
}

/**
 * The first customers `npm run seed` creates (ids `cust-` and eight digits, see
 * src/stores/postgres/order-history-seed.ts), so the page query of a seeded
 * demo finds both a name here and segments in the segments subgraph.
 */
export const DEMO_CUSTOMERS: readonly DemoCustomer[] = [
  ['Ada Lovelace', 'ada'],
  ['Grace Hopper', 'grace'],
  ['Alan Turing', 'alan'],
  ['Katherine Johnson', 'katherine'],
  ['Edsger Dijkstra', 'edsger'],
  ['Barbara Liskov', 'barbara'],
  ['Donald Knuth', 'donald'],
  ['Margaret Hamilton', 'margaret'],
  ['John Backus', 'john'],
  ['Frances Allen', 'frances'],
].map(([name, user], i) => ({ id: `cust-${String(i + 1).padStart(8, '0')}`, name: name!, email: `${user}@example.com` }));
