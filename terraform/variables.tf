variable "name" {
  description = "Name of this deployment; prefixes every resource (state machine, cluster, functions, topic)."
  type        = string
  default     = "ghbackup"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name))
    error_message = "name must be 3-32 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, v in var.tags : length(k) <= 128 && length(v) <= 256])
    error_message = "Tag keys may have at most 128 characters and values at most 256."
  }
}

# --- Cost profile (profiles.tf) ----------------------------------------------------------------

variable "cost_profile" {
  description = "Preset of the cost-relevant choices: minimal (SSE-S3, credential under the module's key, no alarm, 30-day logs, 3 images, 0.5 vCPU/1 GB Spot), standard (SSE-KMS with the AWS-managed aws/s3 key, alarm, 90-day logs), hardened (customer managed key for everything, Object Lock GOVERNANCE on runs/, alarm, 365-day logs, flow and access logs), personal (minimal without the key: the credential under aws/ssm, for an account no one else uses). Each choice has its own variable that overrides the profile."
  type        = string
  default     = "minimal"

  validation {
    condition     = contains(["minimal", "standard", "hardened", "personal"], var.cost_profile)
    error_message = "cost_profile must be minimal, standard, hardened or personal."
  }
}

variable "encryption" {
  description = "Bucket encryption: sse-s3, aws-managed-kms (SSE-KMS under aws/s3 with bucket keys) or customer-managed-kms (the module's key, $1 a month). Null takes the cost profile's."
  type        = string
  default     = null

  validation {
    condition     = var.encryption == null || contains(["sse-s3", "aws-managed-kms", "customer-managed-kms"], coalesce(var.encryption, "sse-s3"))
    error_message = "encryption must be sse-s3, aws-managed-kms or customer-managed-kms."
  }
}

variable "credentials_key" {
  description = "Key of the GitHub credential: aws-managed (aws/ssm or aws/secretsmanager, free) or module-key (the module's customer managed key, which it then creates). Null takes the cost profile's."
  type        = string
  default     = null

  validation {
    condition     = var.credentials_key == null || contains(["aws-managed", "module-key"], coalesce(var.credentials_key, "aws-managed"))
    error_message = "credentials_key must be aws-managed or module-key."
  }
}

variable "failure_alarm" {
  description = "A CloudWatch alarm on failed executions ($0.10 a month) besides the free EventBridge notification. Null takes the cost profile's."
  type        = bool
  default     = null
}

# --- Storage -------------------------------------------------------------------------------

variable "bucket_name" {
  description = "Name of the backup bucket. Null gives <name>-backups-<account>-<region>."
  type        = string
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name: 3-63 lowercase letters, digits, dots and hyphens."
  }
}

variable "staging_expiration_days" {
  description = "Days after which the per-item staging objects (staging/) expire. The run archive is built from them at the end of each run, so a few days is enough."
  type        = number
  default     = 7

  validation {
    condition     = var.staging_expiration_days >= 1 && var.staging_expiration_days <= 90 && floor(var.staging_expiration_days) == var.staging_expiration_days
    error_message = "staging_expiration_days must be a whole number from 1 to 90."
  }
}

variable "run_retention_days" {
  description = "Days a run archive (runs/) is kept before it expires. Mind the minimum storage duration of the archive class (GLACIER 90 days, DEEP_ARCHIVE 180)."
  type        = number
  default     = 365

  validation {
    condition     = var.run_retention_days >= 1 && floor(var.run_retention_days) == var.run_retention_days
    error_message = "run_retention_days must be a whole number of days, at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  description = "Days a replaced or deleted run archive version (runs/) is kept (the bucket is versioned). At least the archive class's minimum storage duration (GLACIER 90 days, DEEP_ARCHIVE 180): deleting earlier is billed as if kept that long."
  type        = number
  default     = 90

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1 && floor(var.noncurrent_version_expiration_days) == var.noncurrent_version_expiration_days
    error_message = "noncurrent_version_expiration_days must be a whole number of days, at least 1."
  }
  validation {
    condition = var.noncurrent_version_expiration_days >= lookup(
      { GLACIER = 90, DEEP_ARCHIVE = 180, GLACIER_IR = 90, STANDARD_IA = 30 }, var.run_archive_storage_class, 1
    )
    error_message = "noncurrent_version_expiration_days is shorter than the minimum storage duration of run_archive_storage_class (GLACIER and GLACIER_IR 90 days, DEEP_ARCHIVE 180, STANDARD_IA 30): deleting a version earlier is billed for the whole minimum anyway."
  }
}

variable "run_archive_storage_class" {
  description = "S3 storage class the run archive (runs/R/ghbackup-R.zip) is written with."
  type        = string
  default     = "GLACIER"

  validation {
    condition     = contains(["STANDARD", "STANDARD_IA", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"], var.run_archive_storage_class)
    error_message = "run_archive_storage_class must be one of STANDARD, STANDARD_IA, GLACIER_IR, GLACIER, DEEP_ARCHIVE."
  }
}

variable "object_lock_mode" {
  description = "S3 Object Lock retention mode for ransomware-proof backups: GOVERNANCE, COMPLIANCE, OFF, or null for the cost profile's (GOVERNANCE in hardened, OFF otherwise). Finalize sets it on each run archive and manifest (runs/); staging/ is never locked. It can be turned on for an existing bucket (the bucket is kept); once on, S3 never turns Object Lock off on the bucket, OFF only stops locking new runs."
  type        = string
  default     = null

  validation {
    condition     = var.object_lock_mode == null || contains(["GOVERNANCE", "COMPLIANCE", "OFF"], coalesce(var.object_lock_mode, "-"))
    error_message = "object_lock_mode must be GOVERNANCE, COMPLIANCE, OFF or null."
  }
}

variable "object_lock_days" {
  description = "Object Lock retention of each run archive and manifest in days, from the run (used when object_lock_mode is set)."
  type        = number
  default     = 30

  validation {
    condition     = var.object_lock_days >= 1 && floor(var.object_lock_days) == var.object_lock_days
    error_message = "object_lock_days must be a whole number of days, at least 1."
  }
}

variable "s3_access_logging" {
  description = "Write S3 server access logs of the backup bucket to a second bucket (<name>-logs-<account>-<region>, SSE-S3 as S3 requires, expiring after log_retention_days). Null takes the cost profile's (on in hardened)."
  type        = bool
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete the access-log bucket and the image repository even when they hold logs or images. Never applies to the backup bucket, the credential or the key: they are guarded (README \"Deleting the stack\")."
  type        = bool
  default     = false
}

variable "operator_principal_arns" {
  description = "IAM principals (users or roles) who run ghbackup runs/show/get/restore/start/watch: the bucket policy lets them read backups (besides the module's roles), and the module attaches its operator policy to each role or user listed. Everyone else is denied the objects, whatever their IAM policies say."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.operator_principal_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(role|user)/.+$", arn))])
    error_message = "operator_principal_arns must be IAM role or user ARNs (arn:aws:iam::<account>:role/<name> or :user/<name>)."
  }
}

variable "credentials_deployer_arns" {
  description = "IAM roles or users that run terraform apply/plan for this stack. The AWS provider reads the credential's parameter (or secret version) decrypted on every refresh and discards the value, so the key policy must let them decrypt it too. Null: the role or user running terraform now (a different one next time changes the key policy: set it to your deployment role)."
  type        = list(string)
  default     = null
}

variable "attach_operator_policy" {
  description = "Attach the module's operator policy (output operator_policy_arn) to every role and user in operator_principal_arns. Off: attach it (or your own) yourself."
  type        = bool
  default     = true
}

variable "kms_deletion_window_days" {
  description = "Waiting period before the customer managed key is deleted after destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_deletion_window_days >= 7 && var.kms_deletion_window_days <= 30
    error_message = "kms_deletion_window_days must be from 7 to 30."
  }
}

variable "log_retention_days" {
  description = "Retention of every CloudWatch log group (task, functions, state machine). Null takes the cost profile's (minimal 30, standard 90, hardened 365)."
  type        = number
  default     = null

  validation {
    condition     = var.log_retention_days == null || contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], coalesce(var.log_retention_days, 1))
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

# --- GitHub and credentials ----------------------------------------------------------------

variable "github_api_url" {
  description = "GitHub REST API base URL (GitHub Enterprise Server: https://HOST/api/v3)."
  type        = string
  default     = "https://api.github.com"

  validation {
    condition     = can(regex("^https://[^\\s/]+(/[^\\s]*)?$", var.github_api_url))
    error_message = "github_api_url must be an https:// URL: the token is sent to it."
  }
}

variable "credentials_store" {
  description = "Where the GitHub credentials live: ssm (SecureString parameter, free) or secretsmanager (needed for GitHub App credentials)."
  type        = string
  default     = "ssm"

  validation {
    condition     = contains(["ssm", "secretsmanager"], var.credentials_store)
    error_message = "credentials_store must be ssm or secretsmanager."
  }
}

variable "credentials_parameter_name" {
  description = "Name of the SSM SecureString parameter (credentials_store = ssm) or Secrets Manager secret holding the GitHub credentials. Null gives /<name>/github-credentials (ssm) or <name>/github-credentials."
  type        = string
  default     = null

  validation {
    condition     = var.credentials_parameter_name == null || can(regex("^[a-zA-Z0-9_./-]{1,512}$", var.credentials_parameter_name))
    error_message = "credentials_parameter_name may only hold letters, digits and _ . / - (at most 512 characters)."
  }
}

variable "secret_recovery_window_days" {
  description = "Recovery window of the Secrets Manager secret after destroy (0 deletes at once)."
  type        = number
  default     = 7

  validation {
    condition     = var.secret_recovery_window_days == 0 || (var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30)
    error_message = "secret_recovery_window_days must be 0 or from 7 to 30."
  }
}

variable "github_app_id" {
  description = "GitHub App id. Set it (with github_app_installation_id) to use GitHub App credentials instead of a personal access token; the secret then holds JSON {app_id, installation_id, private_key}."
  type        = string
  default     = null

  validation {
    condition     = var.github_app_id == null || can(regex("^[0-9]+$", coalesce(var.github_app_id, "-")))
    error_message = "github_app_id must be the numeric App id."
  }
}

variable "github_app_installation_id" {
  description = "GitHub App installation id (with github_app_id)."
  type        = string
  default     = null

  validation {
    condition     = (var.github_app_installation_id == null) == (var.github_app_id == null)
    error_message = "Set github_app_id and github_app_installation_id together, or neither."
  }
  validation {
    condition     = var.github_app_installation_id == null || can(regex("^[0-9]+$", coalesce(var.github_app_installation_id, "-")))
    error_message = "github_app_installation_id must be the numeric installation id."
  }
  validation {
    condition     = var.github_app_installation_id == null || var.credentials_store == "secretsmanager"
    error_message = "GitHub App credentials need credentials_store = \"secretsmanager\": the task reads the private_key field of the JSON secret, which only Secrets Manager can select."
  }
}

# --- Container and task --------------------------------------------------------------------

variable "container_image" {
  description = "Full image reference for the backup task. Null uses this module's ECR repository with image_tag."
  type        = string
  default     = null

  validation {
    condition     = var.container_image == null || length(coalesce(var.container_image, "-")) > 2
    error_message = "container_image must be an image reference such as 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ghbackup:1.0.0."
  }
}

variable "image_tag" {
  description = "Tag of the image in this module's ECR repository (tags are immutable: push a new tag for every build)."
  type        = string
  default     = "0.1.0"

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid image tag (letters, digits, _ . -, at most 128 characters)."
  }
}

variable "ecr_keep_images" {
  description = "How many images the ECR lifecycle policy keeps. Null takes the cost profile's (minimal 3, standard 5, hardened 10)."
  type        = number
  default     = null

  validation {
    condition     = var.ecr_keep_images == null || (coalesce(var.ecr_keep_images, 1) >= 1 && coalesce(var.ecr_keep_images, 1) <= 1000)
    error_message = "ecr_keep_images must be from 1 to 1000."
  }
}

variable "task_cpu" {
  description = "Fargate task CPU units (256, 512, 1024, 2048, 4096, 8192, 16384). Null takes the cost profile's (minimal and standard 512, hardened 1024)."
  type        = number
  default     = null

  validation {
    condition     = var.task_cpu == null || contains([256, 512, 1024, 2048, 4096, 8192, 16384], coalesce(var.task_cpu, 256))
    error_message = "task_cpu must be a Fargate CPU value: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "task_memory" {
  description = "Fargate task memory in MiB; must be a valid combination with task_cpu (see the Fargate task size table). Null takes the cost profile's (minimal and standard 1024, hardened 2048)."
  type        = number
  default     = null

  validation {
    condition     = var.task_memory == null || (coalesce(var.task_memory, 512) >= 512 && coalesce(var.task_memory, 512) <= 122880)
    error_message = "task_memory must be from 512 to 122880 MiB."
  }
}

variable "ephemeral_storage_gib" {
  description = "Fargate ephemeral storage in GiB (21-200) for the scratch volume; raise it for very large repositories."
  type        = number
  default     = 21

  validation {
    condition     = var.ephemeral_storage_gib >= 21 && var.ephemeral_storage_gib <= 200 && floor(var.ephemeral_storage_gib) == var.ephemeral_storage_gib
    error_message = "ephemeral_storage_gib must be a whole number from 21 to 200."
  }
}

variable "container_user" {
  description = "Numeric uid:gid the container runs as (never root)."
  type        = string
  default     = "10001:10001"

  validation {
    condition     = can(regex("^[1-9][0-9]*:[1-9][0-9]*$", var.container_user))
    error_message = "container_user must be a non-zero numeric uid:gid such as 10001:10001 (root is not allowed)."
  }
}

variable "use_fargate_spot" {
  description = "Run backup tasks on Fargate Spot (about 70% cheaper; an interrupted batch is retried and redoes only its unfinished items). Null takes the cost profile's (true in every profile)."
  type        = bool
  default     = null
}

variable "container_insights" {
  description = "Enable ECS Container Insights on the cluster (extra CloudWatch cost)."
  type        = bool
  default     = false
}

variable "max_concurrency" {
  description = "How many batches (ECS tasks) the Distributed Map runs at the same time. Tasks x capture_concurrency is how many repositories are captured at once; GitHub allows a token 100 concurrent requests."
  type        = number
  default     = 10

  validation {
    condition     = var.max_concurrency >= 1 && var.max_concurrency <= 1000 && floor(var.max_concurrency) == var.max_concurrency
    error_message = "max_concurrency must be a whole number from 1 to 1000."
  }
}

variable "latest_storage_class" {
  description = "Storage class of the warm copies under latest/ (each item's last capture, which incremental runs reuse and `ghbackup get --latest` reads at once)."
  type        = string
  default     = "STANDARD_IA"

  validation {
    condition     = contains(["STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR"], var.latest_storage_class)
    error_message = "latest_storage_class must be STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR: a warm copy must be readable at once."
  }
}

variable "full_capture_after_days" {
  description = "Default age (days) after which an incremental run captures an item in full whatever its signals say: deletions and cross-references move no signal on GitHub, so this bounds how long such a change can be missed (execution input full_capture_after_days overrides it)."
  type        = number
  default     = 30

  validation {
    condition     = var.full_capture_after_days >= 1 && var.full_capture_after_days <= 3650 && floor(var.full_capture_after_days) == var.full_capture_after_days
    error_message = "full_capture_after_days must be a whole number of days from 1 to 3650."
  }
}

variable "capture_concurrency" {
  description = "How many repositories one task captures at the same time (GHBACKUP_CONCURRENCY)."
  type        = number
  default     = 4

  validation {
    condition     = var.capture_concurrency >= 1 && var.capture_concurrency <= 16 && floor(var.capture_concurrency) == var.capture_concurrency
    error_message = "capture_concurrency must be a whole number from 1 to 16."
  }
  validation {
    condition     = var.max_concurrency * var.capture_concurrency <= 100
    error_message = "max_concurrency x capture_concurrency must stay at or under 100: GitHub allows a token at most 100 concurrent requests (its secondary rate limit)."
  }
}

variable "batch_max_items" {
  description = "Default largest number of repositories one task captures (execution input batch_max_items overrides it)."
  type        = number
  default     = 25

  validation {
    condition     = var.batch_max_items >= 1 && var.batch_max_items <= 1000 && floor(var.batch_max_items) == var.batch_max_items
    error_message = "batch_max_items must be a whole number from 1 to 1000."
  }
}

variable "batch_max_bytes" {
  description = "Default largest total GitHub size (bytes) of one batch; a repository this large runs alone (execution input batch_max_bytes overrides it)."
  type        = number
  default     = 2147483648

  validation {
    condition     = var.batch_max_bytes >= 1048576 && var.batch_max_bytes <= 1099511627776 && floor(var.batch_max_bytes) == var.batch_max_bytes
    error_message = "batch_max_bytes must be a whole number of bytes from 1 MiB (1048576) to 1 TiB (1099511627776)."
  }
}

variable "state_machine_log_level" {
  description = "Step Functions execution log level: ERROR (default: failures only), FATAL, ALL, or OFF."
  type        = string
  default     = "ERROR"
  validation {
    condition     = contains(["ALL", "ERROR", "FATAL", "OFF"], var.state_machine_log_level)
    error_message = "state_machine_log_level must be ALL, ERROR, FATAL or OFF."
  }
}

variable "state_machine_log_execution_data" {
  description = "Include execution input and output (item lists, results, repository names) in the Step Functions logs."
  type        = bool
  default     = false
}

# --- Network -------------------------------------------------------------------------------

variable "subnet_ids" {
  description = "Subnets the backup tasks run in. Empty creates a minimal VPC with public subnets (no NAT gateway) and an egress-only security group."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.subnet_ids : can(regex("^subnet-[0-9a-f]+$", id))])
    error_message = "subnet_ids must be subnet ids (subnet-...)."
  }
}

variable "security_group_ids" {
  description = "Security groups of the backup tasks; required when subnet_ids is given."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for id in var.security_group_ids : can(regex("^sg-[0-9a-f]+$", id))])
    error_message = "security_group_ids must be security group ids (sg-...)."
  }
  validation {
    condition     = (length(var.subnet_ids) == 0) == (length(var.security_group_ids) == 0)
    error_message = "Give subnet_ids and security_group_ids together, or neither (then a minimal VPC is created)."
  }
}

variable "assign_public_ip" {
  description = "Give tasks in the given subnet_ids a public IP (true for public subnets without a NAT gateway). Always true for the VPC this module creates."
  type        = bool
  default     = false
}

variable "vpc_flow_logs" {
  description = "Record VPC flow logs of the created VPC in a CloudWatch log group (about $0.50 per GB of flow records). Null takes the cost profile's (on in hardened)."
  type        = bool
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR block of the VPC created when subnet_ids is empty."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(cidrnetmask(var.vpc_cidr)) && tonumber(split("/", var.vpc_cidr)[1]) <= 26
    error_message = "vpc_cidr must be an IPv4 CIDR block of /26 or larger."
  }
}

variable "availability_zones" {
  description = "Availability zones for the created public subnets. Null takes the region's first two."
  type        = list(string)
  default     = null

  validation {
    condition     = var.availability_zones == null || (length(coalesce(var.availability_zones, [])) >= 1 && length(coalesce(var.availability_zones, [])) <= 4)
    error_message = "availability_zones must list 1 to 4 zones."
  }
}

# --- Lambda --------------------------------------------------------------------------------

variable "lambda_zip_path" {
  description = "Path of the Lambda zip built by `make package`. Null uses build/lambda/ghbackup-lambda.zip in the repository."
  type        = string
  default     = null

  validation {
    condition     = var.lambda_zip_path == null || endswith(coalesce(var.lambda_zip_path, "-"), ".zip")
    error_message = "lambda_zip_path must point at a .zip file."
  }
}

variable "default_selection" {
  description = "Defaults the validate step applies to every execution input (DEFAULT_INPUT), e.g. { users = [\"my-login\"] } (see ghbackup/input.schema.json)."
  type        = any
  default     = {}

  validation {
    condition     = can(keys(var.default_selection))
    error_message = "default_selection must be an object."
  }
}

# --- Workflow and schedule -----------------------------------------------------------------

variable "state_machine_definition_path" {
  description = "ASL template of the workflow. Null uses workflow/state_machine.asl.json from this repository."
  type        = string
  default     = null

  validation {
    condition     = var.state_machine_definition_path == null || endswith(coalesce(var.state_machine_definition_path, "-"), ".json")
    error_message = "state_machine_definition_path must point at a .json file."
  }
}

variable "schedule_expression" {
  description = "EventBridge Scheduler expression for the backups (default: 10:00 on the 1st of every month)."
  type        = string
  default     = "cron(0 10 1 * ? *)"

  validation {
    condition     = can(regex("^(cron\\(.+\\)|rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|at\\(.+\\))$", var.schedule_expression))
    error_message = "schedule_expression must be cron(...), rate(N unit) or at(...)."
  }
}

variable "schedule_timezone" {
  description = "IANA time zone the schedule expression is evaluated in."
  type        = string
  default     = "UTC"

  validation {
    condition     = can(regex("^[A-Za-z_]+(/[A-Za-z0-9_+-]+)*$", var.schedule_timezone))
    error_message = "schedule_timezone must be an IANA time zone name such as UTC or Europe/Berlin."
  }
}

variable "schedule_enabled" {
  description = "Whether the schedule starts backups (false keeps it but pauses it)."
  type        = bool
  default     = true
}

variable "schedule_input" {
  description = "JSON input each scheduled execution starts with (the defaults come from default_selection)."
  type        = string
  default     = "{}"

  validation {
    condition     = can(keys(jsondecode(var.schedule_input)))
    error_message = "schedule_input must be a JSON object."
  }
}

variable "schedule_retry_attempts" {
  description = "How often EventBridge Scheduler retries starting an execution that failed to start."
  type        = number
  default     = 3

  validation {
    condition     = var.schedule_retry_attempts >= 0 && var.schedule_retry_attempts <= 185
    error_message = "schedule_retry_attempts must be from 0 to 185."
  }
}

variable "schedule_max_event_age_seconds" {
  description = "How long EventBridge Scheduler keeps retrying to start an execution, in seconds."
  type        = number
  default     = 3600

  validation {
    condition     = var.schedule_max_event_age_seconds >= 60 && var.schedule_max_event_age_seconds <= 86400
    error_message = "schedule_max_event_age_seconds must be from 60 to 86400."
  }
}

# --- Notifications -------------------------------------------------------------------------

variable "notification_emails" {
  description = "Email addresses subscribed to the notification topic (each must confirm the subscription)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for e in var.notification_emails : can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", e))])
    error_message = "notification_emails must be email addresses."
  }
}

# --- Restore drill -------------------------------------------------------------------------

variable "drill_schedule_expression" {
  description = "EventBridge Scheduler expression for the restore drill (default: 10:00 on the 5th of every month, a few days after the default backup)."
  type        = string
  default     = "cron(0 10 5 * ? *)"

  validation {
    condition     = can(regex("^(cron\\(.+\\)|rate\\([1-9][0-9]* (minute|minutes|hour|hours|day|days)\\)|at\\(.+\\))$", var.drill_schedule_expression))
    error_message = "drill_schedule_expression must be cron(...), rate(N unit) or at(...)."
  }
}

variable "drill_schedule_enabled" {
  description = "Whether the schedule starts restore drills (false keeps it but pauses it; `ghbackup drill` still works)."
  type        = bool
  default     = true
}

variable "drill_items" {
  description = "Items a restore drill restores from the chosen run (the largest always among them)."
  type        = number
  default     = 5

  validation {
    condition     = var.drill_items >= 1 && var.drill_items <= 25 && floor(var.drill_items) == var.drill_items
    error_message = "drill_items must be a whole number from 1 to 25."
  }
}

variable "drill_retrieval_tier" {
  description = "Glacier retrieval tier of the drill's restore: Bulk (free from GLACIER, 5-12 h), Standard or Expedited (GLACIER only, run zips under 250 MB)."
  type        = string
  default     = "Bulk"

  validation {
    condition     = contains(["Bulk", "Standard", "Expedited"], var.drill_retrieval_tier)
    error_message = "drill_retrieval_tier must be Bulk, Standard or Expedited."
  }
}

variable "drill_min_age_days" {
  description = "A scheduled drill picks a random run at least this old (the newest when none is)."
  type        = number
  default     = 7

  validation {
    condition     = var.drill_min_age_days >= 0 && var.drill_min_age_days <= 3650
    error_message = "drill_min_age_days must be from 0 to 3650."
  }
}

variable "drill_definition_path" {
  description = "Path of the drill state machine's ASL template (default: workflow/drill.asl.json of this repository)."
  type        = string
  default     = null
}
