// The CDK app: one RegionStack for the primary and one for the secondary region, from context.
import { App } from 'aws-cdk-lib';
import { primaryRegion, secondaryRegion } from '../../core/resources.ts';
import { buildApp } from '../lib/app.ts';

const app = new App();
buildApp(app, {
  clusterName: app.node.tryGetContext('borealis:clusterName') ?? 'borealis',
  primaryRegion: app.node.tryGetContext('borealis:primaryRegion') ?? primaryRegion,
  secondaryRegion: app.node.tryGetContext('borealis:secondaryRegion') ?? secondaryRegion,
});
app.synth();
