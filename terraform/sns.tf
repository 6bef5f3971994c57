resource "aws_sns_topic" "notifications" {
  #checkov:skip=CKV_AWS_26:Encrypted with the module's key when it exists (hardened, or encryption/credentials_key set to it). Without it the topic is unencrypted at rest: EventBridge and CloudWatch cannot publish to a topic under the AWS-managed aws/sns key, and the messages are transient run summaries (counts, failed item names), never the credential.
  name              = local.topic_name
  kms_master_key_id = local.kms_key_arn
  tags              = local.tags
}

data "aws_iam_policy_document" "notifications" {
  statement {
    sid       = "AccountManagesTheTopic"
    actions   = ["sns:Publish", "sns:Subscribe", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:ListSubscriptionsByTopic"]
    resources = [aws_sns_topic.notifications.arn]
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }
  statement {
    sid       = "FailedRunRulePublishes"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.notifications.arn]
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.run_failed.arn]
    }
  }
  dynamic "statement" {
    for_each = local.failure_alarm ? [1] : []
    content {
      sid       = "FailedRunAlarmPublishes"
      actions   = ["sns:Publish"]
      resources = [aws_sns_topic.notifications.arn]
      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [local.account_id]
      }
    }
  }
}

resource "aws_sns_topic_policy" "notifications" {
  arn    = aws_sns_topic.notifications.arn
  policy = data.aws_iam_policy_document.notifications.json
}

resource "aws_sns_topic_subscription" "email" {
  for_each  = toset(var.notification_emails)
  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}
