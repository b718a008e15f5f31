/**
 * A Node.js Lambda bundled from a TypeScript entry by the local esbuild (never Docker), with its own role and log
 * group. The ingest and provisioner functions share these settings so that they cannot drift apart.
 */
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import { Role, ServicePrincipal } from "aws-cdk-lib/aws-iam";
import {
  ApplicationLogLevel,
  Architecture,
  LoggingFormat,
  Runtime,
  SystemLogLevel,
} from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { projectPaths } from "./project-paths.js";

/** The newest Node.js runtime this aws-cdk-lib knows (cdk-nag AwsSolutions-L1 asks for the latest). */
export const LAMBDA_RUNTIME = Runtime.NODEJS_24_X;
/** esbuild's target for {@link LAMBDA_RUNTIME}: no down-levelling of syntax the runtime has. */
export const ESBUILD_TARGET = "node24";

/** Props of {@link BundledFunction}. */
export interface BundledFunctionProps {
  /** Absolute path of the TypeScript entry; it exports `handler`. */
  readonly entry: string;
  /** What the function does (shown in the console). */
  readonly description: string;
  readonly memorySize: number;
  readonly timeout: Duration;
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly logRetention?: RetentionDays;
  /**
   * Lowest level of log lines kept, both the function's own and the Lambda platform's (START/END/REPORT are
   * INFO): `WARN` keeps only problems, which is most of the log cost at high request rates.
   * @default "INFO"
   */
  readonly logLevel?: "INFO" | "WARN";
}

/**
 * NodejsFunction + a role without managed policies + a log group the role may write to.
 *
 * The log group is DESTROYed with the stack: its lines are operational (they expire after `logRetention`
 * anyway), its name is generated, and a retained one would be an orphan nobody finds. Records themselves are
 * never logged; the durable data lives in S3 and DynamoDB, which are retained.
 */
export class BundledFunction extends Construct {
  readonly function: NodejsFunction;
  /** The execution role; it starts with nothing but writing to {@link logGroup}. */
  readonly role: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: BundledFunctionProps) {
    super(scope, id);
    const paths = projectPaths();
    this.logGroup = new LogGroup(this, "LogGroup", {
      retention: props.logRetention ?? RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // Our own role instead of AWSLambdaBasicExecutionRole: that managed policy may create any log group and
    // write to all of them; this role may only write to its own log group.
    this.role = new Role(this, "Role", {
      assumedBy: new ServicePrincipal("lambda.amazonaws.com"),
      description: `Execution role: ${props.description}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new NodejsFunction(this, "Function", {
      entry: props.entry,
      handler: "handler",
      description: props.description,
      runtime: LAMBDA_RUNTIME,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      role: this.role,
      logGroup: this.logGroup,
      // JSON platform lines, and Lambda drops lines below the level (it also tells Powertools the level).
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: props.logLevel === "WARN" ? ApplicationLogLevel.WARN : ApplicationLogLevel.INFO,
      systemLogLevelV2: props.logLevel === "WARN" ? SystemLogLevel.WARN : SystemLogLevel.INFO,
      environment: { ...props.environment },
      projectRoot: paths.root,
      depsLockFilePath: paths.lockFile,
      bundling: {
        forceDockerBundling: false,
        minify: true,
        sourceMap: true,
        // Stack traces need the mappings only; leaving the sources out keeps the asset small.
        sourcesContent: false,
        target: ESBUILD_TARGET,
        format: OutputFormat.CJS,
        // cbor-x loads the native cbor-extract when present and falls back to pure JS; a native module
        // built for this machine would not load on arm64 Lambda. The AWS SDK is bundled (not the runtime's
        // copy), so the deployed code runs the exact SDK versions the tests ran.
        externalModules: ["cbor-extract"],
      },
    });
  }
}
