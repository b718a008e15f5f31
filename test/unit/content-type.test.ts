/** Which Content-Type and Content-Encoding headers a stream accepts, and the 415s for the others. */
import fc from "fast-check";
import { assertContentType, parseContentEncoding } from "../../lambda/core/content-type.js";
import { UnsupportedMediaTypeError } from "../../lambda/core/errors.js";
import type { PayloadType } from "../../lambda/core/types.js";
import { thrownBy } from "../helpers/thrown.js";

const rejectionOf = (fn: () => unknown) => thrownBy(fn, UnsupportedMediaTypeError);

describe("assertContentType", () => {
  it.each<[PayloadType, string]>([
    ["json", "application/json"],
    ["json", "APPLICATION/JSON"],
    ["json", " application/json "],
    ["json", "application/json; charset=utf-8"],
    ["json", "application/json;charset=UTF-8"],
    ["json", "application/json; charset=utf8"],
    ["json", 'application/json; charset="utf-8"'],
    ["json", "application/json; version=2"],
    ["json", "application/json;"],
    ["xml", "application/xml"],
    ["xml", "text/xml"],
    ["xml", "text/xml; charset=utf-8"],
    ["xml", "Application/XML; Charset=UTF-8"],
  ])("lets a %s stream take Content-Type %j", (payload, contentType) => {
    expect(() => assertContentType(contentType, payload)).not.toThrow();
  });

  it.each<[PayloadType, string | undefined, string]>([
    ["json", undefined, "missing_content_type"],
    ["json", "", "missing_content_type"],
    ["json", "   ", "missing_content_type"],
    ["json", "text/plain", "wrong_content_type"],
    ["json", "application/xml", "wrong_content_type"],
    ["json", "text/json", "wrong_content_type"],
    ["json", "application/json-seq", "wrong_content_type"],
    ["json", "application/x-ndjson", "wrong_content_type"],
    ["json", "application/jsonx; charset=utf-8", "wrong_content_type"],
    ["xml", "application/json", "wrong_content_type"],
    ["xml", "application/soap+xml", "wrong_content_type"],
    ["json", "application/json; charset=latin1", "unsupported_charset"],
    ["json", "application/json; charset=iso-8859-1", "unsupported_charset"],
    ["json", "application/json; charset=utf-16", "unsupported_charset"],
    ["json", "application/json; charset=", "unsupported_charset"],
    ["json", "application/json; charset", "unsupported_charset"],
    ["json", "application/json; charset=utf-8; charset=latin1", "unsupported_charset"],
    ["xml", "text/xml; charset=us-ascii", "unsupported_charset"],
  ])("refuses on a %s stream Content-Type %j with 415 %s", (payload, contentType, code) => {
    const error = rejectionOf(() => assertContentType(contentType, payload));
    expect(error.status).toBe(415);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(false);
  });

  it("names what was sent and what the stream takes", () => {
    const error = rejectionOf(() => assertContentType("text/plain", "xml"));
    expect(error.message).toContain('"text/plain"');
    expect(error.message).toContain("application/xml or text/xml");
  });

  it("names the payload type when Content-Type is missing", () => {
    expect(rejectionOf(() => assertContentType(undefined, "json")).message).toContain(
      "Content-Type: application/json",
    );
  });

  it("quotes at most 60 characters of a huge header", () => {
    const error = rejectionOf(() => assertContentType(`x/${"y".repeat(10_000)}`, "json"));
    expect(error.message.length).toBeLessThan(300);
    expect(error.message).toContain("…");
  });

  it("either accepts or answers 415 for any header value", () => {
    fc.assert(
      fc.property(
        fc.option(fc.string({ unit: "binary" })),
        fc.constantFrom<PayloadType>("json", "xml"),
        (value, payload) => {
          try {
            assertContentType(value ?? undefined, payload);
          } catch (error) {
            expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe("parseContentEncoding", () => {
  it.each<[string | undefined, string]>([
    [undefined, "identity"],
    ["", "identity"],
    ["  ", "identity"],
    ["identity", "identity"],
    ["IDENTITY", "identity"],
    ["gzip", "gzip"],
    [" GZip ", "gzip"],
    ["x-gzip", "gzip"],
  ])("reads Content-Encoding %j as %s", (header, encoding) => {
    expect(parseContentEncoding(header)).toBe(encoding);
  });

  it.each([["br"], ["deflate"], ["compress"], ["zstd"], ["gzip, br"], ["gzip, gzip"], ["identity, gzip"]])(
    "answers 415 unsupported_content_encoding to Content-Encoding %j",
    (header) => {
      const error = rejectionOf(() => parseContentEncoding(header));
      expect(error.code).toBe("unsupported_content_encoding");
      expect(error.message).toContain(JSON.stringify(header.toLowerCase()));
    },
  );

  it("either decodes or answers 415 for any header value", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (value) => {
        try {
          expect(["identity", "gzip"]).toContain(parseContentEncoding(value));
        } catch (error) {
          expect(error).toBeInstanceOf(UnsupportedMediaTypeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});
