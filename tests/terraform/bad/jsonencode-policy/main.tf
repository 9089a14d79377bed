# Defect: the role's policy is jsonencode()d in place, so its actions escape the allowlist check.
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
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
}

resource "aws_iam_role_policy" "bridge" {
  name = "wineq-kinesis-bridge"
  role = aws_iam_role.bridge.id
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = ["kinesis:*"], Resource = "*" }]
  })
}
