#!/usr/bin/env bash
# Offline tier of the terraform tests (`make tf-test`): fmt, init + validate of the module and
# the example, `terraform test` with a mocked provider, and checkov. No network: providers come
# from the filesystem mirror baked into the machine image.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
module_dir="$(dirname "$here")"
repo_root="$(dirname "$module_dir")"
mirror="${TF_PROVIDER_MIRROR:-/opt/tf-plugins}"
checkov="${CHECKOV:-$repo_root/.venv/bin/checkov}"
failures=0

pass() { printf 'PASS %s\n' "$1"; }
fail() { printf 'FAIL %s\n' "$1"; failures=$((failures + 1)); }
die() { printf 'FAIL %s\n' "$1" >&2; exit 1; }

# --- What must be present: say what is missing, never skip silently ----------------------
command -v terraform >/dev/null 2>&1 \
  || die "terraform is not on PATH: install terraform >= 1.11 (see terraform/README.md)"
[ -d "$mirror/registry.terraform.io/hashicorp/aws" ] \
  || die "AWS provider mirror missing: expected $mirror/registry.terraform.io/hashicorp/aws (hashicorp/aws 5.100.x); set TF_PROVIDER_MIRROR to its folder"
[ -x "$checkov" ] \
  || die "checkov not found at $checkov: run 'make install' (it is in the test extras)"
lambda_zip="$repo_root/build/lambda/ghbackup-lambda.zip"
[ -f "$lambda_zip" ] \
  || die "Lambda zip missing: $lambda_zip (run 'make package')"

workdir="$(mktemp -d)"
trap 'rm -rf "$workdir"' EXIT
cat >"$workdir/cli.tfrc" <<CFG
disable_checkpoint = true
provider_installation {
  filesystem_mirror {
    path    = "$mirror"
    include = ["registry.terraform.io/*/*"]
  }
  direct {
    exclude = ["registry.terraform.io/*/*"]
  }
}
CFG
export TF_CLI_CONFIG_FILE="$workdir/cli.tfrc"
export TF_IN_AUTOMATION=1 TF_INPUT=0 CHECKPOINT_DISABLE=1
# Keep .terraform/ and lock files out of the source tree.
export TF_DATA_DIR

step() { # step NAME LOG COMMAND...
  local name="$1" log="$2"
  shift 2
  local started=$SECONDS
  if "$@" >"$log" 2>&1; then
    pass "$name ($((SECONDS - started)) s)"
  else
    fail "$name ($((SECONDS - started)) s)"
    sed 's/^/    /' "$log"
  fi
}

step "terraform fmt -check -recursive" "$workdir/fmt.log" \
  terraform -chdir="$module_dir" fmt -check -recursive -diff

for dir in "$module_dir" "$module_dir/examples/complete"; do
  label="${dir#"$repo_root"/}"
  TF_DATA_DIR="$workdir/data-$(echo "$label" | tr '/' '_')"
  step "terraform init ($label)" "$workdir/init.log" \
    terraform -chdir="$dir" init -backend=false -input=false
  step "terraform validate ($label)" "$workdir/validate.log" \
    terraform -chdir="$dir" validate -no-color
done

# The resources that hold data carry lifecycle.prevent_destroy (README "Deleting the stack").
# terraform test before 1.14 cannot tear those down (hashicorp/terraform#34960), so the mocked
# runs use a copy of the module with the guard off; this step proves the real module has it.
guard_log="$workdir/guard.log"
: >"$guard_log"
for resource in 'aws_s3_bucket" "backups' 'aws_ecr_repository" "this' 'aws_ssm_parameter" "github' \
  'aws_secretsmanager_secret" "github' 'aws_kms_key" "this'; do
  # The resource block, up to the next top-level closing brace, must set prevent_destroy = true.
  awk -v start="resource \"$resource\"" 'index($0, start) == 1 {inside = 1} inside && /prevent_destroy *= *true/ {found = 1} inside && /^}/ {inside = 0} END {exit !found}' \
    "$module_dir"/*.tf || echo "no prevent_destroy on resource \"$resource\"" >>"$guard_log"
done
if [ -s "$guard_log" ]; then
  fail "data-holding resources are guarded"
  sed 's/^/    /' "$guard_log"
else
  pass "data-holding resources are guarded (bucket, repository, credential, key)"
fi

unguarded="$workdir/repo"
mkdir -p "$unguarded"
cp -R "$module_dir" "$unguarded/terraform"
rm -rf "$unguarded/terraform/.terraform"
sed -i 's/prevent_destroy = true/prevent_destroy = false/' "$unguarded"/terraform/*.tf
for shared in build workflow tests; do ln -s "$repo_root/$shared" "$unguarded/$shared"; done

TF_DATA_DIR="$workdir/data-unguarded"
step "terraform init (unguarded copy for terraform test)" "$workdir/init.log" \
  terraform -chdir="$unguarded/terraform" init -backend=false -input=false
test_log="$workdir/test.log"
started=$SECONDS
if terraform -chdir="$unguarded/terraform" test -no-color >"$test_log" 2>&1; then
  pass "terraform test: $(grep -E '^Success!' "$test_log") ($((SECONDS - started)) s)"
else
  fail "terraform test ($((SECONDS - started)) s)"
  sed 's/^/    /' "$test_log"
fi

checkov_log="$workdir/checkov.log"
started=$SECONDS
# terraform/tests holds test files, not infrastructure (and checkov's HCL parser times out on
# the .tftest.hcl). A file checkov could not parse is a failure: it was not checked.
if BC_SKIP_MAPPING=TRUE "$checkov" -d "$module_dir" --framework terraform --skip-download \
  --skip-path 'terraform/tests' --compact --quiet >"$checkov_log" 2>&1 \
  && ! grep -q 'Parsing errors' "$checkov_log"; then
  pass "checkov: $(grep -E 'Passed checks' "$checkov_log") ($((SECONDS - started)) s)"
else
  fail "checkov ($((SECONDS - started)) s)"
  sed 's/^/    /' "$checkov_log"
fi

# checkov on the plans: the source scan above cannot resolve the profile locals, so it judges
# whichever values it guesses. Each profile's plan (terraform show -json, against moto) has them
# resolved. Skips, each against what the plan shows (README "checkov skips"):
#  every profile, as in the source scan: CKV_AWS_144 (replication), CKV2_AWS_62 (bucket
#   events), CKV_AWS_65 (Container Insights, a cost variable), CKV_AWS_297 (schedule payload
#   holds no secret), CKV_AWS_285 (execution data left out of logs on purpose), CKV_AWS_26
#   (topic: the module's key in hardened, which the plan shows as unknown; without it
#   EventBridge cannot publish to aws/sns), CKV2_AWS_5 (security group attached by RunTask),
#   CKV_AWS_116/117/272 (functions: synchronous, no NAT, pinned zip);
#  CKV_AWS_158, CKV_AWS_337, CKV_AWS_173: a key created in the same plan is "known after apply", which
#   checkov reads as no key (terraform test asserts the log groups and the parameter use it);
#   in minimal/standard/personal the log groups and function settings (no secret in them) use
#   AWS's own keys by choice, and
#   personal keeps the credential under aws/ssm by definition (README "What each profile
#   protects");
#  minimal, standard, personal only: CKV_AWS_338 (30/90-day logs), CKV_AWS_18 and CKV2_AWS_11
#   (access and flow logs are hardened's), CKV_AWS_136 (ECR's AES256), CKV_AWS_145 (SSE-S3 in minimal and personal): the cost choices
#   of the README's profile table;
#  hardened only: CKV_AWS_18, CKV_AWS_145, CKV_AWS_21 for the access-log bucket (as its
#   source skips: no logs of logs, S3 delivers only to SSE-S3, logs are never replaced).
plans="$workdir/plans"
started=$SECONDS
if "$repo_root/.venv/bin/python" "$here/plan_profiles.py" "$unguarded/terraform" "$plans" \
  >"$workdir/plans.log" 2>&1; then
  pass "plan of each profile against moto ($((SECONDS - started)) s)"
  every="CKV_AWS_144,CKV2_AWS_62,CKV_AWS_65,CKV_AWS_297,CKV_AWS_285,CKV_AWS_26,CKV2_AWS_5,CKV_AWS_116,CKV_AWS_117,CKV_AWS_272,CKV_AWS_158,CKV_AWS_337,CKV_AWS_173"
  for group in "minimal standard personal|CKV_AWS_338,CKV_AWS_18,CKV2_AWS_11,CKV_AWS_136,CKV_AWS_145" \
    "hardened|CKV_AWS_18,CKV_AWS_145,CKV_AWS_21"; do
    profiles="${group%%|*}"
    files=()
    for profile in $profiles; do files+=(-f "$plans/plan-$profile.json"); done
    log="$workdir/checkov-plan.log"
    started=$SECONDS
    if BC_SKIP_MAPPING=TRUE "$checkov" "${files[@]}" --framework terraform_plan --skip-download \
      --skip-check "$every,${group#*|}" --compact --quiet >"$log" 2>&1; then
      pass "checkov on the plan ($profiles): $(grep -E 'Passed checks' "$log") ($((SECONDS - started)) s)"
    else
      fail "checkov on the plan ($profiles) ($((SECONDS - started)) s)"
      sed 's/^/    /' "$log"
    fi
  done
else
  fail "plan of each profile against moto ($((SECONDS - started)) s)"
  sed 's/^/    /' "$workdir/plans.log"
fi

if [ "$failures" -eq 0 ]; then
  echo "PASS terraform offline tests"
else
  echo "FAIL terraform offline tests: $failures step(s) failed"
  exit 1
fi
