import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'jsdom',
    setupFiles: ['./src/test-setup.ts'],
    include: ['src/**/*.test.{ts,tsx}'],
    // @grafana/ui's ESM build imports CommonJS paths without extensions;
    // letting Vite transform it resolves them.
    server: { deps: { inline: [/@grafana\//] } },
    testTimeout: 30000,
  },
});
