"""Runs a Node.js Lambda function as a host process, where LocalStack's only executor starts a
Docker container.

One execution environment = one `node runtime.mjs` process, started by LocalStack through
`start()` with the environment a Lambda sandbox gets (function variables, role credentials,
AWS_ENDPOINT_URL pointing at LocalStack). The process loads the unzipped bundle's handler once
(init), then serves one invocation at a time on a loopback port; `invoke()` posts the payload and
returns the handler's result or error as LocalStack's InvocationResult, so Invoke, event source
mappings (Kinesis: retries, bisect, batch item failures, on-failure destinations) and EventBridge
targets behave as they do with containers. The function's timeout is enforced by the runtime and,
as a backstop, here (the process is killed: a timed-out sandbox is not reused, as on AWS). Memory
is bounded with --max-old-space-size at the function's MemorySize.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import threading
import time
from collections import deque
from pathlib import Path

import requests

from localstack import config
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

LOG = logging.getLogger(__name__)

RUNTIME_SCRIPT = Path(__file__).with_name("runtime.mjs")
# How long a process may take to load its handler (Lambda's init phase is capped at 10 s; a cold
# Node start on a busy 2-core machine with a 2 MB bundle needs a few seconds more).
STARTUP_TIMEOUT_SECONDS = 30
# Past the function's own timeout, how long to wait for the runtime's timeout answer before
# killing the process.
TIMEOUT_GRACE_SECONDS = 5
# How long to wait for an invocation's last log lines after its answer.
END_MARKER_WAIT_SECONDS = 1.0
# Log lines kept per environment (what get_logs returns); older lines are dropped.
MAX_LOG_LINES = 5_000
# Host variables a function process inherits; everything else comes from the Lambda environment.
HOST_VARIABLES = ("PATH", "HOME", "LANG", "TMPDIR", "SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS")


def node_executable() -> str:
    """The host's node: BOREALIS_LAMBDA_NODE, or the first `node` on PATH."""
    configured = os.environ.get("BOREALIS_LAMBDA_NODE")
    if configured:
        return configured
    found = shutil.which("node")
    if not found:
        raise LambdaRuntimeException("borealis-host executor: no `node` on PATH (set BOREALIS_LAMBDA_NODE)")
    return found


def gateway_host() -> str:
    """Where a function process reaches LocalStack: its gateway, never a wildcard address."""
    host = config.GATEWAY_LISTEN[0].host if config.GATEWAY_LISTEN else "127.0.0.1"
    return "127.0.0.1" if host in ("", "0.0.0.0", "::") else host


class HostRuntimeExecutor(RuntimeExecutor):
    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        self.logs: deque[str] = deque(maxlen=MAX_LOG_LINES)
        self._lines_total = 0
        # End-of-invocation markers seen on (stdout, stderr): logs are complete once both arrived.
        self._ends: dict[str, int] = {}
        self._ends_changed = threading.Condition()
        self._ready = threading.Event()
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        code_dir = self._code_dir()
        config_ = self.function_version.config
        env = {name: os.environ[name] for name in HOST_VARIABLES if name in os.environ}
        env.update({key: str(value) for key, value in env_vars.items() if value is not None})
        env["LAMBDA_TASK_ROOT"] = str(code_dir)
        env["AWS_LAMBDA_RUNTIME_API"] = "borealis-host"
        env["BOREALIS_LAMBDA_HANDLER"] = config_.handler or "index.handler"
        env["BOREALIS_LAMBDA_TIMEOUT_SECONDS"] = str(config_.timeout)
        args = [
            node_executable(),
            f"--max-old-space-size={max(int(config_.memory_size), 128)}",
            str(RUNTIME_SCRIPT),
        ]
        LOG.debug("borealis-host: starting %s in %s", config_.handler, code_dir)
        self.process = subprocess.Popen(
            args,
            cwd=str(code_dir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        threading.Thread(target=self._pump, args=(self.process.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.process.stderr, False), daemon=True).start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while not self._ready.wait(0.05):
            if self.process.poll() is not None:
                raise LambdaRuntimeException(
                    f"borealis-host: {self.function_version.id.function_name} exited during init "
                    f"(code {self.process.returncode}): {self._tail()}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise LambdaRuntimeException(
                    f"borealis-host: {self.function_version.id.function_name} did not finish init in "
                    f"{STARTUP_TIMEOUT_SECONDS} s: {self._tail()}"
                )

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    # --- invocation ------------------------------------------------------------------------
    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = payload["invoke-id"]
        if self.port is None or self.process is None or self.process.poll() is not None:
            raise LambdaRuntimeException(f"borealis-host: environment {self.id} is not running")
        timeout = float(self.function_version.config.timeout) + TIMEOUT_GRACE_SECONDS
        lines_before = self._lines_total
        with self._lock:
            try:
                response = requests.post(
                    f"http://127.0.0.1:{self.port}/invoke",
                    json=payload,
                    timeout=timeout,
                    proxies={"http": "", "https": ""},
                )
                answer = response.json()
            except requests.exceptions.Timeout:
                self.stop()
                answer = {
                    "ok": False,
                    "exit": True,
                    "body": json.dumps(
                        {
                            "errorType": "Sandbox.Timedout",
                            "errorMessage": f"Task timed out after {self.function_version.config.timeout} seconds",
                        }
                    ),
                }
            except (requests.exceptions.ConnectionError, ValueError) as error:
                self.stop()
                raise LambdaRuntimeException(
                    f"borealis-host: invocation {request_id} lost its process: {error}: {self._tail()}"
                ) from error
        self._await_end_markers(request_id)
        new_lines = min(self._lines_total - lines_before, len(self.logs))
        logs = "\n".join(list(self.logs)[len(self.logs) - new_lines :])
        if answer.get("exit"):
            # A timed-out or crashed handler leaves the process in an unknown state: not reused.
            self.stop()
        return InvocationResult(
            request_id=request_id,
            payload=answer["body"].encode("utf-8"),
            is_error=not answer["ok"],
            logs=logs,
        )

    # --- addresses and logs ----------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return gateway_host()

    def get_runtime_endpoint(self) -> str:
        port = config.GATEWAY_LISTEN[0].port
        return f"http://{gateway_host()}:{port}/_localstack_lambda/{self.id}"

    def get_logs(self) -> str:
        return "\n".join(self.logs)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        if function_version.config.package_type != "Zip" or not function_version.config.code:
            raise LambdaRuntimeException("borealis-host runs zip-packaged functions only (no images)")
        runtime = function_version.config.runtime or ""
        if not runtime.startswith("nodejs"):
            raise LambdaRuntimeException(f"borealis-host runs Node.js functions only, not {runtime}")
        function_version.config.code.prepare_for_execution()

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        try:
            node_executable()
        except LambdaRuntimeException as error:
            LOG.warning("%s", error)
            return False
        return True

    # --- helpers ---------------------------------------------------------------------------
    def _code_dir(self) -> Path:
        return Path(self.function_version.config.code.get_unzipped_code_location())

    def _pump(self, stream, is_stdout: bool) -> None:
        for line in stream:
            line = line.rstrip("\n")
            if is_stdout and not self._ready.is_set() and line.startswith('{"borealisRuntime"'):
                try:
                    self.port = int(json.loads(line)["port"])
                    self._ready.set()
                    continue
                except (ValueError, KeyError):
                    pass
            if line.startswith('{"borealisRuntime":"end"'):
                try:
                    request_id = json.loads(line)["requestId"]
                except (ValueError, KeyError):
                    request_id = None
                if request_id is not None:
                    with self._ends_changed:
                        self._ends[request_id] = self._ends.get(request_id, 0) + 1
                        self._ends_changed.notify_all()
                    continue
            self.logs.append(line)
            self._lines_total += 1

    def _await_end_markers(self, request_id: str) -> None:
        """Waits (briefly) until the runtime's end marker came through stdout and stderr, so the
        invocation's log lines, which travel on other pipes than its answer, are all collected."""
        deadline = time.monotonic() + END_MARKER_WAIT_SECONDS
        with self._ends_changed:
            while self._ends.get(request_id, 0) < 2:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.process is None or self.process.poll() is not None:
                    break
                self._ends_changed.wait(remaining)
            self._ends.pop(request_id, None)

    def _tail(self, lines: int = 20) -> str:
        return " | ".join(list(self.logs)[-lines:]) or "(no output)"
