# Only what every user supplies; the module validates the values (terraform/variables.tf).

variable "region" {
  description = "AWS region to deploy into, e.g. eu-west-1."
  type        = string
}

variable "default_selection" {
  description = "What a run backs up, e.g. { users = [\"your-login\"] } or { orgs = [\"your-org\"] } (workflow/input.schema.json)."
  type        = any
}

variable "notification_emails" {
  description = "Email addresses told about every run and every failure (each confirms its subscription)."
  type        = list(string)
}

variable "image_tag" {
  description = "Tag of the container image pushed to the module's ECR repository (README step 3)."
  type        = string
}

variable "operator_principal_arns" {
  description = "IAM roles or users who run ghbackup get/restore/start/watch (they alone, besides the module's roles, may read the backups)."
  type        = list(string)
  default     = []
}
