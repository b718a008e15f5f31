/** The Firehose inputs of a stream: names, fingerprint, CreateDeliveryStream / UpdateDestination (no mocks). */
import type { DeliveryStreamDescription, ExtendedS3DestinationDescription } from "@aws-sdk/client-firehose";
import {
  bufferSizeInMBs,
  createDeliveryStreamInput,
  DELIVERY_STREAM_NAME_PATTERN,
  type DeliveryTarget,
  deliveryFingerprint,
  deliveryStreamName,
  deliveryStreamNames,
  desiredDestination,
  destinationDifferences,
  fileExtension,
  isDeliveryStreamOf,
  updateDestinationInput,
} from "../../lambda/adapters/delivery-stream-config.js";
import type { DeliverySettings } from "../../lambda/core/types.js";
import { makeStream, STREAM_ID } from "../helpers/in-memory-ports.js";

const TARGET: DeliveryTarget = {
  prefix: "StreamingIngest",
  bucketArn: "arn:aws:s3:::streamingingest-delivery-1a2b3c",
  roleArn: "arn:aws:iam::123456789012:role/StreamingIngest-DeliveryRole",
  logGroup: "/aws/kinesisfirehose/StreamingIngest",
};

const withDelivery = (delivery: Partial<DeliverySettings>, payload: "json" | "xml" = "json") =>
  makeStream({ payload, delivery: { ...makeStream().delivery, ...delivery } });

describe("delivery stream names", () => {
  it("names shard i <prefix>-<stream id>-<i>, shard 0 first", () => {
    expect(deliveryStreamNames("StreamingIngest", "is-AbCDefGH", 3)).toEqual([
      "StreamingIngest-is-AbCDefGH-0",
      "StreamingIngest-is-AbCDefGH-1",
      "StreamingIngest-is-AbCDefGH-2",
    ]);
  });

  it("stays within Firehose's 64 characters and alphabet for a 40-character prefix and 50 shards", () => {
    const prefix = `${"A".repeat(20)}${"b.c_d-E".repeat(2)}012345`;
    expect(prefix).toHaveLength(40);
    const longest = deliveryStreamName(prefix, "is-Zz09Zz09", 49);
    expect(longest.length).toBeLessThanOrEqual(64);
    for (const name of deliveryStreamNames(prefix, "is-Zz09Zz09", 50)) {
      expect(name).toMatch(DELIVERY_STREAM_NAME_PATTERN);
    }
  });

  it.each([
    ["StreamingIngest-is-AbCDefGH-0", true],
    ["StreamingIngest-is-AbCDefGH-49", true],
    ["StreamingIngest-is-AbCDefGH-", false],
    ["StreamingIngest-is-AbCDefGH-01", false],
    ["StreamingIngest-is-AbCDefGH-1x", false],
    ["StreamingIngest-is-Other001-0", false],
    ["Other-is-AbCDefGH-0", false],
  ])("recognises %s as one of the stream's delivery streams: %s", (name, expected) => {
    expect(isDeliveryStreamOf("StreamingIngest", "is-AbCDefGH", name)).toBe(expected);
  });
});

describe("delivery settings", () => {
  it.each([
    [0.6, 1],
    [1, 1],
    [5.4, 5],
    [5.5, 6],
    [127.6, 128],
    [128, 128],
  ])("buffers %d MiB as %d whole MiB (1–128)", (mib, expected) => {
    expect(bufferSizeInMBs(mib)).toBe(expected);
  });

  it.each([
    ["json", "none", ".ndjson"],
    ["json", "gzip", ".ndjson.gz"],
    ["xml", "none", ".cbor"],
    ["xml", "gzip", ".cbor.gz"],
  ] as const)("gives %s files compressed %s the extension %s", (payload, compression, extension) => {
    expect(fileExtension(payload, compression)).toBe(extension);
  });

  it("fingerprints payload|tenant|size MiB|seconds|compression|shards with the applied (rounded) size", () => {
    const stream = withDelivery({ bufferMiB: 5.4, bufferSeconds: 60, compression: "gzip", shards: 3 }, "xml");
    expect(deliveryFingerprint(stream)).toBe("xml|acme|5|60|gzip|3");
  });

  it("leaves out of the fingerprint what is not a delivery setting (status, name, rate limits)", () => {
    const stream = makeStream();
    const edited = makeStream({
      status: "disabled",
      name: "renamed",
      description: "x",
      rateLimitPerSecond: 5,
    });
    expect(deliveryFingerprint(edited)).toBe(deliveryFingerprint(stream));
  });
});

describe("CreateDeliveryStream input", () => {
  it("creates a Direct PUT stream to S3 with the layout, batching, encryption, logging and tags of the stream", () => {
    const stream = withDelivery({ bufferMiB: 64.2, bufferSeconds: 120, compression: "gzip" });
    expect(createDeliveryStreamInput(stream, TARGET, `StreamingIngest-${STREAM_ID}-0`)).toStrictEqual({
      DeliveryStreamName: `StreamingIngest-${STREAM_ID}-0`,
      DeliveryStreamType: "DirectPut",
      DeliveryStreamEncryptionConfigurationInput: { KeyType: "AWS_OWNED_CMK" },
      ExtendedS3DestinationConfiguration: {
        RoleARN: TARGET.roleArn,
        BucketARN: TARGET.bucketArn,
        Prefix: `streams/acme/${STREAM_ID}/!{timestamp:yyyy/MM/dd/HH}/`,
        ErrorOutputPrefix: `errors/${STREAM_ID}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
        BufferingHints: { SizeInMBs: 64, IntervalInSeconds: 120 },
        CompressionFormat: "GZIP",
        FileExtension: ".ndjson.gz",
        CloudWatchLoggingOptions: {
          Enabled: true,
          LogGroupName: "/aws/kinesisfirehose/StreamingIngest",
          LogStreamName: "DestinationDelivery",
        },
      },
      Tags: [
        { Key: "streaming-ingest:stream", Value: STREAM_ID },
        { Key: "streaming-ingest:tenant", Value: "acme" },
      ],
    });
  });

  it("writes uncompressed CBOR files for an XML stream", () => {
    const input = createDeliveryStreamInput(withDelivery({}, "xml"), TARGET, "n");
    expect(input.ExtendedS3DestinationConfiguration).toMatchObject({
      CompressionFormat: "UNCOMPRESSED",
      FileExtension: ".cbor",
      BufferingHints: { SizeInMBs: 5, IntervalInSeconds: 300 },
    });
  });
});

/** What DescribeDeliveryStream reports for a stream created with `stream`'s settings. */
function described(stream = makeStream()): ExtendedS3DestinationDescription {
  const desired = desiredDestination(stream, TARGET);
  return {
    RoleARN: TARGET.roleArn,
    BucketARN: TARGET.bucketArn,
    ...desired,
    BufferingHints: { ...desired.BufferingHints },
    CloudWatchLoggingOptions: { ...desired.CloudWatchLoggingOptions },
    EncryptionConfiguration: { NoEncryptionConfig: "NoEncryption" },
    S3BackupMode: "Disabled",
  };
}

describe("destination differences", () => {
  it("finds none when the delivery stream is as desired", () => {
    expect(destinationDifferences(described(), desiredDestination(makeStream(), TARGET))).toEqual([]);
  });

  it("names each setting that differs", () => {
    const desired = desiredDestination(withDelivery({ bufferSeconds: 60, compression: "gzip" }), TARGET);
    expect(destinationDifferences(described(), desired)).toEqual([
      "BufferingHints.IntervalInSeconds",
      "CompressionFormat",
      "FileExtension",
    ]);
  });

  it("notices a prefix, error prefix or logging changed by hand", () => {
    const current = {
      ...described(),
      Prefix: "manual/",
      ErrorOutputPrefix: undefined,
      CloudWatchLoggingOptions: { Enabled: false },
    };
    expect(destinationDifferences(current, desiredDestination(makeStream(), TARGET))).toEqual([
      "Prefix",
      "ErrorOutputPrefix",
      "CloudWatchLoggingOptions.Enabled",
      "CloudWatchLoggingOptions.LogGroupName",
      "CloudWatchLoggingOptions.LogStreamName",
    ]);
  });

  it("ignores what the provisioner does not own (role, bucket, S3 encryption)", () => {
    const current = {
      ...described(),
      RoleARN: "arn:aws:iam::123456789012:role/other",
      EncryptionConfiguration: {},
    };
    expect(destinationDifferences(current, desiredDestination(makeStream(), TARGET))).toEqual([]);
  });
});

describe("UpdateDestination input", () => {
  it("updates the described version's destination with the desired settings only", () => {
    const current: DeliveryStreamDescription = {
      DeliveryStreamName: `StreamingIngest-${STREAM_ID}-0`,
      DeliveryStreamARN: `arn:aws:firehose:eu-west-1:123456789012:deliverystream/StreamingIngest-${STREAM_ID}-0`,
      DeliveryStreamStatus: "ACTIVE",
      DeliveryStreamType: "DirectPut",
      VersionId: "7",
      Destinations: [
        { DestinationId: "destinationId-000000000001", ExtendedS3DestinationDescription: described() },
      ],
      HasMoreDestinations: false,
    };
    const desired = desiredDestination(withDelivery({ bufferMiB: 16, compression: "gzip" }), TARGET);
    expect(updateDestinationInput(current, "destinationId-000000000001", desired)).toStrictEqual({
      DeliveryStreamName: `StreamingIngest-${STREAM_ID}-0`,
      CurrentDeliveryStreamVersionId: "7",
      DestinationId: "destinationId-000000000001",
      ExtendedS3DestinationUpdate: {
        Prefix: `streams/acme/${STREAM_ID}/!{timestamp:yyyy/MM/dd/HH}/`,
        ErrorOutputPrefix: `errors/${STREAM_ID}/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/`,
        BufferingHints: { SizeInMBs: 16, IntervalInSeconds: 300 },
        CompressionFormat: "GZIP",
        FileExtension: ".ndjson.gz",
        CloudWatchLoggingOptions: {
          Enabled: true,
          LogGroupName: "/aws/kinesisfirehose/StreamingIngest",
          LogStreamName: "DestinationDelivery",
        },
      },
    });
  });
});
