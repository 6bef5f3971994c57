# A run that ends badly notifies at once (the rule) and keeps an alarm raised until the next
# good run (the alarm), so a missed email is still visible in the console.

resource "aws_cloudwatch_event_rule" "run_failed" {
  name        = "${var.name}-run-failed"
  description = "A ghbackup run ended FAILED, TIMED_OUT or ABORTED"
  event_pattern = jsonencode({
    source        = ["aws.states"]
    "detail-type" = ["Step Functions Execution Status Change"]
    detail = {
      status          = ["FAILED", "TIMED_OUT", "ABORTED"]
      stateMachineArn = [aws_sfn_state_machine.this.arn]
    }
  })
  tags = local.tags
}

resource "aws_cloudwatch_event_target" "run_failed" {
  rule      = aws_cloudwatch_event_rule.run_failed.name
  target_id = "notify"
  arn       = aws_sns_topic.notifications.arn

  input_transformer {
    input_paths = {
      execution = "$.detail.executionArn"
      status    = "$.detail.status"
      stopped   = "$.detail.stopDate"
    }
    input_template = "\"ghbackup run <execution> ended <status> (stopped at <stopped>, epoch ms). See the execution in the Step Functions console.\""
  }
}

resource "aws_cloudwatch_metric_alarm" "executions_failed" {
  count               = local.failure_alarm ? 1 : 0
  alarm_name          = "${var.name}-executions-failed"
  alarm_description   = "A ghbackup run failed, timed out or was aborted."
  namespace           = "AWS/States"
  metric_name         = "ExecutionsFailed"
  dimensions          = { StateMachineArn = aws_sfn_state_machine.this.arn }
  statistic           = "Sum"
  period              = 3600
  evaluation_periods  = 1
  threshold           = 1
  comparison_operator = "GreaterThanOrEqualToThreshold"
  # Runs are monthly: no data is the normal state.
  treat_missing_data = "notBreaching"
  alarm_actions      = [aws_sns_topic.notifications.arn]
  tags               = local.tags
}
