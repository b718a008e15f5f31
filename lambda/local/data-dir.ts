/** Where the local runtime keeps things inside its data directory. */
import { join, resolve } from "node:path";

export interface DataDirLayout {
  readonly root: string;
  /** ES256 signing keys (private keys mode 0600). */
  readonly keys: string;
  /** The embedded registry's LevelDB files. */
  readonly registry: string;
  /** The "bucket": sealed batches under streams/, open ones under .inflight/. */
  readonly objects: string;
  /** Files of the running server (its ports and control secret); removed on a clean stop. */
  readonly runState: string;
  /** The deployment's identity: token issuer and audience. */
  readonly deployment: string;
}

export function dataDirLayout(dir: string): DataDirLayout {
  const root = resolve(dir);
  return {
    root,
    keys: join(root, "keys"),
    registry: join(root, "registry"),
    objects: join(root, "objects"),
    runState: join(root, "run", "server.json"),
    deployment: join(root, "deployment.json"),
  };
}
