/** The local deployment's identity: a random id fixed on first start, from which token issuer/audience follow. */
import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import type { TokenAudience } from "../core/access-token.js";

export interface Deployment extends TokenAudience {
  readonly id: string;
}

/** Reads `file`, or creates it with a new id. */
export async function loadOrCreateDeployment(file: string): Promise<Deployment> {
  let id: string;
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as { id?: unknown };
    if (typeof parsed.id !== "string" || !/^[a-z0-9]{12}$/.test(parsed.id)) {
      throw new Error(`${file} is damaged: "id" must be 12 lower-case letters or digits`);
    }
    id = parsed.id;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
    id = randomBytes(9)
      .toString("base64url")
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "0")
      .slice(0, 12);
    await writeFile(file, `${JSON.stringify({ id }, null, 2)}\n`, { flag: "wx" });
  }
  return deploymentFor(id);
}

export function deploymentFor(id: string): Deployment {
  return { id, issuer: `https://streaming-ingest.local/${id}`, audience: "streaming-ingest" };
}
