# The credential's resource is created with a placeholder; the real value is put outside
# Terraform (README: aws ssm put-parameter --overwrite). The placeholder goes through the
# write-only arguments (value_wo, secret_string_wo): Terraform sends them once and keeps no
# value in the state, and because the resource has no readable value argument in use, a refresh
# after the operator put the token does not read the token back into the state either.

locals {
  credentials_placeholder = "placeholder: put the GitHub credential with aws ssm put-parameter / aws secretsmanager put-secret-value"
  # Raise it only to write the placeholder again (it would replace the operator's token).
  credentials_placeholder_version = 1
}

resource "aws_ssm_parameter" "github" {
  count            = local.use_secrets_manager ? 0 : 1
  name             = coalesce(var.credentials_parameter_name, "/${var.name}/github-credentials")
  description      = "GitHub credentials for ghbackup: a personal access token"
  type             = "SecureString"
  key_id           = local.credentials_kms_key_id
  value_wo         = local.credentials_placeholder
  value_wo_version = local.credentials_placeholder_version
  tags             = local.tags
}

resource "aws_secretsmanager_secret" "github" {
  #checkov:skip=CKV2_AWS_57:A GitHub token or App key is rotated on GitHub's side; there is no rotation Lambda for it.
  count                   = local.use_secrets_manager ? 1 : 0
  name                    = coalesce(var.credentials_parameter_name, "${var.name}/github-credentials")
  description             = "GitHub credentials for ghbackup: a token, or JSON {app_id, installation_id, private_key}"
  kms_key_id              = local.credentials_key == "module-key" ? local.kms_key_arn : null # null: aws/secretsmanager
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags
}

resource "aws_secretsmanager_secret_version" "github" {
  count                    = local.use_secrets_manager ? 1 : 0
  secret_id                = aws_secretsmanager_secret.github[0].id
  secret_string_wo         = local.credentials_placeholder
  secret_string_wo_version = local.credentials_placeholder_version
}
