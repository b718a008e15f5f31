/** Alarms, alarm topic and dashboard, wired to stand-in functions, queues and API (nothing is bundled). */
import type { Stack } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { HttpApi, HttpStage } from "aws-cdk-lib/aws-apigatewayv2";
import type { Alarm } from "aws-cdk-lib/aws-cloudwatch";
import { Code, Function as LambdaFunction, Runtime } from "aws-cdk-lib/aws-lambda";
import { Queue } from "aws-cdk-lib/aws-sqs";
import { IngestMonitoring, type IngestMonitoringProps } from "../../lib/ingest-monitoring.js";
import { InvalidPropError } from "../../lib/prop-validation.js";
import { bareStack } from "../helpers/cdk.js";
import { thrownBy } from "../helpers/thrown.js";

function sources(stack: Stack): IngestMonitoringProps {
  const fn = (id: string) =>
    new LambdaFunction(stack, id, {
      runtime: Runtime.NODEJS_24_X,
      handler: "index.handler",
      code: Code.fromInline("exports.handler = async () => ({});"),
    });
  const httpApi = new HttpApi(stack, "Api", { createDefaultStage: false });
  return {
    httpApi,
    stage: new HttpStage(stack, "Stage", { httpApi, stageName: "$default" }),
    ingestFunction: fn("Ingest"),
    provisionerFunction: fn("Provisioner"),
    failuresDlq: new Queue(stack, "FailuresDlq"),
    deletionDlq: new Queue(stack, "DeletionDlq"),
    deletionQueue: new Queue(stack, "DeletionQueue"),
  };
}

function synth(extra: Partial<IngestMonitoringProps> = {}) {
  const stack = bareStack("MonitoringTest");
  const props = { ...sources(stack), ...extra };
  const monitoring = new IngestMonitoring(stack, "Monitoring", props);
  return { stack, props, monitoring, template: Template.fromStack(stack) };
}

const { stack, props, monitoring, template } = synth({ alarmEmail: "ops@example.com" });
const alarmProps = (alarm: Alarm) =>
  template.toJSON().Resources[stack.getLogicalId(alarm.node.defaultChild as never)].Properties;
const topicRef = stack.resolve(monitoring.alarmTopic.topicArn);

/** The metric math of an alarm: `{ expression, metrics: { id: { namespace, name, dimensions, stat } } }`. */
function mathOf(alarm: Alarm) {
  const queries = alarmProps(alarm).Metrics as {
    Id: string;
    Expression?: string;
    MetricStat?: {
      Metric: { Namespace: string; MetricName: string; Dimensions: unknown[] };
      Stat: string;
      Period: number;
    };
  }[];
  const expression = queries.find((query) => query.Expression !== undefined);
  const metrics = Object.fromEntries(
    queries
      .filter((query) => query.MetricStat !== undefined)
      .map((query) => [
        query.Id,
        {
          namespace: query.MetricStat?.Metric.Namespace,
          name: query.MetricStat?.Metric.MetricName,
          dimensions: query.MetricStat?.Metric.Dimensions,
          stat: query.MetricStat?.Stat,
          period: query.MetricStat?.Period,
        },
      ]),
  );
  return { expression: expression?.Expression, metrics };
}

describe("alarms", () => {
  it("are ten, each notifying the topic on ALARM and OK and quiet without data", () => {
    const alarms = Object.values(template.findResources("AWS::CloudWatch::Alarm"));
    expect(alarms).toHaveLength(10);
    expect(Object.values(monitoring.alarms)).toHaveLength(10);
    for (const alarm of alarms) {
      expect(alarm.Properties).toMatchObject({
        AlarmActions: [topicRef],
        OKActions: [topicRef],
        TreatMissingData: "notBreaching",
        ComparisonOperator: "GreaterThanThreshold",
        EvaluationPeriods: 1,
        DatapointsToAlarm: 1,
      });
    }
  });

  it("fire when more than 1% of API requests (ApiId, Stage $default) answer 5xx in 5 minutes", () => {
    const apiDimensions = [
      { Name: "ApiId", Value: stack.resolve(props.httpApi.apiId) },
      { Name: "Stage", Value: "$default" },
    ];
    expect(alarmProps(monitoring.alarms.apiServerErrorRate).Threshold).toBe(1);
    expect(mathOf(monitoring.alarms.apiServerErrorRate)).toEqual({
      expression: "IF(apiRequests > 0, 100 * apiErrors / apiRequests, 0)",
      metrics: {
        apiErrors: {
          namespace: "AWS/ApiGateway",
          name: "5xx",
          dimensions: apiDimensions,
          stat: "Sum",
          period: 300,
        },
        apiRequests: {
          namespace: "AWS/ApiGateway",
          name: "Count",
          dimensions: apiDimensions,
          stat: "Sum",
          period: 300,
        },
      },
    });
  });

  it("fire when more than 5% of the Lambda's answers are 429", () => {
    const service = [{ Name: "service", Value: "streaming-ingest" }];
    expect(alarmProps(monitoring.alarms.throttledRate).Threshold).toBe(5);
    expect(mathOf(monitoring.alarms.throttledRate)).toEqual({
      expression: "IF(lambdaRequests > 0, 100 * throttled / lambdaRequests, 0)",
      metrics: {
        throttled: {
          namespace: "StreamingIngest",
          name: "Throttled",
          dimensions: service,
          stat: "Sum",
          period: 300,
        },
        lambdaRequests: {
          namespace: "StreamingIngest",
          name: "Requests",
          dimensions: service,
          stat: "Sum",
          period: 300,
        },
      },
    });
  });

  it.each([
    ["ingestErrors", "Errors", "ingestFunction"],
    ["ingestThrottles", "Throttles", "ingestFunction"],
    ["provisionerErrors", "Errors", "provisionerFunction"],
  ] as const)("%s: any Lambda %s of the function", (name, metricName, fn) => {
    expect(alarmProps(monitoring.alarms[name])).toMatchObject({
      Namespace: "AWS/Lambda",
      MetricName: metricName,
      Dimensions: [{ Name: "FunctionName", Value: stack.resolve(props[fn].functionName) }],
      Statistic: "Sum",
      Period: 300,
      Threshold: 0,
    });
  });

  it("fire on any Firehose throttled record, through a Metrics Insights query over delivery streams", () => {
    expect(alarmProps(monitoring.alarms.firehoseThrottledRecords)).toMatchObject({
      Metrics: [
        {
          Expression: 'SELECT SUM("ThrottledRecords") FROM SCHEMA("AWS/Firehose", DeliveryStreamName)',
          Period: 300,
          ReturnData: true,
        },
      ],
      Threshold: 0,
    });
  });

  it("fire when DeliveryToS3.DataFreshness exceeds twice the largest buffer interval (1800 s)", () => {
    expect(alarmProps(monitoring.alarms.firehoseDataFreshness)).toMatchObject({
      Metrics: [
        {
          Expression:
            'SELECT MAX("DeliveryToS3.DataFreshness") FROM SCHEMA("AWS/Firehose", DeliveryStreamName)',
          Period: 300,
        },
      ],
      Threshold: 1800,
    });
  });

  it("fire on any provisioning failure the provisioner reports", () => {
    expect(alarmProps(monitoring.alarms.provisioningFailures)).toMatchObject({
      Namespace: "StreamingIngest",
      MetricName: "ProvisioningFailures",
      Dimensions: [{ Name: "service", Value: "streaming-ingest-provisioner" }],
      Statistic: "Sum",
      Threshold: 0,
    });
  });

  it.each([
    ["provisioningFailuresDlq", "failuresDlq"],
    ["deletionDlq", "deletionDlq"],
  ] as const)("%s: fire as soon as one message waits in the queue", (name, queue) => {
    expect(alarmProps(monitoring.alarms[name])).toMatchObject({
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: stack.resolve(props[queue].queueName) }],
      Statistic: "Maximum",
      Threshold: 0,
    });
  });
});

describe("alarm topic", () => {
  it("refuses publishes without TLS and lets only this account's alarms publish", () => {
    template.hasResourceProperties("AWS::SNS::TopicPolicy", {
      Topics: [topicRef],
      PolicyDocument: {
        Statement: [
          {
            Effect: "Deny",
            Action: "sns:Publish",
            Principal: "*",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
            Resource: topicRef,
            Sid: "AllowPublishThroughSSLOnly",
          },
          {
            Effect: "Allow",
            Action: "sns:Publish",
            Principal: { Service: "cloudwatch.amazonaws.com" },
            Resource: topicRef,
            Condition: {
              StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
              ArnLike: {
                "aws:SourceArn": {
                  "Fn::Join": [
                    "",
                    [
                      "arn:",
                      { Ref: "AWS::Partition" },
                      ":cloudwatch:",
                      { Ref: "AWS::Region" },
                      ":",
                      { Ref: "AWS::AccountId" },
                      ":alarm:*",
                    ],
                  ],
                },
              },
            },
          },
        ],
      },
    });
  });

  it("subscribes alarmEmail when it is set, and nobody otherwise", () => {
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "ops@example.com",
      TopicArn: topicRef,
    });
    synth().template.resourceCountIs("AWS::SNS::Subscription", 0);
  });

  it("refuses an alarmEmail that is not one address", () => {
    const error = thrownBy(() => synth({ alarmEmail: "ops@example.com, dev@example.com" }), InvalidPropError);
    expect(error.message).toBe('alarmEmail: got "ops@example.com, dev@example.com"; use one e-mail address.');
  });
});

describe("dashboard", () => {
  const body = JSON.stringify(
    Object.values(template.findResources("AWS::CloudWatch::Dashboard"))[0]?.Properties.DashboardBody,
  );

  it("is named after the stack", () => {
    template.hasResourceProperties("AWS::CloudWatch::Dashboard", { DashboardName: "MonitoringTest" });
  });

  it.each([
    [
      "the ingest Lambda's request outcomes",
      [
        '\\"StreamingIngest\\",\\"Requests\\"',
        '\\"Accepted\\"',
        '\\"Throttled\\"',
        '\\"ServerErrors\\"',
        '\\"ClientErrors\\"',
      ],
    ],
    [
      "Lambda duration, errors, throttles and concurrency",
      ['\\"AWS/Lambda\\",\\"Duration\\"', '\\"Errors\\"', '\\"Throttles\\"', '\\"ConcurrentExecutions\\"'],
    ],
    [
      "API 4xx, 5xx and latency",
      ['\\"AWS/ApiGateway\\",\\"Count\\"', '\\"4xx\\"', '\\"5xx\\"', '\\"Latency\\"'],
    ],
    [
      "Firehose throughput, throttling and freshness",
      ["IncomingRecords", "ThrottledRecords", "DeliveryToS3.DataFreshness"],
    ],
    [
      "provisioner failures and dead letters",
      ['\\"ProvisioningFailures\\"', '\\"ApproximateNumberOfMessagesVisible\\"'],
    ],
    ["the alarms' status", ['\\"type\\":\\"alarm\\"']],
    [
      "the Lambda's rejections by status code (a SEARCH over the status dimension)",
      ["Rejections by status code", "SEARCH('{StreamingIngest,service,status} MetricName=", "Rejected"],
    ],
  ])("shows %s", (_what, fragments) => {
    for (const fragment of fragments) expect(body).toContain(fragment);
  });
});
