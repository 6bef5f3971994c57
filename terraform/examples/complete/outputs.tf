output "ecr_repository_url" {
  description = "Push the image here."
  value       = module.ghbackup.ecr_repository_url
}

output "credentials_parameter_name" {
  description = "Put the GitHub token into this SSM parameter."
  value       = module.ghbackup.credentials_parameter_name
}

output "credentials_kms_key_id" {
  description = "Pass it as --key-id when you put the token."
  value       = module.ghbackup.credentials_kms_key_id
}

output "state_machine_arn" {
  description = "Start a run by hand with aws stepfunctions start-execution."
  value       = module.ghbackup.state_machine_arn
}

output "bucket_name" {
  description = "Where the backups are stored."
  value       = module.ghbackup.bucket_name
}

output "notification_topic_arn" {
  description = "Run summaries and failures."
  value       = module.ghbackup.notification_topic_arn
}

output "cluster_arn" {
  description = "ECS cluster of the backup tasks."
  value       = module.ghbackup.cluster_arn
}

output "task_definition_arn" {
  description = "Backup task definition."
  value       = module.ghbackup.task_definition_arn
}

output "lambda_function_arns" {
  description = "The validate, list and finalize functions."
  value       = module.ghbackup.lambda_function_arns
}

output "subnet_ids" {
  description = "Subnets the tasks run in."
  value       = module.ghbackup.subnet_ids
}

output "security_group_ids" {
  description = "Security groups of the tasks."
  value       = module.ghbackup.security_group_ids
}

output "schedule_arn" {
  description = "The schedule starting the runs."
  value       = module.ghbackup.schedule_arn
}

output "kms_key_arn" {
  description = "Key encrypting everything."
  value       = module.ghbackup.kms_key_arn
}

output "drill_state_machine_arn" {
  description = "Start a restore drill by hand (ghbackup drill)."
  value       = module.ghbackup.drill_state_machine_arn
}
