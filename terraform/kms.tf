# One customer managed key for everything ghbackup stores: backups, logs, topic, state machine,
# credentials, images (README: "One key or two"). People and roles of this account use it only
# through the services that store ghbackup's data (kms:ViaService); the services that write on
# our behalf are allowed only for this deployment's own resources (encryption context).

locals {
  # Built from names, not resource attributes: the log groups and the topic are encrypted with
  # this key, so their ARNs cannot feed its policy without a cycle.
  log_group_arn_prefix = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:"
  module_log_group_arns = [
    for name in local.module_log_group_names : "${local.log_group_arn_prefix}${name}"
  ]
  topic_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.topic_name}"

  # The services that encrypt or decrypt ghbackup's data with the key for a caller.
  kms_via_services = [
    for service in ["s3", "ssm", "secretsmanager", "sns", "ecr", "lambda", "states"] :
    "${service}.${local.region}.amazonaws.com"
  ]
}

data "aws_iam_policy_document" "kms" {
  count = local.create_kms_key ? 1 : 0
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; crypto use is limited to this account's services (kms:ViaService) and this deployment's resources (encryption context).
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_109:The account root administers the key (no crypto actions here): without it the key could become unmanageable; crypto use is in the conditioned statements below.
  statement {
    sid = "AccountAdministersTheKey"
    # Management only: encrypting and decrypting is in the statements below, under conditions.
    actions = [
      "kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*", "kms:Update*",
      "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*", "kms:TagResource",
      "kms:UntagResource", "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:RetireGrant",
    ]
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid = "AccountUsesTheKeyThroughTheStoringServices"
    # IAM policies in this account decide who; this statement decides how: only through S3,
    # SSM, Secrets Manager, SNS, ECR, Lambda and Step Functions, never a direct kms:Decrypt.
    actions = [
      "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey",
      "kms:CreateGrant",
    ]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = local.kms_via_services
    }
    condition {
      test     = "StringEquals"
      variable = "kms:CallerAccount"
      values   = [local.account_id]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsTheModulesLogGroups"
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = local.module_log_group_arns
    }
  }

  statement {
    sid = "EventBridgePublishesToTheTopic"
    # EventBridge's requests carry no aws:SourceAccount; SNS puts the topic ARN into the
    # encryption context of every data key it asks for.
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:sns:topicArn"
      values   = [local.topic_arn]
    }
  }

  dynamic "statement" {
    for_each = local.failure_alarm ? [1] : []
    content {
      sid       = "CloudWatchAlarmPublishesToTheTopic"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:EncryptionContext:aws:sns:topicArn"
        values   = [local.topic_arn]
      }
    }
  }

  statement {
    sid = "StateMachineEncryptsItsExecutions"
    # Step Functions calls KMS as the state machine's role for the definition and execution
    # data, always with the machine's ARN in the encryption context.
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = [aws_iam_role.state_machine.arn, aws_iam_role.scheduler.arn]
    }
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

  statement {
    sid = "LogDeliveryReadsTheStateMachinesEncryptedLogs"
    # Vended log delivery decrypts the execution data Step Functions hands it for the log group.
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]
    principals {
      type        = "Service"
      identifiers = ["delivery.logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "kms:EncryptionContext:aws:states:stateMachineArn"
      values   = [local.state_machine_arn]
    }
  }
}

resource "aws_kms_key" "this" {
  count                   = local.create_kms_key ? 1 : 0
  description             = "${var.name}: backups, logs, notifications, executions and GitHub credentials"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = local.tags
}

resource "aws_kms_alias" "this" {
  count         = local.create_kms_key ? 1 : 0
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}
