# A complete ghbackup deployment: copy this folder, set the variables, `terraform apply`.
# Before applying, build the Lambda zip from the repository root: `make package`.
# Copied elsewhere, point `source` at the module (a path, or
# "git::https://<your clone>.git//terraform?ref=<tag>") and lambda_zip_path at the built zip.

provider "aws" {
  region = var.region

  default_tags {
    tags = {
      Project = "ghbackup"
    }
  }
}

module "ghbackup" {
  source = "../.."

  name                = var.name
  github_api_url      = var.github_api_url
  notification_emails = var.notification_emails
  image_tag           = var.image_tag
  default_selection   = var.default_selection
  schedule_expression = var.schedule_expression
  schedule_timezone   = var.schedule_timezone
  use_fargate_spot    = var.use_fargate_spot
  max_concurrency     = var.max_concurrency
  run_retention_days  = var.run_retention_days
  object_lock_mode    = var.object_lock_mode
  object_lock_days    = var.object_lock_days
  force_destroy       = var.force_destroy
  lambda_zip_path     = var.lambda_zip_path

  # Optional: run the tasks in your own network instead of the minimal VPC the module creates.
  subnet_ids         = var.subnet_ids
  security_group_ids = var.security_group_ids
  assign_public_ip   = var.assign_public_ip
}
