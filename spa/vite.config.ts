import { defineConfig } from "vitest/config";

export default defineConfig({
  build: { outDir: "dist", emptyOutDir: true, target: "es2022" },
  // The e2e suite runs under node's own test runner against a built bundle.
  test: { include: ["test/**/*.test.ts"], environment: "node" },
});
