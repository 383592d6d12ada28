# edge-lb for Docker: the Node entry (src/runtime/node.ts) bundled by esbuild into one file, run by
# node on Alpine as a non-root user. The image also carries the compose demo's upstream
# (/app/upstream.mjs), so compose.yaml needs no third-party hello-world image.
#
# Built and run by users: this project's machines have no Docker engine, so CI never builds this
# image. test/integration/docker.test.ts runs the same bundling step (scripts/docker/bundle.ts)
# and serves traffic through the result, and checks this file's shape.
#
#   docker build -t edge-lb .
#   docker run --rm --init -p 3000:3000 -e BACKENDS=http://10.0.0.1:8080,http://10.0.0.2:8080 edge-lb

ARG NODE_IMAGE=node:20-alpine

# --- build: npm ci, then one self-contained ESM file per entry ------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no install script runs (bun, deno and workerd would fetch or check binaries
# that bundling does not use); esbuild finds its platform package without its own.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts ./scripts
RUN node --import tsx scripts/docker/bundle.ts /out

# --- final: node and two files, no node_modules, no compiler ---------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production
WORKDIR /app
# Owned by root, readable by everyone: the process cannot rewrite its own code.
COPY --from=build /out/edge-lb.mjs /out/upstream.mjs /app/
# The base image's `node` user; numeric so that Kubernetes' runAsNonRoot can verify it.
USER 1000:1000
EXPOSE 3000
ENTRYPOINT ["node", "/app/edge-lb.mjs"]
# Backends and every other setting come from the environment (BACKENDS, ALGORITHM, STATE, ...);
# without BACKENDS the balancer exits 1 with the seed's message.
CMD ["--port=3000", "--host=0.0.0.0"]
