# Defect: var.function_name is used but never declared.
resource "aws_cloudwatch_log_group" "bridge" {
  name              = "/aws/lambda/${var.function_name}"
  retention_in_days = 30
}
