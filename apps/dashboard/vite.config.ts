import react from '@vitejs/plugin-react';
import { defineConfig } from 'vitest/config';

// In development Vite serves the app and forwards the API to a gateway; in production the
// gateway serves dist/ itself (DASHBOARD_DIR), so the API is always same-origin.
const gateway = process.env.TESSERA_GATEWAY_URL ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  base: './',
  server: { proxy: { '/v1': gateway, '/healthz': gateway, '/readyz': gateway } },
  build: { outDir: 'dist', emptyOutDir: true },
  test: { environment: 'jsdom', include: ['src/**/*.test.tsx'], setupFiles: ['src/test-setup.ts'] },
});
