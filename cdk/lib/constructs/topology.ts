// The cluster's topology in SSM Parameter Store, under the name the control plane publishes to
// (core/cluster/topology-store.ts). The stack creates it with an empty topology
// (version 0, no writer); a control plane — on ECS, or `borealis up` outside AWS in external
// compute mode — overwrites it with every change, and the functions read it.
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { topologyParameterName } from '../../../core/cluster/topology-store.ts';

export interface TopologyParameterProps {
  clusterName: string;
}

/** What the parameter holds before any control plane has published (no writer: clients wait). */
export function unpublishedTopology(clusterName: string): string {
  return JSON.stringify({ cluster: clusterName, version: 0, writer: null, readers: [] });
}

export class TopologyParameter extends Construct {
  readonly parameter: ssm.StringParameter;

  constructor(scope: Construct, id: string, props: TopologyParameterProps) {
    super(scope, id);
    this.parameter = new ssm.StringParameter(this, 'Parameter', {
      parameterName: topologyParameterName(props.clusterName),
      description: `Borealis cluster ${props.clusterName}: writer and reader endpoints (control plane)`,
      stringValue: unpublishedTopology(props.clusterName),
      tier: ssm.ParameterTier.STANDARD,
    });
  }
}
