# cost_profile sets the cost-relevant choices together; each has a variable that overrides it
# (null = the profile's value). README "Cost profiles" says what each costs and why.
# In every profile the credential is a SecureString (KMS-encrypted at rest), every call uses TLS,
# the bucket is private, versioned, TLS-only and readable only by the module's roles and
# operator_principal_arns, and Object Lock can be turned on later. minimal, standard and hardened
# keep the credential under the module's key, whose policy lets only the two roles that use it
# decrypt it ($1 a month); personal (an account nobody else uses) drops that key.

locals {
  profiles = {
    minimal = {
      encryption         = "sse-s3"
      credentials_key    = "module-key"
      object_lock_mode   = "OFF"
      failure_alarm      = false
      log_retention_days = 30
      ecr_keep_images    = 3
      task_cpu           = 512
      task_memory        = 1024
      use_fargate_spot   = true
      vpc_flow_logs      = false
      s3_access_logging  = false
    }
    standard = {
      encryption         = "aws-managed-kms"
      credentials_key    = "module-key"
      object_lock_mode   = "OFF"
      failure_alarm      = true
      log_retention_days = 90
      ecr_keep_images    = 5
      task_cpu           = 512
      task_memory        = 1024
      use_fargate_spot   = true
      vpc_flow_logs      = false
      s3_access_logging  = false
    }
    hardened = {
      encryption         = "customer-managed-kms"
      credentials_key    = "module-key"
      object_lock_mode   = "GOVERNANCE"
      failure_alarm      = true
      log_retention_days = 365
      ecr_keep_images    = 10
      task_cpu           = 1024
      task_memory        = 2048
      use_fargate_spot   = true
      vpc_flow_logs      = true
      s3_access_logging  = true
    }
    # minimal without the key: for an account where nobody else could read aws/ssm parameters.
    personal = {
      encryption         = "sse-s3"
      credentials_key    = "aws-managed"
      object_lock_mode   = "OFF"
      failure_alarm      = false
      log_retention_days = 30
      ecr_keep_images    = 3
      task_cpu           = 512
      task_memory        = 1024
      use_fargate_spot   = true
      vpc_flow_logs      = false
      s3_access_logging  = false
    }
  }
  profile = local.profiles[var.cost_profile]

  encryption         = coalesce(var.encryption, local.profile.encryption)
  credentials_key    = coalesce(var.credentials_key, local.profile.credentials_key)
  failure_alarm      = coalesce(var.failure_alarm, local.profile.failure_alarm)
  log_retention_days = coalesce(var.log_retention_days, local.profile.log_retention_days)
  ecr_keep_images    = coalesce(var.ecr_keep_images, local.profile.ecr_keep_images)
  task_cpu           = coalesce(var.task_cpu, local.profile.task_cpu)
  task_memory        = coalesce(var.task_memory, local.profile.task_memory)
  use_fargate_spot   = coalesce(var.use_fargate_spot, local.profile.use_fargate_spot)
  vpc_flow_logs      = coalesce(var.vpc_flow_logs, local.profile.vpc_flow_logs)
  s3_access_logging  = coalesce(var.s3_access_logging, local.profile.s3_access_logging)
  # "OFF" (a value, so that null can mean "the profile's") turns Object Lock off.
  object_lock_choice = coalesce(var.object_lock_mode, local.profile.object_lock_mode)
  object_lock_mode   = local.object_lock_choice == "OFF" ? null : local.object_lock_choice

  # The customer managed key exists when the bucket or the credential is to use it. With
  # customer-managed-kms everything else that can be encrypted with it (logs, topic, executions,
  # images, function settings) is too (local.kms_key_arn); otherwise those use AWS-owned or
  # AWS-managed keys, and the key only guards the credential.
  create_kms_key = local.encryption == "customer-managed-kms" || local.credentials_key == "module-key"
  key_for_data   = local.encryption == "customer-managed-kms"
  module_key_arn = local.create_kms_key ? aws_kms_key.this[0].arn : null
  kms_key_arn    = local.key_for_data ? local.module_key_arn : null
  # The roles' (and the key policy's) use of the key for data, through the storing services,
  # whenever the key exists: a stack moved off customer-managed-kms still reads what was
  # written under the key (locked runs cannot be re-encrypted). Only new data follows the
  # profile (kms_key_arn).
  kms_key_arns = local.create_kms_key ? [local.module_key_arn] : []
  # The key of the credential, when it is the module's (its policy names who may decrypt it).
  credentials_module_key = local.credentials_key == "module-key"

  # What S3 applies when an upload names no encryption, and what the bucket policy accepts.
  bucket_sse_algorithm = local.encryption == "sse-s3" ? "AES256" : "aws:kms"
  bucket_kms_key_arn   = local.kms_key_arn
  # The AWS-managed aws/ssm key when the credential does not use the module's key.
  credentials_kms_key_id = local.credentials_module_key ? local.module_key_arn : "alias/aws/ssm"

  # Fargate's CPU/memory pairs (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/fargate-tasks-services.html).
  valid_task_size = (
    local.task_cpu == 256 ? contains([512, 1024, 2048], local.task_memory) :
    local.task_cpu == 512 ? local.task_memory >= 1024 && local.task_memory <= 4096 && local.task_memory % 1024 == 0 :
    local.task_cpu == 1024 ? local.task_memory >= 2048 && local.task_memory <= 8192 && local.task_memory % 1024 == 0 :
    local.task_cpu == 2048 ? local.task_memory >= 4096 && local.task_memory <= 16384 && local.task_memory % 1024 == 0 :
    local.task_cpu == 4096 ? local.task_memory >= 8192 && local.task_memory <= 30720 && local.task_memory % 1024 == 0 :
    local.task_cpu == 8192 ? local.task_memory >= 16384 && local.task_memory <= 61440 && local.task_memory % 4096 == 0 :
    local.task_memory >= 32768 && local.task_memory <= 122880 && local.task_memory % 8192 == 0
  )
}
