import { startCustomersSubgraph } from '../customers-subgraph/customers-subgraph.js';
import { composeDemoSupergraph, DEFAULT_SUBGRAPH_URLS, startGateway, type RouterSecret } from './demo-supergraph.js';

export interface DemoSupergraphOptions {
  /** The gateway's port (0: any free one). @defaultValue 4000 */
  port?: number;
  /** The interface the gateway and the in-process customers subgraph listen on. @defaultValue `127.0.0.1` */
  host?: string;
  /** The segments subgraph, already running. @defaultValue `http://localhost:4001/` */
  segmentsUrl?: string;
  /**
   * A customers subgraph already running elsewhere; without it one starts in
   * this process on `customersPort`.
   */
  customersUrl?: string;
  /** The in-process customers subgraph's port (0: any free one). @defaultValue 4003 */
  customersPort?: number;
  /** The segments subgraph's shared secret (its ROUTER_SHARED_SECRET), sent with every request to it. */
  segmentsSecret?: RouterSecret;
}

export interface RunningDemoSupergraph {
  /** The gateway: Apollo Sandbox on GET, GraphQL on POST. */
  url: string;
  customersUrl: string;
  stop(): Promise<void>;
}

/**
 * `npm run supergraph`: the customers example (in this process unless
 * `customersUrl` is given) and the segments subgraph at `segmentsUrl`,
 * composed and served by @apollo/gateway.
 */
export async function startDemoSupergraph(options: DemoSupergraphOptions = {}): Promise<RunningDemoSupergraph> {
  const host = options.host ?? '127.0.0.1';
  const customers = options.customersUrl ? null : await startCustomersSubgraph(options.customersPort ?? 4003, host);
  const customersUrl = options.customersUrl ?? customers!.url;
  try {
    const sdl = composeDemoSupergraph({ segments: options.segmentsUrl ?? DEFAULT_SUBGRAPH_URLS.segments, customers: customersUrl });
    const gateway = await startGateway(sdl, options.port ?? 4000, host, options.segmentsSecret);
    return {
      url: gateway.url,
      customersUrl,
      async stop() {
        await gateway.stop();
        await customers?.stop();
      },
    };
  } catch (error) {
    await customers?.stop();
    throw error;
  }
}
