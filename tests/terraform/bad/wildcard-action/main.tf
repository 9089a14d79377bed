# Defect: an Allow statement grants kinesis:* (a wildcard action).
resource "aws_kinesis_stream" "input" {
  name             = "wine-records"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"
}

data "aws_iam_policy_document" "bridge" {
  statement {
    sid       = "ReadInputStream"
    effect    = "Allow"
    actions   = ["kinesis:*"]
    resources = [aws_kinesis_stream.input.arn]
  }
}

output "policy_json" {
  description = "The policy document."
  value       = data.aws_iam_policy_document.bridge.json
}
