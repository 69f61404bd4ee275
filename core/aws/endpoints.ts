// Where each AWS service is reached, per region. The embedded default runs one S3 and one Kinesis
// emulator per region, so an endpoint is a function of (service, region), not a single URL.
// Resolution order, most specific first:
//   BOREALIS_ENDPOINT_<SERVICE>_<REGION>   e.g. BOREALIS_ENDPOINT_KINESIS_US_WEST_2 (embedded mode)
//   AWS_ENDPOINT_URL_<SERVICE>             the SDK's own per-service variable, e.g. AWS_ENDPOINT_URL_S3
//   AWS_ENDPOINT_URL                       one endpoint for everything (LocalStack)
//   none                                   the real AWS endpoint for the region

export type AwsService = 's3' | 'kinesis' | 'ssm' | 'eventbridge' | 'rds-data' | 'ecs' | 'sqs';

const serviceEnvName: Record<AwsService, string> = {
  s3: 'S3',
  kinesis: 'KINESIS',
  ssm: 'SSM',
  eventbridge: 'EVENTBRIDGE',
  'rds-data': 'RDS_DATA',
  ecs: 'ECS',
  sqs: 'SQS',
};

export function regionEnvSuffix(region: string): string {
  return region.toUpperCase().replace(/-/g, '_');
}

export function embeddedEndpointVariable(service: AwsService, region: string): string {
  return `BOREALIS_ENDPOINT_${serviceEnvName[service]}_${regionEnvSuffix(region)}`;
}

export function resolveEndpoint(
  service: AwsService,
  region: string,
  env: NodeJS.ProcessEnv = process.env,
): string | undefined {
  const candidates = [
    embeddedEndpointVariable(service, region),
    `AWS_ENDPOINT_URL_${serviceEnvName[service]}`,
    'AWS_ENDPOINT_URL',
  ];
  for (const name of candidates) {
    const value = env[name];
    if (value !== undefined && value !== '') return value;
  }
  return undefined;
}
