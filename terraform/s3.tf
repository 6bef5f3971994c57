resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the storage cost; GitHub itself is the other copy (enable it in the calling configuration if required).
  #checkov:skip=CKV2_AWS_62:Run notifications go through the state machine's SNS topic, not bucket events.
  bucket = local.bucket_name
  # Never force_destroy: S3 refuses to delete a bucket that holds any object version.
  force_destroy = false
  tags          = local.tags

  lifecycle {
    # The backups: no variable change (bucket_name, name) and no destroy may delete or replace
    # the bucket. lifecycle arguments cannot come from a variable, so the guard is always on;
    # README "Deleting the stack" says how to delete it on purpose.
    prevent_destroy = true
    # Object Lock is turned on by aws_s3_bucket_object_lock_configuration below, which S3
    # allows on an existing versioned bucket. Stacks made by earlier versions created the
    # bucket with object_lock_enabled = true: the state keeps that value (the argument is
    # computed) and this keeps a later change of it from replacing the bucket.
    ignore_changes = [object_lock_enabled]
  }
}

# Object Lock on the bucket, with no default retention: a default would also pin staging/,
# which Finalize deletes after each run. Finalize locks runs/ objects one by one
# (RUN_ARCHIVE_OBJECT_LOCK_MODE / _DAYS). On in hardened from the start, in any profile later;
# once on, S3 keeps it on (destroying this resource only drops it from the state).
resource "aws_s3_bucket_object_lock_configuration" "backups" {
  count               = local.object_lock_mode == null ? 0 : 1
  bucket              = aws_s3_bucket.backups.id
  object_lock_enabled = "Enabled"
  # S3 enables Object Lock only on a versioned bucket.
  depends_on = [aws_s3_bucket_versioning.backups]
}

resource "aws_s3_bucket_ownership_controls" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "backups" {
  bucket                  = aws_s3_bucket.backups.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "backups" {
  bucket = aws_s3_bucket.backups.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.bucket_sse_algorithm
      kms_master_key_id = local.bucket_kms_key_arn # null: aws/s3 (aws-managed-kms) or SSE-S3
    }
    # S3 Bucket Keys cut KMS requests (and their cost) for the many small staging objects.
    bucket_key_enabled = local.bucket_sse_algorithm == "aws:kms"
  }
}

locals {
  # Who may read and write the backups: the module's roles that touch objects, and the people
  # who run ghbackup get/restore (operator_principal_arns). validate, the scheduler, the task
  # execution role and the drill's state machine never touch an object.
  bucket_object_principals = concat(
    [
      aws_iam_role.task.arn,
      aws_iam_role.lambda["list"].arn,
      aws_iam_role.lambda["finalize"].arn,
      aws_iam_role.state_machine.arn,
      # The restore drill (drill.tf): its functions choose the run, ask for its restore and
      # write the report; its task reads the sampled items by byte range.
      aws_iam_role.drill_task.arn,
    ],
    [for role in aws_iam_role.drill_lambda : role.arn],
    var.operator_principal_arns,
  )
  # Every action on an object (read, write, delete, restore, retention, ACL, tags).
  bucket_object_actions = [
    "s3:GetObject*", "s3:PutObject*", "s3:DeleteObject*", "s3:RestoreObject",
    "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ReplicateObject",
    "s3:BypassGovernanceRetention",
  ]
}

data "aws_iam_policy_document" "bucket" {
  statement {
    sid = "DenyObjectsToEveryoneElse"
    # Private code: an IAM policy with a broad s3:GetObject (ReadOnlyAccess, a data team's
    # role) must not be enough. aws:PrincipalArn is the role's ARN for its sessions. Bucket
    # actions (list, policy) stay with IAM: an administrator can still change this policy.
    effect    = "Deny"
    actions   = local.bucket_object_actions
    resources = ["${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "ArnNotEquals"
      variable = "aws:PrincipalArn"
      values   = local.bucket_object_principals
    }
  }
  statement {
    sid       = "DenyCustomerProvidedKeys"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    # SSE-C: an object only its uploader's key can read, which restore would not have.
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["false"]
    }
  }
  statement {
    sid       = "DenyUploadsEncryptedOtherwise"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    # An upload that names no encryption gets the bucket default (the module's key); one that
    # names another algorithm is refused. CreateMultipartUpload is authorised as PutObject
    # and carries the headers; UploadPart(Copy) inherit the upload's encryption.
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption"
      values   = [local.bucket_sse_algorithm]
    }
  }
  statement {
    sid       = "DenyUploadsUnderAnotherKey"
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["false"]
    }
    # With the module's key: any other key is refused. Otherwise (aws/s3, SSE-S3) an upload may
    # name no key at all: the bucket default applies.
    dynamic "condition" {
      for_each = local.bucket_kms_key_arn == null ? [] : [local.bucket_kms_key_arn]
      content {
        test     = "StringNotEquals"
        variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
        values   = [condition.value]
      }
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.backups.arn, "${aws_s3_bucket.backups.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "backups" {
  bucket = aws_s3_bucket.backups.id
  policy = data.aws_iam_policy_document.bucket.json
  # A policy put before the public access block can be refused as public.
  depends_on = [aws_s3_bucket_public_access_block.backups]
}

resource "aws_s3_bucket_lifecycle_configuration" "backups" {
  bucket = aws_s3_bucket.backups.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-staging"
    status = "Enabled"
    filter {
      prefix = local.staging_prefix
    }
    expiration {
      days = var.staging_expiration_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
  }

  rule {
    id     = "expire-runs"
    status = "Enabled"
    filter {
      prefix = local.runs_prefix
    }
    expiration {
      days = var.run_retention_days
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }
  }

  rule {
    # The warm copies never expire while current (a reused item keeps its copy; expiring it
    # would only force full captures); a replaced copy goes after STANDARD_IA's 30-day minimum.
    id     = "expire-replaced-warm-copies"
    status = "Enabled"
    filter {
      prefix = local.latest_prefix
    }
    noncurrent_version_expiration {
      noncurrent_days = 30
    }
  }

  # Versioning must be on before noncurrent-version rules are accepted.
  depends_on = [aws_s3_bucket_versioning.backups]
}

# --- Optional server access logs (s3_access_logging) ---------------------------------------

locals {
  access_log_bucket_name = "${var.name}-logs-${local.account_id}-${local.region}"
}

resource "aws_s3_bucket" "access_logs" {
  #checkov:skip=CKV_AWS_18:This is the access-log bucket: logging its own access would loop.
  #checkov:skip=CKV_AWS_144:Access logs are an audit aid, not backups: one region is enough.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to new access-log objects.
  #checkov:skip=CKV_AWS_145:S3 server access logging only delivers to buckets encrypted with SSE-S3; SSE-KMS destinations are not supported.
  #checkov:skip=CKV_AWS_21:Log objects are written once and never replaced; versioning would only keep deleted logs.
  count         = local.s3_access_logging ? 1 : 0
  bucket        = local.access_log_bucket_name
  force_destroy = var.force_destroy
  tags          = local.tags

  lifecycle {
    precondition {
      condition     = length(local.access_log_bucket_name) <= 63
      error_message = "The access-log bucket name ${local.access_log_bucket_name} is longer than S3's 63 characters: use a shorter name."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count                   = local.s3_access_logging ? 1 : 0
  bucket                  = aws_s3_bucket.access_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count  = local.s3_access_logging ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count  = local.s3_access_logging ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = local.log_retention_days
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
}

data "aws_iam_policy_document" "access_logs" {
  count = local.s3_access_logging ? 1 : 0
  statement {
    sid       = "S3LogDeliveryWrites"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.access_logs[0].arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_s3_bucket.backups.arn]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.access_logs[0].arn, "${aws_s3_bucket.access_logs[0].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_s3_bucket_policy" "access_logs" {
  count      = local.s3_access_logging ? 1 : 0
  bucket     = aws_s3_bucket.access_logs[0].id
  policy     = data.aws_iam_policy_document.access_logs[0].json
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}

resource "aws_s3_bucket_logging" "backups" {
  count         = local.s3_access_logging ? 1 : 0
  bucket        = aws_s3_bucket.backups.id
  target_bucket = aws_s3_bucket.access_logs[0].id
  target_prefix = "${aws_s3_bucket.backups.id}/"
}
