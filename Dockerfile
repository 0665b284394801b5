# syntax=docker/dockerfile:1
# SignalGate: one image for the token API and the broker (`start --api-only` / `start --broker-only`,
# or both in one container with plain `start`), and for the emulator and test fixture:
#   docker run --rm -p 8080:8080 -p 1883:1883 -p 8083:8083 -v "$PWD/signalgate.yaml:/state/signalgate.yaml:ro" \
#     -e CLOUDSIGNAL_SECRET_KEY signalgate:local start --ephemeral --state /state/signalgate.yaml
# See docker-compose.yml.

# ---- build: every dependency (TypeScript, esbuild), compile, then drop the dev dependencies --------
FROM node:20-slim AS build
WORKDIR /app
# better-sqlite3 and argon2 are native: prebuilt binaries are fetched when available, and these
# tools compile them when not (e.g. another architecture). They stay in this stage only.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Manifests first, so the dependency layer is rebuilt only when they change.
COPY package.json package-lock.json .npmrc ./
COPY shared/package.json shared/
COPY token-api/package.json token-api/
COPY broker/package.json broker/
COPY cli/package.json cli/
COPY client/package.json client/
COPY tests/package.json tests/
# --ignore-scripts: the root `prepare` script builds, and the sources are not copied yet; the
# native modules' own install steps run explicitly right after.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 argon2
COPY . .
RUN npm run build \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- runtime: compiled output and production dependencies only, as an unprivileged user -----------
FROM node:20-slim
# Ports set explicitly: `start --ephemeral` gives port 0 only to listeners not set, and a
# container's ports must be the ones published.
ENV NODE_ENV=production \
    SIGNALGATE_DATA_DIR=/data \
    SIGNALGATE_BIND=0.0.0.0 \
    SIGNALGATE_API_PORT=8080 \
    SIGNALGATE_MQTT_PORT=1883 \
    SIGNALGATE_WS_PORT=8083 \
    SIGNALGATE_MQTTS_PORT=8883 \
    SIGNALGATE_WSS_PORT=18885
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# node_modules/@signalgate/* are workspace links to these folders.
COPY --from=build /app/shared/package.json shared/
COPY --from=build /app/shared/dist shared/dist
COPY --from=build /app/token-api/package.json token-api/
COPY --from=build /app/token-api/dist token-api/dist
COPY --from=build /app/broker/package.json broker/
COPY --from=build /app/broker/dist broker/dist
COPY --from=build /app/cli/package.json cli/
COPY --from=build /app/cli/dist cli/dist
COPY --from=build /app/client/package.json client/
COPY --from=build /app/client/dist client/dist
# the dashboard bundle the token API serves
COPY --from=build /app/dashboard/dist dashboard/dist
# `node` (uid 1000) ships with the base image; it owns the data volume and nothing else.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
# token API, MQTT, MQTT over WebSocket, MQTT over TLS, MQTT over secure WebSocket
EXPOSE 8080 1883 8083 8883 18885
# The token API's liveness route. A broker-only container has no HTTP listener: docker-compose.yml
# gives that service a TCP check of the MQTT port instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SIGNALGATE_API_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The bundled CLI (cli/scripts/bundle.mjs): the same `signalgate` bin as npm installs, ~0.7 s to ready.
ENTRYPOINT ["node", "cli/dist/bundle/signalgate.mjs"]
CMD ["start"]
