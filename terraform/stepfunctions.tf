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
  name              = local.state_machine_log_group_name
  retention_in_days = local.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_sfn_state_machine" "this" {
  #checkov:skip=CKV_AWS_285:Execution data (item lists, results, repository names) is left out of the logs on purpose (state_machine_log_execution_data, default false); the encrypted execution history in Step Functions keeps it for 90 days.
  name       = local.state_machine_name
  type       = "STANDARD"
  role_arn   = aws_iam_role.state_machine.arn
  definition = local.state_machine_definition

  # ERROR without execution data by default: execution data holds the item lists and results
  # (repository names), and ALL logs every state transition at $0.50 per GB ingested.
  logging_configuration {
    level                  = var.state_machine_log_level
    include_execution_data = var.state_machine_log_execution_data
    log_destination        = "${aws_cloudwatch_log_group.state_machine.arn}:*"
  }

  # The definition and every execution's input, output and history under the module's key.
  # (Step Functions' own AWS-owned key when the module has none.)
  encryption_configuration {
    type                              = local.key_for_data ? "CUSTOMER_MANAGED_KMS_KEY" : "AWS_OWNED_KEY"
    kms_key_id                        = local.kms_key_arn
    kms_data_key_reuse_period_seconds = local.key_for_data ? 300 : null
  }

  tracing_configuration {
    enabled = true
  }

  tags = local.tags

  # The role must be able to deliver logs and start tasks before the machine is created.
  depends_on = [aws_iam_role_policy.state_machine]
}
