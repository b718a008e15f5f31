/** Registry tables, delivery bucket and token signing keys, each synthesized alone in a bare stack. */
import { Template } from "aws-cdk-lib/assertions";
import { DeliveryBucket } from "../../lib/delivery-bucket.js";
import { IdempotencyTable } from "../../lib/idempotency-table.js";
import { InvalidPropError } from "../../lib/prop-validation.js";
import { RegistryTables } from "../../lib/registry-tables.js";
import { TokenSigningKeys } from "../../lib/token-signing-keys.js";
import { bareStack } from "../helpers/cdk.js";
import { thrownBy } from "../helpers/thrown.js";

describe("registry tables", () => {
  const stack = bareStack();
  const tables = new RegistryTables(stack, "Registry");
  const template = Template.fromStack(stack);
  const resources = template.findResources("AWS::DynamoDB::Table");

  it("creates the streams and API-keys tables, keyed by id (S)", () => {
    expect(Object.keys(resources)).toHaveLength(2);
    for (const table of [tables.streams, tables.apiKeys]) {
      const resource = resources[stack.getLogicalId(table.node.defaultChild as never)];
      expect(resource?.Properties).toMatchObject({
        KeySchema: [{ AttributeName: "id", KeyType: "HASH" }],
        AttributeDefinitions: [{ AttributeName: "id", AttributeType: "S" }],
      });
    }
  });

  it.each(["streams", "apiKeys"] as const)(
    "bills the %s table on demand with PITR, streams, AWS-managed SSE",
    (name) => {
      const resource = resources[stack.getLogicalId(tables[name].node.defaultChild as never)];
      expect(resource?.Properties).toMatchObject({
        BillingMode: "PAY_PER_REQUEST",
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        StreamSpecification: { StreamViewType: "NEW_AND_OLD_IMAGES" },
        DeletionProtectionEnabled: true,
      });
      // AWS-managed key (aws/dynamodb): SSE on without a customer key or an explicit type.
      expect(resource?.Properties.SSESpecification).toEqual({ SSEEnabled: true });
      expect(resource).toMatchObject({ DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    },
  );
});

describe("idempotency table", () => {
  const stack = bareStack();
  new IdempotencyTable(stack, "Idempotency");
  const resources = Object.values(Template.fromStack(stack).findResources("AWS::DynamoDB::Table"));

  it("is keyed by pk (S), expires items by TTL on expires_at, on demand with PITR and AWS-managed SSE", () => {
    expect(resources).toHaveLength(1);
    expect(resources[0]?.Properties).toEqual({
      KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
      TimeToLiveSpecification: { AttributeName: "expires_at", Enabled: true },
      BillingMode: "PAY_PER_REQUEST",
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
  });

  it("is not retained: it only holds the keys of the last window", () => {
    expect(resources[0]).toMatchObject({ DeletionPolicy: "Delete", UpdateReplacePolicy: "Delete" });
  });
});

describe("delivery bucket", () => {
  const synth = (props = {}) => {
    const stack = bareStack();
    const storage = new DeliveryBucket(stack, "Storage", props);
    const template = Template.fromStack(stack);
    const bucketOf = (bucket: typeof storage.bucket) =>
      template.toJSON().Resources[stack.getLogicalId(bucket.node.defaultChild as never)];
    return {
      stack,
      storage,
      template,
      data: bucketOf(storage.bucket),
      logs: bucketOf(storage.accessLogsBucket),
    };
  };
  /** Statements of the bucket policy of `bucket`. */
  const policyOf = (synthesized: ReturnType<typeof synth>, bucket: { bucketName: string }): unknown[] => {
    const bucketRef = JSON.stringify(synthesized.stack.resolve(bucket.bucketName));
    const policy = Object.values(synthesized.template.findResources("AWS::S3::BucketPolicy")).find(
      (p) => JSON.stringify(p.Properties.Bucket) === bucketRef,
    );
    return policy?.Properties.PolicyDocument.Statement ?? [];
  };
  const kept = synth();
  const expiring = synth({ dataRetentionDays: 90 });

  it("blocks all public access, encrypts with SSE-S3 and is retained, for both buckets", () => {
    for (const bucket of [kept.data, kept.logs]) {
      expect(bucket.Properties).toMatchObject({
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }],
        },
      });
      expect(bucket).toMatchObject({ DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    }
  });

  it("denies every non-TLS request to either bucket, and TLS below 1.2 to the data bucket", () => {
    for (const bucket of [kept.storage.bucket, kept.storage.accessLogsBucket]) {
      expect(policyOf(kept, bucket)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: "Deny",
            Action: "s3:*",
            Principal: { AWS: "*" },
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
        ]),
      );
    }
    expect(policyOf(kept, kept.storage.bucket)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ Effect: "Deny", Condition: { NumericLessThan: { "s3:TlsVersion": 1.2 } } }),
      ]),
    );
  });

  it("versions delivered data and logs access to the access-logs bucket", () => {
    expect(kept.data.Properties).toMatchObject({
      VersioningConfiguration: { Status: "Enabled" },
      LoggingConfiguration: {
        DestinationBucketName: kept.stack.resolve(kept.storage.accessLogsBucket.bucketName),
        LogFilePrefix: "delivery-bucket/",
      },
    });
  });

  it("lets S3 log delivery write by bucket policy, with ACLs disabled on the logs bucket", () => {
    expect(kept.logs.Properties.OwnershipControls).toEqual({
      Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }],
    });
    const logsBucketArn = kept.stack.resolve(kept.storage.accessLogsBucket.bucketArn);
    expect(policyOf(kept, kept.storage.accessLogsBucket)).toEqual(
      expect.arrayContaining([
        {
          Effect: "Allow",
          Action: "s3:PutObject",
          Principal: { Service: "logging.s3.amazonaws.com" },
          Resource: { "Fn::Join": ["", [logsBucketArn, "/delivery-bucket/*"]] },
          Condition: {
            ArnLike: { "aws:SourceArn": kept.stack.resolve(kept.storage.bucket.bucketArn) },
            StringEquals: { "aws:SourceAccount": { Ref: "AWS::AccountId" } },
          },
        },
      ]),
    );
  });

  it("expires old versions after 30 days and stale multipart uploads after 7, and keeps data by default", () => {
    expect(kept.data.Properties.LifecycleConfiguration.Rules).toEqual([
      {
        Id: "VersionsAndUploads",
        Status: "Enabled",
        NoncurrentVersionExpiration: { NoncurrentDays: 30 },
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 7 },
        ExpiredObjectDeleteMarker: true,
      },
    ]);
  });

  it("expires streams/ and errors/ objects after dataRetentionDays when it is set", () => {
    expect(expiring.data.Properties.LifecycleConfiguration.Rules).toEqual(
      expect.arrayContaining([
        { Id: "Expire-streams", Status: "Enabled", Prefix: "streams/", ExpirationInDays: 90 },
        { Id: "Expire-errors", Status: "Enabled", Prefix: "errors/", ExpirationInDays: 90 },
      ]),
    );
  });

  it("expires access logs after a year", () => {
    expect(kept.logs.Properties.LifecycleConfiguration.Rules).toEqual([
      { Id: "ExpireAccessLogs", Status: "Enabled", ExpirationInDays: 365 },
    ]);
  });

  it("refuses a retention that is not a whole number of days", () => {
    const error = thrownBy(
      () => new DeliveryBucket(bareStack(), "Storage", { dataRetentionDays: 0.5 }),
      InvalidPropError,
    );
    expect(error.message).toBe("dataRetentionDays: got 0.5; set a whole number ≥ 1.");
  });
});

describe("token signing keys", () => {
  const stack = bareStack("KeysStack");
  const keys = new TokenSigningKeys(stack, "TokenSigningKeys", { generations: ["v1", "v2", "2025-q3"] });
  const template = Template.fromStack(stack);

  it("creates one retained ECC_NIST_P256 SIGN_VERIFY key per generation", () => {
    const resources = Object.values(template.findResources("AWS::KMS::Key"));
    expect(resources).toHaveLength(3);
    for (const key of resources) {
      expect(key.Properties).toMatchObject({ KeySpec: "ECC_NIST_P256", KeyUsage: "SIGN_VERIFY" });
      expect(key).toMatchObject({ DeletionPolicy: "Retain", UpdateReplacePolicy: "Retain" });
    }
  });

  it("aliases each key alias/<stack>-token-<generation>", () => {
    const aliases = Object.values(template.findResources("AWS::KMS::Alias")).map(
      (a) => a.Properties.AliasName,
    );
    expect(aliases.sort()).toEqual([
      "alias/KeysStack-token-2025-q3",
      "alias/KeysStack-token-v1",
      "alias/KeysStack-token-v2",
    ]);
  });

  it("signs new tokens with the last generation", () => {
    expect(keys.current).toBe(keys.keys[2]);
    expect(keys.generations).toEqual(["v1", "v2", "2025-q3"]);
  });

  it.each([
    [[], 'tokenSigningKeyGenerations: got an empty list; name at least one key generation, e.g. ["v1"].'],
    [
      ["v1", "v1"],
      'tokenSigningKeyGenerations: generation "v1" is listed twice; each generation is one key.',
    ],
    [
      ["V1"],
      'tokenSigningKeyGenerations: generation "V1" is not 1–20 characters of a–z, 0–9 and "-"; rename it, e.g. "v2".',
    ],
    [["a".repeat(21)], expect.stringContaining("is not 1–20 characters")],
  ])("refuses generations %j", (generations, message) => {
    const error = thrownBy(
      () => new TokenSigningKeys(bareStack(), "Keys", { generations }),
      InvalidPropError,
    );
    expect(error.message).toEqual(message);
  });
});
