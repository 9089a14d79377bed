# Inputs. Every variable has a type, a description and (unless it is a bool) a validation, so a
# typo fails at plan time instead of half-way through an apply.

# --- where -----------------------------------------------------------------------------------

variable "aws_region" {
  type        = string
  description = "AWS region for every resource. Lambda hands it to the bridge as AWS_REGION (a reserved variable the function cannot set itself)."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]{1,2}$", var.aws_region))
    error_message = "aws_region must look like an AWS region code, e.g. eu-west-1 or us-gov-west-1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of the default artifact bucket name (<prefix>-artifacts-<account>-<region>)."
  default     = "wineq"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,18}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 2 to 20 characters of a-z, 0-9 and '-', not starting or ending with '-'."
  }
}

variable "tags" {
  type        = map(string)
  description = "Extra tags for every resource (added to Project, Component and ManagedBy)."
  default     = {}

  validation {
    condition = length(var.tags) <= 40 && alltrue([
      for k, v in var.tags : length(k) >= 1 && length(k) <= 128 && length(v) <= 256 && !startswith(lower(k), "aws:")
    ])
    error_message = "tags: at most 40, keys of 1 to 128 characters not starting with 'aws:', values of at most 256 characters."
  }
}

# --- artifacts bucket ------------------------------------------------------------------------

variable "bucket_name" {
  type        = string
  description = "Name of the S3 bucket for model artifacts; empty picks <name_prefix>-artifacts-<account id>-<region>."
  default     = ""

  validation {
    condition = var.bucket_name == "" || (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) &&
      !strcontains(var.bucket_name, "..") &&
      !startswith(var.bucket_name, "xn--") &&
      !can(regex("^[0-9]+\\.[0-9]+\\.[0-9]+\\.[0-9]+$", var.bucket_name))
    )
    error_message = "bucket_name must be empty or a valid S3 bucket name: 3 to 63 characters of a-z, 0-9, '.' and '-', no '..', not an IP address."
  }
}

variable "bucket_force_destroy" {
  type        = bool
  description = "Let `terraform destroy` delete the bucket with every object version in it. Off by default: models are not thrown away by accident."
  default     = false
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days a replaced or deleted object version is kept before S3 expires it (the bucket is versioned)."
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && var.noncurrent_version_expiration_days <= 3650 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number from 1 to 3650."
  }
}

variable "model_prefix" {
  type        = string
  description = "Key prefix in the bucket the function may read (no leading or trailing '/'). `wineq-client train --register --artifact-root s3://BUCKET` stores model versions below models/."
  default     = "models"

  validation {
    # no '*' or '?': the prefix ends up in IAM resource ARNs and conditions, where they are wildcards
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$", var.model_prefix)) && !strcontains(var.model_prefix, "..") && length(var.model_prefix) <= 512
    error_message = "model_prefix must be '/'-separated segments of A-Z, a-z, 0-9, '.', '_' and '-' (no '..', no leading or trailing '/')."
  }
}

variable "model_path" {
  type        = string
  description = "The model bundle directory below model_prefix: the function loads s3://BUCKET/<model_prefix>/<model_path> (WINEQ_MODEL_URI) at start-up."
  default     = "wine-quality/v1"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$", var.model_path)) && !strcontains(var.model_path, "..") && length(var.model_path) <= 512
    error_message = "model_path must be '/'-separated segments of A-Z, a-z, 0-9, '.', '_' and '-' (no '..', no leading or trailing '/')."
  }
}

# --- streams -----------------------------------------------------------------------------------

variable "input_stream_name" {
  type        = string
  description = "Kinesis stream the wine records arrive on (the event source of the function)."
  default     = "wine-records"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.input_stream_name))
    error_message = "input_stream_name must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.' and '-'."
  }
}

variable "output_stream_name" {
  type        = string
  description = "Kinesis stream the predictions are written to (PREDICTIONS_STREAM_NAME). Must differ from input_stream_name."
  default     = "wine-predictions"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,128}$", var.output_stream_name))
    error_message = "output_stream_name must be 1 to 128 characters of A-Z, a-z, 0-9, '_', '.' and '-'."
  }
}

variable "input_shard_count" {
  type        = number
  description = "Shards of the input stream (provisioned mode: 1 MB/s or 1000 records/s of writes each)."
  default     = 1

  validation {
    condition     = var.input_shard_count >= 1 && var.input_shard_count <= 500 && floor(var.input_shard_count) == var.input_shard_count
    error_message = "input_shard_count must be a whole number from 1 to 500."
  }
}

variable "output_shard_count" {
  type        = number
  description = "Shards of the output stream."
  default     = 1

  validation {
    condition     = var.output_shard_count >= 1 && var.output_shard_count <= 500 && floor(var.output_shard_count) == var.output_shard_count
    error_message = "output_shard_count must be a whole number from 1 to 500."
  }
}

variable "stream_retention_hours" {
  type        = number
  description = "How long both streams keep records, in hours (24 is the free default; up to 8760 = 365 days)."
  default     = 24

  validation {
    condition     = var.stream_retention_hours >= 24 && var.stream_retention_hours <= 8760 && floor(var.stream_retention_hours) == var.stream_retention_hours
    error_message = "stream_retention_hours must be a whole number from 24 to 8760."
  }
}

# --- function ----------------------------------------------------------------------------------

variable "function_name" {
  type        = string
  description = "Name of the Lambda function; also names its role (<name>-role), log group (/aws/lambda/<name>) and failure queue (<name>-failures)."
  default     = "wineq-kinesis-bridge"

  validation {
    # 58, not Lambda's 64: the role name adds "-role" and IAM allows 64
    condition     = can(regex("^[A-Za-z0-9_-]{1,58}$", var.function_name))
    error_message = "function_name must be 1 to 58 characters of A-Z, a-z, 0-9, '_' and '-'."
  }
}

variable "lambda_zip_path" {
  type        = string
  description = "Path of the deployment package made by `make lambda-zip` (relative to the directory terraform runs in)."
  default     = "../build/wineq-kinesis-bridge.zip"

  validation {
    condition     = endswith(var.lambda_zip_path, ".zip")
    error_message = "lambda_zip_path must name a .zip file (make lambda-zip writes wineq-kinesis-bridge.zip)."
  }
}

variable "lambda_timeout_seconds" {
  type        = number
  description = "Function timeout in seconds. The bridge retries failed PutRecords entries until 1 s before the deadline."
  default     = 30

  validation {
    condition     = var.lambda_timeout_seconds >= 3 && var.lambda_timeout_seconds <= 900 && floor(var.lambda_timeout_seconds) == var.lambda_timeout_seconds
    error_message = "lambda_timeout_seconds must be a whole number from 3 to 900."
  }
}

variable "lambda_memory_mb" {
  type        = number
  description = "Function memory in MB (CPU share grows with it)."
  default     = 256

  validation {
    condition     = var.lambda_memory_mb >= 128 && var.lambda_memory_mb <= 10240 && floor(var.lambda_memory_mb) == var.lambda_memory_mb
    error_message = "lambda_memory_mb must be a whole number from 128 to 10240."
  }
}

variable "test_run" {
  type        = bool
  description = "TEST_RUN=True: the function predicts and answers the predictions but writes nothing to the output stream (the reference stack's switch)."
  default     = false
}

variable "kinesis_endpoint_url" {
  type        = string
  description = "Optional WINEQ_KINESIS_ENDPOINT_URL for the function (a Kinesis-compatible endpoint); empty uses AWS's regional endpoint."
  default     = ""

  validation {
    condition     = var.kinesis_endpoint_url == "" || can(regex("^https?://[^/?#\\s]+(/[^?#\\s]*)?$", var.kinesis_endpoint_url))
    error_message = "kinesis_endpoint_url must be empty or an http:// or https:// URL without query or fragment."
  }
}

variable "s3_endpoint_url" {
  type        = string
  description = "Optional WINEQ_S3_ENDPOINT_URL for the function (an S3-compatible endpoint, path-style); empty uses AWS's regional endpoint."
  default     = ""

  validation {
    condition     = var.s3_endpoint_url == "" || can(regex("^https?://[^/?#\\s]+(/[^?#\\s]*)?$", var.s3_endpoint_url))
    error_message = "s3_endpoint_url must be empty or an http:// or https:// URL without query or fragment."
  }
}

variable "log_retention_days" {
  type        = number
  description = "Days CloudWatch Logs keeps the function's log (one of the values CloudWatch accepts; never-expire is not offered)."
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653."
  }
}

# --- event source mapping ----------------------------------------------------------------------

variable "starting_position" {
  type        = string
  description = "Where the event source mapping starts reading a shard: LATEST (new records only) or TRIM_HORIZON (everything retained)."
  default     = "LATEST"

  validation {
    condition     = contains(["LATEST", "TRIM_HORIZON"], var.starting_position)
    error_message = "starting_position must be LATEST or TRIM_HORIZON."
  }
}

variable "batch_size" {
  type        = number
  description = "Most records per invocation (the bridge predicts them in one call and writes them with PutRecords, 500 per call)."
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000 && floor(var.batch_size) == var.batch_size
    error_message = "batch_size must be a whole number from 1 to 10000."
  }
}

variable "maximum_batching_window_seconds" {
  type        = number
  description = "How long Lambda may gather records before it invokes (0 = as soon as records arrive)."
  default     = 0

  validation {
    condition     = var.maximum_batching_window_seconds >= 0 && var.maximum_batching_window_seconds <= 300 && floor(var.maximum_batching_window_seconds) == var.maximum_batching_window_seconds
    error_message = "maximum_batching_window_seconds must be a whole number from 0 to 300."
  }
}

variable "parallelization_factor" {
  type        = number
  description = "Concurrent batches per shard (records with the same partition key stay in order)."
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10 && floor(var.parallelization_factor) == var.parallelization_factor
    error_message = "parallelization_factor must be a whole number from 1 to 10."
  }
}

variable "maximum_retry_attempts" {
  type        = number
  description = "Retries of a failed batch (or of the records the function reported failed) before they go to the failure queue. Bounded: a record that can never succeed must not hold its shard until it expires."
  default     = 3

  validation {
    # AWS also accepts -1 (retry until the record expires): refused on purpose
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 10 && floor(var.maximum_retry_attempts) == var.maximum_retry_attempts
    error_message = "maximum_retry_attempts must be a whole number from 0 to 10."
  }
}

variable "maximum_record_age_seconds" {
  type        = number
  description = "Records older than this are not retried any more and go to the failure queue."
  default     = 3600

  validation {
    # AWS also accepts -1 (no limit): refused on purpose
    condition     = var.maximum_record_age_seconds >= 60 && var.maximum_record_age_seconds <= 604800 && floor(var.maximum_record_age_seconds) == var.maximum_record_age_seconds
    error_message = "maximum_record_age_seconds must be a whole number from 60 to 604800."
  }
}

variable "failure_queue_retention_seconds" {
  type        = number
  description = "How long the on-failure queue keeps the records' failure notices (the maximum, 14 days, by default)."
  default     = 1209600

  validation {
    condition     = var.failure_queue_retention_seconds >= 60 && var.failure_queue_retention_seconds <= 1209600 && floor(var.failure_queue_retention_seconds) == var.failure_queue_retention_seconds
    error_message = "failure_queue_retention_seconds must be a whole number from 60 to 1209600."
  }
}
