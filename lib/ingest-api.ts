/**
 * The public HTTP API: API Gateway HTTP API in front of the ingest Lambda, with stage throttling, JSON access
 * logs (no Authorization header, no body) and an optional custom domain.
 */
import { RemovalPolicy, Stack } from "aws-cdk-lib";
import { AccessLogFormat } from "aws-cdk-lib/aws-apigateway";
import {
  ApiMapping,
  DomainName,
  HttpApi,
  HttpMethod,
  HttpStage,
  LogGroupLogDestination,
  PayloadFormatVersion,
  SecurityPolicy,
} from "aws-cdk-lib/aws-apigatewayv2";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import { Certificate } from "aws-cdk-lib/aws-certificatemanager";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { LogGroup, RetentionDays } from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { HTTP_API_ROUTES } from "../lambda/aws/http-api-routes.js";
import { acknowledgeRule } from "./nag-acknowledgements.js";
import { assertBothOrNeither, assertInteger, assertMatches, assertPositive } from "./prop-validation.js";

export { BATCH_ROUTE_PATH, DATA_ROUTE_PATH } from "../lambda/aws/http-api-routes.js";

/**
 * Fields of one access-log line. Chosen so an operator can trace a request (requestId is the `x-request-id`
 * the client saw) without the log ever holding a credential or a record: no headers, no body, no query string.
 */
export const ACCESS_LOG_FIELDS: Readonly<Record<string, string>> = {
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  requestTime: "$context.requestTime",
  httpMethod: "$context.httpMethod",
  routeKey: "$context.routeKey",
  path: "$context.path",
  status: "$context.status",
  protocol: "$context.protocol",
  responseLength: "$context.responseLength",
  integrationLatency: "$context.integrationLatency",
  responseLatency: "$context.responseLatency",
  integrationErrorMessage: "$context.integrationErrorMessage",
};

/** Props of {@link IngestApi}. */
export interface IngestApiProps {
  /** The ingest Lambda; every route goes to it. */
  readonly handler: IFunction;
  /**
   * Steady-state requests per second the stage admits (API Gateway's token bucket refill rate).
   * @default 10000
   */
  readonly throttleRateLimit?: number;
  /**
   * Requests the stage admits in a burst above the rate (the bucket size).
   * @default 5000
   */
  readonly throttleBurstLimit?: number;
  /**
   * Custom domain name, e.g. `ingest.example.com`; needs {@link certificateArn}.
   * @default - only the execute-api endpoint
   */
  readonly domainName?: string;
  /**
   * ARN of an ACM certificate for {@link domainName}, in the stack's region.
   * @default - none (required when domainName is set)
   */
  readonly certificateArn?: string;
  /**
   * Retention of the access-log group.
   * @default RetentionDays.THREE_MONTHS
   */
  readonly accessLogRetention?: RetentionDays;
}

/** HTTP API + `$default` stage + routes to the ingest Lambda (+ custom domain when asked). */
export class IngestApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogGroup: LogGroup;
  /** The URL clients post to: the execute-api endpoint of the `$default` stage. */
  readonly url: string;
  /** Set when {@link IngestApiProps.domainName} is. */
  readonly domainName?: DomainName;

  constructor(scope: Construct, id: string, props: IngestApiProps) {
    super(scope, id);
    const rateLimit = props.throttleRateLimit ?? 10_000;
    const burstLimit = props.throttleBurstLimit ?? 5_000;
    assertPositive("throttleRateLimit", rateLimit);
    assertInteger("throttleBurstLimit", burstLimit, { min: 1 });
    validateCustomDomain(props.domainName, props.certificateArn);

    const integration = new HttpLambdaIntegration("IngestIntegration", props.handler, {
      payloadFormatVersion: PayloadFormatVersion.VERSION_2_0,
    });
    this.httpApi = new HttpApi(this, "HttpApi", {
      apiName: `${Stack.of(this).stackName}-ingest`,
      description:
        "Streaming Ingest: POST one record per request to /stream/v0/data/{streamId}, or NDJSON batches to /stream/v0/batch/{streamId}",
      // The stage is ours (below): the L2's default stage has neither throttling nor access logs.
      createDefaultStage: false,
      // Unknown paths reach the Lambda too, so they get the core's JSON 404 instead of API Gateway's.
      defaultIntegration: integration,
    });
    for (const route of HTTP_API_ROUTES) {
      this.httpApi.addRoutes({ path: route.path, methods: [HttpMethod[route.method]], integration });
    }
    acknowledgeRule(
      this.httpApi,
      "APIG4",
      "Every route is authorized inside the ingest Lambda: ES256 JWTs signed by the stack's KMS keys are " +
        "verified with aws-jwt-verify (plus tenant, revocation and key status from the registry). An HTTP API " +
        "JWT authorizer needs an OIDC issuer URL with a JWKS endpoint, which KMS-signed tokens do not have. " +
        "GET /health and the $default route (JSON 404) carry no data.",
    );

    // Kept after stack deletion: access logs are the record of who called the API, e.g. for an investigation.
    this.accessLogGroup = new LogGroup(this, "AccessLogs", {
      retention: props.accessLogRetention ?? RetentionDays.THREE_MONTHS,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.stage = new HttpStage(this, "DefaultStage", {
      httpApi: this.httpApi,
      stageName: "$default",
      autoDeploy: true,
      throttle: { rateLimit, burstLimit },
      accessLogSettings: {
        destination: new LogGroupLogDestination(this.accessLogGroup),
        format: AccessLogFormat.custom(JSON.stringify(ACCESS_LOG_FIELDS)),
      },
    });

    this.url = this.stage.url;

    if (props.domainName !== undefined && props.certificateArn !== undefined) {
      this.domainName = new DomainName(this, "CustomDomain", {
        domainName: props.domainName,
        certificate: Certificate.fromCertificateArn(this, "CustomDomainCertificate", props.certificateArn),
        securityPolicy: SecurityPolicy.TLS_1_2,
      });
      new ApiMapping(this, "CustomDomainMapping", {
        api: this.httpApi,
        domainName: this.domainName,
        stage: this.stage,
      });
    }
  }
}

/** Throws unless the custom-domain props are both unset, or both set and well formed. */
function validateCustomDomain(domainName: string | undefined, certificateArn: string | undefined): void {
  assertBothOrNeither(
    { prop: "domainName", value: domainName },
    { prop: "certificateArn", value: certificateArn },
  );
  if (domainName !== undefined) {
    assertMatches(
      "domainName",
      domainName,
      /^(?=.{1,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/,
      "use a fully qualified host name such as ingest.example.com (no scheme, no path)",
    );
  }
  if (certificateArn !== undefined) {
    assertMatches(
      "certificateArn",
      certificateArn,
      /^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate\/[A-Za-z0-9-]+$/,
      "use the ARN of an ACM certificate in the stack's region (arn:aws:acm:<region>:<account>:certificate/<id>)",
    );
  }
}
