// Vitest: the front-end tests run in happy-dom (no canvas: drawing code must tolerate getContext() === null).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    environment: "happy-dom",
    include: ["js/**/*.test.ts"],
  },
});
