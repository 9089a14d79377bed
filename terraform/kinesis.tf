# The two streams, provisioned mode. Server-side encryption with the AWS managed key
# alias/aws/kinesis: its key policy lets any principal of the account that may use the stream
# use the key through Kinesis, so producers and the function need no KMS permissions of their
# own (a customer managed key would need kms:GenerateDataKey for writers, kms:Decrypt for
# readers).

resource "aws_kinesis_stream" "input" {
  name             = var.input_stream_name
  shard_count      = var.input_shard_count
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }
}

resource "aws_kinesis_stream" "output" {
  name             = var.output_stream_name
  shard_count      = var.output_shard_count
  retention_period = var.stream_retention_hours
  encryption_type  = "KMS"
  kms_key_id       = "alias/aws/kinesis"

  stream_mode_details {
    stream_mode = "PROVISIONED"
  }

  lifecycle {
    # the function would read its own predictions back and loop forever
    precondition {
      condition     = var.output_stream_name != var.input_stream_name
      error_message = "output_stream_name must differ from input_stream_name."
    }
  }
}
