locals {
  state_machine_definition_path = coalesce(
    var.state_machine_definition_path,
    "${path.module}/../workflow/state_machine.asl.json",
  )
  # The same placeholder names the local runner fills (docs/design.md).
  state_machine_definition = templatefile(local.state_machine_definition_path, {
    validate_function_arn = aws_lambda_function.this["validate"].arn
    list_function_arn     = aws_lambda_function.this["list"].arn
    finalize_function_arn = aws_lambda_function.this["finalize"].arn
    cluster_arn           = aws_ecs_cluster.this.arn
    task_definition_arn   = aws_ecs_task_definition.backup.arn
    container_name        = local.container_name
    subnet_ids            = join(",", local.subnet_ids)
    security_group_ids    = join(",", local.security_group_ids)
    assign_public_ip      = local.assign_public_ip
    topic_arn             = aws_sns_topic.notifications.arn
    bucket                = aws_s3_bucket.backups.id
    max_concurrency       = tostring(var.max_concurrency)
  })
}

resource "aws_cloudwatch_log_group" "state_machine" {
  # The /aws/vendedlogs/ prefix keeps the log resource policy Step Functions needs small.
  name              = "/aws/vendedlogs/states/${local.state_machine_name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.this.arn
  tags              = local.tags
}

resource "aws_sfn_state_machine" "this" {
  name       = local.state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.state_machine_definition

  logging_configuration {
    level                  = "ALL"
    include_execution_data = true
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
  }

  tracing_configuration {
    enabled = true
  }

  tags = local.tags

  # The role must be able to deliver logs and start tasks before the machine is created.
  depends_on = [aws_iam_role_policy.state_machine]
}
