/** Test environment: the AWS SDK's notice about Node 20 support is not a test failure; keep output clean. */
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = "true";
