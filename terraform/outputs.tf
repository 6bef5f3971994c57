output "bucket_name" {
  description = "Backup bucket; run archives are under runs/<run id>/."
  value       = aws_s3_bucket.backups.id
}

output "bucket_arn" {
  description = "ARN of the backup bucket."
  value       = aws_s3_bucket.backups.arn
}

output "kms_key_arn" {
  description = "The module's customer managed key: the credential's in every profile but personal, and the backups', logs', topic's, executions' and images' in hardened; null in personal."
  value       = local.module_key_arn
}

output "ecr_repository_url" {
  description = "Push the container image here (docker tag/push <url>:<image_tag>)."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_arn" {
  description = "ARN of the image repository."
  value       = aws_ecr_repository.this.arn
}

output "container_image" {
  description = "Image reference the task definition runs."
  value       = local.container_image
}

output "cluster_arn" {
  description = "ECS cluster running the backup tasks."
  value       = aws_ecs_cluster.this.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "task_definition_arn" {
  description = "Task definition (with revision) of the per-repository backup task."
  value       = aws_ecs_task_definition.backup.arn
}

output "container_name" {
  description = "Name of the container in the task definition."
  value       = local.container_name
}

output "subnet_ids" {
  description = "Subnets the tasks run in (given or created)."
  value       = local.subnet_ids
}

output "security_group_ids" {
  description = "Security groups of the tasks (given or created)."
  value       = local.security_group_ids
}

output "vpc_id" {
  description = "VPC created by the module, or null when subnet_ids were given."
  value       = local.create_vpc ? aws_vpc.this[0].id : null
}

output "lambda_function_arns" {
  description = "ARNs of the validate, list and finalize functions."
  value       = { for key, fn in aws_lambda_function.this : key => fn.arn }
}

output "lambda_function_names" {
  description = "Names of the validate, list and finalize functions."
  value       = { for key, fn in aws_lambda_function.this : key => fn.function_name }
}

output "state_machine_arn" {
  description = "Start a run by hand: aws stepfunctions start-execution --state-machine-arn <this>."
  value       = aws_sfn_state_machine.this.arn
}

output "state_machine_name" {
  description = "Name of the state machine."
  value       = aws_sfn_state_machine.this.name
}

output "schedule_arn" {
  description = "EventBridge Scheduler schedule starting the runs."
  value       = aws_scheduler_schedule.backup.arn
}

output "notification_topic_arn" {
  description = "SNS topic receiving run summaries and failures."
  value       = aws_sns_topic.notifications.arn
}

output "credentials_kms_key_id" {
  description = "Key the credential is encrypted with: the module's key, or alias/aws/ssm. Pass it as --key-id to aws ssm put-parameter."
  value       = local.credentials_kms_key_id
}

output "credentials_parameter_name" {
  description = "SSM parameter to put the GitHub token into (null when Secrets Manager is used)."
  value       = local.use_secrets_manager ? null : aws_ssm_parameter.github[0].name
}

output "credentials_secret_arn" {
  description = "Secrets Manager secret to put the GitHub credentials into (null when SSM is used)."
  value       = local.use_secrets_manager ? aws_secretsmanager_secret.github[0].arn : null
}

output "log_group_names" {
  description = "CloudWatch log groups of the task, the functions and the state machine."
  value = merge(
    { task = aws_cloudwatch_log_group.task.name, state_machine = aws_cloudwatch_log_group.state_machine.name },
    { for key, group in aws_cloudwatch_log_group.lambda : "lambda_${key}" => group.name },
  )
}

output "role_arns" {
  description = "IAM roles of the task execution, task, functions, state machine and scheduler."
  value = {
    task_execution = aws_iam_role.task_execution.arn
    task           = aws_iam_role.task.arn
    validate       = aws_iam_role.lambda["validate"].arn
    list           = aws_iam_role.lambda["list"].arn
    finalize       = aws_iam_role.lambda["finalize"].arn
    state_machine  = aws_iam_role.state_machine.arn
    scheduler      = aws_iam_role.scheduler.arn
  }
}

output "drill_state_machine_arn" {
  description = "The restore drill's state machine (ghbackup drill, or aws stepfunctions start-execution)."
  value       = aws_sfn_state_machine.drill.arn
}

output "drill_schedule_arn" {
  description = "EventBridge Scheduler schedule that starts the restore drill."
  value       = aws_scheduler_schedule.drill.arn
}

output "drill_function_arns" {
  description = "The restore drill's functions, by step (plan, check, report)."
  value       = { for k, fn in aws_lambda_function.drill : k => fn.arn }
}

output "drill_role_arns" {
  description = "IAM roles of the restore drill: its state machine, its task and its functions."
  value = merge(
    { state_machine = aws_iam_role.drill_state_machine.arn, task = aws_iam_role.drill_task.arn },
    { for k, role in aws_iam_role.drill_lambda : k => role.arn },
  )
}

output "operator_policy_arn" {
  description = "Least-privilege IAM policy for the people who run ghbackup runs/show/get/restore --run/start/watch/cost (attached to operator_principal_arns unless attach_operator_policy is false)."
  value       = aws_iam_policy.operator.arn
}

output "operator_policy_json" {
  description = "The operator policy's document, to review or to attach elsewhere."
  value       = data.aws_iam_policy_document.operator.json
}
