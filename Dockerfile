# One image for every Borealis process on ECS (compute=ecs): storage nodes, writer, readers, control
# plane, proxy. The CDK app picks the process per service with a command; CMD is the storage node.
FROM node:20-slim
ENV NODE_ENV=production AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci installs devDependencies only with NODE_ENV unset; the services need runtime deps (tsx among them).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY core ./core
COPY services ./services
COPY functions ./functions
COPY embedded ./embedded
COPY cli ./cli
COPY bin ./bin
COPY tsconfig.json ./
RUN mkdir -p /data && chown node:node /data
USER node
CMD ["node", "--import", "tsx", "services/storage-node/main.ts", "--help"]
