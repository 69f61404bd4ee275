#!/bin/sh
# npm run deploy:local [-- extra cdk deploy arguments, e.g. -c compute=ecs]: bootstrap LocalStack (or
# any AWS-compatible endpoint) and deploy both region stacks with cdklocal.
# npm run destroy:local: `cdklocal destroy --all` against the same endpoint (DEPLOY_ACTION=destroy).
#   AWS_ENDPOINT_URL     the endpoint; default: the LocalStack `npm run localstack -- start` runs,
#                        else cdklocal's own (http://localhost.localstack.cloud:4566)
#   AWS_ENDPOINT_URL_S3  S3 for the asset uploads (default: AWS_ENDPOINT_URL; cdklocal requires it
#                        whenever AWS_ENDPOINT_URL is set)
# cdklocal drops other AWS_* variables (region, profile) unless AWS_ENVAR_ALLOWLIST names them and
# uses the credentials test/test by default. The stacks choose their own regions (context).
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${AWS_ENDPOINT_URL:-}" ] && [ -f .localstack/state.json ]; then
  AWS_ENDPOINT_URL=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(".localstack/state.json","utf8")).endpoint)')
  export AWS_ENDPOINT_URL
fi
if [ -n "${AWS_ENDPOINT_URL:-}" ]; then
  export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}"
  echo "deploy:local: using $AWS_ENDPOINT_URL"
fi
if [ "${DEPLOY_ACTION:-deploy}" = destroy ]; then
  npx cdklocal destroy --all --force --no-notices "$@"
  exit 0
fi
npx cdklocal bootstrap --no-notices
npx cdklocal deploy --all --require-approval never --no-notices "$@"
