// The CDK app: one RegionStack for the primary and one for the secondary region, from context
// (`-c compute=ecs`, `-c borealis:primaryRegion=eu-west-1`, `-c backupRetentionDays=7`,
// `-c binlogShards=4` or BOREALIS_BINLOG_SHARDS, `-c globalDatabase=true`), checked by
// AwsSolutions (cdk-nag) on every synth.
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { binlogShardsVariable, primaryRegion, secondaryRegion } from '../../core/resources.ts';
import { buildApp } from '../lib/app.ts';

const app = new App();
buildApp(app, {
  clusterName: app.node.tryGetContext('borealis:clusterName') ?? 'borealis',
  primaryRegion: app.node.tryGetContext('borealis:primaryRegion') ?? primaryRegion,
  secondaryRegion: app.node.tryGetContext('borealis:secondaryRegion') ?? secondaryRegion,
  compute: app.node.tryGetContext('compute') ?? 'external',
  backupRetentionDays: app.node.tryGetContext('backupRetentionDays'),
  binlogShards: app.node.tryGetContext('binlogShards') ?? process.env[binlogShardsVariable],
  globalDatabase: String(app.node.tryGetContext('globalDatabase') ?? 'false') === 'true',
});
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
app.synth();
