# A complete ghbackup deployment: copy this folder, fill in terraform.tfvars, `terraform apply`.
# Before applying, build the Lambda zip from the repository root: `make package`.
# Copied elsewhere, point `source` at the module (a path, or
# "git::https://<your clone>.git//terraform?ref=<tag>") and set lambda_zip_path to the built zip.
#
# Only what differs per user is a variable (variables.tf); every other setting is written here,
# with the module's own validation (terraform/variables.tf). Change the values below to taste.

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

  name = "ghbackup"

  # What it costs: minimal (about $1.05 a month: the key that keeps the token to the two roles
  # that use it), standard, hardened (the key for everything, Object Lock, alarm, flow and
  # access logs) or personal (no key: for an account no one else uses). See the module
  # README's tables; every choice in a profile has its own variable, e.g. failure_alarm = true.
  cost_profile = "minimal"

  # What to back up and who hears about failures.
  default_selection   = var.default_selection
  notification_emails = var.notification_emails

  # The image you pushed (README step 3); tags are immutable, so every build gets a new one.
  image_tag = var.image_tag

  # 10:00 UTC on the 1st of every month.
  schedule_expression = "cron(0 10 1 * ? *)"
  schedule_timezone   = "UTC"

  # Run archives: 365 days in S3 Glacier Flexible Retrieval. For ransomware-proof archives, set
  # object_lock_mode = "GOVERNANCE" (or "COMPLIANCE"), now or later: the bucket is kept.
  # null takes the profile's (GOVERNANCE in hardened).
  run_retention_days        = 365
  run_archive_storage_class = "GLACIER"
  object_lock_mode          = null
  object_lock_days          = 30

  # Capture: up to 10 tasks at a time on Fargate Spot.
  use_fargate_spot = true
  max_concurrency  = 10

  # GitHub Enterprise Server: "https://HOST/api/v3".
  github_api_url = "https://api.github.com"

  # Who runs ghbackup get/restore/start/watch: the bucket lets only them and the module's roles
  # read the backups, and the module attaches its operator policy to them.
  operator_principal_arns = var.operator_principal_arns

  # Optional: run the tasks in your own network instead of the minimal VPC the module creates
  # (subnet_ids and security_group_ids together; assign_public_ip for public subnets).
  # subnet_ids         = ["subnet-..."]
  # security_group_ids = ["sg-..."]
  # assign_public_ip   = true
}
