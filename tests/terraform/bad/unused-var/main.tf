# Defect: var.log_retention_days is declared (typed, described, validated) but never used.
variable "log_retention_days" {
  type        = number
  description = "Days the log is kept."
  default     = 30

  validation {
    condition     = contains([7, 30, 90], var.log_retention_days)
    error_message = "log_retention_days must be 7, 30 or 90."
  }
}

resource "aws_cloudwatch_log_group" "bridge" {
  name              = "/aws/lambda/wineq-kinesis-bridge"
  retention_in_days = 30
}
