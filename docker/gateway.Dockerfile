# The Sluice gateway image: `sluice gateway` on 0.0.0.0:8700 by default (the runs API, health,
# readiness, metrics; webhooks come with the rest of the gateway issue).
#
#   docker build -f docker/gateway.Dockerfile -t sluice-gateway .   # from the repository root
#   docker run --rm -p 8700:8700 -e DATABASE_URL=… -e TEMPORAL_ADDRESS=… \
#     -v "$PWD/sluice.config.yaml:/app/sluice.config.yaml:ro" sluice-gateway
#
# Same build as docker/worker.Dockerfile (BuildKit; context = repository root, filtered by
# docker/gateway.Dockerfile.dockerignore); only the runtime stage differs.
#
# Debian (glibc), never Alpine: Temporal's native core bridge and nodejs-polars ship glibc binaries only.
# linux/amd64 only: package.json depends on nodejs-polars-linux-x64-gnu, so npm refuses other
# platforms (build with --platform linux/amd64 on an arm64 machine; docker/compose.yaml does).

ARG NODE_IMAGE=node:20.20.2-bookworm-slim

# ---- base: the npm that wrote package-lock.json --------------------------------------------------
# node:20 ships npm 10, which ignores package.json "allowScripts" (the list of dependencies whose
# install scripts were reviewed). npm 11 applies it: approved scripts run, any other is reported.
FROM ${NODE_IMAGE} AS base
ARG NPM_VERSION=11.19.1
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
RUN npm install --global "npm@${NPM_VERSION}" \
 && npm --version
WORKDIR /app
COPY package.json package-lock.json ./

# ---- build: every dependency, then the TypeScript compiler ----------------------------------------
FROM base AS build
# `npm install`, not `npm ci`: the lockfile may lack other platforms' optional packages, which
# `npm ci`'s sync check refuses; `npm install` still honours every version the lockfile pins.
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm install --no-audit --no-fund
COPY . .
# The workflow bundle is prebuilt here (dist/workflow-bundle.js): workers start without webpack.
# tsconfig.build.json leaves tests, test helpers and benchmarks out of the build.
# The console (console/ → dist/console/, served at /ui) is built here too: Vite is a dev dependency.
RUN npx tsc -p tsconfig.build.json \
 && node dist/worker/build-workflow-bundle.js \
 && npm run build:console

# ---- prod-deps: production dependencies only ------------------------------------------------------
FROM base AS prod-deps
RUN --mount=type=cache,target=/root/.npm,sharing=locked \

# ---- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sluice-gateway" \
      org.opencontainers.image.description="Sluice gateway: the HTTP API for runs and webhooks, and the webhook delivery worker" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production \
    SLUICE_STATE_DIR=/var/lib/sluice
RUN mkdir -p /var/lib/sluice && chown -R node:node /var/lib/sluice
WORKDIR /app
# Application files stay root-owned: the gateway cannot modify its own code.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
EXPOSE 8700
# `sluice gateway` closes its listener and in-flight requests on SIGTERM.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:8700/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["gateway", "--host", "0.0.0.0", "--port", "8700"]
