data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}
# The role (not the session) running Terraform: see local.credentials_deployer_arns.
data "aws_iam_session_context" "current" {
  arn = data.aws_caller_identity.current.arn
}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.name
  partition  = data.aws_partition.current.partition

  tags = merge({ "ghbackup:deployment" = var.name }, var.tags)

  container_name      = "ghbackup"
  scratch_volume_name = "scratch"
  scratch_path        = "/scratch"

  # GitHub App credentials when both ids are given, a personal access token otherwise.
  github_app_mode = var.github_app_id != null

  use_secrets_manager   = var.credentials_store == "secretsmanager"
  credentials_arn       = local.use_secrets_manager ? aws_secretsmanager_secret.github[0].arn : aws_ssm_parameter.github[0].arn
  credentials_reference = local.use_secrets_manager ? aws_secretsmanager_secret.github[0].arn : aws_ssm_parameter.github[0].name


  bucket_name = coalesce(var.bucket_name, "${var.name}-backups-${local.account_id}-${local.region}")

  # Built from names, not resource attributes, so policies can name them without a cycle.
  state_machine_name = var.name
  state_machine_arn  = "arn:${local.partition}:states:${local.region}:${local.account_id}:stateMachine:${local.state_machine_name}"
  # Distributed Map child executions are named <machine>/<map run>:<id>.
  state_machine_execution_arns = [
    "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}:*",
    "arn:${local.partition}:states:${local.region}:${local.account_id}:execution:${local.state_machine_name}/*",
  ]
  # The managed rule Step Functions creates for every .sync ECS integration.
  ecs_sync_rule_arn = "arn:${local.partition}:events:${local.region}:${local.account_id}:rule/StepFunctionsGetEventsForECSTaskRule"

  task_family = var.name
  topic_name  = "${var.name}-notifications"

  task_log_group_name          = "/aws/ecs/${var.name}"
  lambda_log_group_names       = { for k in keys(local.lambda_functions) : k => "/aws/lambda/${var.name}-${k}" }
  state_machine_log_group_name = "/aws/vendedlogs/states/${local.state_machine_name}"
  flow_log_group_name          = "/aws/vpc/${var.name}-flow-logs"
  # Every log group the module creates: the only ones CloudWatch Logs may use the key for.
  module_log_group_names = concat(
    [local.task_log_group_name, local.state_machine_log_group_name],
    values(local.lambda_log_group_names),
    values(local.drill_log_group_names),
    local.vpc_flow_logs && local.create_vpc ? [local.flow_log_group_name] : [],
  )

  create_vpc         = length(var.subnet_ids) == 0
  subnet_ids         = local.create_vpc ? aws_subnet.public[*].id : var.subnet_ids
  security_group_ids = local.create_vpc ? [aws_security_group.task[0].id] : var.security_group_ids
  # Without a NAT gateway a task in a public subnet needs a public IP to reach GitHub.
  assign_public_ip = local.create_vpc ? "ENABLED" : (var.assign_public_ip ? "ENABLED" : "DISABLED")

  container_image = coalesce(var.container_image, "${aws_ecr_repository.this.repository_url}:${var.image_tag}")

  staging_prefix = "staging/"
  runs_prefix    = "runs/"
  latest_prefix  = "latest/"

  lambda_functions = {
    validate = {
      handler     = "tasks.validate_input.handler"
      description = "Validates the execution input and fills in the defaults."
      timeout     = 30
      memory_size = 256
    }
    list = {
      handler     = "tasks.list_items.handler"
      description = "Lists the repositories, gists and accounts to back up into staging/."
      # Lambda's most: an incremental run probes every item here (a dozen requests each).
      timeout     = 900
      memory_size = 512
    }
    finalize = {
      handler     = "tasks.finalize_run.handler"
      description = "Assembles the run archive and manifest from the per-item results."
      timeout     = 900
      memory_size = 1024
    }
  }
}
