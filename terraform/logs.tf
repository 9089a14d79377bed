# The function's log group, created before the function so its retention applies from the
# first line (Lambda would otherwise create it itself, kept forever).
resource "aws_cloudwatch_log_group" "bridge" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
}
