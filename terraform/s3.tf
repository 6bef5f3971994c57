resource "aws_s3_bucket" "backups" {
  #checkov:skip=CKV_AWS_18:Access logging needs a second bucket; CloudTrail data events are the better audit trail for a backup bucket and are account-level.
  #checkov:skip=CKV_AWS_144:Cross-region replication doubles the storage cost; GitHub itself is the other copy (enable it in the calling configuration if required).
  #checkov:skip=CKV2_AWS_62:Run notifications go through the state machine's SNS topic, not bucket events.
  bucket              = local.bucket_name
  force_destroy       = var.force_destroy
  object_lock_enabled = var.object_lock_mode != null
  tags                = local.tags
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
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.this.arn
    }
    # S3 Bucket Keys cut KMS requests (and their cost) for the many small staging objects.
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "bucket" {
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

  # Versioning must be on before noncurrent-version rules are accepted.
  depends_on = [aws_s3_bucket_versioning.backups]
}

resource "aws_s3_bucket_object_lock_configuration" "backups" {
  count  = var.object_lock_mode == null ? 0 : 1
  bucket = aws_s3_bucket.backups.id
  rule {
    default_retention {
      mode = var.object_lock_mode
      days = var.object_lock_days
    }
  }
  depends_on = [aws_s3_bucket_versioning.backups]
}
