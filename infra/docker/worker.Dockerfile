# The Tessera worker on CPU (onnxruntime-node's bundled CPU binaries). Build from the repository root:
#   docker build -f infra/docker/worker.Dockerfile -t tessera-worker .
# For NVIDIA GPUs use worker-cuda.Dockerfile.
FROM node:20-bookworm-slim AS build
ENV NX_DAEMON=false NX_NO_CLOUD=true NX_TUI=false
WORKDIR /repo
COPY package.json package-lock.json .npmrc nx.json tsconfig.base.json ./
# Every workspace's manifest, so the install matches the lockfile exactly.
COPY apps/dashboard/package.json apps/dashboard/
COPY apps/gateway/package.json apps/gateway/
COPY apps/worker/package.json apps/worker/
COPY libs/contracts/package.json libs/contracts/
COPY libs/db/package.json libs/db/
COPY libs/engine/package.json libs/engine/
COPY libs/queue/package.json libs/queue/
COPY libs/sdk/package.json libs/sdk/
COPY libs/storage/package.json libs/storage/
COPY libs/webhooks/package.json libs/webhooks/
COPY e2e/package.json e2e/
COPY bench/package.json bench/
# --ignore-scripts: package.json's allowScripts turns every install script off, and this
# image's npm 10 does not read allowScripts.
RUN npm install --no-audit --no-fund --ignore-scripts
COPY prisma prisma
COPY libs libs
COPY apps/worker apps/worker
RUN npx nx run-many -t build --projects=@tessera/worker --outputStyle=static \
 && npm prune --omit=dev
RUN mkdir /out && for p in apps/worker libs/contracts libs/db libs/engine libs/queue libs/storage libs/webhooks; do \
      mkdir -p /out/$p && cp -r $p/package.json $p/dist /out/$p/; done

FROM node:20-bookworm-slim
ENV NODE_ENV=production DATA_DIR=/data MODELS_DIR=/app/models EXECUTION_PROVIDER=cpu
WORKDIR /app
COPY --from=build /repo/node_modules node_modules
COPY --from=build /repo/package.json ./
COPY --from=build /out ./
# builtin: base models (the demo model's weights and tokenizer).
COPY models models
# A named volume mounted here starts with this ownership (BLOB_STORE=fs blobs, S3 spool).
RUN mkdir /data && chown node:node /data
USER node
CMD ["node", "apps/worker/dist/main.js"]
