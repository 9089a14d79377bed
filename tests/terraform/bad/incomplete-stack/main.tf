# Defect (checked without --partial): a stack with only a log group lacks the function, its
# event source mapping, the streams, the bucket and the queue.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 6.0.0"
    }
  }
}

resource "aws_cloudwatch_log_group" "bridge" {
  name              = "/aws/lambda/wineq-kinesis-bridge"
  retention_in_days = 30
}

output "log_group_name" {
  description = "The log group."
  value       = aws_cloudwatch_log_group.bridge.name
}
