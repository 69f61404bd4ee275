"""The plux plugin LocalStack finds through the `localstack.lambda.runtime_executor` entry point.

Loading is deferred to `load()` so that LocalStack only imports the executor (and its LocalStack
dependencies) when LAMBDA_RUNTIME_EXECUTOR selects it.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "borealis-host"

    def load(self, *args, **kwargs):
        from borealis_lambda_executor.executor import HostRuntimeExecutor

        return HostRuntimeExecutor
