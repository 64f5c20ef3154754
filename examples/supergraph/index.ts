export {
  composeDemoSupergraph,
  CompositionError,
  createGatewayServer,
  DEFAULT_SUBGRAPH_URLS,
  fetchLikeTheRouter,
  PROPAGATED_HEADERS,
  startGateway,
  type RouterSecret,
  type RunningSupergraph,
  type SubgraphUrls,
} from './demo-supergraph.js';
export { startDemoSupergraph, type DemoSupergraphOptions, type RunningDemoSupergraph } from './start-demo-supergraph.js';
