import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { unguarded } from './build-script';
import { CachedImageBuild, CachedImageBuildProps } from '../../src';

/** Shared by the construct tests: a stack with the build 'Api', and readers of its template. */

export function newStack(): Stack {
  return new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
}

/** A stack with a CachedImageBuild 'Api', not yet synthesized. */
export function create(props: CachedImageBuildProps = {}): { stack: Stack; build: CachedImageBuild } {
  const stack = newStack();
  const build = new CachedImageBuild(stack, 'Api', props);
  return { stack, build };
}

/** A stack with a CachedImageBuild 'Api', and its template. */
export function synth(props: CachedImageBuildProps = {}): { stack: Stack; build: CachedImageBuild; template: Template } {
  const { stack, build } = create(props);
  return { stack, build, template: Template.fromStack(stack) };
}

/** The one resource of a type matching the given properties, as [logicalId, resource]. */
export function onlyResource(template: Template, type: string, props: any = {}): [string, any] {
  const found = Object.entries(template.findResources(type, props));
  expect(found).toHaveLength(1);
  return found[0];
}

export function appRepository(template: Template): [string, any] {
  return onlyResource(template, 'AWS::ECR::Repository', { Properties: { ImageScanningConfiguration: { ScanOnPush: true } } });
}

export function cacheRepository(template: Template): [string, any] {
  return onlyResource(template, 'AWS::ECR::Repository', { Properties: { ImageTagMutability: 'MUTABLE' } });
}

export function lifecycleRules(template: Template): any[] {
  const [, repo] = cacheRepository(template);
  return JSON.parse(repo.Properties.LifecyclePolicy.LifecyclePolicyText).rules;
}

export function projectOf(template: Template): any {
  return onlyResource(template, 'AWS::CodeBuild::Project')[1];
}

/** Environment variables of the one CodeBuild project, by name. */
export function projectEnv(template: Template): Record<string, any> {
  const vars: any[] = projectOf(template).Properties.Environment.EnvironmentVariables ?? [];
  const out: Record<string, any> = {};
  for (const v of vars) {
    expect(out).not.toHaveProperty(v.Name);
    out[v.Name] = v;
  }
  return out;
}

export function plainEnv(template: Template): Record<string, any> {
  const out: Record<string, any> = {};
  for (const [name, v] of Object.entries(projectEnv(template))) {
    expect(v.Type).toEqual('PLAINTEXT');
    out[name] = v.Value;
  }
  return out;
}

export function buildSpec(template: Template): any {
  const spec = projectOf(template).Properties.Source.BuildSpec;
  expect(typeof spec).toBe('string');
  return JSON.parse(spec);
}

export function buildCommand(template: Template): string {
  const commands: string[] = buildSpec(template).phases.build.commands;
  const builds = commands.filter((c) => c.includes('docker buildx build'));
  expect(builds).toHaveLength(1);
  return unguarded(builds[0]);
}

/** ECR permissions the policies attached to a role grant: resource (as JSON) -> sorted actions. */
export function ecrPermissionsOfRole(template: Template, roleId: string): Record<string, string[]> {
  const policies = Object.values(template.findResources('AWS::IAM::Policy'))
    .filter((p: any) => (p.Properties.Roles as any[]).some((r) => r.Ref === roleId));
  expect(policies.length).toBeGreaterThan(0);
  const byResource: Record<string, Set<string>> = {};
  for (const policy of policies) {
    for (const statement of (policy as any).Properties.PolicyDocument.Statement) {
      const actions: string[] = [statement.Action].flat();
      const ecrActions = actions.filter((a) => a.startsWith('ecr') || a === '*');
      if (ecrActions.length === 0) continue;
      expect(statement.Effect).toEqual('Allow');
      expect(statement.Condition).toBeUndefined();
      for (const resource of [statement.Resource].flat()) {
        const key = JSON.stringify(resource);
        byResource[key] = byResource[key] ?? new Set();
        ecrActions.forEach((a) => byResource[key].add(a));
      }
    }
  }
  return Object.fromEntries(Object.entries(byResource).map(([k, v]) => [k, [...v].sort()]));
}

export function ecrPermissionsOfProjectRole(template: Template): Record<string, string[]> {
  return ecrPermissionsOfRole(template, projectOf(template).Properties.ServiceRole['Fn::GetAtt'][0]);
}
