"""The AWS cost model batches as issue 10 specifies; its figures rest on that."""

from __future__ import annotations

from bench import bench_aws_model as model

GIB = model.GIB
MIB = model.MIB


def test_a_repository_above_the_byte_budget_runs_alone():
    groups = model.batches([MIB, 3 * GIB, MIB])
    assert sorted(groups) == [[MIB, MIB], [3 * GIB]]


def test_small_repositories_are_grouped_up_to_the_item_and_byte_limits():
    assert [len(g) for g in model.batches([MIB] * 60)] == [25, 25, 10]
    assert model.batches([GIB, GIB, GIB // 2]) == [[GIB, GIB], [GIB // 2]]


def test_sizes_are_reproducible_and_scaled_to_the_account_total():
    first = model.repository_sizes(50, seed=7, total_bytes=10**9)
    assert first == model.repository_sizes(50, seed=7, total_bytes=10**9)
    assert abs(sum(first) - 10**9) < 50


def test_minimal_personal_account_is_six_cents_a_month_plus_its_warm_copies():
    """The original setup's $0.06 holds for everything but the warm copies under latest/
    (about one archive in STANDARD_IA), which the terraform README prices and justifies."""
    sizes = model.repository_sizes(50, seed=20261202, total_bytes=10**9)
    run = model.model_run(sizes, "minimal")
    month = model.monthly(run, "minimal", runs_per_month=1, archives_kept=12)
    assert run.tasks == 2
    warm = month.pop("S3 Standard-IA (latest/)")
    assert sum(month.values()) <= 0.06
    assert 0.01 < warm < 0.015
    assert "KMS key" not in month and "CloudWatch alarm" not in month
