/**
 * Reads what `npx cdk synth` wrote to cdk.out, the way CloudFormation and Lambda would use it: the stack's
 * template, the bundled code of its functions, and their environment with every intrinsic (`Ref`,
 * `Fn::GetAtt`, `Fn::Join`, `Fn::Sub`, pseudo parameters) resolved to the physical names and ARNs of an emulated
 * account. Names are derived from the logical IDs (not random, as CloudFormation's are), so that a restart of
 * the emulation finds its tables, keys and delivery streams again.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The emulated account (the one AWS's own documentation uses). */
export const EMULATED_ACCOUNT = "123456789012";

/** A cdk.out that cannot be used, with what to do about it. */
export class CloudAssemblyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CloudAssemblyError";
  }
}

type Json = Record<string, unknown>;

interface Resource {
  readonly Type: string;
  readonly Properties?: Json;
  readonly Metadata?: Json;
}

/** A Lambda function of the template with its bundled code. */
export interface AssemblyFunction {
  readonly logicalId: string;
  /** The physical function name. */
  readonly name: string;
  /** The directory holding the bundle (`index.js`), as `cdk deploy` would zip it. */
  readonly codeDir: string;
  /** `index.handler`. */
  readonly handler: string;
  readonly timeoutSeconds: number;
  readonly memoryMb: number;
  /** The function's environment, resolved. */
  readonly environment: Readonly<Record<string, string>>;
}

/** A DynamoDB table of the template. */
export interface AssemblyTable {
  readonly logicalId: string;
  readonly name: string;
  readonly keySchema: readonly { AttributeName: string; KeyType: string }[];
  readonly attributeDefinitions: readonly { AttributeName: string; AttributeType: string }[];
  readonly streamViewType?: string;
}

/** An SQS queue of the template. */
export interface AssemblyQueue {
  readonly url: string;
  readonly visibilityTimeoutSeconds: number;
  /** From the RedrivePolicy: receives before the message goes to the dead-letter queue. */
  readonly maxReceiveCount?: number;
}

/** An event source mapping of the template (DynamoDB stream or SQS queue → function). */
export interface AssemblyEventSource {
  readonly functionLogicalId: string;
  /** The table (for a DynamoDB stream) or the queue, by logical ID. */
  readonly sourceLogicalId: string;
  /** The mapping's EventSourceArn, resolved: the stream's or the queue's ARN, as events carry it. */
  readonly sourceArn: string;
  readonly kind: "dynamodb" | "sqs";
  readonly batchSize: number;
  readonly maximumRetryAttempts?: number;
  /** The queue (logical ID) records go to when they fail after the retries: DestinationConfig.OnFailure. */
  readonly onFailureLogicalId?: string;
}

/** What the emulation needs from one synthesized stack. */
export interface StackAssembly {
  readonly stackName: string;
  readonly region: string;
  readonly account: string;
  /** The function behind the HTTP API's integration. */
  readonly apiFunction: AssemblyFunction;
  readonly functions: ReadonlyMap<string, AssemblyFunction>;
  readonly tables: readonly AssemblyTable[];
  readonly eventSources: readonly AssemblyEventSource[];
  /** KMS keys (logical ID → key id, a UUID). */
  readonly kmsKeys: ReadonlyMap<string, string>;
  /** SQS queues by logical ID. */
  readonly queues: ReadonlyMap<string, AssemblyQueue>;
  /** S3 buckets (logical ID → bucket name). */
  readonly buckets: ReadonlyMap<string, string>;
  /** The `$default` stage's throttling, when set. */
  readonly stageThrottle?: { readonly rateLimit: number; readonly burstLimit: number };
  /** The integration's timeout (API Gateway's 30 s unless the template lowers it). */
  readonly integrationTimeoutMs: number;
  /** The route keys the HTTP API has. */
  readonly routeKeys: readonly string[];
  /** The stack's outputs, resolved. */
  readonly outputs: Readonly<Record<string, string>>;
}

/**
 * Loads stack `stackName` (default: the only stack) from the cloud assembly in `dir`, after `npx cdk synth`.
 * Throws CloudAssemblyError saying what to run when the directory, the stack or a bundle is missing.
 */
export function loadStackAssembly(dir: string, stackName?: string): StackAssembly {
  const root = resolve(dir);
  const manifestFile = join(root, "manifest.json");
  if (!existsSync(manifestFile)) {
    throw new CloudAssemblyError(
      `no cloud assembly at ${root} (manifest.json is missing): run \`npx cdk synth\` first, or pass --cdk-out <dir>`,
    );
  }
  const manifest = readJson(manifestFile) as { artifacts?: Record<string, Json> };
  const stacks = Object.entries(manifest.artifacts ?? {}).filter(
    ([, artifact]) => artifact.type === "aws:cloudformation:stack",
  );
  const chosen =
    stackName === undefined
      ? stacks.length === 1
        ? stacks[0]
        : undefined
      : stacks.find(([n]) => n === stackName);
  if (chosen === undefined) {
    const names = stacks.map(([n]) => n).join(", ") || "none";
    throw new CloudAssemblyError(
      stackName === undefined
        ? `the cloud assembly at ${root} has ${stacks.length} stacks (${names}); choose one with --stack-name`
        : `the cloud assembly at ${root} has no stack ${stackName} (it has: ${names})`,
    );
  }
  const [name, artifact] = chosen;
  const properties = (artifact.properties ?? {}) as { templateFile?: string };
  const environment = String(artifact.environment ?? "");
  const regionMatch = /^aws:\/\/[^/]+\/([a-z0-9-]+)$/.exec(environment);
  const region =
    regionMatch?.[1] !== undefined && regionMatch[1] !== "unknown-region" ? regionMatch[1] : "us-east-1";
  const template = readJson(join(root, properties.templateFile ?? `${name}.template.json`)) as {
    Resources?: Record<string, Resource>;
    Outputs?: Record<string, { Value: unknown }>;
  };
  return new TemplateReader(root, name, region, template.Resources ?? {}, template.Outputs ?? {}).read();
}

function readJson(file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    throw new CloudAssemblyError(
      `cannot read ${file}: ${(error as Error).message}; run \`npx cdk synth\` again`,
    );
  }
}

class TemplateReader {
  constructor(
    private readonly root: string,
    private readonly stackName: string,
    private readonly region: string,
    private readonly resources: Record<string, Resource>,
    private readonly outputs: Record<string, { Value: unknown }>,
  ) {}

  read(): StackAssembly {
    const functions = new Map<string, AssemblyFunction>();
    for (const [id, resource] of this.ofType("AWS::Lambda::Function"))
      functions.set(id, this.lambda(id, resource));
    const integration = this.ofType("AWS::ApiGatewayV2::Integration")[0];
    const apiFunctionId =
      integration === undefined ? undefined : this.referencedId(integration[1].Properties?.IntegrationUri);
    const apiFunction = apiFunctionId === undefined ? undefined : functions.get(apiFunctionId);
    if (apiFunction === undefined) {
      throw new CloudAssemblyError(
        `stack ${this.stackName} has no HTTP API integration with a Lambda function`,
      );
    }
    const stage = this.ofType("AWS::ApiGatewayV2::Stage")[0]?.[1].Properties;
    const routeSettings = stage?.DefaultRouteSettings as
      | { ThrottlingRateLimit?: number; ThrottlingBurstLimit?: number }
      | undefined;
    const timeout = integration?.[1].Properties?.TimeoutInMillis;
    return {
      stackName: this.stackName,
      region: this.region,
      account: EMULATED_ACCOUNT,
      apiFunction,
      functions,
      tables: this.ofType("AWS::DynamoDB::Table").map(([id, r]) => this.table(id, r)),
      eventSources: this.ofType("AWS::Lambda::EventSourceMapping").map(([, r]) => this.eventSource(r)),
      kmsKeys: new Map(this.ofType("AWS::KMS::Key").map(([id]) => [id, this.kmsKeyId(id)])),
      queues: new Map(this.ofType("AWS::SQS::Queue").map(([id, r]) => [id, this.queue(id, r)])),
      buckets: new Map(this.ofType("AWS::S3::Bucket").map(([id]) => [id, this.ref(id)])),
      ...(routeSettings?.ThrottlingRateLimit === undefined || routeSettings.ThrottlingBurstLimit === undefined
        ? {}
        : {
            stageThrottle: {
              rateLimit: routeSettings.ThrottlingRateLimit,
              burstLimit: routeSettings.ThrottlingBurstLimit,
            },
          }),
      integrationTimeoutMs: typeof timeout === "number" ? timeout : 30_000,
      routeKeys: this.ofType("AWS::ApiGatewayV2::Route").map(([, r]) => String(r.Properties?.RouteKey)),
      outputs: Object.fromEntries(
        Object.entries(this.outputs).map(([key, output]) => [
          key,
          this.resolveString(output.Value, `output ${key}`),
        ]),
      ),
    };
  }

  private ofType(type: string): [string, Resource][] {
    return Object.entries(this.resources).filter(([, r]) => r.Type === type);
  }

  private lambda(id: string, resource: Resource): AssemblyFunction {
    const props = resource.Properties ?? {};
    const assetPath = resource.Metadata?.["aws:asset:path"] ?? this.assetPathOfCode(props.Code);
    if (typeof assetPath !== "string") {
      throw new CloudAssemblyError(
        `function ${id} has no bundled asset in the cloud assembly; run \`npx cdk synth\``,
      );
    }
    const codeDir = join(this.root, assetPath);
    if (!existsSync(join(codeDir, "index.js"))) {
      throw new CloudAssemblyError(
        `the bundle of function ${id} is missing (${join(codeDir, "index.js")}): run \`npx cdk synth\` again`,
      );
    }
    const variables = ((props.Environment as Json | undefined)?.Variables ?? {}) as Json;
    return {
      logicalId: id,
      name: this.ref(id),
      codeDir,
      handler: typeof props.Handler === "string" ? props.Handler : "index.handler",
      timeoutSeconds: typeof props.Timeout === "number" ? props.Timeout : 3,
      memoryMb: typeof props.MemorySize === "number" ? props.MemorySize : 128,
      environment: Object.fromEntries(
        Object.entries(variables).map(([name, value]) => [
          name,
          this.resolveString(value, `${id}'s ${name}`),
        ]),
      ),
    };
  }

  /**
   * The asset directory of a function's code from its S3 key (`<hash>.zip`), for assemblies synthesized without
   * asset metadata (the CLI adds it, a plain App does not): `asset.<hash>` by the CDK's naming.
   */
  private assetPathOfCode(code: unknown): string | undefined {
    const key = (code as { S3Key?: unknown } | undefined)?.S3Key;
    if (typeof key !== "string" || !/^[a-f0-9]{64}\.zip$/.test(key)) return undefined;
    return `asset.${key.slice(0, -".zip".length)}`;
  }

  private table(id: string, resource: Resource): AssemblyTable {
    const props = resource.Properties ?? {};
    const stream = props.StreamSpecification as { StreamViewType?: string } | undefined;
    return {
      logicalId: id,
      name: this.ref(id),
      keySchema: (props.KeySchema ?? []) as AssemblyTable["keySchema"],
      attributeDefinitions: (props.AttributeDefinitions ?? []) as AssemblyTable["attributeDefinitions"],
      ...(stream?.StreamViewType === undefined ? {} : { streamViewType: stream.StreamViewType }),
    };
  }

  private queue(id: string, resource: Resource): AssemblyQueue {
    const props = resource.Properties ?? {};
    const redrive = props.RedrivePolicy as { maxReceiveCount?: unknown } | undefined;
    return {
      url: this.ref(id),
      visibilityTimeoutSeconds: typeof props.VisibilityTimeout === "number" ? props.VisibilityTimeout : 30,
      ...(typeof redrive?.maxReceiveCount === "number" ? { maxReceiveCount: redrive.maxReceiveCount } : {}),
    };
  }

  private eventSource(resource: Resource): AssemblyEventSource {
    const props = resource.Properties ?? {};
    const sourceId = this.referencedId(props.EventSourceArn);
    const functionId = this.referencedId(props.FunctionName);
    if (sourceId === undefined || functionId === undefined) {
      throw new CloudAssemblyError(
        `an event source mapping of ${this.stackName} names no resource of the stack`,
      );
    }
    const kind = this.resources[sourceId]?.Type === "AWS::SQS::Queue" ? "sqs" : "dynamodb";
    const destination = (props.DestinationConfig as { OnFailure?: { Destination?: unknown } } | undefined)
      ?.OnFailure?.Destination;
    const onFailureId = this.referencedId(destination);
    return {
      functionLogicalId: functionId,
      sourceLogicalId: sourceId,
      sourceArn: this.resolveString(props.EventSourceArn, "an event source mapping's EventSourceArn"),
      kind,
      batchSize: typeof props.BatchSize === "number" ? props.BatchSize : kind === "sqs" ? 10 : 100,
      ...(typeof props.MaximumRetryAttempts === "number"
        ? { maximumRetryAttempts: props.MaximumRetryAttempts }
        : {}),
      ...(onFailureId === undefined ? {} : { onFailureLogicalId: onFailureId }),
    };
  }

  /** The logical ID a `Ref` or `Fn::GetAtt` points at. */
  private referencedId(value: unknown): string | undefined {
    if (typeof value !== "object" || value === null) return undefined;
    const v = value as Json;
    if (typeof v.Ref === "string") return v.Ref;
    const getAtt = v["Fn::GetAtt"];
    if (Array.isArray(getAtt) && typeof getAtt[0] === "string") return getAtt[0];
    return undefined;
  }

  /** What `{"Ref": id}` resolves to for the resource's type. */
  private ref(id: string): string {
    const pseudo: Record<string, string> = {
      "AWS::AccountId": EMULATED_ACCOUNT,
      "AWS::Region": this.region,
      "AWS::Partition": "aws",
      "AWS::URLSuffix": "amazonaws.com",
      "AWS::StackName": this.stackName,
      "AWS::StackId": `arn:aws:cloudformation:${this.region}:${EMULATED_ACCOUNT}:stack/${this.stackName}/${this.uuid(this.stackName)}`,
    };
    if (pseudo[id] !== undefined) return pseudo[id];
    const resource = this.resources[id];
    if (resource === undefined)
      throw new CloudAssemblyError(`the template refers to ${id}, which it does not define`);
    const props = resource.Properties ?? {};
    const physical = `${this.stackName}-${id}`;
    switch (resource.Type) {
      case "AWS::KMS::Key":
        return this.kmsKeyId(id);
      case "AWS::SQS::Queue":
        return `https://sqs.${this.region}.amazonaws.com/${EMULATED_ACCOUNT}/${physical.slice(0, 80)}`;
      case "AWS::S3::Bucket":
        return typeof props.BucketName === "string" ? props.BucketName : physical.toLowerCase().slice(0, 63);
      case "AWS::Logs::LogGroup":
        return typeof props.LogGroupName === "string" ? props.LogGroupName : `/aws/emulated/${physical}`;
      case "AWS::Lambda::Function":
        return typeof props.FunctionName === "string" ? props.FunctionName : physical.slice(0, 64);
      case "AWS::DynamoDB::Table":
        return typeof props.TableName === "string" ? props.TableName : physical;
      case "AWS::ApiGatewayV2::Api":
        return createHash("sha256")
          .update(physical)
          .digest("hex")
          .replace(/[^a-z]/g, "")
          .slice(0, 10);
      default:
        return physical;
    }
  }

  private getAtt(id: string, attribute: string): string {
    const resource = this.resources[id];
    if (resource === undefined)
      throw new CloudAssemblyError(`the template refers to ${id}, which it does not define`);
    const arn = (service: string, resourcePart: string, region = this.region) =>
      `arn:aws:${service}:${region}:${EMULATED_ACCOUNT}:${resourcePart}`;
    const name = this.ref(id);
    const answers: Record<string, Record<string, () => string>> = {
      "AWS::KMS::Key": { Arn: () => arn("kms", `key/${name}`), KeyId: () => name },
      "AWS::SQS::Queue": {
        Arn: () => arn("sqs", name.slice(name.lastIndexOf("/") + 1)),
        QueueName: () => name.slice(name.lastIndexOf("/") + 1),
        QueueUrl: () => name,
      },
      "AWS::S3::Bucket": { Arn: () => `arn:aws:s3:::${name}` },
      "AWS::IAM::Role": { Arn: () => `arn:aws:iam::${EMULATED_ACCOUNT}:role/${name.slice(0, 64)}` },
      "AWS::Lambda::Function": { Arn: () => arn("lambda", `function:${name}`) },
      "AWS::DynamoDB::Table": {
        Arn: () => arn("dynamodb", `table/${name}`),
        StreamArn: () => arn("dynamodb", `table/${name}/stream/1970-01-01T00:00:00.000`),
      },
      "AWS::Logs::LogGroup": { Arn: () => arn("logs", `log-group:${name}:*`) },
      "AWS::SNS::Topic": { TopicArn: () => arn("sns", name), TopicName: () => name },
    };
    const answer = answers[resource.Type]?.[attribute];
    if (answer === undefined) {
      throw new CloudAssemblyError(`cannot emulate Fn::GetAtt ${id}.${attribute} (${resource.Type})`);
    }
    return answer();
  }

  /** A stable UUID for a key: derived from the stack and the logical ID. */
  private kmsKeyId(id: string): string {
    return this.uuid(`${this.stackName}/${id}`);
  }

  private uuid(seed: string): string {
    const hex = createHash("sha256").update(`streaming-ingest-emulated-aws/${seed}`).digest("hex");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  }

  resolveString(value: unknown, where: string): string {
    const resolved = this.resolve(value, where);
    if (typeof resolved === "string") return resolved;
    if (typeof resolved === "number" || typeof resolved === "boolean") return String(resolved);
    throw new CloudAssemblyError(`${where} does not resolve to a string`);
  }

  private resolve(value: unknown, where: string): unknown {
    if (typeof value !== "object" || value === null) return value;
    if (Array.isArray(value)) return value.map((item) => this.resolve(item, where));
    const v = value as Json;
    const keys = Object.keys(v);
    if (keys.length === 1) {
      const [fn] = keys as [string];
      const arg = v[fn];
      switch (fn) {
        case "Ref":
          return this.ref(String(arg));
        case "Fn::GetAtt": {
          const [id, attribute] = Array.isArray(arg) ? arg : String(arg).split(".");
          return this.getAtt(String(id), String(attribute));
        }
        case "Fn::Join": {
          const [separator, parts] = arg as [string, unknown[]];
          return (this.resolve(parts, where) as unknown[]).map(String).join(separator);
        }
        case "Fn::Select": {
          const [index, list] = arg as [unknown, unknown];
          return (this.resolve(list, where) as unknown[])[Number(this.resolve(index, where))];
        }
        case "Fn::Split": {
          const [separator, text] = arg as [string, unknown];
          return String(this.resolve(text, where)).split(separator);
        }
        case "Fn::Sub": {
          const [text, variables] = Array.isArray(arg) ? (arg as [string, Json]) : [String(arg), {}];
          return text.replace(/\$\{([^}]*)\}/g, (_, name: string) => {
            // `${!Literal}` is CloudFormation's escape for a literal `${Literal}`.
            if (name.startsWith("!")) return `\${${name.slice(1)}}`;
            if (variables[name] !== undefined) return this.resolveString(variables[name], where);
            const dot = name.indexOf(".");
            return dot === -1 ? this.ref(name) : this.getAtt(name.slice(0, dot), name.slice(dot + 1));
          });
        }
      }
      if (fn.startsWith("Fn::")) throw new CloudAssemblyError(`cannot emulate ${fn} in ${where}`);
    }
    return Object.fromEntries(keys.map((key) => [key, this.resolve(v[key], where)]));
  }
}
