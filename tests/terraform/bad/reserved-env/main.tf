# Defect: the environment sets AWS_REGION, which Lambda reserves (create-function fails).
variable "lambda_zip_path" {
  type        = string
  description = "The zip from make lambda-zip."
  default     = "wineq-kinesis-bridge.zip"

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must name a .zip file."
  }
}

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "bridge" {
  name               = "wineq-kinesis-bridge-role"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

resource "aws_kinesis_stream" "input" {
  name             = "wine-records"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"
}

resource "aws_kinesis_stream" "output" {
  name             = "wine-predictions"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"
}

resource "aws_sqs_queue" "failures" {
  name                      = "wineq-kinesis-bridge-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

resource "aws_lambda_function" "bridge" {
  function_name    = "wineq-kinesis-bridge"
  role             = aws_iam_role.bridge.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  timeout          = 30
  memory_size      = 256

  environment {
    variables = {
      PREDICTIONS_STREAM_NAME = aws_kinesis_stream.output.name
      WINEQ_MODEL_URI         = "s3://wineq-artifacts/models/wine-quality/v1"
      WINEQ_HOME              = "/tmp/wineq"
      AWS_REGION              = "eu-west-1"
    }
  }
}

resource "aws_lambda_event_source_mapping" "input" {
  event_source_arn               = aws_kinesis_stream.input.arn
  function_name                  = aws_lambda_function.bridge.arn
  starting_position              = "LATEST"
  batch_size                     = 100
  function_response_types        = ["ReportBatchItemFailures"]
  maximum_record_age_in_seconds  = 3600
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = 3

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.failures.arn
    }
  }
}
