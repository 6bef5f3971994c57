# The restore drill (issue 22): a second state machine (workflow/drill.asl.json) that, every
# month by default, restores a sample of a stored run out of Glacier, checks it as
# `ghbackup restore` does and publishes the result to the run topic. Its three functions and
# its task role are its own; the only grants to existing roles are the separate policies at
# the end (the scheduler starts it).

locals {
  drill_state_machine_name = "${var.name}-drill"
  drill_state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.drill_state_machine_name}"
  drill_definition_path = coalesce(
    var.drill_definition_path,
    "${path.module}/../workflow/drill.asl.json",
  )
  drills_prefix = "drills/"

  drill_functions = {
    plan = {
      handler     = "tasks.drill_plan.handler"
      description = "Chooses the run and items a restore drill checks and asks S3 to restore the run zip."
      # Reads one manifest per run (at most 400) to choose one.
      timeout     = 300
      memory_size = 512
    }
    check = {
      handler     = "tasks.drill_check.handler"
      description = "Tells whether the drilled run zip is readable yet (RestoreInProgress until it is)."
      timeout     = 60
      memory_size = 256
    }
    report = {
      handler     = "tasks.drill_report.handler"
      description = "Writes the restore drill's report and returns what to publish."
      timeout     = 120
      memory_size = 256
    }
  }
  # In local.module_log_group_names, so the module's key may encrypt them.
  drill_log_group_names = { for k in keys(local.drill_functions) : k => "/aws/lambda/${var.name}-drill-${k}" }

  drill_runs_objects_arn    = "${aws_s3_bucket.backups.arn}/${local.runs_prefix}*"
  drill_report_objects_arn  = "${aws_s3_bucket.backups.arn}/${local.drills_prefix}*/report.json"
  drill_results_objects_arn = "${aws_s3_bucket.backups.arn}/${local.drills_prefix}*/results.json"

  drill_state_machine_definition = templatefile(local.drill_definition_path, {
    plan_function_arn   = aws_lambda_function.drill["plan"].arn
    check_function_arn  = aws_lambda_function.drill["check"].arn
    report_function_arn = aws_lambda_function.drill["report"].arn
    cluster_arn         = aws_ecs_cluster.this.arn
    task_definition_arn = aws_ecs_task_definition.backup.arn
    container_name      = local.container_name
    subnet_ids          = join(",", local.subnet_ids)
    security_group_ids  = join(",", local.security_group_ids)
    assign_public_ip    = local.assign_public_ip
    topic_arn           = aws_sns_topic.notifications.arn
    bucket              = aws_s3_bucket.backups.id
    drill_task_role_arn = aws_iam_role.drill_task.arn
  })
}

# --- The functions ------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "drill" {
  for_each          = local.drill_functions
  name              = local.drill_log_group_names[each.key]
  retention_in_days = local.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_iam_role" "drill_lambda" {
  for_each           = local.drill_functions
  name               = "${var.name}-drill-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "drill_lambda_logs" {
  for_each = local.drill_functions
  statement {
    sid       = "WriteFunctionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.drill[each.key].arn}:*"]
  }
  statement {
    sid     = "SendTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray trace APIs have no resource type: AWS only accepts "*".
    resources = ["*"]
  }
}

# ListObjectsV2 of runs/ (choosing a run), and without ListBucket S3 answers a missing key
# with 403, not 404: a deleted run zip or manifest would read as an access error.
data "aws_iam_policy_document" "drill_plan" {
  source_policy_documents = [data.aws_iam_policy_document.drill_lambda_logs["plan"].json]
  statement {
    sid       = "ListTheRuns"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.runs_prefix}*"]
    }
  }
  statement {
    sid = "ReadRunManifestsAndTheRunZipsState"
    # GetObject of each runs/R/manifest.json; HeadObject of the run zip (its class and
    # Restore header), which S3 authorises as s3:GetObject.
    actions   = ["s3:GetObject"]
    resources = [local.drill_runs_objects_arn]
  }
  statement {
    sid       = "RestoreTheRunZip"
    actions   = ["s3:RestoreObject"]
    resources = [local.drill_runs_objects_arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "ReadManifestsUnderTheBucketKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "drill_check" {
  source_policy_documents = [data.aws_iam_policy_document.drill_lambda_logs["check"].json]
  statement {
    sid       = "TellAMissingRunZipFromAForbiddenOne"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.runs_prefix}*"]
    }
  }
  statement {
    sid = "HeadTheRunZipAndRestoreItAgainWhenItsCopyExpired"
    # HeadObject is authorised as s3:GetObject.
    actions   = ["s3:GetObject", "s3:RestoreObject"]
    resources = [local.drill_runs_objects_arn]
  }
}

data "aws_iam_policy_document" "drill_report" {
  source_policy_documents = [data.aws_iam_policy_document.drill_lambda_logs["report"].json]
  statement {
    sid       = "TellMissingResultsFromForbiddenOnes"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.drills_prefix}*"]
    }
  }
  statement {
    sid       = "ReadAndRemoveTheTasksResults"
    actions   = ["s3:GetObject", "s3:DeleteObject"]
    resources = [local.drill_results_objects_arn]
  }
  statement {
    sid       = "WriteTheReport"
    actions   = ["s3:PutObject"]
    resources = [local.drill_report_objects_arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "UseTheBucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

locals {
  drill_lambda_policies = {
    plan   = data.aws_iam_policy_document.drill_plan.json
    check  = data.aws_iam_policy_document.drill_check.json
    report = data.aws_iam_policy_document.drill_report.json
  }
}

resource "aws_iam_role_policy" "drill_lambda" {
  for_each = local.drill_functions
  name     = "drill-${each.key}-step"
  role     = aws_iam_role.drill_lambda[each.key].id
  policy   = local.drill_lambda_policies[each.key]
}

resource "aws_lambda_function" "drill" {
  #checkov:skip=CKV_AWS_116:Invoked synchronously by the drill state machine, which retries and catches errors; a dead-letter queue would never receive anything.
  #checkov:skip=CKV_AWS_117:The functions only call S3; a VPC would need endpoints or a NAT gateway for no gain.
  #checkov:skip=CKV_AWS_272:Code signing needs AWS Signer profiles; the zip is built reproducibly and its hash is pinned by source_code_hash.
  #checkov:skip=CKV_AWS_115:Reserved concurrency fails in new accounts whose concurrency quota is 10; a drill calls each function a few times a month.
  #checkov:skip=CKV_AWS_173:The environment holds the bucket name and the drill's defaults, no secret.
  for_each = local.drill_functions

  function_name    = "${var.name}-drill-${each.key}"
  description      = each.value.description
  role             = aws_iam_role.drill_lambda[each.key].arn
  runtime          = "python3.12"
  architectures    = ["x86_64"]
  handler          = each.value.handler
  filename         = local.lambda_zip_path
  source_code_hash = filebase64sha256(local.lambda_zip_path)
  timeout          = each.value.timeout
  memory_size      = each.value.memory_size
  kms_key_arn      = local.kms_key_arn

  environment {
    variables = {
      BACKUP_BUCKET = aws_s3_bucket.backups.id
      DRILL_DEFAULT_INPUT = jsonencode({
        items        = var.drill_items
        tier         = var.drill_retrieval_tier
        days         = 1
        min_age_days = var.drill_min_age_days
      })
      POWERTOOLS_SERVICE_NAME = var.name
    }
  }

  tracing_config {
    mode = "Active"
  }

  tags       = local.tags
  depends_on = [aws_cloudwatch_log_group.drill, aws_iam_role_policy.drill_lambda]
}

# --- The drill task's role: reads runs/, writes only its results --------------------------
# The drill task runs the backup task definition with this role instead of the backup
# task's (an override in the definition): backup tasks never read runs/, drills never write
# staging/ or latest/.

resource "aws_iam_role" "drill_task" {
  name               = "${var.name}-drill-task"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "drill_task" {
  statement {
    sid = "ReadTheRunManifestAndRangesOfTheRunZip"
    # GetObject of runs/R/manifest.json and ranged GETs of the (restored) run zip.
    actions   = ["s3:GetObject"]
    resources = [local.drill_runs_objects_arn]
  }
  statement {
    sid       = "TellAMissingRunFromAForbiddenOne"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.runs_prefix}*"]
    }
  }
  statement {
    sid       = "WriteTheDrillResults"
    actions   = ["s3:PutObject"]
    resources = [local.drill_results_objects_arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "UseTheBucketKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_role_policy" "drill_task" {
  name   = "drill-restored-items"
  role   = aws_iam_role.drill_task.id
  policy = data.aws_iam_policy_document.drill_task.json
}

# --- The state machine --------------------------------------------------------------------

resource "aws_iam_role" "drill_state_machine" {
  name               = "${var.name}-drill-state-machine"
  assume_role_policy = data.aws_iam_policy_document.assume["states"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "drill_state_machine" {
  statement {
    sid       = "InvokeTheDrillFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for fn in aws_lambda_function.drill : fn.arn]
  }
  statement {
    sid     = "RunTheDrillTask"
    actions = ["ecs:RunTask"]
    # Any revision of the family: a drill waits hours for its restore, and an image update
    # meanwhile must not deny the revision the execution started with.
    resources = [local.task_definition_family_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }
  statement {
    sid       = "FollowTheDrillTask"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"]
  }
  statement {
    sid = "PassTheTaskRoles"
    # The task definition's execution role, and the drill's own task role (the override).
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task_execution.arn, aws_iam_role.drill_task.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }
  statement {
    sid       = "ManageTheRuleBehindRunTaskSync"
    actions   = ["events:PutTargets", "events:PutRule", "events:DescribeRule"]
    resources = [local.ecs_sync_rule_arn]
  }
  statement {
    sid       = "PublishTheDrillResult"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "UseTheKeyForTopicAndExecutions"
      # The SNS topic and the encrypted execution data.
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
    }
  }
  statement {
    sid     = "SendTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    # X-Ray APIs have no resource type: AWS only accepts "*".
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "drill_state_machine" {
  name   = "orchestrate-restore-drill"
  role   = aws_iam_role.drill_state_machine.id
  policy = data.aws_iam_policy_document.drill_state_machine.json
}

resource "aws_sfn_state_machine" "drill" {
  #checkov:skip=CKV_AWS_284:Tracing is on (tracing_configuration below).
  #checkov:skip=CKV_AWS_285:No execution logging: the module key's log delivery grant names the backup machine only; the execution history (90 days), the report in drills/ and the published result record every drill.
  name       = local.drill_state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.drill_state_machine.arn
  definition = local.drill_state_machine_definition

  encryption_configuration {
    type                              = local.key_for_data ? "CUSTOMER_MANAGED_KMS_KEY" : "AWS_OWNED_KEY"
    kms_key_id                        = local.kms_key_arn
    kms_data_key_reuse_period_seconds = local.key_for_data ? 300 : null
  }

  tracing_configuration {
    enabled = true
  }

  tags       = local.tags
  depends_on = [aws_iam_role_policy.drill_state_machine]
}

# --- The schedule: monthly, a few days after the backup -----------------------------------

resource "aws_scheduler_schedule" "drill" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the drill's input ({}), which holds no secret; AWS encrypts it with its own key.
  name        = "${var.name}-drill"
  description = "Starts a ghbackup restore drill"
  group_name  = "default"
  state       = var.drill_schedule_enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.drill_schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.drill.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = "{}"

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }
  }

  depends_on = [aws_iam_role_policy.scheduler_drill]
}

data "aws_iam_policy_document" "scheduler_drill" {
  statement {
    sid       = "StartRestoreDrills"
    actions   = ["states:StartExecution"]
    resources = [local.drill_state_machine_arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "EncryptTheDrillInput"
      # The drill machine is encrypted with the module's key too.
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["states.${local.region}.amazonaws.com"]
      }
    }
  }
}

# A separate policy on the existing scheduler role: the backup's own policy stays as it is.
resource "aws_iam_role_policy" "scheduler_drill" {
  name   = "start-restore-drill"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler_drill.json
}
