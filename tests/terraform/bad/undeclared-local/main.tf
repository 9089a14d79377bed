# Defect: the output uses local.log_group, but the local is called log_group_name.
locals {
  log_group_name = "/aws/lambda/wineq-kinesis-bridge"
}

resource "aws_cloudwatch_log_group" "bridge" {
  name              = local.log_group_name
  retention_in_days = 30
}

output "log_group_name" {
  description = "The log group."
  value       = local.log_group
}
