#!/bin/sh
# npm run deploy:local [-- extra cdk deploy arguments, e.g. -c compute=ecs]: bootstrap LocalStack (or
# any AWS-compatible endpoint) and deploy both region stacks with cdklocal.
#   AWS_ENDPOINT_URL     the endpoint (default: cdklocal's, http://localhost.localstack.cloud:4566)
#   AWS_ENDPOINT_URL_S3  S3 for the asset uploads (default: AWS_ENDPOINT_URL; cdklocal requires it
#                        whenever AWS_ENDPOINT_URL is set)
# cdklocal drops other AWS_* variables (region, profile) unless AWS_ENVAR_ALLOWLIST names them and
# uses the credentials test/test by default. The stacks choose their own regions (context).
set -eu
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}"
fi
npx cdklocal bootstrap --no-notices
npx cdklocal deploy --all --require-approval never --no-notices "$@"
