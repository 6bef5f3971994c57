resource "aws_ecr_repository" "this" {
  name                 = var.name
  image_tag_mutability = "IMMUTABLE"
  force_delete         = var.force_destroy

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    # AES256 unless everything is under the module's key: ECR's default, at no cost.
    encryption_type = local.key_for_data ? "KMS" : "AES256"
    kms_key         = local.kms_key_arn
  }

  tags = local.tags

  lifecycle {
    # ECR cannot change a repository's encryption: a new value would replace the repository
    # (RepositoryNotEmpty, or every image deleted). It is fixed when the repository is created;
    # a later cost_profile or encryption change leaves it.
    ignore_changes = [encryption_configuration]
    # A name change would replace it too: refused (README "Deleting the stack").
    prevent_destroy = true
  }
}

resource "aws_ecr_lifecycle_policy" "this" {
  repository = aws_ecr_repository.this.name
  # ECR never lets a lower-priority rule expire an image that a higher-priority rule's tag
  # selection matched: rule 1 claims the image in use (image_tag; tags are immutable, so it is
  # one image) and expires nothing, so rule 3's "keep the N most recent" cannot count it out.
  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Never expire the image the task definition runs (${var.image_tag})"
        selection = {
          tagStatus      = "tagged"
          tagPatternList = [var.image_tag]
          countType      = "imageCountMoreThan"
          countNumber    = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Drop untagged layers a day after a push replaced them"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 1
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 3
        description  = "Keep the ${local.ecr_keep_images} most recent other images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = local.ecr_keep_images
        }
        action = { type = "expire" }
      },
    ]
  })
}
