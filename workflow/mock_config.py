"""Read AWS Step Functions Local's MockConfigFile format.

The same file runs on AWS's Step Functions Local (Docker) and on our local runner::

    {"StateMachines": {"<machine>": {"TestCases": {"<case>": {"<state>": "<response>"}}}},
     "MockedResponses": {"<response>": {"0": {"Return": {...}},
                                        "1-2": {"Throw": {"Error": "...", "Cause": "..."}}}}}

A response's keys are attempt numbers or inclusive ranges ("0", "1-2"): attempt 0 is the
first try, each Retry is the next number. States not named in a test case run for real.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class MockConfigError(ValueError):
    """The file does not follow the MockConfigFile format; the message says where."""


@dataclass(frozen=True)
class MockedResponse:
    """One answer for attempts ``first``..``last`` (inclusive): a Return or a Throw."""

    first: int
    last: int
    returns: Any = None
    error: str | None = None
    cause: str | None = None

    @property
    def throws(self) -> bool:
        return self.error is not None


@dataclass(frozen=True)
class MockTestCase:
    """One test case: for each mocked state, its answers by attempt number."""

    state_machine: str
    name: str
    states: dict[str, tuple[MockedResponse, ...]]

    def response(self, state: str, attempt: int) -> MockedResponse | None:
        """The answer for ``attempt`` of ``state``, or None when the state is not mocked."""
        for candidate in self.states.get(state, ()):
            if candidate.first <= attempt <= candidate.last:
                return candidate
        return None


def _parse_range(text: str, where: str) -> tuple[int, int]:
    parts = text.strip().split("-")
    try:
        numbers = [int(part) for part in parts]
    except ValueError:
        raise MockConfigError(f"{where}: {text!r} is not an attempt number or range") from None
    if len(numbers) == 1:
        return numbers[0], numbers[0]
    if len(numbers) == 2 and 0 <= numbers[0] <= numbers[1]:
        return numbers[0], numbers[1]
    raise MockConfigError(f"{where}: {text!r} is not an attempt range like '0-2'")


def _parse_responses(name: str, raw: Any) -> tuple[MockedResponse, ...]:
    where = f"MockedResponses.{name}"
    if not isinstance(raw, dict) or not raw:
        raise MockConfigError(f"{where}: expected an object of attempt ranges")
    responses = []
    for range_text, body in raw.items():
        first, last = _parse_range(range_text, where)
        if not isinstance(body, dict) or len(body.keys() & {"Return", "Throw"}) != 1:
            raise MockConfigError(f"{where}.{range_text}: needs exactly one of Return or Throw")
        if "Return" in body:
            responses.append(MockedResponse(first, last, returns=body["Return"]))
        else:
            throw = body["Throw"]
            if not isinstance(throw, dict) or not isinstance(throw.get("Error"), str):
                raise MockConfigError(f"{where}.{range_text}.Throw: needs an Error string")
            responses.append(
                MockedResponse(first, last, error=throw["Error"], cause=throw.get("Cause", ""))
            )
    responses.sort(key=lambda response: response.first)
    expected = 0
    for response in responses:
        if response.first != expected:
            raise MockConfigError(
                f"{where}: attempts must be numbered 0, 1, 2... without gaps; "
                f"expected {expected}, found {response.first}"
            )
        expected = response.last + 1
    return tuple(responses)


@dataclass(frozen=True)
class MockConfig:
    """A whole MockConfigFile."""

    test_cases: dict[str, dict[str, MockTestCase]]

    @classmethod
    def from_json(cls, data: Any) -> MockConfig:
        if not isinstance(data, dict):
            raise MockConfigError("the file must hold a JSON object")
        raw_responses = data.get("MockedResponses", {})
        raw_machines = data.get("StateMachines")
        if not isinstance(raw_machines, dict) or not isinstance(raw_responses, dict):
            raise MockConfigError("needs StateMachines and MockedResponses objects")
        responses = {name: _parse_responses(name, raw) for name, raw in raw_responses.items()}
        machines: dict[str, dict[str, MockTestCase]] = {}
        for machine, body in raw_machines.items():
            cases = (body or {}).get("TestCases")
            if not isinstance(cases, dict):
                raise MockConfigError(f"StateMachines.{machine}: needs a TestCases object")
            machines[machine] = {}
            for case, states in cases.items():
                where = f"StateMachines.{machine}.TestCases.{case}"
                if not isinstance(states, dict):
                    raise MockConfigError(f"{where}: expected state name -> response name")
                missing = sorted(set(states.values()) - responses.keys())
                if missing:
                    raise MockConfigError(f"{where}: no MockedResponses named {missing}")
                machines[machine][case] = MockTestCase(
                    state_machine=machine,
                    name=case,
                    states={state: responses[name] for state, name in states.items()},
                )
        return cls(test_cases=machines)

    @classmethod
    def load(cls, path: Path) -> MockConfig:
        try:
            data = json.loads(Path(path).read_text())
        except json.JSONDecodeError as error:
            raise MockConfigError(f"{path}: not JSON: {error.msg} at line {error.lineno}") from None
        return cls.from_json(data)

    def test_case(self, state_machine: str, name: str) -> MockTestCase:
        try:
            return self.test_cases[state_machine][name]
        except KeyError:
            known = sorted(self.test_cases.get(state_machine, {}))
            raise MockConfigError(
                f"no test case {name!r} for state machine {state_machine!r} (known: {known})"
            ) from None


def to_moto_test_case(test_case: MockTestCase) -> Any:
    """The same test case as moto's interpreter wants it (Environment.mock_test_case)."""
    from moto.stepfunctions.parser.mocking import mock_config as moto_mock

    state_responses = []
    for state, responses in test_case.states.items():
        converted: list[Any] = []
        for response in responses:
            if response.throws:
                converted.append(
                    moto_mock.MockedResponseThrow(
                        response.first, response.last, response.error, response.cause or ""
                    )
                )
            else:
                converted.append(
                    moto_mock.MockedResponseReturn(response.first, response.last, response.returns)
                )
        state_responses.append(
            moto_mock.StateMockedResponses(
                state_name=state, mocked_response_name=state, mocked_responses=converted
            )
        )
    return moto_mock.MockTestCase(
        state_machine_name=test_case.state_machine,
        test_case_name=test_case.name,
        state_mocked_responses_list=state_responses,
    )
