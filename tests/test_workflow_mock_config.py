"""Our reader of AWS Step Functions Local's MockConfigFile format."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow.mock_config import MockConfig, MockConfigError, to_moto_test_case

MOCK_CONFIG = Path(__file__).parent / "workflow" / "mock_config.json"
REQUIRED_CASES = {
    "HappyPath",
    "OneRepositoryFailsAfterRetries",
    "ListingFails",
    "EmptyAccount",
    "EverythingUnchanged",
    "MalformedInput",
    "FinalizeFails",
    "OneItemFailsForGood",
    "SummaryCannotBePublished",
}


def test_the_project_mock_config_has_every_required_test_case():
    config = MockConfig.load(MOCK_CONFIG)
    assert REQUIRED_CASES <= set(config.test_cases["ghbackup"])


def test_ranges_give_one_answer_per_attempt():
    case = MockConfig.load(MOCK_CONFIG).test_case("ghbackup", "ListingFails")
    answers = [case.response("List the items to back up", n) for n in range(4)]
    assert [a.error if a else None for a in answers] == [
        "GitHubUnavailable",
        "GitHubUnavailable",
        "GitHubUnavailable",
        None,
    ]
    assert case.response("Finalize the run", 0) is None  # not mocked: runs for real


def _config(responses):
    return {
        "StateMachines": {"m": {"TestCases": {"c": {"S": "R"}}}},
        "MockedResponses": {"R": responses},
    }


@pytest.mark.parametrize(
    ("responses", "message"),
    [
        ({"1": {"Return": {}}}, "expected 0, found 1"),
        ({"0": {"Return": {}}, "2": {"Return": {}}}, "expected 1, found 2"),
        ({"0": {}}, "exactly one of Return or Throw"),
        ({"0": {"Throw": {"Cause": "x"}}}, "needs an Error string"),
        ({"zero": {"Return": {}}}, "not an attempt number"),
    ],
)
def test_malformed_files_are_rejected_with_where(responses, message):
    with pytest.raises(MockConfigError, match=message):
        MockConfig.from_json(_config(responses))


def test_unknown_response_and_test_case_are_named():
    data = _config({"0": {"Return": {}}})
    data["StateMachines"]["m"]["TestCases"]["c"]["T"] = "Missing"
    with pytest.raises(MockConfigError, match="Missing"):
        MockConfig.from_json(data)
    with pytest.raises(MockConfigError, match="no test case 'nope'"):
        MockConfig.from_json(_config({"0": {"Return": {}}})).test_case("m", "nope")


def test_conversion_for_moto_keeps_attempt_order():
    case = MockConfig.load(MOCK_CONFIG).test_case("ghbackup", "OneRepositoryFailsAfterRetries")
    moto_case = to_moto_test_case(case)
    responses = moto_case.state_mocked_responses[
        "Back up the batch in a container"
    ].mocked_responses
    assert [r.error for r in responses] == ["States.TaskFailed"] * 3
