import { closeGatewayApp, createGatewayApp } from './app.factory.js';
import { loadGatewayConfig } from './config/gateway-config.js';
import { UsageLedger } from './usage/usage-ledger.js';

const config = loadGatewayConfig();
const app = await createGatewayApp(config);
await app.listen({ port: config.PORT, host: config.HOST });
// Usage left unwritten by a gateway that died is written by the next one up, traffic or not.
app.get(UsageLedger).start();
const address = app.getHttpServer().address();
const port = typeof address === 'object' && address ? address.port : config.PORT;
// One line a supervisor (the start script, e2e tests) can wait for.
console.log(JSON.stringify({ msg: 'gateway listening', url: `http://${config.HOST}:${port}` }));

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    closeGatewayApp(app).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}
