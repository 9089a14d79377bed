# Terraform and provider versions. The range keeps the AWS provider on major version 5: every
# resource argument used here (split S3 bucket resources, Lambda logging_config, Kinesis
# stream_mode_details, SQS managed SSE) exists from 5.60 on, and 6.0 changes argument
# semantics (per-resource region), so it is left out until tested.
terraform {
  # 1.5: strcontains() and endswith() in variable validations, lifecycle preconditions
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.60.0, < 6.0.0"
    }
  }
}

provider "aws" {
  region = var.aws_region

  # every resource carries the project's tags (Project, Component, ManagedBy + var.tags)
  default_tags {
    tags = local.tags
  }
}
