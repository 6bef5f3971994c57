# One role per piece, each allowed only what its piece touches. Where a statement has "*" as
# resource the comment says why AWS requires it. KMS statements exist only with the module's key
# and name the service (kms:ViaService) and the resource (encryption context) each use is for:
# AWS-managed keys (aws/s3, aws/ssm) let this account's roles use them through their service by
# key policy alone.

locals {
  bucket_arn          = aws_s3_bucket.backups.arn
  staging_objects_arn = "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*"
  # staging/R/items.json and staging/R/batches.json (the list step's item list and the batches
  # pointing into it, issue 10), staging/R/items/... (the tasks), staging/R/map-results/ (the
  # Distributed Map's ResultWriter).
  item_list_objects_arns = [
    "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*/items.json",
    "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*/batches.json",
  ]
  staged_item_objects_arn = "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*/items/*"
  # staging/R/reused.json: the results of the items an incremental run reused (issue 11).
  reused_items_object_arn = "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*/reused.json"
  # latest/<item key>/item.zip and state.json: the warm copy of each item's last capture,
  # which incremental runs check and reuse (issue 11).
  latest_objects_arn      = "${aws_s3_bucket.backups.arn}/${local.latest_prefix}*"
  map_results_objects_arn = "${aws_s3_bucket.backups.arn}/${local.staging_prefix}*/map-results/*"
  runs_objects_arn        = "${aws_s3_bucket.backups.arn}/${local.runs_prefix}*"
  task_log_group_arn      = "${aws_cloudwatch_log_group.task.arn}:*"
  credentials_read_action = local.use_secrets_manager ? "secretsmanager:GetSecretValue" : "ssm:GetParameter"
  # S3 asks KMS for SSE-KMS objects with the object's ARN in the encryption context, or the
  # bucket's when S3 Bucket Keys are on (they are, with the module's key).
  s3_kms_context_values      = [local.bucket_arn, "${local.bucket_arn}/*"]
  task_definition_family_arn = "arn:${local.partition}:ecs:${local.region}:${local.account_id}:task-definition/${local.task_family}:*"
}

data "aws_iam_policy_document" "assume" {
  for_each = {
    ecs_tasks = "ecs-tasks.amazonaws.com"
    lambda    = "lambda.amazonaws.com"
    states    = "states.amazonaws.com"
    scheduler = "scheduler.amazonaws.com"
    # Only used when vpc_flow_logs is on.
    vpc_flow_logs = "vpc-flow-logs.amazonaws.com"
  }
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = [each.value]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# --- ECS task execution role: pull the image and write logs (the task reads the credential) --

resource "aws_iam_role" "task_execution" {
  name               = "${var.name}-task-execution"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "task_execution" {
  statement {
    sid       = "PullTheImage"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = [aws_ecr_repository.this.arn]
  }
  statement {
    sid     = "LogInToEcr"
    actions = ["ecr:GetAuthorizationToken"]
    # GetAuthorizationToken has no resource type: AWS only accepts "*".
    resources = ["*"]
  }
  statement {
    sid       = "WriteTaskLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.task_log_group_arn]
  }
}

resource "aws_iam_role_policy" "task_execution" {
  name   = "start-backup-task"
  role   = aws_iam_role.task_execution.id
  policy = data.aws_iam_policy_document.task_execution.json
}

# --- ECS task role: the container only writes its items' objects under staging/R/items/ ----

resource "aws_iam_role" "task" {
  name               = "${var.name}-task"
  assume_role_policy = data.aws_iam_policy_document.assume["ecs_tasks"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "task" {
  statement {
    sid = "WriteItemResults"
    # GetObject: the task checks the stored size of its zip with HeadObject, which S3
    # authorises as s3:GetObject.
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject"]
    resources = [local.staged_item_objects_arn]
  }
  statement {
    sid = "ReadTheRunsItemList"
    # A batch task reads its items from staging/R/items.json (issue 10); it writes nothing there.
    actions   = ["s3:GetObject"]
    resources = [local.item_list_objects_arns[0]]
  }
  statement {
    sid = "ReadTheWarmCopies"
    # Incremental runs (issue 11): a changed item's capture asks the pages its last capture
    # read with their ETags (unchanged ones cost a 304); an item the list step had no time
    # to probe is decided by its task, which reads its state and stages its warm copy
    # (CopyObject reads the source). Read only: Finalize alone writes latest/.
    actions   = ["s3:GetObject"]
    resources = [local.latest_objects_arn]
  }
  statement {
    sid = "TellMissingResultsFromForbiddenOnes"
    # Without ListBucket S3 answers GetObject of a missing key with 403, not 404: a retried
    # batch could not tell an item with no result.json yet from an access error, nor a
    # capture an item without kept pages from a refusal.
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.staging_prefix}*", "${local.latest_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "EncryptWithTheBucketKey"
      # SSE-KMS uploads ask for a data key; multipart uploads and HeadObject also decrypt it.
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.s3_kms_context_values
      }
    }
  }
  statement {
    sid = "ReadTheGithubCredential"
    # The container fetches the credential itself (GITHUB_CREDENTIALS_PARAMETER/_SECRET): the
    # task definition holds no secret, so no process environment ever does.
    actions   = [local.credentials_read_action]
    resources = [local.credentials_arn]
  }
  dynamic "statement" {
    for_each = local.credentials_module_key ? [local.module_key_arn] : []
    content {
      sid       = "DecryptTheGithubCredential"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.credentials_via_service]
      }
      condition {
        test     = local.credentials_context_test
        variable = local.credentials_context_key
        values   = [local.credentials_context_value]
      }
    }
  }
}

resource "aws_iam_role_policy" "task" {
  name   = "write-staged-items"
  role   = aws_iam_role.task.id
  policy = data.aws_iam_policy_document.task.json
}

# --- Function roles: one per function, each allowed only what its handler calls -------------

resource "aws_iam_role" "lambda" {
  for_each           = local.lambda_functions
  name               = "${var.name}-${each.key}"
  assume_role_policy = data.aws_iam_policy_document.assume["lambda"].json
  tags               = local.tags
}

# Every function writes its own log group and sends traces; validate needs nothing else.
data "aws_iam_policy_document" "lambda_common" {
  for_each = local.lambda_functions
  statement {
    sid       = "WriteFunctionLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.lambda[each.key].arn}:*"]
  }
  statement {
    sid     = "SendTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    # X-Ray trace APIs have no resource type: AWS only accepts "*".
    resources = ["*"]
  }
}

# list: reads the credential (GetParameter with decryption / GetSecretValue) and stores the
# run's item list.
data "aws_iam_policy_document" "list" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["list"].json]
  statement {
    sid       = "ReadTheGithubCredential"
    actions   = local.use_secrets_manager ? ["secretsmanager:GetSecretValue"] : ["ssm:GetParameter"]
    resources = [local.credentials_arn]
  }
  statement {
    sid       = "WriteTheItemList"
    actions   = ["s3:PutObject"]
    resources = concat(local.item_list_objects_arns, [local.reused_items_object_arn])
  }
  statement {
    sid = "ReadTheWarmCopies"
    # An incremental run reads each item's state.json and checks its warm zip (HeadObject is
    # GetObject's permission), then copies an unchanged one server-side into staging.
    actions   = ["s3:GetObject"]
    resources = [local.latest_objects_arn]
  }
  statement {
    sid = "StageReusedItems"
    # The reused item's zip (CopyObject) where the tasks write theirs, and the validators of
    # the items it sends to capture.
    actions   = ["s3:PutObject"]
    resources = [local.staged_item_objects_arn]
  }
  statement {
    sid = "TellMissingObjectsFromForbiddenOnes"
    # Without ListBucket S3 answers GetObject of a missing key with 403, not 404: a missing
    # latest/ state would read as "state unreadable" instead of "no earlier capture".
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.latest_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "UseTheBucketKey"
      # Decrypt: the warm copies; GenerateDataKey: the SSE-KMS upload of items.json.
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.s3_kms_context_values
      }
    }
  }
  dynamic "statement" {
    for_each = local.credentials_module_key ? [local.module_key_arn] : []
    content {
      sid       = "DecryptTheGithubCredential"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.credentials_via_service]
      }
      condition {
        test     = local.credentials_context_test
        variable = local.credentials_context_key
        values   = [local.credentials_context_value]
      }
    }
  }
}

# finalize: reads the staged items, assembles runs/R/ server-side, removes staging/R/. No
# credential: it never calls GitHub.
data "aws_iam_policy_document" "finalize" {
  source_policy_documents = [data.aws_iam_policy_document.lambda_common["finalize"].json]
  statement {
    sid = "ReadStagingAndWriteRuns"
    # GetObject covers HeadObject and the source of UploadPartCopy; PutObject covers
    # CreateMultipartUpload, UploadPart(Copy) and CompleteMultipartUpload.
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.staging_objects_arn, local.runs_objects_arn]
  }
  statement {
    sid = "KeepTheWarmCopies"
    # After the run manifest is stored, each captured item's zip and state go to latest/.
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = [local.latest_objects_arn]
  }
  dynamic "statement" {
    for_each = local.object_lock_mode == null ? [] : [1]
    content {
      sid = "LockTheRunArchive"
      # ObjectLockMode and ObjectLockRetainUntilDate on an upload need this permission.
      actions   = ["s3:PutObjectRetention"]
      resources = [local.runs_objects_arn]
    }
  }
  statement {
    sid = "DeleteStagingAfterTheRunZip"
    # Finalize removes the run's staging objects once the run zip and manifest are stored.
    actions   = ["s3:DeleteObject"]
    resources = [local.staging_objects_arn]
  }
  statement {
    sid = "FindStaleRunZipUploads"
    # Finalize aborts a multipart upload a crashed attempt left for the same run zip.
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [local.bucket_arn]
  }
  statement {
    sid = "ListStagingRunsAndWarmCopies"
    # Also makes a missing key a 404 rather than a 403 (a warm copy not yet kept).
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.staging_prefix}*", "${local.runs_prefix}*", "${local.latest_prefix}*"]
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "UseTheBucketKey"
      # Decrypt: reading and copying staged objects; GenerateDataKey: the SSE-KMS run zip and
      # manifest. Nothing calls kms:Encrypt.
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.s3_kms_context_values
      }
    }
  }
}

locals {
  lambda_policy_documents = {
    validate = data.aws_iam_policy_document.lambda_common["validate"].json
    list     = data.aws_iam_policy_document.list.json
    finalize = data.aws_iam_policy_document.finalize.json
  }
}

resource "aws_iam_role_policy" "lambda" {
  for_each = local.lambda_functions
  name     = "${each.key}-step"
  role     = aws_iam_role.lambda[each.key].id
  policy   = local.lambda_policy_documents[each.key]
}

# --- State machine role -------------------------------------------------------------------

resource "aws_iam_role" "state_machine" {
  name               = "${var.name}-state-machine"
  assume_role_policy = data.aws_iam_policy_document.assume["states"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "state_machine" {
  statement {
    sid       = "InvokeTheWorkflowFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [for fn in aws_lambda_function.this : fn.arn]
  }
  statement {
    sid       = "StartDistributedMapChildExecutions"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn]
  }
  statement {
    sid       = "WatchDistributedMapChildExecutions"
    actions   = ["states:DescribeExecution", "states:StopExecution"]
    resources = local.state_machine_execution_arns
  }
  statement {
    sid     = "RunBackupTasks"
    actions = ["ecs:RunTask"]
    # Every revision of the family: a run started before an image change still names the old
    # revision (kept: skip_destroy) for the batches it has not started yet. Only in this cluster.
    resources = [local.task_definition_family_arn]
    condition {
      test     = "ArnEquals"
      variable = "ecs:cluster"
      values   = [aws_ecs_cluster.this.arn]
    }
  }
  statement {
    sid       = "FollowBackupTasks"
    actions   = ["ecs:StopTask", "ecs:DescribeTasks"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account_id}:task/${aws_ecs_cluster.this.name}/*"]
  }
  statement {
    sid       = "PassTheTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]
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
    sid       = "PublishRunSummary"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
  }
  statement {
    sid = "ReadTheItemList"
    # The Distributed Map's ItemReader (s3:getObject of one JSON file: the batches, or the items).
    actions   = ["s3:GetObject"]
    resources = local.item_list_objects_arns
  }
  statement {
    sid = "WriteMapResults"
    # The Distributed Map's ResultWriter (multipart uploads of the children's outputs).
    actions   = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = [local.map_results_objects_arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "UseTheBucketKey"
      # The Distributed Map's ItemReader and ResultWriter.
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:aws:s3:arn"
        values   = local.s3_kms_context_values
      }
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "PublishToTheEncryptedTopic"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["sns.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:sns:topicArn"
        values   = [local.topic_arn]
      }
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "EncryptTheExecutions"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["states.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = [local.state_machine_arn]
      }
    }
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "EncryptTheLogsItDelivers"
      # AWS's documented policy for Step Functions logging to a log group under a customer
      # managed key: a data key whose context names the log delivery.
      actions   = ["kms:GenerateDataKey"]
      resources = [statement.value]
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SourceArn"
        values   = [local.log_delivery_source_arn]
      }
    }
  }
  statement {
    sid     = "SendTraces"
    actions = ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"]
    # X-Ray APIs have no resource type: AWS only accepts "*".
    resources = ["*"]
  }
  statement {
    sid = "DeliverExecutionLogs"
    actions = [
      "logs:CreateLogDelivery",
      "logs:GetLogDelivery",
      "logs:UpdateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:DescribeResourcePolicies",
      "logs:DescribeLogGroups",
    ]
    # CloudWatch Logs vended delivery APIs do not support resource-level permissions: AWS
    # documents "*" for Step Functions logging.
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "state_machine" {
  name   = "orchestrate-backup-run"
  role   = aws_iam_role.state_machine.id
  policy = data.aws_iam_policy_document.state_machine.json
}

# --- Scheduler role: start executions of this state machine only --------------------------

resource "aws_iam_role" "scheduler" {
  name               = "${var.name}-scheduler"
  assume_role_policy = data.aws_iam_policy_document.assume["scheduler"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "scheduler" {
  statement {
    sid       = "StartBackupRuns"
    actions   = ["states:StartExecution"]
    resources = [aws_sfn_state_machine.this.arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid = "EncryptTheExecutionInput"
      # The state machine is encrypted with the module's key: starting an execution encrypts its
      # input through Step Functions.
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["states.${local.region}.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:states:stateMachineArn"
        values   = [local.state_machine_arn]
      }
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  name   = "start-backup-run"
  role   = aws_iam_role.scheduler.id
  policy = data.aws_iam_policy_document.scheduler.json
}
