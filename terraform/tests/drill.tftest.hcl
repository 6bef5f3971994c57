# Offline tests of the restore drill (drill.tf) with the same mocked AWS provider as
# module.tftest.hcl. Run with `terraform test` in terraform/ (tests/offline.sh does).

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:root" }
  }
  mock_data "aws_region" {
    defaults = { name = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
  mock_data "aws_availability_zones" {
    defaults = { names = ["eu-west-1a", "eu-west-1b", "eu-west-1c"] }
  }
  # The mock cannot render policies; the statements are asserted on the data sources' inputs.
  mock_data "aws_iam_policy_document" {
    defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
  }

  # Computed ARNs feed ARN-validated arguments: give each type a well-formed one.
  mock_resource "aws_kms_key" {
    defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000", key_id = "00000000-0000-0000-0000-000000000000" }
  }
  mock_resource "aws_s3_bucket" {
    defaults = { arn = "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1", id = "ghbackup-backups-123456789012-eu-west-1" }
  }
  mock_resource "aws_iam_role" {
    defaults = { arn = "arn:aws:iam::123456789012:role/ghbackup-mock" }
  }
  mock_resource "aws_cloudwatch_log_group" {
    defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:/mock" }
  }
  mock_resource "aws_ecr_repository" {
    defaults = { arn = "arn:aws:ecr:eu-west-1:123456789012:repository/ghbackup", repository_url = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ghbackup" }
  }
  mock_resource "aws_ecs_cluster" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:cluster/ghbackup" }
  }
  mock_resource "aws_ecs_task_definition" {
    defaults = { arn = "arn:aws:ecs:eu-west-1:123456789012:task-definition/ghbackup:1" }
  }
  mock_resource "aws_lambda_function" {
    defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-mock" }
  }
  mock_resource "aws_sns_topic" {
    defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:ghbackup-notifications" }
  }
  mock_resource "aws_sfn_state_machine" {
    defaults = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup" }
  }
  mock_resource "aws_cloudwatch_event_rule" {
    defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/ghbackup-run-failed" }
  }
  mock_resource "aws_ssm_parameter" {
    defaults = { arn = "arn:aws:ssm:eu-west-1:123456789012:parameter/ghbackup/github-credentials" }
  }
  mock_resource "aws_secretsmanager_secret" {
    defaults = { arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ghbackup/github-credentials-AbCdEf" }
  }
  mock_resource "aws_scheduler_schedule" {
    defaults = { arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule/default/ghbackup" }
  }
}

# Distinct function ARNs, so the state machine policy can be checked to name all three.
override_resource {
  target = aws_lambda_function.this["validate"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-validate" }
}
override_resource {
  target = aws_lambda_function.this["list"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-list" }
}
override_resource {
  target = aws_lambda_function.this["finalize"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-finalize" }
}
override_resource {
  target = aws_lambda_function.drill["plan"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-drill-plan" }
}
override_resource {
  target = aws_lambda_function.drill["check"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-drill-check" }
}
override_resource {
  target = aws_lambda_function.drill["report"]
  values = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-drill-report" }
}
override_resource {
  target = aws_iam_role.drill_task
  values = { arn = "arn:aws:iam::123456789012:role/ghbackup-drill-task" }
}
override_resource {
  target = aws_sfn_state_machine.drill
  values = { arn = "arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup-drill" }
}

variables {
  state_machine_definition_path = "../tests/terraform/fixtures/state_machine.asl.json"
  cost_profile                  = "hardened"
}

run "drill_machine_renders_and_runs_monthly_a_few_days_after_the_backup" {
  command = apply

  assert {
    condition     = !strcontains(aws_sfn_state_machine.drill.definition, "$${") && can(jsondecode(aws_sfn_state_machine.drill.definition))
    error_message = "workflow/drill.asl.json must render to JSON with no placeholder left."
  }
  assert {
    condition = alltrue([for needle in [
      aws_lambda_function.drill["plan"].arn, aws_lambda_function.drill["check"].arn,
      aws_lambda_function.drill["report"].arn, aws_ecs_task_definition.backup.arn,
      aws_iam_role.drill_task.arn, aws_sns_topic.notifications.arn,
    ] : strcontains(aws_sfn_state_machine.drill.definition, needle)])
    error_message = "The drill definition must name its functions, the task definition, its task role and the topic."
  }
  assert {
    condition     = aws_scheduler_schedule.drill.schedule_expression == "cron(0 10 5 * ? *)" && aws_scheduler_schedule.backup.schedule_expression == "cron(0 10 1 * ? *)"
    error_message = "The drill runs at 10:00 on the 5th of each month, four days after the default backup."
  }
  assert {
    condition     = aws_scheduler_schedule.drill.target[0].arn == aws_sfn_state_machine.drill.arn && aws_scheduler_schedule.drill.target[0].input == "{}" && aws_scheduler_schedule.drill.state == "ENABLED"
    error_message = "The drill schedule starts the drill machine with {}."
  }
  assert {
    condition = (
      toset(data.aws_iam_policy_document.scheduler_drill.statement[0].actions) == toset(["states:StartExecution"])
      && toset(data.aws_iam_policy_document.scheduler_drill.statement[0].resources) == toset(["arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup-drill"])
      && aws_iam_role_policy.scheduler_drill.role == aws_iam_role.scheduler.id
    )
    error_message = "The scheduler gets a separate policy that starts the drill machine only."
  }
  assert {
    condition     = aws_sfn_state_machine.drill.encryption_configuration[0].type == "CUSTOMER_MANAGED_KMS_KEY" && aws_sfn_state_machine.drill.tracing_configuration[0].enabled
    error_message = "Drill executions are encrypted with the module's key and traced."
  }
  assert {
    condition = jsondecode(aws_lambda_function.drill["plan"].environment[0].variables["DRILL_DEFAULT_INPUT"]) == {
      items = 5, tier = "Bulk", days = 1, min_age_days = 7
    }
    error_message = "A scheduled drill restores 5 items with a Bulk restore kept one day, from a run older than a week."
  }
  assert {
    condition     = alltrue([for k, g in aws_cloudwatch_log_group.drill : g.kms_key_id == aws_kms_key.this[0].arn && contains(local.module_log_group_arns, "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-drill-${k}")])
    error_message = "The drill's log groups are encrypted with the key, whose policy names them."
  }
}

run "drill_roles_are_allowed_only_what_the_drill_calls" {
  command = apply

  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.drill_plan.statement : s.actions])) == toset(["s3:ListBucket", "s3:GetObject", "s3:RestoreObject", "kms:Decrypt"])
      && toset(flatten([for s in data.aws_iam_policy_document.drill_plan.statement : [for r in s.resources : r if startswith(r, "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/")]])) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/runs/*"])
    )
    error_message = "The plan step may list and read runs/ and restore run zips, nothing else."
  }
  assert {
    condition     = toset(flatten([for s in data.aws_iam_policy_document.drill_check.statement : s.actions])) == toset(["s3:ListBucket", "s3:GetObject", "s3:RestoreObject"])
    error_message = "The check step may only look at (and restore again) the run zip."
  }
  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.drill_report.statement : s.resources if contains(s.actions, "s3:PutObject")])) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/drills/*/report.json"])
      && toset(flatten([for s in data.aws_iam_policy_document.drill_report.statement : s.resources if contains(s.actions, "s3:DeleteObject")])) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/drills/*/results.json"])
    )
    error_message = "The report step writes drills/*/report.json and removes only the task's results."
  }
  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.drill_task.statement : s.resources if contains(s.actions, "s3:PutObject")])) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/drills/*/results.json"])
      && toset(flatten([for s in data.aws_iam_policy_document.drill_task.statement : s.resources if contains(s.actions, "s3:GetObject")])) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/runs/*"])
    )
    error_message = "The drill task reads runs/ and writes its results only."
  }
  assert {
    condition = !anytrue(flatten([for d in [data.aws_iam_policy_document.drill_plan, data.aws_iam_policy_document.drill_check, data.aws_iam_policy_document.drill_report, data.aws_iam_policy_document.drill_task, data.aws_iam_policy_document.drill_state_machine] :
    [for s in d.statement : anytrue([for a in s.actions : startswith(a, "ssm:") || startswith(a, "secretsmanager:") || a == "kms:Encrypt" || a == "s3:DeleteObjectVersion"])]]))
    error_message = "No drill role reads the GitHub credential, calls kms:Encrypt or deletes object versions."
  }
  assert {
    condition     = !anytrue(flatten([for s in data.aws_iam_policy_document.task.statement : [for r in s.resources : strcontains(r, "/runs/") || strcontains(r, "/drills/")]]))
    error_message = "The backup task's role gains nothing from the drill."
  }
  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.drill_state_machine.statement : s.resources if contains(s.actions, "iam:PassRole")])) == toset([aws_iam_role.task_execution.arn, aws_iam_role.drill_task.arn])
      && toset(flatten([for s in data.aws_iam_policy_document.drill_state_machine.statement : s.resources if contains(s.actions, "lambda:InvokeFunction")])) == toset([for f in aws_lambda_function.drill : f.arn])
      && toset(flatten([for s in data.aws_iam_policy_document.drill_state_machine.statement : s.resources if contains(s.actions, "ecs:RunTask")])) == toset(["arn:aws:ecs:eu-west-1:123456789012:task-definition/ghbackup:*"])
    )
    error_message = "The drill machine invokes its own functions, runs the task definition and passes only the execution role and the drill task role."
  }
}

run "drill_settings_reach_the_plan_step_and_the_schedule" {
  command = apply
  variables {
    drill_items               = 10
    drill_retrieval_tier      = "Standard"
    drill_min_age_days        = 30
    drill_schedule_enabled    = false
    drill_schedule_expression = "cron(0 3 15 * ? *)"
  }
  assert {
    condition = jsondecode(aws_lambda_function.drill["plan"].environment[0].variables["DRILL_DEFAULT_INPUT"]) == {
      items = 10, tier = "Standard", days = 1, min_age_days = 30
    }
    error_message = "drill_items, drill_retrieval_tier and drill_min_age_days must reach the plan step."
  }
  assert {
    condition     = aws_scheduler_schedule.drill.state == "DISABLED" && aws_scheduler_schedule.drill.schedule_expression == "cron(0 3 15 * ? *)"
    error_message = "The drill schedule follows its variables."
  }
}

run "drill_retrieval_tier_must_be_one_s3_offers" {
  command = plan
  variables {
    drill_retrieval_tier = "Fast"
  }
  expect_failures = [var.drill_retrieval_tier]
}

run "drill_items_beyond_what_a_container_override_holds_are_refused" {
  command = plan
  variables {
    drill_items = 26
  }
  expect_failures = [var.drill_items]
}

run "drill_machine_follows_the_profiles_key_for_data" {
  command = plan
  variables {
    cost_profile = "minimal"
  }
  assert {
    # minimal keeps the module's key for the credential only: a customer-managed encryption
    # with no key would be refused by Step Functions (InvalidEncryptionConfiguration).
    condition     = aws_sfn_state_machine.drill.encryption_configuration[0].type == "AWS_OWNED_KEY" && aws_sfn_state_machine.drill.encryption_configuration[0].kms_key_id == null
    error_message = "Without the key for data, the drill machine uses Step Functions' own key, as the backup machine does."
  }
}
