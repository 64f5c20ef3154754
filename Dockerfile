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
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/dist dist
USER node
EXPOSE 4001
CMD ["node", "--max-semi-space-size=32", "--max-old-space-size=384", "dist/src/index.js", "all"]
