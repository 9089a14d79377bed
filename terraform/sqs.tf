# On-failure destination of the event source mapping: when a batch (or a record the function
# reported in batchItemFailures) is still failing after maximum_retry_attempts, or is older than
# maximum_record_age_seconds, Lambda sends a notice here (shard id and the first and last
# sequence numbers; the records themselves stay in the input stream until they expire).
resource "aws_sqs_queue" "bridge_failures" {
  name                      = "${var.function_name}-failures"
  message_retention_seconds = var.failure_queue_retention_seconds
  # SSE-SQS: encrypted at rest with an SQS-owned key, no KMS grants needed to send
  sqs_managed_sse_enabled = true
}
