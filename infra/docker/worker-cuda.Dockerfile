# The Tessera worker on NVIDIA GPUs: onnxruntime-node with its CUDA execution provider.
# Build from the repository root (the build fetches the provider from nuget.org):
#   docker build -f infra/docker/worker-cuda.Dockerfile -t tessera-worker-cuda .
# Run with a GPU: docker run --gpus all ... (the host needs the NVIDIA driver and container toolkit).
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
# The npm package ships CPU binaries only. Its installer fetches the CUDA 12 provider
# (libonnxruntime_providers_{cuda,shared}.so) when ONNXRUNTIME_NODE_INSTALL asks for it.
# Run it here, by hand, because .npmrc's ignore-scripts keeps it from running on install.
RUN cd node_modules/onnxruntime-node \
 && ONNXRUNTIME_NODE_INSTALL=cuda12 node script/install.js \
 && test -f bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so
COPY prisma prisma
COPY libs libs
COPY apps/worker apps/worker
RUN npx nx run-many -t build --projects=@tessera/worker --outputStyle=static \
 && npm prune --omit=dev
RUN mkdir /out && for p in apps/worker libs/contracts libs/db libs/engine libs/queue libs/storage libs/webhooks; do \
      mkdir -p /out/$p && cp -r $p/package.json $p/dist /out/$p/; done

# CUDA 12 and cuDNN 9: what onnxruntime 1.2x-1.30's CUDA 12 provider links against.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu22.04
# Node from the official image (built for glibc 2.28, so it runs on Ubuntu 22.04's 2.35).
COPY --from=build /usr/local/bin/node /usr/local/bin/node
RUN useradd --uid 1000 --create-home node
ENV NODE_ENV=production DATA_DIR=/data MODELS_DIR=/app/models EXECUTION_PROVIDER=cuda
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
