variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Name prefix of every resource."
  type        = string
  default     = "ghbackup"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "notification_emails" {
  description = "Addresses notified of run summaries and failures."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

variable "image_tag" {
  description = "Tag of the container image pushed with `make image` (immutable: a new tag per build)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = length(var.image_tag) > 0
    error_message = "image_tag must not be empty."
  }
}

variable "github_api_url" {
  description = "GitHub REST API base URL: https://api.github.com, or https://HOST/api/v3 for GitHub Enterprise Server."
  type        = string
  default     = "https://api.github.com"

  validation {
    condition     = can(regex("^https?://[^\\s]+$", var.github_api_url))
    error_message = "github_api_url must be an http(s) URL."
  }
}

variable "default_selection" {
  description = "What every run backs up unless its input says otherwise (DEFAULT_INPUT of the validate step)."
  type        = any
  default     = {}

  validation {
    condition     = can(keys(var.default_selection))
    error_message = "default_selection must be an object."
  }
}

variable "schedule_expression" {
  description = "When backups run (EventBridge Scheduler expression)."
  type        = string
  default     = "cron(0 10 1 * ? *)"

  validation {
    condition     = can(regex("^(cron|rate|at)\\(.+\\)$", var.schedule_expression))
    error_message = "schedule_expression must be cron(...), rate(...) or at(...)."
  }
}

variable "schedule_timezone" {
  description = "Time zone of the schedule expression."
  type        = string
  default     = "UTC"

  validation {
    condition     = length(var.schedule_timezone) > 0
    error_message = "schedule_timezone must not be empty."
  }
}

variable "use_fargate_spot" {
  description = "Run the backup tasks on Fargate Spot."
  type        = bool
  default     = true
}

variable "max_concurrency" {
  description = "Repositories backed up at the same time."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000
    error_message = "max_concurrency must be from 1 to 1000."
  }
}

variable "run_retention_days" {
  description = "Days each run archive is kept."
  type        = number
  default     = 365

  validation {
    condition     = var.run_retention_days >= 1
    error_message = "run_retention_days must be at least 1."
  }
}

variable "object_lock_mode" {
  description = "GOVERNANCE or COMPLIANCE to make backups immutable, null for none (only at bucket creation)."
  type        = string
  default     = null

  validation {
    condition     = var.object_lock_mode == null || contains(["GOVERNANCE", "COMPLIANCE"], coalesce(var.object_lock_mode, "-"))
    error_message = "object_lock_mode must be GOVERNANCE, COMPLIANCE or null."
  }
}

variable "object_lock_days" {
  description = "Object Lock retention in days."
  type        = number
  default     = 30

  validation {
    condition     = var.object_lock_days >= 1
    error_message = "object_lock_days must be at least 1."
  }
}

variable "force_destroy" {
  description = "Allow destroy to delete a bucket and image repository that still hold data (tests only)."
  type        = bool
  default     = false
}

variable "lambda_zip_path" {
  description = "Path of the zip built by `make package`; null finds it in the repository the module comes from."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip_path == null || endswith(coalesce(var.lambda_zip_path, "-"), ".zip")
    error_message = "lambda_zip_path must point at a .zip file."
  }
}

variable "subnet_ids" {
  description = "Your subnets for the tasks; empty creates a minimal VPC."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.subnet_ids : startswith(id, "subnet-")])
    error_message = "subnet_ids must be subnet ids."
  }
}

variable "security_group_ids" {
  description = "Your security groups for the tasks (with subnet_ids)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.security_group_ids : startswith(id, "sg-")])
    error_message = "security_group_ids must be security group ids."
  }
}

variable "assign_public_ip" {
  description = "Give tasks in your subnets a public IP (public subnets without NAT)."
  type        = bool
  default     = false
}
