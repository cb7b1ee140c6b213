# The Sluice worker image: `sluice worker` by default, and any other `sluice` command as arguments.
#
#   docker build -f docker/worker.Dockerfile -t sluice-worker .     # from the repository root
#   docker run --rm sluice-worker --help
#
# Needs BuildKit (docker buildx). The build context is the repository root; BuildKit filters it with
# docker/worker.Dockerfile.dockerignore.
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
RUN npx tsc -p tsconfig.build.json \
 && node dist/worker/build-workflow-bundle.js

# ---- prod-deps: production dependencies only ------------------------------------------------------
FROM base AS prod-deps
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm install --omit=dev --no-audit --no-fund

# ---- runtime -------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="sluice-worker" \
      org.opencontainers.image.description="Sluice worker: runs sync-transform-sync flows from a Temporal task queue" \
      org.opencontainers.image.licenses="Apache-2.0"
# A larger young generation cuts the garbage collection of nodejs-polars' many short-lived
# expression objects (about 20% of transform time measured; docs/benchmarks.md).
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=64 \
    SLUICE_STATE_DIR=/var/lib/sluice \
    SLUICE_STAGING_DIR=/var/lib/sluice/staging
# Staging must be writable by the worker; a named volume mounted here starts with this ownership.
RUN mkdir -p /var/lib/sluice/staging \
 && chown -R node:node /var/lib/sluice
WORKDIR /app
# Application files stay root-owned: the worker cannot modify its own code.
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
USER node
# `sluice worker` stops polling on SIGTERM and drains in-flight activities (30 s grace time);
# give the container longer than that before SIGKILL (docker/compose.yaml: stop_grace_period 60s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "dist/cli/main.js"]
CMD ["worker"]
