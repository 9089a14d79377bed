output "artifact_bucket_name" {
  description = "S3 bucket for model bundles and artifacts."
  value       = aws_s3_bucket.artifacts.bucket
}

output "artifact_bucket_arn" {
  description = "ARN of the artifact bucket."
  value       = aws_s3_bucket.artifacts.arn
}

output "model_uri" {
  description = "Where the function loads its model from (WINEQ_MODEL_URI): upload the bundle directory here."
  value       = local.model_uri
}

output "input_stream_name" {
  description = "Kinesis stream to put wine records on."
  value       = aws_kinesis_stream.input.name
}

output "input_stream_arn" {
  description = "ARN of the input stream."
  value       = aws_kinesis_stream.input.arn
}

output "output_stream_name" {
  description = "Kinesis stream the predictions are written to."
  value       = aws_kinesis_stream.output.name
}

output "output_stream_arn" {
  description = "ARN of the output stream."
  value       = aws_kinesis_stream.output.arn
}

output "function_name" {
  description = "Name of the bridge's Lambda function."
  value       = aws_lambda_function.bridge.function_name
}

output "function_arn" {
  description = "ARN of the bridge's Lambda function."
  value       = aws_lambda_function.bridge.arn
}

output "event_source_mapping_uuid" {
  description = "UUID of the input stream's event source mapping (aws lambda get-event-source-mapping --uuid ...)."
  value       = aws_lambda_event_source_mapping.input.uuid
}

output "failure_queue_url" {
  description = "URL of the SQS queue that receives the notices of records that failed for good."
  value       = aws_sqs_queue.bridge_failures.url
}

output "failure_queue_arn" {
  description = "ARN of the failure queue."
  value       = aws_sqs_queue.bridge_failures.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the function."
  value       = aws_cloudwatch_log_group.bridge.name
}

output "role_arn" {
  description = "ARN of the function's execution role."
  value       = aws_iam_role.bridge.arn
}
