# The AWS side of wineq's streaming deployment: wine records arrive on the input Kinesis stream,
# an event source mapping invokes wineq-kinesis-bridge (a Lambda custom runtime, the zip from
# `make lambda-zip`), which loads its model bundle from the artifact bucket at start-up and
# writes predictions to the output stream. Records that still fail after the bounded retries
# are reported to an SQS queue. See README.md in this directory.

data "aws_caller_identity" "current" {}

locals {
  # the account id makes the default bucket name unique without a random suffix
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.name_prefix}-artifacts-${data.aws_caller_identity.current.account_id}-${var.aws_region}"

  # the bundle directory the bridge loads (docs/BRIDGE.md: WINEQ_MODEL_URI s3://bucket/.../dir)
  model_uri = "s3://${aws_s3_bucket.artifacts.bucket}/${var.model_prefix}/${var.model_path}"

  # Lambda's default log group name; created here so retention is set and the role needs no
  # logs:CreateLogGroup
  log_group_name = "/aws/lambda/${var.function_name}"

  tags = merge(
    {
      Project   = "wineq"
      Component = "kinesis-bridge"
      ManagedBy = "terraform"
    },
    var.tags,
  )

  # The bridge's environment (src/bridge/wineq_kinesis_bridge.c, src/lib/aws/wq_aws.c). AWS_REGION
  # and the credentials come from Lambda (they are reserved: a function may not set them).
  # WINEQ_HOME: the bundle is fetched into $WINEQ_HOME/cache, and /tmp is the only writable
  # directory in Lambda. Endpoint overrides left empty are not set at all.
  lambda_environment = {
    for name, value in {
      PREDICTIONS_STREAM_NAME    = aws_kinesis_stream.output.name
      WINEQ_MODEL_URI            = local.model_uri
      WINEQ_HOME                 = "/tmp/wineq"
      TEST_RUN                   = var.test_run ? "True" : "False"
      WINEQ_KINESIS_ENDPOINT_URL = var.kinesis_endpoint_url
      WINEQ_S3_ENDPOINT_URL      = var.s3_endpoint_url
    } : name => value if value != ""
  }
}
