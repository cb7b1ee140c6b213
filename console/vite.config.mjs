// Builds the console (console/) into dist/console/, served by the gateway at /ui (webhook-gateway/console-router.ts).
// `npm run build:console`; npm start, npm test and npm run build run it first.
import path from 'node:path';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const root = import.meta.dirname;

export default defineConfig({
  root,
  base: '/ui/',
  plugins: [preact()],
  build: {
    outDir: path.join(root, '..', 'dist', 'console'),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
  logLevel: 'warn',
});
