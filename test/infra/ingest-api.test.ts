/** The HTTP API construct alone (in front of an inline stand-in function, so nothing is bundled). */

import type { Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { ACCESS_LOG_FIELDS, IngestApi, type IngestApiProps } from "../../lib/ingest-api.js";
import { InvalidPropError } from "../../lib/prop-validation.js";
import { bareStack } from "../helpers/cdk.js";
import { thrownBy } from "../helpers/thrown.js";

const CERTIFICATE_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/0a1b2c3d-4e5f-6789-abcd-ef0123456789";

function standIn(stack: Stack): LambdaFunction {
  return new LambdaFunction(stack, "StandIn", {
    runtime: Runtime.NODEJS_24_X,
    handler: "index.handler",
    code: Code.fromInline("exports.handler = async () => ({ statusCode: 200 });"),
  });
}

function synth(props: Omit<IngestApiProps, "handler"> = {}) {
  const stack = bareStack();
  const handler = standIn(stack);
  const api = new IngestApi(stack, "Api", { ...props, handler });
  return { stack, api, handler, template: Template.fromStack(stack) };
}

describe("ingest API (defaults)", () => {
  const { stack, api, handler, template } = synth();

  it("is an HTTP API whose only stage is $default, deployed automatically", () => {
    template.resourceCountIs("AWS::ApiGatewayV2::Api", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Api", { ProtocolType: "HTTP" });
    template.resourceCountIs("AWS::ApiGatewayV2::Stage", 1);
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", { StageName: "$default", AutoDeploy: true });
  });

  it("routes POST and every other method of the data and batch paths, GET /health and $default to the Lambda", () => {
    const routes = Object.values(template.findResources("AWS::ApiGatewayV2::Route"));
    expect(routes.map((route) => route.Properties.RouteKey).sort()).toEqual([
      "$default",
      "ANY /stream/v0/batch/{streamId}",
      "ANY /stream/v0/data/{streamId}",
      "GET /health",
      "POST /stream/v0/batch/{streamId}",
      "POST /stream/v0/data/{streamId}",
    ]);
    const integrations = Object.values(template.findResources("AWS::ApiGatewayV2::Integration"));
    expect(integrations).toHaveLength(1);
    expect(integrations[0]?.Properties).toMatchObject({
      IntegrationType: "AWS_PROXY",
      IntegrationUri: stack.resolve(handler.functionArn),
      PayloadFormatVersion: "2.0",
    });
  });

  it("lets API Gateway invoke the Lambda for each route, and nobody else", () => {
    const permissions = Object.values(template.findResources("AWS::Lambda::Permission"));
    expect(permissions).toHaveLength(6);
    for (const permission of permissions) {
      expect(permission.Properties).toMatchObject({
        Action: "lambda:InvokeFunction",
        Principal: "apigateway.amazonaws.com",
        FunctionName: stack.resolve(handler.functionArn),
      });
    }
  });

  it("throttles the stage at 10,000 requests/s with a burst of 5,000 by default", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 10000, ThrottlingBurstLimit: 5000 },
    });
  });

  it("writes JSON access logs to its own log group", () => {
    const stage = Object.values(template.findResources("AWS::ApiGatewayV2::Stage"))[0];
    const settings = stage?.Properties.AccessLogSettings;
    expect(settings.DestinationArn).toEqual(stack.resolve(api.accessLogGroup.logGroupArn));
    expect(JSON.parse(settings.Format)).toEqual({
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
    });
  });

  it("never logs a header (Authorization included), the body or the query string", () => {
    const format = JSON.stringify(ACCESS_LOG_FIELDS).toLowerCase();
    for (const forbidden of ["authorization", "header", "body", "querystring", "$request.", "$input"]) {
      expect(format).not.toContain(forbidden);
    }
  });

  it("has no custom domain unless asked", () => {
    expect(api.domainName).toBeUndefined();
    template.resourceCountIs("AWS::ApiGatewayV2::DomainName", 0);
    template.resourceCountIs("AWS::ApiGatewayV2::ApiMapping", 0);
  });

  it("publishes the $default stage URL", () => {
    expect(stack.resolve(api.url)).toEqual({
      "Fn::Join": [
        "",
        [
          "https://",
          stack.resolve(api.httpApi.apiId),
          ".execute-api.",
          { Ref: "AWS::Region" },
          ".",
          { Ref: "AWS::URLSuffix" },
          "/",
        ],
      ],
    });
  });
});

describe("ingest API with a custom domain and its own throttling", () => {
  const { stack, api, template } = synth({
    domainName: "ingest.example.com",
    certificateArn: CERTIFICATE_ARN,
    throttleRateLimit: 250.5,
    throttleBurstLimit: 100,
  });

  it("creates the regional domain name with the certificate and TLS 1.2", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::DomainName", {
      DomainName: "ingest.example.com",
      DomainNameConfigurations: [
        { CertificateArn: CERTIFICATE_ARN, EndpointType: "REGIONAL", SecurityPolicy: "TLS_1_2" },
      ],
    });
  });

  it("maps the domain to the $default stage", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::ApiMapping", {
      ApiId: stack.resolve(api.httpApi.apiId),
      DomainName: stack.resolve(api.domainName?.name),
      Stage: stack.resolve(api.stage.stageName),
    });
  });

  it("throttles the stage with the rate and burst from its props", () => {
    template.hasResourceProperties("AWS::ApiGatewayV2::Stage", {
      DefaultRouteSettings: { ThrottlingRateLimit: 250.5, ThrottlingBurstLimit: 100 },
    });
  });
});

describe("ingest API props validation", () => {
  const attempt = (props: Omit<IngestApiProps, "handler">) => () => {
    const stack = bareStack();
    new IngestApi(stack, "Api", { ...props, handler: standIn(stack) });
  };

  it.each([
    [
      { domainName: "ingest.example.com" },
      "certificateArn: domainName is set but certificateArn is not; set both (or neither) of domainName and certificateArn.",
    ],
    [
      { certificateArn: CERTIFICATE_ARN },
      "domainName: certificateArn is set but domainName is not; set both (or neither) of domainName and certificateArn.",
    ],
    [
      { domainName: "https://ingest.example.com", certificateArn: CERTIFICATE_ARN },
      expect.stringContaining(
        'domainName: got "https://ingest.example.com"; use a fully qualified host name',
      ),
    ],
    [
      { domainName: "ingest.example.com", certificateArn: "arn:aws:iam::123456789012:server-certificate/x" },
      expect.stringContaining("certificateArn: got"),
    ],
    [{ throttleRateLimit: 0 }, "throttleRateLimit: got 0; set a number greater than 0."],
    [{ throttleBurstLimit: 2.5 }, "throttleBurstLimit: got 2.5; set a whole number ≥ 1."],
  ])("refuses %j", (props, message) => {
    expect(thrownBy(attempt(props), InvalidPropError).message).toEqual(message);
  });
});
