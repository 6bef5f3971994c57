"""AWS on this machine: a moto server on 127.0.0.1 that executes state machines.

``start_local_aws()`` starts moto's ThreadedMotoServer in this process with every fix from
``workflow.moto_fixes`` applied, Step Functions execution switched on before any machine
exists, Lambda without Docker (handlers run in-process), and answers for the two Step
Functions calls the Terraform provider makes that moto lacks (ValidateStateMachineDefinition,
ListStateMachineVersions). Child processes reach it through ``endpoint_url``.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import requests

from workflow import moto_fixes
from workflow.emulation import EMULATION

REGION = "us-east-1"
# moto's default account; every ARN the local runner builds uses it.
ACCOUNT_ID = "123456789012"
DUMMY_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    "lambda": {"use_docker": False},
}

_running_lock = threading.Lock()
_running: LocalAWS | None = None


@dataclass
class LocalAWS:
    """A running local AWS: its endpoint and how to stop it."""

    endpoint_url: str
    port: int
    _server: Any = field(repr=False)
    _previous_moto_port: str | None = field(default=None, repr=False)

    @property
    def environment(self) -> dict[str, str]:
        """What a process needs to talk to this endpoint and never to real AWS."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            **DUMMY_CREDENTIALS,
        }

    def put_object_directly(
        self, bucket: str, key: str, body: bytes, metadata: dict[str, str]
    ) -> str:
        """Store an object in the server's S3 backend without an HTTP round trip (it runs in
        this process), for seeding many objects at once; returns its ETag as S3 would."""
        from moto.s3.models import s3_backends

        stored = s3_backends[ACCOUNT_ID]["global"].put_object(bucket, key, body)
        stored.set_metadata({f"x-amz-meta-{name}": value for name, value in metadata.items()})
        return str(stored.etag)

    def stop(self) -> None:
        """Stop the server and any task processes it started."""
        global _running
        EMULATION.stop_all_tasks()
        self._server.stop()
        if self._previous_moto_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = self._previous_moto_port
        with _running_lock:
            if _running is self:
                _running = None


def start_local_aws(port: int = 0) -> LocalAWS:
    """Start moto on 127.0.0.1 (``port=0``: any free port), reset and configured."""
    global _running
    from moto.server import ThreadedMotoServer

    with _running_lock:
        if _running is not None:
            # moto's backends are process-wide: two servers would share (and reset) them.
            raise RuntimeError(f"local AWS already running at {_running.endpoint_url}")
        moto_fixes.apply_all()
        # One access-log line per request drowns everything else a run prints.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        # The interpreter logs every failed execution with its whole parse tree; the runner
        # reports the error and cause itself.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        host, bound_port = server.get_host_and_port()
        endpoint_url = f"http://{host}:{bound_port}"
        # The interpreter's own clients (lambda, ecs, sns, s3 ItemReader) call back to
        # http://localhost:$MOTO_PORT.
        previous_moto_port = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(bound_port)
        try:
            requests.post(f"{endpoint_url}/moto-api/reset", timeout=30).raise_for_status()
            EMULATION.forget_runs()
            # Before any state machine exists: machines created earlier live in the backend
            # that does not execute.
            requests.post(
                f"{endpoint_url}/moto-api/config", json=MOTO_CONFIG, timeout=30
            ).raise_for_status()
        except Exception:
            server.stop()
            raise
        _running = LocalAWS(
            endpoint_url=endpoint_url,
            port=bound_port,
            _server=server,
            _previous_moto_port=previous_moto_port,
        )
        return _running
