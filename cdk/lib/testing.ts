// Helpers for the CDK assertion tests: synthesize an app variant once, list its IAM statements,
// run the AwsSolutions (cdk-nag) pack and keep what is left after the acknowledgements in code.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { App, type Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { type BorealisAppOptions, buildApp } from './app.ts';
import type { RegionStack } from './stacks/region-stack.ts';

export const regions = { primary: 'us-east-1', secondary: 'us-west-2' } as const;
export const clusterName = 'borealis';

export interface SynthesizedApp {
  stacks: { primary: RegionStack; secondary: RegionStack };
  templates: { primary: Template; secondary: Template };
  /** The cloud assembly directory (bundled function code lives in its asset.* folders). */
  assemblyDir: string;
}

/** Builds and synthesizes one app variant (both region stacks in one synth). */
export function synthesize(options: Partial<BorealisAppOptions> = {}): SynthesizedApp {
  const app = new App();
  const stacks = buildApp(app, {
    clusterName,
    primaryRegion: regions.primary,
    secondaryRegion: regions.secondary,
    ...options,
  });
  const assemblyDir = app.synth().directory;
  return {
    stacks,
    templates: {
      primary: Template.fromStack(stacks.primary),
      secondary: Template.fromStack(stacks.secondary),
    },
    assemblyDir,
  };
}

export interface Statement {
  policy: string;
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
}

/** Every statement of every AWS::IAM::Policy in the template, with the policy's logical id. */
export function iamStatements(template: Template): Statement[] {
  const out: Statement[] = [];
  for (const [id, policy] of Object.entries(template.findResources('AWS::IAM::Policy'))) {
    for (const s of policy.Properties.PolicyDocument.Statement as Omit<Statement, 'policy'>[]) {
      out.push({ policy: id, ...s });
    }
  }
  return out;
}

export function actionsOf(statement: Statement): string[] {
  return Array.isArray(statement.Action) ? statement.Action : [statement.Action];
}

export function resourcesOf(statement: Statement): unknown[] {
  return Array.isArray(statement.Resource) ? statement.Resource : [statement.Resource];
}

/** AwsSolutions findings of one severity left after every acknowledgement in code. */
export function nagFindings(stack: Stack, severity: 'error' | 'warning'): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations
    .filter((v) => v.severity === severity)
    .flatMap((v) =>
      v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath ?? r.resourceLogicalId}`),
    );
}

/** The bundled entry of every function asset in the assembly (asset.<hash>/index.mjs). */
export function functionBundles(assemblyDir: string): Map<string, string> {
  const bundles = new Map<string, string>();
  for (const name of readdirSync(assemblyDir)) {
    if (!name.startsWith('asset.')) continue;
    const files = readdirSync(join(assemblyDir, name));
    if (files.includes('index.mjs'))
      bundles.set(name.slice('asset.'.length), join(assemblyDir, name, 'index.mjs'));
  }
  return bundles;
}
