/** Jest: TypeScript through ts-jest in isolatedModules mode (type-checking is `npm run typecheck`). */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test"],
  testMatch: ["**/*.test.ts"],
  // Sources import with `.js` suffixes (NodeNext); map them back to the `.ts` files for ts-jest.
  moduleNameMapper: {
    "^(\\.{1,2}/.*)\\.js$": "$1",
    // Powertools loggers are teed into the run-wide log capture (test/helpers/log-capture.ts).
    "^@aws-lambda-powertools/logger$": "<rootDir>/test/helpers/powertools-logger-capture.ts",
  },
  setupFiles: ["<rootDir>/test/helpers/setup-env.ts"],
  // Every log line of the run is captured, then scanned for tokens, keys and record content at the end.
  setupFilesAfterEnv: ["<rootDir>/test/helpers/log-capture-setup.ts"],
  globalSetup: "<rootDir>/test/helpers/log-scan-global-setup.ts",
  globalTeardown: "<rootDir>/test/helpers/log-scan-global-teardown.ts",
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "tsconfig.json" }],
  },
  testTimeout: 30000,
};
