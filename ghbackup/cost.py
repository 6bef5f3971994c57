"""``ghbackup cost``: what the deployed stack costs a month, estimated from its run manifests.

The estimate multiplies what the manifests record (bytes per storage class, items, task
durations) by a price table. The table below is AWS's public list price for one region on
one date; ``--prices FILE`` (JSON, any subset of the same keys, plus ``region``/``date``)
overrides it for another region or a newer price. Every assumption the arithmetic makes is
returned with the figures, so the user can see what would change them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from ghbackup.errors import ConfigurationError
from ghbackup.records import RunManifest

GB = 1024**3
# AWS list prices for us-east-1 (USD), entered on the date below from AWS's pricing pages as
# the project knew them; this machine is offline, so they were not re-checked that day.
# A newer or regional table goes in with --prices FILE.
PRICES: dict[str, Any] = {
    "region": "us-east-1",
    "date": "2026-12-02",
    "currency": "USD",
    # storage, per GB-month
    "storage_gb_month": {
        "STANDARD": 0.023,
        "STANDARD_IA": 0.0125,
        "GLACIER_IR": 0.004,
        "GLACIER": 0.0036,
        "DEEP_ARCHIVE": 0.00099,
    },
    # PUT / COPY / POST / LIST per 1,000 requests, by the class written
    "put_per_1000": {
        "STANDARD": 0.005,
        "STANDARD_IA": 0.01,
        "GLACIER_IR": 0.02,
        "GLACIER": 0.03,
        "DEEP_ARCHIVE": 0.05,
    },
    "get_per_1000": 0.0004,
    # lifecycle transition requests into a class, per 1,000 objects
    "transition_per_1000": {
        "STANDARD_IA": 0.01,
        "GLACIER_IR": 0.02,
        "GLACIER": 0.03,
        "DEEP_ARCHIVE": 0.05,
    },
    # retrieval: per GB and per 1,000 restore requests
    "retrieval_gb": {
        "GLACIER/Expedited": 0.03,
        "GLACIER/Standard": 0.01,
        "GLACIER/Bulk": 0.0,
        "DEEP_ARCHIVE/Standard": 0.02,
        "DEEP_ARCHIVE/Bulk": 0.0025,
        "GLACIER_IR/-": 0.03,
        "STANDARD_IA/-": 0.01,
    },
    "restore_request_per_1000": {
        "GLACIER/Expedited": 10.0,
        "GLACIER/Standard": 0.05,
        "GLACIER/Bulk": 0.025,
        "DEEP_ARCHIVE/Standard": 0.10,
        "DEEP_ARCHIVE/Bulk": 0.025,
    },
    # per object in GLACIER / DEEP_ARCHIVE: 32 KB billed at the archive rate, 8 KB at STANDARD
    "archive_overhead_kb": {"archive": 32, "standard": 8},
    "transfer_out_gb": 0.09,
    # Fargate, Linux/x86, per hour
    "fargate_vcpu_hour": 0.04048,
    "fargate_gb_hour": 0.004445,
    "fargate_spot_vcpu_hour": 0.01244,
    "fargate_spot_gb_hour": 0.00137,
    "sfn_per_1000_transitions": 0.025,
}
ARCHIVE_CLASSES = ("GLACIER", "DEEP_ARCHIVE")
# State transitions: the top level of one run (validate, list, choice, map, finalize,
# publish, end) and one Map item (its child execution: start, task, end).
TRANSITIONS_PER_RUN = 8
TRANSITIONS_PER_ITEM = 3
FARGATE_MINIMUM_SECONDS = 60


@dataclass
class Settings:
    """What the manifests do not record; the defaults are the Terraform module's."""

    task_vcpu: float = 1.0
    task_memory_gb: float = 2.0
    spot: bool = True
    runs_per_month: float | None = None  # None: from the spacing of the runs read
    retention_days: int = 365
    restore_days: int = 7


@dataclass
class Estimate:
    prices: dict[str, Any]
    runs: int
    runs_per_month: float
    lines: list[tuple[str, float]] = field(default_factory=list)
    retrieval: list[tuple[str, float]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)

    @property
    def monthly_total(self) -> float:
        return sum(amount for _, amount in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.prices["region"],
            "prices_date": self.prices["date"],
            "currency": self.prices["currency"],
            "runs_read": self.runs,
            "runs_per_month": round(self.runs_per_month, 3),
            "monthly": {name: round(amount, 8) for name, amount in self.lines},
            "monthly_total": round(self.monthly_total, 8),
            "retrieval": {name: round(amount, 8) for name, amount in self.retrieval},
            "assumptions": self.assumptions,
        }


def load_prices(path: Path | None) -> dict[str, Any]:
    """The built-in table, overridden key by key (one level deep) by ``path``."""
    prices = json.loads(json.dumps(PRICES))
    if path is None:
        return prices
    try:
        override = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"--prices {path}: not readable JSON: {exc}") from None
    if not isinstance(override, dict):
        raise ConfigurationError(f"--prices {path}: not a JSON object")
    for key, value in override.items():
        if key not in prices:
            raise ConfigurationError(f"--prices {path}: unknown price {key!r}")
        if isinstance(prices[key], dict) and isinstance(value, dict):
            prices[key].update(value)
        else:
            prices[key] = value
    return prices


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return 0.0
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return max(0.0, (b - a).total_seconds())


def estimate(manifests: list[RunManifest], prices: dict[str, Any], settings: Settings) -> Estimate:
    """The monthly cost of running and keeping these runs' kind, and of getting data back."""
    if not manifests:
        raise ConfigurationError("no runs to estimate from: run a backup first (`ghbackup start`)")
    starts = sorted(m.started_at for m in manifests)
    if settings.runs_per_month is not None:
        per_month = settings.runs_per_month
        spacing = f"{per_month:g} runs a month (given)"
    elif len(starts) > 1:
        span_days = _seconds(starts[0], starts[-1]) / 86400
        per_month = (len(starts) - 1) / span_days * 30.4 if span_days > 0 else 1.0
        spacing = f"{per_month:.2f} runs a month (the spacing of the {len(starts)} runs read)"
    else:
        per_month = 1.0
        spacing = "1 run a month (the module's default schedule; only one run was read)"
    n = len(manifests)
    avg_bytes = sum(m.bytes for m in manifests) / n
    avg_items = sum(len(m.items) for m in manifests) / n
    classes = [m.archive.storage_class for m in manifests if m.archive]
    storage_class = max(set(classes), key=classes.count) if classes else "GLACIER"
    task_seconds = (
        sum(
            max(FARGATE_MINIMUM_SECONDS, _seconds(i.started_at, i.finished_at))
            for m in manifests
            for i in m.items
        )
        / n
    )
    manifest_bytes = 2000 * avg_items  # about 2 KB of manifest JSON per item

    kept_runs = per_month * settings.retention_days / 30.4
    gb = avg_bytes / GB
    est = Estimate(prices=prices, runs=n, runs_per_month=per_month)
    storage_rate = prices["storage_gb_month"][storage_class]
    overhead = 0.0
    if storage_class in ARCHIVE_CLASSES:
        kb = prices["archive_overhead_kb"]
        overhead = (
            kb["archive"] * storage_rate + kb["standard"] * prices["storage_gb_month"]["STANDARD"]
        ) / (1024**2)
    est.lines.append((f"storage {storage_class} (run zips kept: {kept_runs:.1f})",
                      kept_runs * (gb * storage_rate + overhead)))  # fmt: skip
    est.lines.append(("storage STANDARD (run manifests)",
                      kept_runs * manifest_bytes / GB * prices["storage_gb_month"]["STANDARD"]))  # fmt: skip
    # Per run: items upload their zip and result (multipart = create + parts + complete),
    # Finalize copies parts into the run zip (about one copy per item, in the archive class)
    # and reads each item zip's end and result.
    puts_standard = avg_items * 4 + 3
    puts_archive = avg_items + 2
    gets = avg_items * 3
    est.lines.append(("requests (PUT/COPY/GET)", per_month * (
        puts_standard / 1000 * prices["put_per_1000"]["STANDARD"]
        + puts_archive / 1000 * prices["put_per_1000"][storage_class]
        + gets / 1000 * prices["get_per_1000"])))  # fmt: skip
    est.lines.append(("lifecycle transitions", 0.0))
    vcpu = prices["fargate_spot_vcpu_hour" if settings.spot else "fargate_vcpu_hour"]
    mem = prices["fargate_spot_gb_hour" if settings.spot else "fargate_gb_hour"]
    est.lines.append((f"Fargate{' Spot' if settings.spot else ''} ({task_seconds:,.0f} task-seconds a run)",
                      per_month * task_seconds / 3600 * (settings.task_vcpu * vcpu + settings.task_memory_gb * mem)))  # fmt: skip
    transitions = TRANSITIONS_PER_RUN + TRANSITIONS_PER_ITEM * avg_items
    est.lines.append((f"Step Functions ({transitions:,.0f} transitions a run)",
                      per_month * transitions / 1000 * prices["sfn_per_1000_transitions"]))  # fmt: skip

    item_gb = gb / max(1.0, avg_items)
    for tier in (
        ("Expedited", "Standard", "Bulk") if storage_class == "GLACIER" else ("Standard", "Bulk")
    ):
        key = f"{storage_class}/{tier}"
        if storage_class not in ARCHIVE_CLASSES or key not in prices["retrieval_gb"]:
            continue
        restore = gb * prices["retrieval_gb"][key] + prices["restore_request_per_1000"][key] / 1000
        copy = gb * prices["storage_gb_month"]["STANDARD"] * settings.restore_days / 30.4
        est.retrieval.append(
            (f"one repository, {tier}", restore + copy + item_gb * prices["transfer_out_gb"])
        )
        est.retrieval.append(
            (f"a whole run, {tier}", restore + copy + gb * prices["transfer_out_gb"])
        )
    if storage_class not in ARCHIVE_CLASSES:
        rate = prices["retrieval_gb"].get(f"{storage_class}/-", 0.0)
        est.retrieval.append(("one repository", item_gb * (rate + prices["transfer_out_gb"])))
        est.retrieval.append(("a whole run", gb * (rate + prices["transfer_out_gb"])))

    est.assumptions = [
        f"prices: {prices['region']} list prices of {prices['date']} ({prices['currency']}); "
        "override with --prices FILE",
        f"{spacing}; runs kept {settings.retention_days} days (run_retention_days)",
        f"a run: {avg_bytes / GB:.3f} GB in {storage_class}, {avg_items:.0f} items (average of the runs read)",
        f"tasks: {settings.task_vcpu:g} vCPU, {settings.task_memory_gb:g} GB, "
        f"{'Fargate Spot' if settings.spot else 'on-demand Fargate'}, billed per second with a 1-minute minimum",
        "the run zip is written in its class directly: no lifecycle transitions; staging "
        "objects live hours and are not counted as storage",
        "a Glacier restore is of the whole run zip (S3 restores whole objects) and its copy "
        f"is kept {settings.restore_days} days at the STANDARD rate; getting one repository "
        "then reads only its bytes; downloads leave AWS at the internet transfer rate",
        "not counted: Lambda, KMS requests, CloudWatch Logs, NAT or public IPv4 addresses",
    ]
    return est
