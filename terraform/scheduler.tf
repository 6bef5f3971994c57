resource "aws_scheduler_schedule" "backup" {
  #checkov:skip=CKV_AWS_297:The schedule's only payload is the execution input (default {}), which holds no secret; AWS encrypts it with its own key.
  name        = var.name
  description = "Starts a ghbackup run"
  group_name  = "default"
  state       = var.schedule_enabled ? "ENABLED" : "DISABLED"

  schedule_expression          = var.schedule_expression
  schedule_expression_timezone = var.schedule_timezone

  flexible_time_window {
    mode = "OFF"
  }

  target {
    arn      = aws_sfn_state_machine.this.arn
    role_arn = aws_iam_role.scheduler.arn
    input    = var.schedule_input

    retry_policy {
      maximum_retry_attempts       = var.schedule_retry_attempts
      maximum_event_age_in_seconds = var.schedule_max_event_age_seconds
    }
  }
}
