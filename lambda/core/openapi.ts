/**
 * The API's OpenAPI 3.1 description (docs/openapi.json, linted by `npm run lint` and checked against the routes
 * and statuses of this code by test/unit/openapi.test.ts), served at GET /openapi.json by both runtimes.
 */
import document from "../../docs/openapi.json";

/** The document as served: compact JSON, rendered once. */
export const OPENAPI_TEXT = JSON.stringify(document);
