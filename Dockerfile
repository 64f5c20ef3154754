# One image for both roles; docker-compose.yml picks the role with `command`.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY schema schema
COPY migrations migrations
COPY src src
COPY workers workers
COPY scripts scripts
COPY examples examples
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
EXPOSE 4001
# node:20-bookworm-slim has neither wget nor curl; Node's fetch asks the
# subgraph (PORT) whether its stores answer. docker-compose.yml points the
# worker's check at its own listener (WORKER_PORT).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4001) + '/health/ready').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=32", "--max-old-space-size=384", "dist/src/index.js", "all"]
