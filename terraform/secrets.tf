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

  lifecycle {
    # Holds the operator's token: no variable change may delete or replace it (README
    # "Deleting the stack" says how to remove it on purpose).
    prevent_destroy = true
    # A new key_id would make the provider put the parameter again with the write-only value,
    # which is null after creation (an empty token) or, with a raised version, the placeholder.
    # The key stays as created; check "credential_key" says how to move the token.
    ignore_changes = [key_id]
  }
}

resource "aws_secretsmanager_secret" "github" {
  #checkov:skip=CKV2_AWS_57:A GitHub token or App key is rotated on GitHub's side; there is no rotation Lambda for it.
  count                   = local.use_secrets_manager ? 1 : 0
  name                    = coalesce(var.credentials_parameter_name, "${var.name}/github-credentials")
  description             = "GitHub credentials for ghbackup: a token, or JSON {app_id, installation_id, private_key}"
  kms_key_id              = local.credentials_module_key ? local.module_key_arn : null # null: aws/secretsmanager
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = local.tags

  lifecycle {
    prevent_destroy = true
    # As for the parameter: the key stays as created, check "credential_key" says how to move it.
    ignore_changes = [kms_key_id]
  }
}

resource "aws_secretsmanager_secret_version" "github" {
  count                    = local.use_secrets_manager ? 1 : 0
  secret_id                = aws_secretsmanager_secret.github[0].id
  secret_string_wo         = local.credentials_placeholder
  secret_string_wo_version = local.credentials_placeholder_version
}

locals {
  # The key the credential really is under (the state's, which the key change above leaves),
  # against the key the settings ask for.
  # (try: only one of the two resources exists.)
  credentials_current_key = try(aws_secretsmanager_secret.github[0].kms_key_id, aws_ssm_parameter.github[0].key_id, null)
  credentials_key_as_asked = (
    local.credentials_module_key
    ? strcontains(coalesce(local.credentials_current_key, "-"), try(aws_kms_key.this[0].key_id, "no key"))
    : !strcontains(coalesce(local.credentials_current_key, "alias/aws/"), ":key/")
  )
  credentials_move_command = (
    local.use_secrets_manager
    ? "aws secretsmanager update-secret --secret-id ${local.credentials_reference} --kms-key-id ${coalesce(local.credentials_kms_key_id, "alias/aws/secretsmanager")}"
    : "aws ssm put-parameter --name ${local.credentials_reference} --type SecureString --key-id ${local.credentials_kms_key_id} --overwrite --value file:///dev/stdin, the token on stdin (terraform/README.md step 4)"
  )
}

# Changing credentials_key (or moving to or from the personal profile) never rewrites the
# credential: Terraform cannot read the token back (write-only), so it would put an empty value
# or the placeholder. The credential keeps its key until the operator moves it; this check says
# how, on every plan until it is done.
check "credential_key" {
  assert {
    condition     = local.credentials_key_as_asked
    error_message = "The GitHub credential is still under ${coalesce(local.credentials_current_key, "aws/secretsmanager")}, not the key credentials_key asks for. Terraform keeps the token and does not move it; move it yourself with: ${local.credentials_move_command}. The next plan then sees the new key."
  }
}
