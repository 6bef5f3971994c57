# The credential's resource is created with a placeholder; the real value is put outside
# Terraform (README: aws ssm put-parameter --overwrite) so it never lands in the state file.

locals {
  credentials_placeholder = "placeholder: put the GitHub credential with aws ssm put-parameter / aws secretsmanager put-secret-value"
}

resource "aws_ssm_parameter" "github" {
  count       = local.use_secrets_manager ? 0 : 1
  name        = coalesce(var.credentials_parameter_name, "/${var.name}/github-credentials")
  description = "GitHub credentials for ghbackup: a personal access token"
  type        = "SecureString"
  key_id      = aws_kms_key.this.arn
  value       = local.credentials_placeholder
  tags        = local.tags

  lifecycle {
    ignore_changes = [value]
  }
}

resource "aws_secretsmanager_secret" "github" {
  #checkov:skip=CKV2_AWS_57:A GitHub token or App key is rotated on GitHub's side; there is no rotation Lambda for it.
  count                   = local.use_secrets_manager ? 1 : 0
  name                    = coalesce(var.credentials_parameter_name, "${var.name}/github-credentials")
  description             = "GitHub credentials for ghbackup: a token, or JSON {app_id, installation_id, private_key}"
  kms_key_id              = aws_kms_key.this.arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "github" {
  count         = local.use_secrets_manager ? 1 : 0
  secret_id     = aws_secretsmanager_secret.github[0].id
  secret_string = local.credentials_placeholder

  lifecycle {
    ignore_changes = [secret_string]
  }
}
