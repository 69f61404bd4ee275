"""The borealis-host executor against a real `node` process: init, result, error, timeout, logs,
and a handler that cannot load. LocalStack's FunctionVersion is replaced by a small stand-in with
the fields the executor reads (the real objects need a running Lambda service); everything else —
the process, the loopback HTTP invoke, the runtime script — is what LocalStack runs.

Run inside LocalStack's virtual environment: .localstack/venv/bin/python -m unittest discover -s
tools/localstack/executor/tests
"""

import json
import shutil
import tempfile
import time
import unittest
from pathlib import Path
from types import SimpleNamespace

from borealis_lambda_executor.executor import HostRuntimeExecutor
from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

HANDLER = """
export const handler = async (event, context) => {
  console.log('invoked', context.awsRequestId, context.functionName);
  if (event.fail) throw new TypeError('asked to fail');
  if (event.sleepMs) await new Promise((r) => setTimeout(r, event.sleepMs));
  return { echo: event, remaining: context.getRemainingTimeInMillis() > 0, region: process.env.AWS_REGION };
};
"""


def function_version(code_dir: Path, handler: str = "index.handler", timeout: int = 2):
    code = SimpleNamespace(get_unzipped_code_location=lambda: code_dir, prepare_for_execution=lambda: None)
    config = SimpleNamespace(
        handler=handler, timeout=timeout, memory_size=256, code=code, runtime="nodejs22.x", package_type="Zip"
    )
    return SimpleNamespace(id=SimpleNamespace(function_name="probe", region="us-east-1"), config=config)


def payload(event: dict, request_id: str = "req-1") -> dict:
    return {
        "invoke-id": request_id,
        "invoked-function-arn": "arn:aws:lambda:us-east-1:000000000000:function:probe",
        "payload": json.dumps(event),
        "trace-id": "Root=1-0-0",
    }


class HostRuntimeExecutorTest(unittest.TestCase):
    def setUp(self):
        self.dir = Path(tempfile.mkdtemp(prefix="borealis-executor-"))
        (self.dir / "index.mjs").write_text(HANDLER)
        self.executors = []

    def tearDown(self):
        for executor in self.executors:
            executor.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def started(self, **kwargs) -> HostRuntimeExecutor:
        executor = HostRuntimeExecutor("env-1", function_version(self.dir, **kwargs))
        self.executors.append(executor)
        executor.start({"AWS_REGION": "us-east-1", "AWS_LAMBDA_FUNCTION_NAME": "probe"})
        return executor

    def test_returns_the_handlers_result_and_its_logs(self):
        executor = self.started()
        result = executor.invoke(payload({"n": 1}, "req-42"))
        self.assertFalse(result.is_error)
        self.assertEqual(result.request_id, "req-42")
        self.assertEqual(
            json.loads(result.payload), {"echo": {"n": 1}, "remaining": True, "region": "us-east-1"}
        )
        self.assertIn("invoked req-42 probe", result.logs)

    def test_an_errors_logs_carry_the_error_and_end_with_the_invocation(self):
        executor = self.started()
        result = executor.invoke(payload({"fail": True}, "req-7"))
        self.assertIn("invoked req-7 probe", result.logs)
        self.assertIn("Invoke Error", result.logs)
        self.assertIn("asked to fail", result.logs)
        self.assertNotIn("borealisRuntime", result.logs)

    def test_reuses_the_process_between_invocations(self):
        executor = self.started()
        pid = executor.process.pid
        for i in range(3):
            self.assertFalse(executor.invoke(payload({"i": i}, f"req-{i}")).is_error)
        self.assertEqual(executor.process.pid, pid)

    def test_a_thrown_error_is_lambdas_error_document(self):
        executor = self.started()
        result = executor.invoke(payload({"fail": True}))
        self.assertTrue(result.is_error)
        document = json.loads(result.payload)
        self.assertEqual(document["errorType"], "TypeError")
        self.assertEqual(document["errorMessage"], "asked to fail")
        self.assertIsNone(executor.process.poll(), "an error does not end the sandbox")

    def test_a_timeout_ends_the_sandbox(self):
        executor = self.started(timeout=1)
        started = time.monotonic()
        result = executor.invoke(payload({"sleepMs": 5_000}))
        elapsed = time.monotonic() - started
        self.assertTrue(result.is_error)
        self.assertEqual(json.loads(result.payload)["errorType"], "Sandbox.Timedout")
        self.assertLess(elapsed, 3.0, "answered at the function's 1 s timeout, not after the handler")
        self.assertIsNotNone(executor.process.poll(), "a timed-out process is not reused")

    def test_a_missing_handler_fails_init_with_the_reason(self):
        executor = HostRuntimeExecutor("env-2", function_version(self.dir, handler="index.nothing"))
        self.executors.append(executor)
        with self.assertRaises(LambdaRuntimeException) as caught:
            executor.start({})
        self.assertIn("HandlerNotFound", str(caught.exception))


if __name__ == "__main__":
    unittest.main()
