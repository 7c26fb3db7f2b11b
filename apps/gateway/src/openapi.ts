// Writes the gateway's OpenAPI document without listening or connecting: `node dist/openapi.js <file>`.
import { writeFile } from 'node:fs/promises';
import { createGatewayApp, closeGatewayApp } from './app.factory.js';
import { buildOpenApiDocument } from './openapi/build-openapi-document.js';
import { loadGatewayConfig } from './config/gateway-config.js';

const output = process.argv[2] ?? 'openapi.json';
const config = loadGatewayConfig({
  DATABASE_URL: 'postgresql://unused/unused',
  PLATFORM_ADMIN_KEY: 'unused-unused-unused-unused',
  LOG_LEVEL: 'silent',
});
const app = await createGatewayApp(config);
await app.init();
const document = buildOpenApiDocument(app);
await writeFile(output, JSON.stringify(document, null, 2) + '\n');
await closeGatewayApp(app);
console.log(`wrote ${output}: ${Object.keys(document.paths).length} paths`);
