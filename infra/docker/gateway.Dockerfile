# The Tessera gateway, serving the dashboard too. Build from the repository root:
#   docker build -f infra/docker/gateway.Dockerfile -t tessera-gateway .
# The same image runs migrations: node libs/db/dist/migrate/cli.js
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
COPY apps/gateway apps/gateway
COPY apps/dashboard apps/dashboard
RUN npx nx run-many -t build --projects=@tessera/gateway,@tessera/dashboard --outputStyle=static \
 && npm prune --omit=dev
# Only manifests and build output go into the image.
RUN mkdir /out && for p in apps/gateway apps/dashboard libs/contracts libs/db libs/engine libs/queue libs/storage libs/webhooks; do \
      mkdir -p /out/$p && cp -r $p/package.json $p/dist /out/$p/; done

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080 DATA_DIR=/data DASHBOARD_DIR=/app/apps/dashboard/dist
WORKDIR /app
COPY --from=build /repo/node_modules node_modules
COPY --from=build /repo/package.json ./
COPY --from=build /repo/prisma prisma
COPY --from=build /out ./
# A named volume mounted here starts with this ownership (BLOB_STORE=fs blobs, S3 spool).
RUN mkdir /data && chown node:node /data
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "apps/gateway/dist/main.js"]
