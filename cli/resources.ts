// `borealis resources`: what exists in each region's S3 and Kinesis, seen through the same client
// factory the services use — the quickest check that `npm start` (or LocalStack) is up.
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import { kinesisClient, s3Client } from '../core/aws/clients.ts';
import { embeddedRegions } from '../core/resources.ts';
import { emulatorEnv } from '../embedded/emulators.ts';
import { readSystemState, stateDirPath } from '../embedded/state.ts';

export interface RegionListing {
  region: string;
  buckets: string[];
  streams: string[];
}

export async function listResources(options: { stateDir: string; json?: boolean }): Promise<void> {
  const state = readSystemState(options.stateDir);
  let env: NodeJS.ProcessEnv;
  let regions: string[];
  if (state) {
    env = { ...process.env, ...emulatorEnv(state.emulators) };
    regions = state.emulators.regions.map((r) => r.region);
  } else if (process.env.AWS_ENDPOINT_URL) {
    env = process.env;
    regions = [...embeddedRegions];
  } else {
    throw new Error(
      `no system is running from ${stateDirPath(options.stateDir)} (start one with 'npm start') and AWS_ENDPOINT_URL is not set`,
    );
  }
  const listings = await Promise.all(regions.map((region) => listRegion(region, env)));
  if (options.json) {
    console.log(JSON.stringify({ regions: listings }, null, 2));
    return;
  }
  for (const l of listings) {
    console.log(`${l.region}`);
    console.log(`  s3 buckets:       ${l.buckets.join(', ') || '(none)'}`);
    console.log(`  kinesis streams:  ${l.streams.join(', ') || '(none)'}`);
  }
}

async function listRegion(region: string, env: NodeJS.ProcessEnv): Promise<RegionListing> {
  const s3 = s3Client({ region, env });
  const kinesis = kinesisClient({ region, env });
  try {
    const [buckets, streams] = await Promise.all([
      s3.send(new ListBucketsCommand({})),
      kinesis.send(new ListStreamsCommand({})),
    ]);
    return {
      region,
      buckets: (buckets.Buckets ?? []).map((b) => b.Name ?? '').sort(),
      streams: [...(streams.StreamNames ?? [])].sort(),
    };
  } finally {
    s3.destroy();
    kinesis.destroy();
  }
}
