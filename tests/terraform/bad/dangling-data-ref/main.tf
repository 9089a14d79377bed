# Defect: the role's trust policy is data.aws_iam_policy_document.assume, never declared
# (the declared document is "assume_role").
data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "bridge" {
  name               = "wineq-kinesis-bridge-role"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

output "trust_policy" {
  description = "The trust policy."
  value       = data.aws_iam_policy_document.assume_role.json
}
