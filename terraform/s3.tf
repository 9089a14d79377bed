# The artifact bucket: model bundles (and, with `wineq-client --artifact-root s3://BUCKET`, the
# registry's run artifacts).
#
# Encryption is SSE-S3 (AES256), not SSE-KMS: the bucket holds model artifacts, not secrets;
# SSE-S3 needs no key policy and no kms:Decrypt / kms:GenerateDataKey grants for the function or
# for whoever uploads models (wineq-client, aws s3 cp), costs no KMS requests, and still
# encrypts every object at rest. Switch to aws:kms with a customer managed key when an audit
# trail of key use or key revocation is required (then grant kms:Decrypt on that key to the
# function's role).

resource "aws_s3_bucket" "artifacts" {
  bucket        = local.bucket_name
  force_destroy = var.bucket_force_destroy
}

# ACLs off: every object belongs to the bucket owner, whoever uploaded it
resource "aws_s3_bucket_ownership_controls" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# a model overwritten by mistake can be restored
resource "aws_s3_bucket_versioning" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

# versioning keeps every old version forever unless they expire
resource "aws_s3_bucket_lifecycle_configuration" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.artifacts]
}

# TLS only. A Deny grants nothing; its wildcard covers every S3 action, present and future.
data "aws_iam_policy_document" "artifacts_bucket" {
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.artifacts.arn, "${aws_s3_bucket.artifacts.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "artifacts" {
  bucket = aws_s3_bucket.artifacts.id
  policy = data.aws_iam_policy_document.artifacts_bucket.json

  # S3 rejects a bucket policy while BlockPublicPolicy is being set up
  depends_on = [aws_s3_bucket_public_access_block.artifacts]
}
