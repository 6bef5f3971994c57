"""Plan the module once per cost profile against moto and write each plan as JSON.

checkov reads HCL without evaluating locals, so its verdict on the source holds only for the
values it guesses; a plan has every profile's values resolved. Used by offline.sh:

    python terraform/tests/plan_profiles.py MODULE_DIR OUT_DIR

MODULE_DIR is the module to plan (offline.sh passes its copy with prevent_destroy off, which a
plan does not need but keeps one copy); OUT_DIR gets plan-<profile>.json. Terraform finds the
provider through TF_CLI_CONFIG_FILE (the filesystem mirror) like the rest of offline.sh.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from workflow.local_aws import start_local_aws  # noqa: E402

PROFILES = ("minimal", "standard", "hardened", "personal")
TIMEOUT = 600
SERVICES = (
    "cloudwatch ec2 ecr ecs events iam kms lambda logs s3 scheduler secretsmanager sfn sns ssm sts"
)


def _root_config(module_dir: str, endpoint: str) -> str:
    endpoints = "\n".join(f'    {s} = "{endpoint}"' for s in SERVICES.split())
    return f"""variable "cost_profile" {{
  type = string
}}

provider "aws" {{
  region                      = "us-east-1"
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}
  }}
}}

module "ghbackup" {{
  source                  = "{module_dir}"
  cost_profile            = var.cost_profile
  operator_principal_arns = ["arn:aws:iam::123456789012:role/backup-operator"]
}}
"""


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def main(module_dir: Path, out_dir: Path) -> None:
    """Write out_dir/plan-<profile>.json for every profile."""
    out_dir.mkdir(parents=True, exist_ok=True)
    root = out_dir / "root"
    root.mkdir(exist_ok=True)
    local = start_local_aws()
    try:
        # A relative source: terraform uses a local module in place (an absolute one is copied
        # into .terraform/modules, away from the build/ and workflow/ it reads).
        source = os.path.relpath(module_dir.resolve(), root.resolve())
        (root / "main.tf").write_text(_root_config(source, local.endpoint_url))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(TF_DATA_DIR=str(root / ".terraform"), AWS_EC2_METADATA_DISABLED="true")
        _run(["terraform", "init", "-input=false", "-no-color"], root, env)
        for profile in PROFILES:
            plan = f"plan-{profile}.tfplan"
            _run(
                ["terraform", "plan", "-input=false", "-no-color", f"-var=cost_profile={profile}",
                 f"-out={plan}"],
                root,
                env,
            )
            shown = _run(["terraform", "show", "-json", "-no-color", plan], root, env)
            (out_dir / f"plan-{profile}.json").write_text(shown)
    finally:
        local.stop()


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
