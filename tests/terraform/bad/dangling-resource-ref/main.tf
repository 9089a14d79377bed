# Defect: the output names aws_kinesis_stream.input, which is not declared (the stream is
# called "records").
resource "aws_kinesis_stream" "records" {
  name             = "wine-records"
  shard_count      = 1
  retention_period = 24
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"
}

output "input_stream_arn" {
  description = "ARN of the input stream."
  value       = aws_kinesis_stream.input.arn
}
