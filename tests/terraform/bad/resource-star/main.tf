# Defect: an allowlisted action on every resource ("*").
resource "aws_sqs_queue" "failures" {
  name                      = "wineq-kinesis-bridge-failures"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

data "aws_iam_policy_document" "bridge" {
  statement {
    sid       = "ReportFailures"
    actions   = ["sqs:SendMessage"]
    resources = ["*"]
  }
}

output "queue_url" {
  description = "The failure queue."
  value       = aws_sqs_queue.failures.url
}

output "policy_json" {
  description = "The policy document."
  value       = data.aws_iam_policy_document.bridge.json
}
