# Offline tests of the module with a mocked AWS provider: the settings that matter for
# security and cost. Run with `terraform test` in terraform/ (tests/offline.sh does).

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
  mock_data "aws_iam_session_context" {
    defaults = { issuer_arn = "arn:aws:iam::123456789012:role/deployer" }
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
  mock_resource "aws_iam_policy" {
    defaults = { arn = "arn:aws:iam::123456789012:policy/ghbackup-operator" }
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

variables {
  # A stand-in with every placeholder, so these tests do not depend on the real workflow.
  state_machine_definition_path = "../tests/terraform/fixtures/state_machine.asl.json"
  # The security runs check everything the module can do: the profile with every protection.
  # The other profiles have their own runs at the end.
  cost_profile = "hardened"
}

run "bucket_is_encrypted_private_tls_only_and_expires" {
  command = apply

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
    error_message = "The bucket must default to SSE-KMS."
  }
  assert {
    condition = alltrue([
      aws_s3_bucket_public_access_block.backups.block_public_acls,
      aws_s3_bucket_public_access_block.backups.block_public_policy,
      aws_s3_bucket_public_access_block.backups.ignore_public_acls,
      aws_s3_bucket_public_access_block.backups.restrict_public_buckets,
    ])
    error_message = "All four public access blocks must be on."
  }
  assert {
    condition     = aws_s3_bucket_versioning.backups.versioning_configuration[0].status == "Enabled"
    error_message = "The bucket must be versioned."
  }
  assert {
    condition = anytrue([
      for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") && anytrue([
        for c in s.condition : c.variable == "aws:SecureTransport" && contains(c.values, "false")
      ])
    ])
    error_message = "The bucket policy must deny every request made without TLS."
  }
  assert {
    condition = anytrue([
      for r in aws_s3_bucket_lifecycle_configuration.backups.rule :
      r.status == "Enabled" && length(r.abort_incomplete_multipart_upload) == 1
    ])
    error_message = "Incomplete multipart uploads must be aborted."
  }
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.backups.rule : r.expiration[0].days if r.id == "expire-staging" && r.filter[0].prefix == "staging/"
    ] == [7]
    error_message = "staging/ must expire after 7 days by default."
  }
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.backups.rule : r.expiration[0].days if r.id == "expire-runs" && r.filter[0].prefix == "runs/"
    ] == [365]
    error_message = "runs/ must expire after 365 days by default."
  }
  assert {
    condition     = length(aws_s3_bucket_object_lock_configuration.backups) == 1 && aws_lambda_function.this["finalize"].environment[0].variables["RUN_ARCHIVE_OBJECT_LOCK_MODE"] == "GOVERNANCE" && aws_lambda_function.this["finalize"].environment[0].variables["RUN_ARCHIVE_OBJECT_LOCK_DAYS"] == "30"
    error_message = "hardened turns Object Lock on at creation: governance mode, 30 days (object_lock_days) on runs/."
  }
  assert {
    condition     = aws_kms_key.this[0].enable_key_rotation
    error_message = "The customer managed key must rotate."
  }
}

run "object_lock_is_applied_by_finalize_to_runs_only" {
  command = apply
  variables {
    object_lock_mode = "COMPLIANCE"
    object_lock_days = 400
  }
  assert {
    condition     = one(aws_s3_bucket_object_lock_configuration.backups).object_lock_enabled == "Enabled" && length(one(aws_s3_bucket_object_lock_configuration.backups).rule) == 0
    error_message = "Object Lock is turned on through its own resource (possible on an existing bucket), with no default retention that would pin staging/."
  }
  assert {
    condition     = aws_s3_bucket.backups.object_lock_enabled == null || !aws_s3_bucket.backups.force_destroy
    error_message = "The bucket itself never sets object_lock_enabled (a change would replace it) nor force_destroy."
  }
  assert {
    condition = (
      aws_lambda_function.this["finalize"].environment[0].variables["RUN_ARCHIVE_OBJECT_LOCK_MODE"] == "COMPLIANCE"
      && aws_lambda_function.this["finalize"].environment[0].variables["RUN_ARCHIVE_OBJECT_LOCK_DAYS"] == "400"
      && !contains(keys(aws_lambda_function.this["list"].environment[0].variables), "RUN_ARCHIVE_OBJECT_LOCK_MODE")
    )
    error_message = "Finalize (only) locks each run object with the given mode and days."
  }
  assert {
    condition = [for s in data.aws_iam_policy_document.finalize.statement : toset(s.resources) if contains(s.actions, "s3:PutObjectRetention")] == [
    toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/runs/*"])]
    error_message = "Finalize may set retention on runs/ objects only."
  }
}

run "task_runs_as_non_root_with_read_only_root_and_secret_credentials" {
  command = apply

  assert {
    condition     = jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].readonlyRootFilesystem == true
    error_message = "The root filesystem must be read-only."
  }
  assert {
    condition     = !contains(["0", "root", "0:0"], jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].user)
    error_message = "The container must not run as root."
  }
  assert {
    condition = anytrue([
      for m in jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].mountPoints :
      m.containerPath == "/scratch" && m.sourceVolume == "scratch" && m.readOnly == false
    ])
    error_message = "A writable scratch volume must be mounted at /scratch."
  }
  assert {
    condition = contains(
      jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment,
      { name = "GHBACKUP_SCRATCH_DIR", value = "/scratch" },
    )
    error_message = "GHBACKUP_SCRATCH_DIR must point at the scratch volume."
  }
  assert {
    condition = length([
      for e in jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment : e
      if contains(["GITHUB_TOKEN", "GITHUB_APP_PRIVATE_KEY"], e.name) || strcontains(e.value, "placeholder")
    ]) == 0
    error_message = "No credential may be in the plain environment."
  }
  assert {
    condition     = !contains(keys(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0]), "secrets")
    error_message = "ECS must inject no credential: `secrets` would stay in PID 1's environment."
  }
  assert {
    condition = contains(
      jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment,
      { name = "GITHUB_CREDENTIALS_PARAMETER", value = aws_ssm_parameter.github[0].name },
    )
    error_message = "The task is told where the credential is (GITHUB_CREDENTIALS_PARAMETER = the parameter's name)."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].linuxParameters.initProcessEnabled
    error_message = "The init process stays (it holds no token now)."
  }
  assert {
    condition = (
      [for s in data.aws_iam_policy_document.task.statement : toset(s.resources) if contains(s.actions, "ssm:GetParameter")] == [toset([aws_ssm_parameter.github[0].arn])]
      && anytrue([for s in data.aws_iam_policy_document.task.statement :
        toset(s.actions) == toset(["kms:Decrypt"]) && toset(s.resources) == toset([aws_kms_key.this[0].arn])
        && anytrue([for c in s.condition : c.variable == "kms:ViaService" && toset(c.values) == toset(["ssm.eu-west-1.amazonaws.com"])])
        && anytrue([for c in s.condition : c.variable == "kms:EncryptionContext:PARAMETER_ARN" && toset(c.values) == toset(["arn:aws:ssm:eu-west-1:123456789012:parameter/ghbackup/github-credentials"])])
      ])
    )
    error_message = "The task role reads exactly the parameter and decrypts it through SSM for that parameter only."
  }
  assert {
    condition = length([for s in data.aws_iam_policy_document.task_execution.statement : s if anytrue([
      for a in s.actions : startswith(a, "ssm:") || startswith(a, "secretsmanager:") || startswith(a, "kms:")
    ])]) == 0
    error_message = "The execution role no longer reads the credential."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].logConfiguration.logDriver == "awslogs"
    error_message = "The task must log with awslogs."
  }
  assert {
    condition     = aws_cloudwatch_log_group.task.kms_key_id == aws_kms_key.this[0].arn && aws_cloudwatch_log_group.task.retention_in_days == 365
    error_message = "The task log group must be KMS-encrypted with a retention."
  }
  assert {
    condition     = aws_ecs_task_definition.backup.ephemeral_storage[0].size_in_gib == 21
    error_message = "Ephemeral storage defaults to 21 GiB."
  }
  assert {
    condition     = one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE_SPOT"
    error_message = "Spot is the default capacity provider."
  }
  assert {
    condition     = aws_ssm_parameter.github[0].type == "SecureString" && aws_ssm_parameter.github[0].key_id == aws_kms_key.this[0].arn
    error_message = "The credential must be a SecureString under the customer managed key."
  }
  assert {
    condition     = aws_ssm_parameter.github[0].value_wo_version == 1
    error_message = "The placeholder must go through the write-only value_wo, so no value is kept in the state."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].linuxParameters.capabilities.drop == ["ALL"]
    error_message = "The container must drop every Linux capability."
  }
}

run "github_app_credentials_use_the_private_key_field_of_the_secret" {
  command = apply
  variables {
    credentials_store          = "secretsmanager"
    github_app_id              = "12345"
    github_app_installation_id = "67890"
    use_fargate_spot           = false
    ephemeral_storage_gib      = 200
  }
  assert {
    condition = (
      !contains(keys(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0]), "secrets")
      && contains(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment, { name = "GITHUB_CREDENTIALS_SECRET", value = aws_secretsmanager_secret.github[0].arn })
      && [for s in data.aws_iam_policy_document.task.statement : toset(s.resources) if contains(s.actions, "secretsmanager:GetSecretValue")] == [toset([aws_secretsmanager_secret.github[0].arn])]
    )
    error_message = "The task reads the App secret itself (GITHUB_CREDENTIALS_SECRET = the secret's ARN, GetSecretValue on it)."
  }
  assert {
    condition = alltrue([
      contains(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment, { name = "GITHUB_APP_ID", value = "12345" }),
      contains(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment, { name = "GITHUB_APP_INSTALLATION_ID", value = "67890" }),
    ])
    error_message = "The App and installation ids are plain environment."
  }
  assert {
    condition     = aws_lambda_function.this["list"].environment[0].variables["GITHUB_CREDENTIALS_SECRET"] == aws_secretsmanager_secret.github[0].arn && !contains(keys(aws_lambda_function.this["list"].environment[0].variables), "GITHUB_CREDENTIALS_PARAMETER")
    error_message = "The functions must be pointed at the secret."
  }
  assert {
    condition     = length(aws_ssm_parameter.github) == 0
    error_message = "No SSM parameter when Secrets Manager holds the credential."
  }
  assert {
    condition     = one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE"
    error_message = "use_fargate_spot = false must run on on-demand Fargate."
  }
  assert {
    condition     = aws_ecs_task_definition.backup.ephemeral_storage[0].size_in_gib == 200
    error_message = "Ephemeral storage must follow the variable."
  }
  assert {
    condition     = aws_secretsmanager_secret_version.github[0].secret_string_wo_version == 1
    error_message = "The placeholder secret must go through the write-only secret_string_wo."
  }
}

run "functions_share_one_zip_and_follow_the_design_contract" {
  command = apply
  assert {
    condition = { for k, f in aws_lambda_function.this : k => f.handler } == {
      validate = "tasks.validate_input.handler"
      list     = "tasks.list_items.handler"
      finalize = "tasks.finalize_run.handler"
    }
    error_message = "Each function must use its handler from tasks/."
  }
  assert {
    condition     = length(distinct([for f in aws_lambda_function.this : f.source_code_hash])) == 1 && alltrue([for f in aws_lambda_function.this : f.runtime == "python3.12" && f.tracing_config[0].mode == "Active"])
    error_message = "All functions run the same zip on python3.12 with active tracing."
  }
  assert {
    condition = alltrue([for k, f in aws_lambda_function.this : keys(f.environment[0].variables) == sort(concat([
      "BACKUP_BUCKET", "DEFAULT_INPUT", "GITHUB_API_URL", "GITHUB_CREDENTIALS_PARAMETER",
      "POWERTOOLS_SERVICE_NAME", "RUN_ARCHIVE_KMS_KEY_ID", "RUN_ARCHIVE_STORAGE_CLASS",
    ], k == "finalize" ? ["LATEST_STORAGE_CLASS", "RUN_ARCHIVE_OBJECT_LOCK_DAYS", "RUN_ARCHIVE_OBJECT_LOCK_MODE"] : []))])
    error_message = "The function environment must match docs/design.md."
  }
  assert {
    condition     = alltrue([for g in aws_cloudwatch_log_group.lambda : g.retention_in_days == 365 && g.kms_key_id == aws_kms_key.this[0].arn])
    error_message = "Function log groups must be encrypted and have a retention."
  }
}

run "state_machine_role_names_every_resource_it_touches" {
  command = apply

  assert {
    condition = toset(flatten([
      for s in data.aws_iam_policy_document.state_machine.statement : s.resources if contains(s.resources, "*")
      ])) == toset(["*"]) && toset([
      for s in data.aws_iam_policy_document.state_machine.statement : s.sid if contains(s.resources, "*")
    ]) == toset(["SendTraces", "DeliverExecutionLogs"])
    error_message = "Only X-Ray and log delivery may use \"*\"."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
      toset(s.actions) == toset(["ecs:RunTask"]) && toset(s.resources) == toset(["arn:aws:ecs:eu-west-1:123456789012:task-definition/ghbackup:*"])
    && anytrue([for c in s.condition : c.variable == "ecs:cluster" && toset(c.values) == toset([aws_ecs_cluster.this.arn])])])
    error_message = "ecs:RunTask must allow every revision of the backup family (a run in progress names the old one), in this cluster only."
  }
  assert {
    condition     = aws_ecs_task_definition.backup.skip_destroy
    error_message = "A new image must not deregister the revision a running execution still names."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
    contains(s.actions, "iam:PassRole") && toset(s.resources) == toset([aws_iam_role.task_execution.arn, aws_iam_role.task.arn])])
    error_message = "iam:PassRole must name the task's execution and task roles."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
    contains(s.actions, "events:PutRule") && toset(s.resources) == toset(["arn:aws:events:eu-west-1:123456789012:rule/StepFunctionsGetEventsForECSTaskRule"])])
    error_message = "The .sync rule must be named."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
    toset(s.actions) == toset(["states:StartExecution"]) && toset(s.resources) == toset(["arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup"])])
    error_message = "Distributed Map may start only its own machine's child executions."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
      contains(s.actions, "lambda:InvokeFunction") && toset(s.resources) == toset([
        "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-validate",
        "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-list",
        "arn:aws:lambda:eu-west-1:123456789012:function:ghbackup-finalize",
    ])])
    error_message = "lambda:InvokeFunction must name the three functions."
  }
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.state_machine.statement : [for r in s.resources : r if startswith(r, "arn:aws:s3")]])) == toset([
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/items.json",
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/batches.json",
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/map-results/*",
    ])
    error_message = "The machine reads only the item list and writes only the Map results."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
    toset(s.actions) == toset(["sns:Publish"]) && toset(s.resources) == toset([aws_sns_topic.notifications.arn])])
    error_message = "sns:Publish must name the topic."
  }
  assert {
    condition = (
      flatten([for s in data.aws_iam_policy_document.task.statement : [for r in s.resources : r if startswith(r, "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/")] if contains(s.actions, "s3:PutObject")]) == [
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/items/*"]
      && toset(flatten([for s in data.aws_iam_policy_document.task.statement : s.actions])) == toset([
        "s3:PutObject", "s3:AbortMultipartUpload", "s3:GetObject", "s3:ListBucket", "kms:GenerateDataKey", "kms:Decrypt",
        "ssm:GetParameter",
      ])
    )
    error_message = "The task may only write under staging/R/items/ (and read its item list)."
  }
  assert {
    condition     = alltrue([for s in data.aws_iam_policy_document.task.statement : toset(s.actions) == toset(["s3:GetObject"]) if anytrue([for r in s.resources : strcontains(r, "/latest/")])]) && contains(flatten([for s in data.aws_iam_policy_document.task.statement : s.resources]), "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/latest/*")
    error_message = "The task reads latest/ (pages, states, warm copies to stage) and never writes it."
  }
  assert {
    condition     = aws_sfn_state_machine.this.logging_configuration[0].level == "ERROR" && !aws_sfn_state_machine.this.logging_configuration[0].include_execution_data && aws_sfn_state_machine.this.tracing_configuration[0].enabled
    error_message = "The state machine logs errors without execution data by default and is traced."
  }
  assert {
    condition     = aws_sfn_state_machine.this.encryption_configuration[0].type == "CUSTOMER_MANAGED_KMS_KEY" && aws_sfn_state_machine.this.encryption_configuration[0].kms_key_id == aws_kms_key.this[0].arn
    error_message = "The state machine's executions must be encrypted with the module's key."
  }
  assert {
    condition     = strcontains(aws_sfn_state_machine.this.definition, "\"assign_public_ip\": \"ENABLED\"") && strcontains(aws_sfn_state_machine.this.definition, "\"max_concurrency\": \"10\"")
    error_message = "The definition must be filled in: public IP for the created public subnets, max_concurrency as a string."
  }
}

run "schedule_defaults_to_monthly_with_retries" {
  command = apply
  assert {
    condition     = aws_scheduler_schedule.backup.schedule_expression == "cron(0 10 1 * ? *)" && aws_scheduler_schedule.backup.schedule_expression_timezone == "UTC"
    error_message = "The default schedule is 10:00 UTC on the 1st of each month."
  }
  assert {
    condition     = aws_scheduler_schedule.backup.target[0].input == "{}" && aws_scheduler_schedule.backup.target[0].retry_policy[0].maximum_retry_attempts == 3
    error_message = "Scheduled runs start with {} and are retried."
  }
  assert {
    condition     = toset(data.aws_iam_policy_document.scheduler.statement[0].actions) == toset(["states:StartExecution"]) && toset(data.aws_iam_policy_document.scheduler.statement[0].resources) == toset([aws_sfn_state_machine.this.arn])
    error_message = "The scheduler may only start this state machine."
  }
  assert {
    condition     = toset(jsondecode(aws_cloudwatch_event_rule.run_failed.event_pattern).detail.status) == toset(["FAILED", "TIMED_OUT", "ABORTED"])
    error_message = "Failed, timed out and aborted runs must notify."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.executions_failed[0].metric_name == "ExecutionsFailed" && toset(aws_cloudwatch_metric_alarm.executions_failed[0].alarm_actions) == toset([aws_sns_topic.notifications.arn])
    error_message = "Failed executions must raise an alarm on the topic."
  }
  assert {
    condition     = aws_sns_topic.notifications.kms_master_key_id == aws_kms_key.this[0].arn
    error_message = "The topic must be encrypted with the customer managed key."
  }
}

run "given_network_is_used_without_creating_a_vpc" {
  command = apply
  variables {
    subnet_ids         = ["subnet-0a1b2c3d"]
    security_group_ids = ["sg-0a1b2c3d"]
  }
  assert {
    condition     = length(aws_vpc.this) == 0 && length(aws_subnet.public) == 0
    error_message = "No VPC when subnets are given."
  }
  assert {
    condition     = strcontains(aws_sfn_state_machine.this.definition, "\"subnets\": \"subnet-0a1b2c3d\"") && strcontains(aws_sfn_state_machine.this.definition, "\"assign_public_ip\": \"DISABLED\"")
    error_message = "The given subnets are used, without a public IP unless asked for."
  }
}

run "created_vpc_has_public_subnets_and_egress_only_https" {
  command = plan
  assert {
    condition     = length(aws_subnet.public) == 2 && length(aws_route.internet) == 1
    error_message = "Two public subnets routed to an internet gateway."
  }
  assert {
    condition     = aws_vpc_security_group_egress_rule.https[0].from_port == 443 && aws_vpc_security_group_egress_rule.https[0].to_port == 443
    error_message = "Tasks may only open HTTPS connections."
  }
}

run "invalid_fargate_size_is_refused" {
  command = plan
  variables {
    task_cpu    = 256
    task_memory = 4096
  }
  expect_failures = [aws_ecs_task_definition.backup]
}

run "github_app_with_ssm_is_refused" {
  command = plan
  variables {
    github_app_id              = "1"
    github_app_installation_id = "2"
  }
  expect_failures = [var.github_app_installation_id]
}

run "ephemeral_storage_above_200_gib_is_refused" {
  command = plan
  variables {
    ephemeral_storage_gib = 201
  }
  expect_failures = [var.ephemeral_storage_gib]
}

run "the_real_workflow_definition_renders_with_every_placeholder_filled" {
  command = apply
  variables {
    # null: the module's own path, workflow/state_machine.asl.json.
    state_machine_definition_path = null
  }
  assert {
    condition     = !strcontains(aws_sfn_state_machine.this.definition, "$${") && can(jsondecode(aws_sfn_state_machine.this.definition))
    error_message = "workflow/state_machine.asl.json must render to JSON with no placeholder left."
  }
  assert {
    condition     = strcontains(aws_sfn_state_machine.this.definition, aws_ecs_task_definition.backup.arn) && strcontains(aws_sfn_state_machine.this.definition, aws_lambda_function.this["finalize"].arn)
    error_message = "The rendered definition must name the task definition and the functions."
  }
}

run "each_function_has_its_own_role_with_only_what_it_calls" {
  command = apply

  assert {
    condition     = length(distinct([for f in aws_lambda_function.this : f.role])) == 3 || length(aws_iam_role.lambda) == 3
    error_message = "Each function must have its own role."
  }
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.lambda_common["validate"].statement : s.actions])) == toset([
      "logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords",
    ])
    error_message = "validate may only write its logs and traces."
  }
  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.list.statement : [for r in s.resources : r if startswith(r, "arn:aws:s3")] if !contains(s.actions, "s3:ListBucket")])) == toset([
        "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/items.json",
        "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/batches.json",
        "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/reused.json",
        "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/staging/*/items/*",
        "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/latest/*",
      ])
      && toset(flatten([for s in data.aws_iam_policy_document.list.statement : s.actions if anytrue([for r in s.resources : startswith(r, "arn:aws:s3")])])) == toset(["s3:PutObject", "s3:GetObject", "s3:ListBucket"])
      && anytrue([for s in data.aws_iam_policy_document.list.statement : toset(s.actions) == toset(["s3:ListBucket"]) && anytrue([for c in s.condition : c.variable == "s3:prefix" && toset(c.values) == toset(["latest/*"])])])
      && alltrue([for s in data.aws_iam_policy_document.list.statement : !contains(s.actions, "s3:GetObject") || toset(s.resources) == toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/latest/*"])])
      && anytrue([for s in data.aws_iam_policy_document.list.statement : contains(s.actions, "ssm:GetParameter") && toset(s.resources) == toset([aws_ssm_parameter.github[0].arn])])
    )
    error_message = "list may read the credential, write staging/*/items.json, batches.json and reused items, and read latest/ only."
  }
  assert {
    condition = !anytrue([for s in data.aws_iam_policy_document.finalize.statement :
    anytrue([for a in s.actions : startswith(a, "ssm:") || startswith(a, "secretsmanager:")])])
    error_message = "finalize must not read the credential."
  }
  assert {
    condition = !anytrue(flatten([for d in [data.aws_iam_policy_document.list, data.aws_iam_policy_document.finalize, data.aws_iam_policy_document.task, data.aws_iam_policy_document.state_machine] :
    [for s in d.statement : contains(s.actions, "kms:Encrypt")]]))
    error_message = "Nothing calls kms:Encrypt: no role may have it."
  }
}

run "key_policy_scopes_each_service_to_this_deployment" {
  command = apply

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.kms[0].statement :
      contains(flatten([for p in s.principals : tolist(p.identifiers)]), "events.amazonaws.com")
      && toset(s.condition[*].variable) == toset(["kms:EncryptionContext:aws:sns:topicArn"])
      && toset(flatten(s.condition[*].values)) == toset(["arn:aws:sns:eu-west-1:123456789012:ghbackup-notifications"])
    ])
    error_message = "EventBridge may use the key only for the topic (encryption context), not under aws:SourceAccount."
  }
  assert {
    condition = [for s in data.aws_iam_policy_document.kms[0].statement : toset(flatten(s.condition[*].values)) if s.sid == "CloudWatchLogsEncryptsTheModulesLogGroups"] == [toset([
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/ecs/ghbackup",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vendedlogs/states/ghbackup",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-validate",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-list",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-finalize",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-drill-plan",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-drill-check",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/ghbackup-drill-report",
      "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vpc/ghbackup-flow-logs", # hardened: flow logs on
    ])]
    error_message = "CloudWatch Logs may use the key for the module's own log groups only."
  }
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.kms[0].statement :
      contains(s.condition[*].variable, "kms:ViaService") || contains(s.condition[*].variable, "kms:EncryptionContext:aws:logs:arn") || contains(s.condition[*].variable, "kms:EncryptionContext:aws:sns:topicArn") || contains(s.condition[*].variable, "kms:EncryptionContext:aws:states:stateMachineArn") || contains(s.condition[*].variable, "kms:EncryptionContext:SourceArn")
      if length(setintersection(toset(s.actions), toset(["kms:Decrypt", "kms:Decrypt*", "kms:GenerateDataKey", "kms:GenerateDataKey*"]))) > 0
    ])
    error_message = "Every statement that lets someone decrypt or get a data key must be conditioned on a service or this deployment's resource."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.kms[0].statement :
      s.sid == "AccountUsesTheKeyThroughTheStoringServices" && contains(s.condition[*].variable, "kms:ViaService") && toset(flatten(s.condition[*].values)) == toset([
        "s3.eu-west-1.amazonaws.com", "sns.eu-west-1.amazonaws.com",
        "ecr.eu-west-1.amazonaws.com", "lambda.eu-west-1.amazonaws.com", "states.eu-west-1.amazonaws.com", "123456789012",
    ])])
    error_message = "The account uses the key for the data only through the storing services (not SSM: the credential has its own statements)."
  }
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.kms[0].statement :
      !anytrue([for a in s.actions : a == "kms:*" || a == "kms:Create*" || a == "kms:Decrypt" || a == "kms:Decrypt*" || a == "kms:Encrypt" || a == "kms:CreateGrant"])
    if s.sid == "AccountAdministersTheKey"])
    error_message = "The administrators' statement names management actions only: no crypto, no CreateGrant (kms:Create* would include it)."
  }
  assert {
    condition = alltrue([for s in data.aws_iam_policy_document.kms[0].statement :
      anytrue([for c in s.condition : c.variable == "kms:GrantIsForAWSResource" && toset(c.values) == toset(["true"])])
    if contains(s.actions, "kms:CreateGrant")])
    error_message = "CreateGrant only for an AWS resource (kms:GrantIsForAWSResource)."
  }
  assert {
    condition = (
      [for s in data.aws_iam_policy_document.kms[0].statement : toset(flatten([for p in s.principals : tolist(p.identifiers)])) if contains(s.actions, "kms:Decrypt") && contains(s.condition[*].variable, "kms:EncryptionContext:PARAMETER_ARN") && s.sid != "TerraformRefreshesTheCredential"]
      == [toset([aws_iam_role.lambda["list"].arn, aws_iam_role.task.arn])]
      && alltrue([for s in data.aws_iam_policy_document.kms[0].statement : !contains(flatten([for c in s.condition : tolist(c.values)]), "ssm.eu-west-1.amazonaws.com") || !contains(s.actions, "kms:Decrypt") || contains(s.condition[*].variable, "kms:EncryptionContext:PARAMETER_ARN")])
    )
    error_message = "Only the list function's role and the task role may decrypt the credential (SSM, this parameter)."
  }
  assert {
    condition     = [for s in data.aws_iam_policy_document.kms[0].statement : toset(flatten([for p in s.principals : tolist(p.identifiers)])) if s.sid == "TerraformRefreshesTheCredential"] == [toset(["arn:aws:iam::123456789012:role/deployer"])]
    error_message = "The principal running Terraform may decrypt the parameter (the provider's refresh reads it decrypted): the role, not its session."
  }
  assert {
    condition = (
      anytrue([for s in data.aws_iam_policy_document.kms[0].statement :
        contains(flatten([for p in s.principals : tolist(p.identifiers)]), "delivery.logs.amazonaws.com")
        && anytrue([for c in s.condition : c.variable == "kms:EncryptionContext:SourceArn" && toset(c.values) == toset(["arn:aws:logs:eu-west-1:123456789012:*"])])
      ])
      && anytrue([for s in data.aws_iam_policy_document.state_machine.statement :
        contains(s.actions, "kms:GenerateDataKey") && anytrue([for c in s.condition : c.variable == "kms:EncryptionContext:SourceArn" && toset(c.values) == toset(["arn:aws:logs:eu-west-1:123456789012:*"])])
      ])
    )
    error_message = "Step Functions log delivery follows AWS's policy: SourceArn = the account's logs, for delivery.logs and the state machine role's GenerateDataKey."
  }
  assert {
    condition = alltrue(flatten([for d in [data.aws_iam_policy_document.list, data.aws_iam_policy_document.finalize, data.aws_iam_policy_document.task, data.aws_iam_policy_document.state_machine, data.aws_iam_policy_document.scheduler, data.aws_iam_policy_document.operator] : [
      for s in d.statement : anytrue([for c in s.condition : startswith(c.variable, "kms:EncryptionContext:")])
      if anytrue([for a in s.actions : startswith(a, "kms:")])
    ]]))
    error_message = "Every role's KMS statement names the resource it is for (encryption context)."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.kms[0].statement :
    contains(s.condition[*].variable, "kms:EncryptionContext:aws:states:stateMachineArn") && contains(s.condition[*].variable, "kms:ViaService")])
    error_message = "Step Functions may use the key for this state machine, through states, only."
  }
}

run "bucket_refuses_uploads_under_another_key_and_keeps_old_versions_long_enough" {
  command = apply

  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && toset(s.actions) == toset(["s3:PutObject"])
      && anytrue([for c in s.condition : c.test == "Null" && c.variable == "s3:x-amz-server-side-encryption-aws-kms-key-id" && toset(c.values) == toset(["false"])])
      && anytrue([for c in s.condition : c.test == "StringNotEquals" && c.variable == "s3:x-amz-server-side-encryption-aws-kms-key-id" && toset(c.values) == toset([aws_kms_key.this[0].arn])])
    ])
    error_message = "An upload naming another KMS key must be denied (an upload naming none gets the bucket default)."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && toset(s.actions) == toset(["s3:PutObject"])
      && anytrue([for c in s.condition : c.test == "StringNotEquals" && c.variable == "s3:x-amz-server-side-encryption" && toset(c.values) == toset(["aws:kms"])])
    ])
    error_message = "An upload asking for another encryption algorithm must be denied."
  }
  assert {
    condition = [
      for r in aws_s3_bucket_lifecycle_configuration.backups.rule : one(r.noncurrent_version_expiration).noncurrent_days if r.id == "expire-runs"
    ] == [90]
    error_message = "Replaced run archives in GLACIER are kept the class's 90-day minimum."
  }
}

run "noncurrent_expiry_below_the_archive_class_minimum_is_refused" {
  command = plan
  variables {
    run_archive_storage_class          = "DEEP_ARCHIVE"
    noncurrent_version_expiration_days = 90
  }
  expect_failures = [var.noncurrent_version_expiration_days]
}

run "plain_http_github_api_url_is_refused" {
  command = plan
  variables {
    github_api_url = "http://github.example.com/api/v3"
  }
  expect_failures = [var.github_api_url]
}

run "created_vpc_reaches_s3_through_a_gateway_endpoint_and_logs_flows_only_when_asked" {
  command = apply
  variables {
    cost_profile = "minimal"
  }

  assert {
    condition     = aws_vpc_endpoint.s3[0].vpc_endpoint_type == "Gateway" && aws_vpc_endpoint.s3[0].service_name == "com.amazonaws.eu-west-1.s3"
    error_message = "The created VPC needs an S3 gateway endpoint."
  }
  assert {
    condition     = length(aws_flow_log.this) == 0
    error_message = "Flow logs are off by default."
  }
}

run "flow_logs_and_access_logs_are_options" {
  command = apply
  variables {
    cost_profile      = "standard"
    encryption        = "customer-managed-kms"
    vpc_flow_logs     = true
    s3_access_logging = true
  }
  assert {
    condition     = aws_flow_log.this[0].traffic_type == "ALL" && aws_cloudwatch_log_group.flow_logs[0].kms_key_id == aws_kms_key.this[0].arn
    error_message = "vpc_flow_logs records all traffic into an encrypted log group."
  }
  assert {
    condition     = aws_s3_bucket_logging.backups[0].target_bucket == aws_s3_bucket.access_logs[0].id
    error_message = "s3_access_logging writes to the access-log bucket."
  }
  assert {
    condition = contains([for s in data.aws_iam_policy_document.kms[0].statement : toset(flatten(s.condition[*].values)) if s.sid == "CloudWatchLogsEncryptsTheModulesLogGroups"][0],
    "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/vpc/ghbackup-flow-logs")
    error_message = "The key policy must let CloudWatch Logs encrypt the flow log group."
  }
}

# --- Cost profiles (profiles.tf) ------------------------------------------------------------

run "minimal_profile_creates_no_key_and_no_alarm_and_keeps_the_protections" {
  command = apply
  variables {
    cost_profile = "minimal"
  }
  assert {
    condition     = length(aws_kms_key.this) == 1 && aws_ssm_parameter.github[0].key_id == aws_kms_key.this[0].arn
    error_message = "minimal pays for the key ($1 a month) that keeps the credential to its two readers, and only the credential uses it."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.executions_failed) == 0 && aws_cloudwatch_event_target.run_failed.arn == aws_sns_topic.notifications.arn
    error_message = "minimal has no alarm; the free EventBridge notification stays."
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    error_message = "minimal encrypts the bucket with SSE-S3."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && anytrue([for c in s.condition : c.variable == "s3:x-amz-server-side-encryption" && c.test == "StringNotEquals" && toset(c.values) == toset(["AES256"])])
    ])
    error_message = "minimal's bucket refuses uploads that ask for another encryption."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && contains(s.actions, "s3:*") && anytrue([for c in s.condition : c.variable == "aws:SecureTransport"])
    ]) && aws_s3_bucket_public_access_block.backups.restrict_public_buckets && aws_s3_bucket_versioning.backups.versioning_configuration[0].status == "Enabled"
    error_message = "Every profile keeps the bucket private, versioned and TLS-only."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && contains(s.actions, "s3:GetObject*") && contains(s.actions, "s3:PutObject*")
      && anytrue([for c in s.condition : c.test == "ArnNotEquals" && c.variable == "aws:PrincipalArn" && toset(c.values) == toset([
        aws_iam_role.task.arn, aws_iam_role.lambda["list"].arn, aws_iam_role.lambda["finalize"].arn, aws_iam_role.state_machine.arn,
      ])])
    ])
    error_message = "Every profile denies the objects to every principal but the module's roles (and operator_principal_arns)."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.effect == "Deny" && contains(s.actions, "s3:PutObject")
      && anytrue([for c in s.condition : c.test == "Null" && c.variable == "s3:x-amz-server-side-encryption-customer-algorithm" && toset(c.values) == toset(["false"])])
    ])
    error_message = "Uploads with customer-provided keys (SSE-C) are denied."
  }
  assert {
    condition = (
      aws_ecs_task_definition.backup.cpu == "512" && aws_ecs_task_definition.backup.memory == "1024"
      && one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE_SPOT"
    )
    error_message = "minimal runs 0.5 vCPU / 1 GB tasks on Fargate Spot."
  }
  assert {
    condition     = jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[2].selection.countNumber == 3 && aws_ecr_repository.this.encryption_configuration[0].encryption_type == "KMS"
    error_message = "minimal keeps the last 3 images; the repository keeps the encryption it was created with (KMS: the hardened runs before this one created it), since a change would replace it."
  }
  assert {
    condition     = aws_cloudwatch_log_group.task.retention_in_days == 30 && aws_cloudwatch_log_group.task.kms_key_id == null
    error_message = "minimal keeps logs 30 days."
  }
  assert {
    condition     = aws_sfn_state_machine.this.encryption_configuration[0].type == "AWS_OWNED_KEY"
    error_message = "Without the module's key the state machine uses Step Functions' own key."
  }
  assert {
    condition     = !contains(keys(aws_lambda_function.this["finalize"].environment[0].variables), "RUN_ARCHIVE_KMS_KEY_ID")
    error_message = "Without the module's key Finalize names no key: the bucket default applies."
  }
  assert {
    condition = alltrue(flatten([for d in [data.aws_iam_policy_document.finalize, data.aws_iam_policy_document.task_execution, data.aws_iam_policy_document.state_machine] :
      [for s in d.statement : length(s.condition) > 0 && !anytrue(flatten([for c in s.condition : [for v in c.values : startswith(v, "ssm.") || startswith(v, "secretsmanager.")]]))
    if anytrue([for a in s.actions : startswith(a, "kms:")])]]))
    error_message = "With the key kept for the credential, the other roles use it only through the storing services (what was written under it before stays readable), never through SSM or Secrets Manager."
  }
}

run "minimal_profile_keeps_object_lock_available" {
  command = plan
  variables {
    cost_profile     = "minimal"
    object_lock_mode = "GOVERNANCE"
  }
  assert {
    condition     = length(aws_s3_bucket_object_lock_configuration.backups) == 1 && one(aws_s3_bucket_object_lock_configuration.backups).object_lock_enabled == "Enabled"
    error_message = "Object Lock is available in every profile, without touching the bucket resource."
  }
}

run "standard_profile_uses_the_aws_managed_s3_key_with_bucket_keys_and_an_alarm" {
  command = apply
  variables {
    cost_profile = "standard"
  }
  assert {
    condition = (
      one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "aws:kms"
      && one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == null
      && one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).bucket_key_enabled
    )
    error_message = "standard uses SSE-KMS with aws/s3 and bucket keys."
  }
  assert {
    condition     = length(aws_kms_key.this) == 1 && length(aws_cloudwatch_metric_alarm.executions_failed) == 1 && aws_sfn_state_machine.this.encryption_configuration[0].type == "AWS_OWNED_KEY"
    error_message = "standard has the alarm and the credential's key, used for nothing else."
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
    s.effect == "Deny" && [for c in s.condition : c.variable] == ["s3:x-amz-server-side-encryption-aws-kms-key-id"]])
    error_message = "standard's bucket refuses uploads naming any key (the bucket default is aws/s3)."
  }
}

run "hardened_profile_uses_the_customer_managed_key_for_everything_with_alarm_and_logs" {
  command = apply
  assert {
    condition     = length(aws_kms_key.this) == 1 && length(aws_cloudwatch_metric_alarm.executions_failed) == 1
    error_message = "hardened creates the customer managed key and the alarm."
  }
  assert {
    condition = alltrue([
      one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].kms_master_key_id == aws_kms_key.this[0].arn,
      aws_ssm_parameter.github[0].key_id == aws_kms_key.this[0].arn,
      aws_sns_topic.notifications.kms_master_key_id == aws_kms_key.this[0].arn,
      aws_cloudwatch_log_group.task.kms_key_id == aws_kms_key.this[0].arn,
      aws_ecr_repository.this.encryption_configuration[0].kms_key == aws_kms_key.this[0].arn,
    ])
    error_message = "hardened encrypts bucket, credential, topic, logs and images with the module's key."
  }
  assert {
    condition     = length(aws_flow_log.this) == 1 && length(aws_s3_bucket_logging.backups) == 1 && aws_cloudwatch_log_group.task.retention_in_days == 365
    error_message = "hardened turns on flow logs and access logs and keeps logs a year."
  }
}

run "profile_choices_are_overridden_one_by_one" {
  command = apply
  variables {
    cost_profile       = "minimal"
    credentials_key    = "module-key"
    failure_alarm      = true
    log_retention_days = 90
    use_fargate_spot   = false
  }
  assert {
    condition     = length(aws_kms_key.this) == 1 && aws_ssm_parameter.github[0].key_id == aws_kms_key.this[0].arn
    error_message = "credentials_key = module-key creates the key for the credential."
  }
  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.backups.rule).apply_server_side_encryption_by_default[0].sse_algorithm == "AES256"
    error_message = "The bucket keeps the profile's encryption unless encryption is set."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.executions_failed) == 1 && aws_cloudwatch_log_group.task.retention_in_days == 90
    error_message = "failure_alarm and log_retention_days override the profile."
  }
  assert {
    condition     = one(aws_ecs_cluster_capacity_providers.this.default_capacity_provider_strategy).capacity_provider == "FARGATE"
    error_message = "use_fargate_spot overrides the profile."
  }
}

run "unknown_cost_profile_is_refused" {
  command = plan
  variables {
    cost_profile = "cheap"
  }
  expect_failures = [var.cost_profile]
}

run "batching_settings_reach_the_functions_and_the_task" {
  command = apply
  variables {
    batch_max_items     = 40
    capture_concurrency = 5
  }
  assert {
    condition     = alltrue([for f in aws_lambda_function.this : jsondecode(f.environment[0].variables.DEFAULT_INPUT).batch_max_items == 40 && jsondecode(f.environment[0].variables.DEFAULT_INPUT).batch_max_bytes == 2147483648])
    error_message = "The batch defaults must reach DEFAULT_INPUT."
  }
  assert {
    condition     = contains(jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].environment, { name = "GHBACKUP_CONCURRENCY", value = "5" })
    error_message = "capture_concurrency must reach the task as GHBACKUP_CONCURRENCY."
  }
  assert {
    condition     = jsondecode(aws_ecs_task_definition.backup.container_definitions)[0].stopTimeout == 120
    error_message = "The task must get two minutes after SIGTERM, as Fargate Spot gives."
  }
}

run "tasks_times_captures_above_githubs_100_concurrent_requests_is_refused" {
  command = plan
  variables {
    max_concurrency     = 30
    capture_concurrency = 4
  }
  expect_failures = [var.capture_concurrency]
}

run "full_capture_after_days_must_be_whole_days" {
  command = plan
  variables {
    full_capture_after_days = 0.5
  }
  expect_failures = [var.full_capture_after_days]
}

run "warm_copies_are_kept_in_their_class_and_read_by_the_list_step" {
  command = apply
  variables {
    latest_storage_class    = "STANDARD"
    full_capture_after_days = 7
  }
  assert {
    condition     = jsondecode(aws_lambda_function.this["validate"].environment[0].variables.DEFAULT_INPUT).full_capture_after_days == 7
    error_message = "full_capture_after_days must reach the runs as their default execution input."
  }
  assert {
    condition     = aws_lambda_function.this["finalize"].environment[0].variables.LATEST_STORAGE_CLASS == "STANDARD"
    error_message = "Finalize must keep the warm copies in latest_storage_class."
  }
  assert {
    condition     = contains([for s in data.aws_iam_policy_document.list.statement : s.sid], "ReadTheWarmCopies") && contains([for s in data.aws_iam_policy_document.finalize.statement : s.sid], "KeepTheWarmCopies")
    error_message = "The list step reads latest/, Finalize writes it."
  }
  assert {
    condition     = contains([for r in aws_s3_bucket_lifecycle_configuration.backups.rule : r.id], "expire-replaced-warm-copies")
    error_message = "Replaced warm copies must expire."
  }
}

run "personal_profile_drops_the_key_and_keeps_the_credential_under_aws_ssm" {
  command = apply
  variables {
    cost_profile = "personal"
  }
  # The runs before created the parameter under the module's key. Terraform keeps it there
  # (rewriting it would put an empty value or the placeholder) and the check says how to move
  # the token. (The real module also refuses to delete the key: prevent_destroy.)
  expect_failures = [check.credential_key]
  assert {
    condition     = length(aws_kms_key.this) == 0 && aws_ssm_parameter.github[0].key_id == "arn:aws:kms:eu-west-1:123456789012:key/00000000-0000-0000-0000-000000000000" && aws_ssm_parameter.github[0].value_wo_version == 1
    error_message = "A change of the credential's key leaves the parameter (and the operator's token) as it is."
  }
  assert {
    condition = !anytrue(flatten([for d in [data.aws_iam_policy_document.list, data.aws_iam_policy_document.finalize, data.aws_iam_policy_document.task, data.aws_iam_policy_document.task_execution, data.aws_iam_policy_document.state_machine] :
    [for s in d.statement : anytrue([for a in s.actions : startswith(a, "kms:")])]]))
    error_message = "Without the module's key no role has a KMS statement."
  }
}

run "operator_principals_read_the_backups_and_get_the_operator_policy" {
  command = apply
  variables {
    operator_principal_arns = ["arn:aws:iam::123456789012:role/admins/backup-operator", "arn:aws:iam::123456789012:user/alice"]
  }
  assert {
    condition = anytrue([for s in data.aws_iam_policy_document.bucket.statement :
      s.sid == "DenyObjectsToEveryoneElse" && anytrue([for c in s.condition : contains(c.values, "arn:aws:iam::123456789012:role/admins/backup-operator") && contains(c.values, "arn:aws:iam::123456789012:user/alice")])
    ])
    error_message = "operator_principal_arns are let through the bucket policy."
  }
  assert {
    condition     = keys(aws_iam_role_policy_attachment.operator) == ["arn:aws:iam::123456789012:role/admins/backup-operator"] && aws_iam_role_policy_attachment.operator["arn:aws:iam::123456789012:role/admins/backup-operator"].role == "backup-operator" && aws_iam_user_policy_attachment.operator["arn:aws:iam::123456789012:user/alice"].user == "alice"
    error_message = "The operator policy is attached to each operator role and user by name."
  }
  assert {
    condition = (
      toset(flatten([for s in data.aws_iam_policy_document.operator.statement : s.actions])) == toset([
        "s3:ListBucket", "s3:GetObject", "s3:RestoreObject", "states:StartExecution", "states:DescribeExecution", "states:DescribeStateMachine", "lambda:GetFunctionConfiguration", "kms:Decrypt", "kms:GenerateDataKey",
      ])
      && [for s in data.aws_iam_policy_document.operator.statement : toset(s.resources) if contains(s.actions, "s3:RestoreObject")] == [toset(["arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/runs/*"])]
      && [for s in data.aws_iam_policy_document.operator.statement : toset(s.resources) if contains(s.actions, "states:StartExecution")] == [toset(["arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup", "arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup-drill"])]
      && [for s in data.aws_iam_policy_document.operator.statement : toset(s.resources) if contains(s.actions, "states:DescribeStateMachine")] == [toset(["arn:aws:states:eu-west-1:123456789012:stateMachine:ghbackup", aws_lambda_function.this["validate"].arn])]
    )
    error_message = "The operator policy allows what runs/show/get/restore --run/start/watch/cost/drill call, on this deployment only; nothing writes or deletes objects."
  }
}

run "image_in_use_is_never_expired_and_the_endpoint_reaches_only_this_bucket_and_ecr_layers" {
  command = apply
  variables {
    image_tag = "1.2.3"
  }
  assert {
    condition = (
      jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].rulePriority == 1
      && jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection.tagPatternList == ["1.2.3"]
      && jsondecode(aws_ecr_lifecycle_policy.this.policy).rules[0].selection.countNumber >= 1
      && [for r in jsondecode(aws_ecr_lifecycle_policy.this.policy).rules : r.rulePriority if r.selection.tagStatus == "any"] == [3]
    )
    error_message = "The first lifecycle rule claims the tag in use, so the keep-N rule can never expire it."
  }
  assert {
    condition = toset(flatten([for s in data.aws_iam_policy_document.s3_endpoint[0].statement : s.resources])) == toset([
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1",
      "arn:aws:s3:::ghbackup-backups-123456789012-eu-west-1/*",
      "arn:aws:s3:::prod-eu-west-1-starport-layer-bucket/*",
      "arn:aws:s3:::github-cloud/*",
    ]) && aws_vpc_endpoint.s3[0].policy != null
    error_message = "The S3 gateway endpoint reaches only the backup bucket, ECR's layer bucket and GitHub's LFS storage."
  }
  assert {
    condition     = contains(keys(aws_ecr_repository.this.encryption_configuration[0]), "encryption_type") && one(aws_s3_bucket.backups[*].force_destroy) == false
    error_message = "The bucket never has force_destroy."
  }
}
