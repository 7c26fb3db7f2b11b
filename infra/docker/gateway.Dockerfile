# The Tessera gateway. Build from the repository root:
#   docker build -f infra/docker/gateway.Dockerfile -t tessera-gateway .
FROM node:20-bookworm-slim AS build
WORKDIR /repo
COPY package.json package-lock.json .npmrc nx.json tsconfig.base.json ./
COPY apps/gateway/package.json apps/gateway/
COPY libs/contracts/package.json libs/contracts/
COPY libs/db/package.json libs/db/
COPY libs/sdk/package.json libs/sdk/
COPY e2e/package.json e2e/
COPY bench/package.json bench/
RUN npm install --no-audit --no-fund
COPY prisma prisma
COPY libs libs
COPY apps/gateway apps/gateway
RUN npx nx run-many -t build --projects=@tessera/gateway,@tessera/db,@tessera/contracts --outputStyle=static \
 && npm prune --omit=dev --workspace=@tessera/gateway --workspace=@tessera/db --workspace=@tessera/contracts --include-workspace-root=false

FROM node:20-bookworm-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /repo/node_modules node_modules
COPY --from=build /repo/package.json ./
COPY --from=build /repo/prisma prisma
COPY --from=build /repo/libs/contracts/package.json libs/contracts/
COPY --from=build /repo/libs/contracts/dist libs/contracts/dist
COPY --from=build /repo/libs/db/package.json libs/db/
COPY --from=build /repo/libs/db/dist libs/db/dist
COPY --from=build /repo/apps/gateway/package.json apps/gateway/
COPY --from=build /repo/apps/gateway/dist apps/gateway/dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "apps/gateway/dist/main.js"]
