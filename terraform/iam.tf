# The function's execution role. Least privilege: exactly the calls the bridge and its event
# source mapping make, each on its own resource. No managed policies (AWSLambdaKinesisExecution
# Role grants every stream in the account, plus logs:CreateLogGroup on "*").

data "aws_iam_policy_document" "bridge_assume_role" {
  statement {
    sid     = "LambdaAssumeRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "bridge" {
  name               = "${var.function_name}-role"
  description        = "Execution role of the ${var.function_name} Lambda function (wineq Kinesis bridge)"
  assume_role_policy = data.aws_iam_policy_document.bridge_assume_role.json
}

data "aws_iam_policy_document" "bridge" {
  # What the event source mapping calls, with the function's role, to read the input stream
  # (AWS Lambda Developer Guide, "Process Amazon Kinesis Data Streams records with Lambda").
  # kinesis:ListStreams is left out: it cannot be scoped to a stream (it needs "*") and the
  # mapping does not need it. kinesis:SubscribeToShard is only for enhanced fan-out consumers.
  statement {
    sid    = "ReadInputStream"
    effect = "Allow"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [aws_kinesis_stream.input.arn]
  }

  # The bridge writes with PutRecords only (src/lib/aws/wq_kinesis.c), never PutRecord.
  statement {
    sid       = "WritePredictions"
    effect    = "Allow"
    actions   = ["kinesis:PutRecords"]
    resources = [aws_kinesis_stream.output.arn]
  }

  # The model bundle: MANIFEST.json, then every file it lists (SHA-256 checked).
  statement {
    sid       = "ReadModels"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${aws_s3_bucket.artifacts.arn}/${var.model_prefix}/*"]
  }

  # Listing below the model prefix only: with it, a missing object is a 404 (NoSuchKey) rather
  # than a 403, so a wrong model_path reads as "not found" in the log.
  statement {
    sid       = "ListModels"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.artifacts.arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.model_prefix}/*"]
    }
  }

  # The log group exists (logs.tf), so no logs:CreateLogGroup.
  statement {
    sid       = "WriteLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.bridge.arn}:*"]
  }

  # Stream event source mappings send on-failure notices with the function's role.
  statement {
    sid       = "ReportFailures"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.bridge_failures.arn]
  }
}

resource "aws_iam_role_policy" "bridge" {
  name   = "${var.function_name}-least-privilege"
  role   = aws_iam_role.bridge.id
  policy = data.aws_iam_policy_document.bridge.json
}
