/**
 * The leak rules every captured log line of a test run is checked against (tokens, private keys, record
 * content), and the scanner that applies them to captured files. Pure: no jest, so it can test itself.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Record content tests send on purpose: it must never appear in a log line. */
export const CANARY_RECORD_CONTENT = "CANARY-RECORD-CONTENT";

export interface LeakRule {
  readonly name: string;
  readonly pattern: RegExp;
  /** A line this rule must flag: the scanner checks itself on it before every scan. */
  readonly planted: string;
}

export const LEAK_RULES: readonly LeakRule[] = [
  {
    // A JWT's header and payload are base64url JSON objects, so both start with `eyJ` (`{"`).
    name: "JWT (access token)",
    pattern: /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}/,
    planted: '{"msg":"x","auth":"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJrZXkifQ.c2ln"}',
  },
  {
    name: "bearer credential",
    pattern: /\bBearer\s+[A-Za-z0-9._~+/=-]{16,}/i,
    planted: "authorization: Bearer abcdefghijklmnop.qrstu",
  },
  {
    name: "PEM private key",
    pattern: /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/,
    planted: '{"key":"-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMG"}',
  },
  {
    // A P-256 private JWK's `d` is 43 base64url characters; allow for JSON quoted inside JSON.
    name: "JWK private member d",
    pattern: /\\*"d\\*"\s*:\s*\\*"[A-Za-z0-9_-]{32,}/,
    planted: '{"jwk":{"kty":"EC","d":"9s7SIVbeyoVZbQiELMzYIOaz8_RVM5BvYcF8XK7NQcM"}}',
  },
  {
    name: "canary record content",
    pattern: new RegExp(CANARY_RECORD_CONTENT),
    planted: `{"msg":"record","body":"{\\"note\\":\\"${CANARY_RECORD_CONTENT}\\"}"}`,
  },
];

export interface LeakFinding {
  readonly file: string;
  /** 1-based line number in `file`. */
  readonly line: number;
  readonly rule: string;
  /** The line with the matched secret blanked out, at most 240 characters. */
  readonly excerpt: string;
}

/** Every line of `text` that breaks a rule (one finding per rule and line). */
export function scanText(text: string, file: string): LeakFinding[] {
  const findings: LeakFinding[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index] ?? "";
    for (const rule of LEAK_RULES) {
      const match = rule.pattern.exec(line);
      if (match === null) continue;
      const redacted = line.replace(match[0], `<${rule.name}: ${match[0].length} characters>`);
      findings.push({
        file,
        line: index + 1,
        rule: rule.name,
        excerpt: redacted.length > 240 ? `${redacted.slice(0, 240)}…` : redacted,
      });
    }
  }
  return findings;
}

/** Scans every `*.log` file in `dir`. */
export function scanDirectory(dir: string): LeakFinding[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(".log"))
    .sort()
    .flatMap((name) => scanText(readFileSync(join(dir, name), "utf8"), join(dir, name)));
}

/**
 * Throws unless every rule flags its planted line and none flags a clean log line: a scanner that cannot find
 * anything would let every run pass.
 */
export function assertScannerWorks(): void {
  for (const rule of LEAK_RULES) {
    const found = scanText(`clean line\n${rule.planted}\n`, "planted.log");
    if (!found.some((f) => f.rule === rule.name && f.line === 2)) {
      throw new Error(`log scanner self-test: rule "${rule.name}" did not flag its planted line`);
    }
  }
  const clean =
    '{"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"request","requestId":"6f1c","stream":"is-AbCDefGH","status":401,"ms":1.2}\n' +
    '{"level":"warn","message":"Authorization header is missing; send Authorization: Bearer <access token>"}';
  const wrong = scanText(clean, "clean.log");
  if (wrong.length > 0) throw new Error(`log scanner self-test: flagged a clean line (${wrong[0]?.rule})`);
}

/** A report naming each offending file and line. */
export function formatFindings(findings: readonly LeakFinding[]): string {
  return findings.map((f) => `${f.file}:${f.line}: ${f.rule}\n    ${f.excerpt}`).join("\n");
}
