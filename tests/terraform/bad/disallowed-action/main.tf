# Defect: an Allow statement grants kinesis:DeleteStream, which is not in the allowlist.
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
    actions   = ["kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:DeleteStream"]
    resources = [aws_kinesis_stream.input.arn]
  }
}

output "policy_json" {
  description = "The policy document."
  value       = data.aws_iam_policy_document.bridge.json
}
