/**
 * docs/openapi.json agrees with the code: every route the core resolves is described (and nothing else), every
 * status the code can answer on a stream route is documented there and in the README's status table, and every
 * documented status is one the code can produce.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import document from "../../docs/openapi.json";
import * as errors from "../../lambda/core/errors.js";
import { allowedMethods, type Route, resolveRoute } from "../../lambda/core/route.js";

type Operation = { responses: Record<string, unknown>; parameters?: unknown[] };
const paths = document.paths as unknown as Record<string, Record<string, Operation>>;

/** Each route kind of the core and the path the document describes it under (a new kind fails to compile). */
const DOCUMENTED: Record<Route["kind"], string> = {
  data: "/stream/v0/data/{streamId}",
  batch: "/stream/v0/batch/{streamId}",
  health: "/health",
  openapi: "/openapi.json",
};

const concrete = (path: string) => path.replace("{streamId}", "is-AbCDefGH");
const HTTP_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The status of every IngestError class the core exports: what a stream route can answer besides 202. */
function errorStatuses(): number[] {
  const statuses = new Set<number>();
  for (const value of Object.values(errors)) {
    if (typeof value !== "function" || !(value.prototype instanceof errors.IngestError)) continue;
    const ErrorClass = value as unknown as new (...args: unknown[]) => errors.IngestError;
    statuses.add(new ErrorClass("example", 1).status);
  }
  return [...statuses].sort();
}

describe("docs/openapi.json", () => {
  it("is OpenAPI 3.1", () => {
    expect(document.openapi).toMatch(/^3\.1\./);
  });

  it("describes exactly the routes the core resolves, with the methods it takes", () => {
    expect(Object.keys(paths).sort()).toEqual(Object.values(DOCUMENTED).sort());
    for (const [kind, path] of Object.entries(DOCUMENTED)) {
      const documented = Object.keys(paths[path] ?? {}).map((m) => m.toUpperCase());
      for (const method of documented) expect(resolveRoute(method, concrete(path)).kind).toBe(kind);
      // Every other method is a 405 naming the documented ones (GET implies HEAD).
      for (const method of HTTP_METHODS.filter((m) => !documented.includes(m) && m !== "HEAD")) {
        expect(() => resolveRoute(method, concrete(path))).toThrow(errors.MethodNotAllowedError);
      }
      expect(allowedMethods(concrete(path)).split(", ")).toEqual(
        documented.includes("GET") ? ["GET", "HEAD"] : documented,
      );
    }
  });

  it("documents every status a stream route can answer, and no other", () => {
    const code = ["202", ...errorStatuses().map(String)].sort();
    for (const path of [DOCUMENTED.data, DOCUMENTED.batch]) {
      const operation = paths[path]?.post;
      expect(Object.keys(operation?.responses ?? {}).sort()).toEqual(code);
    }
  });

  it("documents Retry-After on exactly the statuses that set it", () => {
    for (const [status, response] of Object.entries(paths[DOCUMENTED.data]?.post?.responses ?? {})) {
      const headers = (response as { headers?: Record<string, unknown> }).headers ?? {};
      expect([status, "Retry-After" in headers]).toEqual([status, ["429", "503"].includes(status)]);
    }
  });

  it("agrees with the README's status table", () => {
    const readme = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");
    const start = readme.indexOf("\n## Status codes\n");
    const table = readme.slice(start, readme.indexOf("\n## ", start + 1));
    const rows = [...table.matchAll(/^\| (\d{3}) \|/gm)].map((m) => m[1]);
    expect(rows.sort()).toEqual(Object.keys(paths[DOCUMENTED.data]?.post?.responses ?? {}).sort());
  });
});
