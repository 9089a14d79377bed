# wineq-kinesis-bridge as a Lambda custom runtime: the zip from `make lambda-zip` carries
# `bootstrap`, the binary and its own glibc (docs/LAMBDA.md). The handler is not read by a
# custom runtime, but the API requires one. The architecture must be the build machine's.
resource "aws_lambda_function" "bridge" {
  function_name    = var.function_name
  description      = "wineq: predicts wine quality for Kinesis records (${var.input_stream_name} -> ${var.output_stream_name})"
  role             = aws_iam_role.bridge.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = ["x86_64"]
  filename         = var.lambda_zip_path
  source_code_hash = filebase64sha256(var.lambda_zip_path)
  timeout          = var.lambda_timeout_seconds
  memory_size      = var.lambda_memory_mb

  environment {
    variables = local.lambda_environment
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.bridge.name
  }

  # the role must be able to write logs and read the model before the first start
  depends_on = [
    aws_iam_role_policy.bridge,
    aws_cloudwatch_log_group.bridge,
  ]
}

# Lambda polls the input stream and invokes the function with batches. The bridge answers
# {"batchItemFailures": [...]} naming every record it could not decode, predict or write, so
# only those are retried (from the first failed one); bisecting splits a failing batch to
# isolate the bad record. Retries and record age are bounded: after them the failure goes to
# the SQS queue and the shard moves on.
resource "aws_lambda_event_source_mapping" "input" {
  event_source_arn  = aws_kinesis_stream.input.arn
  function_name     = aws_lambda_function.bridge.arn
  starting_position = var.starting_position

  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_seconds
  parallelization_factor             = var.parallelization_factor

  function_response_types        = ["ReportBatchItemFailures"]
  bisect_batch_on_function_error = true
  maximum_retry_attempts         = var.maximum_retry_attempts
  maximum_record_age_in_seconds  = var.maximum_record_age_seconds

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.bridge_failures.arn
    }
  }

  # the mapping checks the role's stream permissions when it is created
  depends_on = [aws_iam_role_policy.bridge]
}
