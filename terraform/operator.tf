# The least privilege of the people who run ghbackup against this deployment (runs, show, get,
# restore --run, start, watch, cost): an output, attached to operator_principal_arns unless
# attach_operator_policy is off. The bucket policy lets the same principals read the objects.
# Each statement names the calls of ghbackup/operate.py, glacier.py, executions.py and
# cli/operate.py it is for.

data "aws_iam_policy_document" "operator" {
  statement {
    sid = "ListTheBucket"
    # runs (runs/ with a delimiter), the bucket check before start (the top level), watch
    # (staging/R/items/) and get --latest; ListBucket also makes a missing key 404, not 403.
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
  }
  statement {
    sid = "ReadRunsStagingAndWarmCopies"
    # GetObject covers HeadObject: manifests and archives (show, get, restore --run, cost),
    # the archive's restore state (glacier.py), items.json/reused.json/result.json (watch) and
    # latest/ (get --latest).
    actions = ["s3:GetObject"]
    resources = [
      local.runs_objects_arn, "${local.bucket_arn}/${local.staging_prefix}*",
      local.latest_objects_arn,
      # drills (the reports) and runs (when each run was last proven restorable).
      "${local.bucket_arn}/drills/*",
    ]
  }
  statement {
    sid = "RestoreArchivedRuns"
    # get/restore of a run archive in GLACIER or DEEP_ARCHIVE first asks S3 to restore it.
    actions   = ["s3:RestoreObject"]
    resources = [local.runs_objects_arn]
  }
  statement {
    sid       = "StartRunsAndDrills"
    actions   = ["states:StartExecution"]
    resources = [local.state_machine_arn, local.drill_state_machine_arn]
  }
  statement {
    sid     = "WatchRunsAndDrills"
    actions = ["states:DescribeExecution"]
    resources = concat(local.state_machine_execution_arns, [
      "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.drill_state_machine_name}:*",
    ])
  }
  statement {
    sid = "ReadTheStacksDefaultSelection"
    # start with no selection says what {} means for this stack: the state machine names the
    # validation function, whose DEFAULT_INPUT holds the defaults.
    actions   = ["states:DescribeStateMachine", "lambda:GetFunctionConfiguration"]
    resources = [local.state_machine_arn, aws_lambda_function.this["validate"].arn]
  }
  dynamic "statement" {
    for_each = local.kms_key_arns
    content {
      sid       = "DecryptTheBackups"
      actions   = ["kms:Decrypt"]
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
      sid = "EncryptAndReadTheExecutions"
      # start encrypts the execution input, watch decrypts what DescribeExecution returns.
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
        values   = [local.state_machine_arn, local.drill_state_machine_arn]
      }
    }
  }
}

resource "aws_iam_policy" "operator" {
  name        = "${var.name}-operator"
  description = "ghbackup runs/show/get/restore --run/start/watch/cost against the ${var.name} deployment"
  policy      = data.aws_iam_policy_document.operator.json
  tags        = local.tags
}

locals {
  # arn:aws:iam::<account>:role/<path/>name -> name (the attachment takes the name).
  operator_roles = {
    for arn in var.operator_principal_arns : arn => element(split("/", arn), length(split("/", arn)) - 1)
    if var.attach_operator_policy && strcontains(arn, ":role/")
  }
  operator_users = {
    for arn in var.operator_principal_arns : arn => element(split("/", arn), length(split("/", arn)) - 1)
    if var.attach_operator_policy && strcontains(arn, ":user/")
  }
}

resource "aws_iam_role_policy_attachment" "operator" {
  for_each   = local.operator_roles
  role       = each.value
  policy_arn = aws_iam_policy.operator.arn
}

resource "aws_iam_user_policy_attachment" "operator" {
  #checkov:skip=CKV_AWS_40:Only for operator_principal_arns the caller lists as IAM users (a person running ghbackup); roles and groups are preferred and documented, but a user the caller names gets the least-privilege operator policy rather than a broader one.
  for_each   = local.operator_users
  user       = each.value
  policy_arn = aws_iam_policy.operator.arn
}
