locals {
  lambda_zip_path = coalesce(var.lambda_zip_path, "${path.module}/../build/lambda/ghbackup-lambda.zip")

  lambda_environment = merge(
    {
      BACKUP_BUCKET  = aws_s3_bucket.backups.id
      GITHUB_API_URL = var.github_api_url
      DEFAULT_INPUT = jsonencode(merge(
        {
          batch_max_items         = var.batch_max_items
          batch_max_bytes         = var.batch_max_bytes
          full_capture_after_days = var.full_capture_after_days
        },
        var.default_selection,
      ))
      RUN_ARCHIVE_STORAGE_CLASS = var.run_archive_storage_class
      POWERTOOLS_SERVICE_NAME   = var.name
    },
    # Finalize names the module's key on the run archive; without it the bucket default applies.
    local.bucket_kms_key_arn == null ? {} : { RUN_ARCHIVE_KMS_KEY_ID = local.bucket_kms_key_arn },
    local.use_secrets_manager
    ? { GITHUB_CREDENTIALS_SECRET = local.credentials_reference }
    : { GITHUB_CREDENTIALS_PARAMETER = local.credentials_reference },
  )

  # Finalize locks each run archive and manifest itself (staging/ is never locked).
  object_lock_environment = local.object_lock_mode == null ? {} : {
    RUN_ARCHIVE_OBJECT_LOCK_MODE = local.object_lock_mode
    RUN_ARCHIVE_OBJECT_LOCK_DAYS = tostring(var.object_lock_days)
  }
}

resource "aws_cloudwatch_log_group" "lambda" {
  for_each          = local.lambda_functions
  name              = local.lambda_log_group_names[each.key]
  retention_in_days = local.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

# Three functions, one zip (`make package`); only the handler differs.
resource "aws_lambda_function" "this" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the state machine, which retries and catches errors; a dead-letter queue would never receive anything.
  #checkov:skip=CKV_AWS_117:The functions call the GitHub API on the internet; a VPC would need a NAT gateway (about $33 a month) for no gain.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles; the zip is built reproducibly and its hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_115:Reserved concurrency fails in new accounts whose concurrency quota is 10; the state machine calls each function once per run.
  for_each = local.lambda_functions

  function_name    = "${var.name}-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.lambda[each.key].arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = each.value.handler
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)
  timeout          = each.value.timeout
  memory_size      = each.value.memory_size
  kms_key_arn      = local.kms_key_arn

  environment {
    variables = merge(
      local.lambda_environment,
      # Finalize alone locks run archives and keeps the warm copies (latest/).
      each.key == "finalize" ? merge(local.object_lock_environment, { LATEST_STORAGE_CLASS = var.latest_storage_class }) : {},
    )
  }

  tracing_config {
    mode = "Active"
  }

  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.lambda, aws_iam_role_policy.lambda]
}
