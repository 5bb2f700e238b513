# The Temporal worker (workflows + activities) as a container. It carries no
# Python trainer: in this deployment hosts are remote (GCE) and reach the
# control plane only through the store; local hosts need the trainer's .venv.
FROM node:22-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY workers ./workers
COPY test ./test
COPY bench ./bench
RUN node node_modules/typescript/bin/tsc -p tsconfig.json

FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /app/dist ./dist
# src/paths.ts knows the checkout by package.json beside trainer/ (the worker refused to start
# without it). This image runs no local hosts (GCE hosts run the trainer image), so it stays empty.
RUN mkdir trainer
USER node
CMD ["node", "dist/workers/main.js"]
