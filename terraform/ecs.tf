resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_65:Container Insights is a variable (container_insights), off by default: its metrics cost more than a monthly backup run; task logs and Step Functions history cover diagnosis.
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.container_insights ? "enabled" : "disabled"
  }

  tags = local.tags
}

# The state machine's runTask names no launch type, so this default strategy decides
# between Fargate and Fargate Spot.
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = local.use_fargate_spot ? "FARGATE_SPOT" : "FARGATE"
    weight            = 1
    base              = 0
  }
}

resource "aws_cloudwatch_log_group" "task" {
  name              = local.task_log_group_name
  retention_in_days = local.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_ecs_task_definition" "backup" {
  family = local.task_family
  # A new image registers a new revision; the old one stays active, so the batches a run in
  # progress has not started yet still start (the state machine role may run every revision).
  skip_destroy             = true
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(local.task_cpu)
  memory                   = tostring(local.task_memory)
  execution_role_arn       = aws_iam_role.task_execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    # Fargate Spot runs x86_64 only.
    cpu_architecture = "X86_64"
  }

  ephemeral_storage {
    size_in_gib = var.ephemeral_storage_gib
  }

  # A bind mount on the task's ephemeral storage: the only writable path in the container.
  volume {
    name = local.scratch_volume_name
  }

  container_definitions = jsonencode([
    {
      name                   = local.container_name
      image                  = local.container_image
      essential              = true
      user                   = var.container_user
      readonlyRootFilesystem = true
      # The task size limits the container; a container-level value keeps local emulators happy.
      memory = local.task_memory
      mountPoints = [
        {
          sourceVolume  = local.scratch_volume_name
          containerPath = local.scratch_path
          readOnly      = false
        },
      ]
      # A Fargate Spot interruption (or a stopped task) gives the container stopTimeout seconds
      # after SIGTERM; the capture stops starting items and lets running ones finish within
      # GHBACKUP_STOP_GRACE_SECONDS, which must stay below it.
      stopTimeout = 120
      # BACKUP_BATCH (a pointer into items.json), RUN_ID and BACKUP_PREFIX come per task from
      # the state machine's overrides.
      environment = concat(
        [
          { name = "BACKUP_BUCKET", value = aws_s3_bucket.backups.id },
          { name = "GHBACKUP_CONCURRENCY", value = tostring(var.capture_concurrency) },
          { name = "GHBACKUP_STOP_GRACE_SECONDS", value = "100" },
          { name = "GITHUB_API_URL", value = var.github_api_url },
          { name = "GHBACKUP_SCRATCH_DIR", value = local.scratch_path },
          { name = "TMPDIR", value = local.scratch_path },
          { name = "HOME", value = local.scratch_path },
        ],
        # Where the credential is, never the credential: the container fetches it with the task
        # role (the list function reads the same variables). ECS-injected `secrets` would sit in
        # the environment of PID 1 (the init process) for the task's life.
        local.use_secrets_manager ? [
          { name = "GITHUB_CREDENTIALS_SECRET", value = local.credentials_reference },
          ] : [
          { name = "GITHUB_CREDENTIALS_PARAMETER", value = local.credentials_reference },
        ],
        local.github_app_mode ? [
          { name = "GITHUB_APP_ID", value = var.github_app_id },
          { name = "GITHUB_APP_INSTALLATION_ID", value = var.github_app_installation_id },
        ] : [],
      )
      linuxParameters = {
        initProcessEnabled = true
        # git, git-lfs and Python need no Linux capability: drop every one Docker grants.
        capabilities = { add = [], drop = ["ALL"] }
      }
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = aws_cloudwatch_log_group.task.name
          awslogs-region        = local.region
          awslogs-stream-prefix = "backup"
        }
      }
    },
  ])


  lifecycle {
    precondition {
      condition     = local.valid_task_size
      error_message = "task_memory ${local.task_memory} is not valid for task_cpu ${local.task_cpu}. Fargate allows: 256 CPU -> 512, 1024, 2048; 512 -> 1024-4096 (1 GiB steps); 1024 -> 2048-8192 (1 GiB); 2048 -> 4096-16384 (1 GiB); 4096 -> 8192-30720 (1 GiB); 8192 -> 16384-61440 (4 GiB); 16384 -> 32768-122880 (8 GiB)."
    }
  }
  tags = local.tags
}
