/**
 * The run-wide log scan (test/helpers/log-scan*.ts, log-capture.ts): the rules find real tokens, real private
 * keys and canary content on planted lines and pass clean log lines; the teardown fails a run naming the file
 * and line; and this very file's logger and Powertools lines really reach the capture file.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Logger } from "@aws-lambda-powertools/logger";
import { CollectingLogger, makeApiKey } from "../helpers/in-memory-ports.js";
import { CollectingLogger as LocalRuntimeLogger } from "../helpers/local-runtime.js";
import {
  assertScannerWorks,
  CANARY_RECORD_CONTENT,
  formatFindings,
  LEAK_RULES,
  scanDirectory,
  scanText,
} from "../helpers/log-scan.js";
import scanCapturedLogs from "../helpers/log-scan-global-teardown.js";
import { issueToken, tokenClock } from "../helpers/tokens.js";

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "log-scan-test-"));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("leak rules", () => {
  it("flag real secrets: an issued access token, a PKCS#8 PEM, a private JWK, canary content", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const token = await issueToken(makeApiKey(), tokenClock());
    const lines = [
      JSON.stringify({ level: "info", msg: "request", header: `Bearer ${token}` }),
      JSON.stringify({ level: "info", msg: "token", token }),
      JSON.stringify({ key: privateKey.export({ type: "pkcs8", format: "pem" }) }),
      JSON.stringify({ jwk: privateKey.export({ format: "jwk" }) }),
      JSON.stringify({ nested: JSON.stringify({ jwk: privateKey.export({ format: "jwk" }) }) }),
      JSON.stringify({ body: `{"note":"${CANARY_RECORD_CONTENT}"}` }),
    ];
    const found = scanText(lines.join("\n"), "run.log").map((f) => [f.line, f.rule]);
    expect(found).toEqual([
      [1, "JWT (access token)"],
      [1, "bearer credential"],
      [2, "JWT (access token)"],
      [3, "PEM private key"],
      [4, "JWK private member d"],
      [5, "JWK private member d"],
      [6, "canary record content"],
    ]);
  });

  it("blank the secret out of the excerpt they report", async () => {
    const token = await issueToken(makeApiKey(), tokenClock());
    const [finding] = scanText(`{"token":"${token}"}`, "run.log");
    expect(finding?.excerpt).not.toContain(token.split(".")[1]);
    expect(finding?.excerpt).toMatch(/<JWT \(access token\): \d+ characters>/);
  });

  it("pass the lines the services really log: access log, errors naming the header, public JWKs", () => {
    const { publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
    const clean = [
      '{"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"request","requestId":"0c1d","method":"POST","stream":"is-AbCDefGH","status":401,"contentLength":"61","ms":0.8}',
      '{"level":"info","message":"Authorization header must be: Bearer <access token>"}',
      JSON.stringify({ jwks: { keys: [publicKey.export({ format: "jwk" })] } }),
      '{"level":"warn","message":"request not accepted","status":503,"code":"registry_unavailable"}',
    ];
    expect(scanText(clean.join("\n"), "run.log")).toEqual([]);
  });

  it("each flag its own planted line, and the self-check passes", () => {
    for (const rule of LEAK_RULES) {
      expect(scanText(rule.planted, "p.log").map((f) => f.rule)).toContain(rule.name);
    }
    expect(() => assertScannerWorks()).not.toThrow();
  });
});

describe("scanDirectory and the global teardown", () => {
  const withLogDir = (dir: string, fn: () => void) => {
    const previous = { dir: process.env.INGEST_TEST_LOG_DIR, keep: process.env.INGEST_TEST_LOG_KEEP };
    process.env.INGEST_TEST_LOG_DIR = dir;
    delete process.env.INGEST_TEST_LOG_KEEP;
    try {
      fn();
    } finally {
      process.env.INGEST_TEST_LOG_DIR = previous.dir;
      if (previous.keep !== undefined) process.env.INGEST_TEST_LOG_KEEP = previous.keep;
    }
  };

  it("names the capture file and line of a planted leak and fails the run, keeping the files", () => {
    const dir = join(scratch, "leaky");
    mkdirSync(dir);
    const file = join(dir, "4242.log");
    writeFileSync(
      file,
      "test/a.test.ts\tcapture\t# capture started\n" +
        'test/a.test.ts\tstderr\t{"msg":"ok"}\n' +
        `test/a.test.ts\tstderr\t{"msg":"oops","body":"${CANARY_RECORD_CONTENT}"}\n`,
    );
    expect(formatFindings(scanDirectory(dir))).toBe(
      `${file}:3: canary record content\n    test/a.test.ts\tstderr\t{"msg":"oops","body":"<canary record content: 21 characters>"}`,
    );
    withLogDir(dir, () => expect(() => scanCapturedLogs()).toThrow(`${file}:3: canary record content`));
    expect(existsSync(file)).toBe(true);
  });

  it("fails a run that captured no test file at all (a scan that saw nothing cannot pass)", () => {
    const dir = join(scratch, "empty");
    mkdirSync(dir);
    withLogDir(dir, () => expect(() => scanCapturedLogs()).toThrow(/no test file was captured/));
  });

  it("passes a clean run, says what it scanned, and removes its directory", () => {
    const dir = join(scratch, "clean");
    mkdirSync(dir);
    writeFileSync(
      join(dir, "1.log"),
      'test/a.test.ts\tcapture\t# capture started\ntest/a.test.ts\tstderr\t{"msg":"ok"}\n',
    );
    const said: string[] = [];
    const spy = jest.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      said.push(String(chunk));
      return true;
    });
    try {
      withLogDir(dir, () => scanCapturedLogs());
    } finally {
      spy.mockRestore();
    }
    expect(said).toEqual([
      "log scan: 2 log lines from 1 test files hold no token, key material or record content\n",
    ]);
    expect(existsSync(dir)).toBe(false);
  });
});

describe("capture during this run", () => {
  const capturedText = () => {
    const dir = process.env.INGEST_TEST_LOG_DIR ?? "";
    return readFileSync(join(dir, `${process.pid}.log`), "utf8");
  };

  it("runs: the run's log directory exists and holds this file's start marker", () => {
    expect(process.env.INGEST_TEST_LOG_DIR).toEqual(expect.any(String));
    expect(capturedText()).toContain("test/unit/log-scan.test.ts\tcapture\t# capture started");
  });

  it("tees the collecting loggers of test/helpers and stderr writes", () => {
    const probe = `probe-${randomUUID()}`;
    new CollectingLogger().info("probe", { probe: `${probe}-a` });
    new LocalRuntimeLogger().warn("probe", { probe: `${probe}-b` });
    process.stderr.write(`${probe}-c\n`);
    const text = capturedText();
    expect(text).toContain(
      `test/unit/log-scan.test.ts\tin-memory logger\t{"level":"info","message":"probe","fields":{"probe":"${probe}-a"}}`,
    );
    expect(text).toContain(`\tlocal-runtime logger\t{"level":"warn","message":"probe","probe":"${probe}-b"}`);
    expect(text).toContain(`\tstderr\t${probe}-c`);
  });

  it("tees Powertools log lines even while a test mocks process.stdout", () => {
    const probe = `probe-${randomUUID()}`;
    const written: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      new Logger({ serviceName: "log-scan-test" }).info("probe", { probe });
    } finally {
      spy.mockRestore();
    }
    expect(written.join("")).toContain(probe);
    expect(capturedText()).toMatch(new RegExp(`\\tpowertools\\t\\{.*"probe":"${probe}"`));
  });
});
