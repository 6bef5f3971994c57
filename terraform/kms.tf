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

  # The services that encrypt or decrypt ghbackup's data (not the credential) with the key.
  kms_via_services = [
    for service in ["s3", "sns", "ecr", "lambda", "states"] :
    "${service}.${local.region}.amazonaws.com"
  ]
  # The credential's service and the encryption context it sends with every KMS call: SSM puts
  # PARAMETER_ARN, Secrets Manager SecretARN (whose ARN ends in a random suffix). Built from
  # names: the parameter and the secret name this key.
  credentials_name         = coalesce(var.credentials_parameter_name, local.use_secrets_manager ? "${var.name}/github-credentials" : "/${var.name}/github-credentials")
  credentials_via_service  = local.use_secrets_manager ? "secretsmanager.${local.region}.amazonaws.com" : "ssm.${local.region}.amazonaws.com"
  credentials_context_key  = local.use_secrets_manager ? "kms:EncryptionContext:SecretARN" : "kms:EncryptionContext:PARAMETER_ARN"
  credentials_context_test = local.use_secrets_manager ? "StringLike" : "StringEquals"
  credentials_context_value = (
    local.use_secrets_manager
    ? "arn:${local.partition}:secretsmanager:${local.region}:${local.account_id}:secret:${local.credentials_name}-??????"
    : "arn:${local.partition}:ssm:${local.region}:${local.account_id}:parameter/${trimprefix(local.credentials_name, "/")}"
  )
  # The roles that read the credential: the list function and the task (which fetches it itself).
  credentials_reader_role_arns = [aws_iam_role.lambda["list"].arn, aws_iam_role.task.arn]
  # Who runs Terraform: the provider's refresh of aws_ssm_parameter calls GetParameter with
  # decryption (and of the secret version GetSecretValue), then drops the value.
  credentials_deployer_arns = coalesce(var.credentials_deployer_arns, [data.aws_iam_session_context.current.issuer_arn])
  # Step Functions' vended log delivery names the account's log delivery as the source.
  log_delivery_source_arn = "arn:${local.partition}:logs:${local.region}:${local.account_id}:*"
  # Key administration, named: no encrypt/decrypt, and no CreateGrant (a grant could give
  # anyone Decrypt; grants come only from the storing services, below).
  kms_admin_actions = [
    "kms:DescribeKey", "kms:GetKeyPolicy", "kms:PutKeyPolicy", "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation", "kms:DisableKeyRotation", "kms:ListKeyRotations", "kms:RotateKeyOnDemand",
    "kms:EnableKey", "kms:DisableKey", "kms:UpdateKeyDescription", "kms:ListResourceTags",
    "kms:TagResource", "kms:UntagResource", "kms:ListGrants", "kms:RevokeGrant", "kms:RetireGrant",
    "kms:ListAliases", "kms:CreateAlias", "kms:UpdateAlias", "kms:DeleteAlias",
    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion",
  ]
}

data "aws_iam_policy_document" "kms" {
  count = local.create_kms_key ? 1 : 0
  #checkov:skip=CKV_AWS_111:A key policy's "*" resource means this key only; crypto use is limited to this account's services (kms:ViaService) and this deployment's resources (encryption context).
  #checkov:skip=CKV_AWS_356:A key policy's "*" resource means this key only.
  #checkov:skip=CKV_AWS_109:The account root administers the key with named management actions (no crypto, no CreateGrant): without it the key could become unmanageable.
  statement {
    sid       = "AccountAdministersTheKey"
    actions   = local.kms_admin_actions
    resources = ["*"] # in a key policy "*" means this key
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = local.create_kms_key ? [1] : []
    content {
      sid = "AccountUsesTheKeyThroughTheStoringServices"
      # IAM policies in this account decide who; this statement decides how: only through S3,
      # SNS, ECR, Lambda and Step Functions, never a direct kms:Decrypt. (The bucket policy
      # limits who reads the objects.)
      actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
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
  }

  dynamic "statement" {
    for_each = local.create_kms_key ? [1] : []
    content {
      sid = "StoringServicesTakeGrantsForTheirOwnUse"
      # ECR and Lambda keep grants on the key for the images and the functions' settings; a
      # grant is only possible for an AWS resource, never for a principal's own use.
      actions   = ["kms:CreateGrant"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
      }
      condition {
        test     = "Bool"
        variable = "kms:GrantIsForAWSResource"
        values   = ["true"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = local.kms_via_services
      }
    }
  }

  dynamic "statement" {
    for_each = local.credentials_module_key ? [1] : []
    content {
      sid = "AccountPutsTheCredential"
      # Terraform's placeholder and the operator's token: encrypt only, through SSM or Secrets
      # Manager, for this credential only. Nobody in the account can decrypt it with this.
      actions   = ["kms:Encrypt", "kms:GenerateDataKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
      }
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

  dynamic "statement" {
    for_each = local.credentials_module_key ? [1] : []
    content {
      sid       = "AccountDescribesTheKeyThroughTheCredentialsService"
      actions   = ["kms:DescribeKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
      }
      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = [local.credentials_via_service]
      }
    }
  }

  dynamic "statement" {
    for_each = local.credentials_module_key ? [1] : []
    content {
      sid = "OnlyTheListStepAndTheTaskReadTheCredential"
      # The token can be decrypted by these two roles only (an IAM policy elsewhere in the
      # account, ReadOnlyAccess included, cannot add a principal to a key policy).
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = local.credentials_reader_role_arns
      }
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

  dynamic "statement" {
    for_each = local.credentials_module_key ? [1] : []
    content {
      sid = "TerraformRefreshesTheCredential"
      # The AWS provider reads the parameter (or secret version) decrypted on every refresh
      # and keeps no value; without this every plan fails. The same principals administer the
      # stack (and this key policy) anyway.
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = local.credentials_deployer_arns
      }
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

  dynamic "statement" {
    for_each = local.key_for_data ? [1] : []
    content {
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
  }

  dynamic "statement" {
    for_each = local.key_for_data ? [1] : []
    content {
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
  }

  dynamic "statement" {
    for_each = local.key_for_data && local.failure_alarm ? [1] : []
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

  dynamic "statement" {
    for_each = local.key_for_data ? [1] : []
    content {
      sid = "StateMachineEncryptsItsExecutions"
      # Step Functions calls KMS as the state machine's role (and the scheduler's, starting an
      # execution) for the definition and execution data, always with the machine's ARN in
      # the encryption context.
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
  }

  dynamic "statement" {
    for_each = local.key_for_data ? [1] : []
    content {
      sid = "StateMachineEncryptsTheLogsItDelivers"
      # AWS's documented policy for Step Functions logging with a customer managed key: the
      # role asks for a data key with the log delivery as SourceArn...
      actions   = ["kms:GenerateDataKey"]
      resources = ["*"]
      principals {
        type        = "AWS"
        identifiers = [aws_iam_role.state_machine.arn]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SourceArn"
        values   = [local.log_delivery_source_arn]
      }
    }
  }

  dynamic "statement" {
    for_each = local.key_for_data ? [1] : []
    content {
      sid = "LogDeliveryDecryptsWhatTheStateMachineSends"
      # ...and vended log delivery decrypts it to write the log group (CloudWatch Logs then
      # encrypts it again under the log group's key, statement above).
      actions   = ["kms:Decrypt"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["delivery.logs.amazonaws.com"]
      }
      condition {
        test     = "StringLike"
        variable = "kms:EncryptionContext:SourceArn"
        values   = [local.log_delivery_source_arn]
      }
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

  lifecycle {
    # Everything encrypted with it (the credential, backups in hardened) is lost with it.
    prevent_destroy = true
  }
}

resource "aws_kms_alias" "this" {
  count         = local.create_kms_key ? 1 : 0
  name          = "alias/${var.name}"
  target_key_id = aws_kms_key.this[0].key_id
}
