# The verbs a person uses. Everything installs what it needs into .venv first.
SHELL := /bin/bash
PY := .venv/bin/python
VENV_STAMP := .venv/.installed

.PHONY: install system-deps terraform-check demo test unit integration lint package tf-test tf-integration bench image clean

$(VENV_STAMP): pyproject.toml
	python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

install: system-deps $(VENV_STAMP)

system-deps:
	@bash .ci/system-deps.sh

# Only the terraform targets (and so `make test`) need terraform; the demo does not.
terraform-check:
	@command -v terraform >/dev/null || { echo "terraform is not on PATH: the terraform tests (make tf-test, tf-integration, test) need terraform >= 1.11 (see terraform/README.md)" >&2; exit 1; }

demo: install
	$(PY) -m tests.demo

# terraform is checked first: a missing one fails at once, not after the other tiers.
test: terraform-check install lint unit integration tf-test tf-integration

lint: $(VENV_STAMP)
	$(PY) -m ruff check ghbackup cli workflow tasks container tests bench
	$(PY) -m ruff format --check ghbackup cli workflow tasks container tests bench
	$(PY) -m mypy

unit: $(VENV_STAMP)
	$(PY) -m pytest -q -m "not integration" tests

integration: $(VENV_STAMP)
	$(PY) -m pytest -q -m "integration" tests --ignore=tests/terraform

package: $(VENV_STAMP)
	$(PY) -m tasks.package --out build/lambda

tf-test: terraform-check package
	bash terraform/tests/offline.sh

tf-integration: terraform-check package
	$(PY) -m pytest -q tests/terraform

bench: install
	$(PY) -m bench

# Build the capture image and push it to the ECR repository the Terraform module created.
# Needs docker and the aws CLI; AWS_REGION and ECR_REPOSITORY_URL (terraform output) set.
IMAGE_TAG ?= $(shell git rev-parse --short HEAD)
BASE_IMAGE ?= python:3.12-slim-bookworm
image:
	@test -n "$(ECR_REPOSITORY_URL)" || { echo "set ECR_REPOSITORY_URL (terraform output -raw ecr_repository_url)"; exit 1; }
	aws ecr get-login-password --region "$(AWS_REGION)" | docker login --username AWS --password-stdin "$${ECR_REPOSITORY_URL%%/*}"
	digest=$$(docker buildx imagetools inspect $(BASE_IMAGE) --format '{{json .Manifest.Digest}}' | tr -d '"'); \
	case "$$digest" in sha256:*) ;; *) echo "cannot resolve the digest of $(BASE_IMAGE)"; exit 1 ;; esac; \
	docker build --platform linux/amd64 -f container/Dockerfile \
	  --build-arg PYTHON_BASE_IMAGE="$(BASE_IMAGE)@$$digest" \
	  --label org.opencontainers.image.base.name="$(BASE_IMAGE)" \
	  --label org.opencontainers.image.base.digest="$$digest" \
	  -t "$(ECR_REPOSITORY_URL):$(IMAGE_TAG)" .
	docker push "$(ECR_REPOSITORY_URL):$(IMAGE_TAG)"

clean:
	rm -rf .venv build .cache backups
