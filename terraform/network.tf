# Created only when no subnet_ids are given: public subnets and an internet gateway, no NAT
# gateway (about $33 a month each), tasks get a public IP and may only open HTTPS connections.

data "aws_availability_zones" "available" {
  count = local.create_vpc && var.availability_zones == null ? 1 : 0
  state = "available"
}

locals {
  availability_zones = !local.create_vpc ? [] : (
    var.availability_zones != null ? var.availability_zones : slice(data.aws_availability_zones.available[0].names, 0, 2)
  )
}

resource "aws_vpc" "this" {
  count                = local.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = merge(local.tags, { Name = var.name })
}

# Take every rule off the default security group so nothing uses it by accident.
resource "aws_default_security_group" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-default-unused" })
}

resource "aws_internet_gateway" "this" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = var.name })
}

resource "aws_subnet" "public" {
  count             = length(local.availability_zones)
  vpc_id            = aws_vpc.this[0].id
  availability_zone = local.availability_zones[count.index]
  cidr_block        = cidrsubnet(var.vpc_cidr, 2, count.index)
  # Off: the state machine asks for a public IP per task (assignPublicIp ENABLED).
  map_public_ip_on_launch = false
  tags                    = merge(local.tags, { Name = "${var.name}-public-${local.availability_zones[count.index]}" })
}

resource "aws_route_table" "public" {
  count  = local.create_vpc ? 1 : 0
  vpc_id = aws_vpc.this[0].id
  tags   = merge(local.tags, { Name = "${var.name}-public" })
}

resource "aws_route" "internet" {
  count                  = local.create_vpc ? 1 : 0
  route_table_id         = aws_route_table.public[0].id
  destination_cidr_block = "0.0.0.0/0"
  gateway_id             = aws_internet_gateway.this[0].id
}

resource "aws_route_table_association" "public" {
  count          = length(aws_subnet.public)
  subnet_id      = aws_subnet.public[count.index].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_security_group" "task" {
  #checkov:skip=CKV2_AWS_5:Attached at run time: the state machine passes it to ecs:RunTask (awsvpc network configuration), which checkov cannot see.
  count       = local.create_vpc ? 1 : 0
  name        = "${var.name}-task"
  description = "ghbackup tasks: no inbound, outbound HTTPS only (GitHub, ECR, S3, logs)"
  vpc_id      = aws_vpc.this[0].id
  tags        = merge(local.tags, { Name = "${var.name}-task" })
}

resource "aws_vpc_security_group_egress_rule" "https" {
  #checkov:skip=CKV_AWS_382:Backups reach GitHub, ECR and S3 on the internet, whose addresses are not fixed; only port 443 is open.
  count             = local.create_vpc ? 1 : 0
  security_group_id = aws_security_group.task[0].id
  description       = "HTTPS to GitHub and AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

# S3 traffic (staging uploads, the item list, image layers from ECR's S3) stays on the AWS
# network through a free gateway endpoint instead of the internet gateway.
resource "aws_vpc_endpoint" "s3" {
  count             = local.create_vpc ? 1 : 0
  vpc_id            = aws_vpc.this[0].id
  service_name      = "com.amazonaws.${local.region}.s3"
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public[0].id]
  policy            = data.aws_iam_policy_document.s3_endpoint[0].json
  tags              = merge(local.tags, { Name = "${var.name}-s3" })
}

# The endpoint reaches only the backup bucket, the buckets ECR serves image layers from (AWS
# documents prod-<region>-starport-layer-bucket for pulls through an S3 gateway endpoint) and
# GitHub's LFS storage (read); a task cannot use it to copy data to another bucket.
data "aws_iam_policy_document" "s3_endpoint" {
  count = local.create_vpc ? 1 : 0
  statement {
    sid = "TheBackupBucket"
    # What the task calls: Get/Head/Put/Copy objects, multipart uploads, ListBucket.
    actions = [
      "s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
      "s3:ListBucket",
    ]
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
  statement {
    sid = "GitHubLfsStorage"
    # git lfs fetch downloads from pre-signed github-cloud.s3.amazonaws.com URLs: in
    # us-east-1 those requests take this endpoint too. Reads only.
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::github-cloud/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
  statement {
    sid       = "EcrImageLayers"
    actions   = ["s3:GetObject"]
    resources = ["arn:${local.partition}:s3:::prod-${local.region}-starport-layer-bucket/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
  }
}

# --- Optional VPC flow logs (vpc_flow_logs) ------------------------------------------------

locals {
  create_flow_logs = local.create_vpc && local.vpc_flow_logs
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count             = local.create_flow_logs ? 1 : 0
  name              = local.flow_log_group_name
  retention_in_days = local.log_retention_days
  kms_key_id        = local.kms_key_arn
  tags              = local.tags
}

resource "aws_iam_role" "flow_logs" {
  count              = local.create_flow_logs ? 1 : 0
  name               = "${var.name}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.assume["vpc_flow_logs"].json
  tags               = local.tags
}

data "aws_iam_policy_document" "flow_logs" {
  count = local.create_flow_logs ? 1 : 0
  statement {
    sid       = "WriteFlowLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["${aws_cloudwatch_log_group.flow_logs[0].arn}:*"]
  }
}

resource "aws_iam_role_policy" "flow_logs" {
  count  = local.create_flow_logs ? 1 : 0
  name   = "write-flow-logs"
  role   = aws_iam_role.flow_logs[0].id
  policy = data.aws_iam_policy_document.flow_logs[0].json
}

resource "aws_flow_log" "this" {
  count                = local.create_flow_logs ? 1 : 0
  vpc_id               = aws_vpc.this[0].id
  traffic_type         = "ALL"
  log_destination_type = "cloud-watch-logs"
  log_destination      = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn         = aws_iam_role.flow_logs[0].arn
  tags                 = local.tags
}
