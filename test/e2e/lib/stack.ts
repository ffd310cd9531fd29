/**
 * The stack the harness deploys "for real": synthesized with the library as a user would, then
 * read back from the template (buildspec and project environment) like CodeBuild would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack, aws_ecr_assets as ecr_assets } from 'aws-cdk-lib';
import { BuildxBuilder, CacheStrategy, CachedImageBuild } from '../../../src';

export interface SynthesizedProject {
  readonly logicalId: string;
  /** Parsed buildspec. */
  readonly buildSpec: any;
  /** Project environment variables; a value that is a CloudFormation expression is `undefined`. */
  readonly environment: Record<string, string | undefined>;
}

/** Construct ids of the builds in the test stack, by configuration name. */
export const BUILDS = {
  registry: 'Registry',
  none: 'None',
} as const;

export function synthesize(outdir: string, baseImage: string): Record<keyof typeof BUILDS, SynthesizedProject> {
  const app = new App({ outdir });
  const stack = new Stack(app, 'CachedImageBuildE2e', { env: { account: '123456789012', region: 'us-east-1' } });
  // What the harness must set differently from CodeBuild, as construct options (see README):
  // - the engine's own builder (containerd image store) instead of a docker-container builder,
  //   whose BuildKit image would come from Docker Hub;
  // - RUN steps without network: the local daemons have no bridge network.
  new CachedImageBuild(stack, BUILDS.registry, {
    repositoryName: 'e2e-registry',
    cache: CacheStrategy.registry({ builder: BuildxBuilder.currentDriver() }),
    networkMode: ecr_assets.NetworkMode.NONE,
    buildArgs: { BASE_IMAGE: baseImage },
  });
  new CachedImageBuild(stack, BUILDS.none, {
    repositoryName: 'e2e-none',
    cache: CacheStrategy.none(),
    networkMode: ecr_assets.NetworkMode.NONE,
    buildArgs: { BASE_IMAGE: baseImage },
  });
  const assembly = app.synth();
  const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.template.json`), 'utf8'));

  const out: Record<string, SynthesizedProject> = {};
  for (const [config, id] of Object.entries(BUILDS)) {
    const entry = Object.entries<any>(template.Resources).find(
      ([logicalId, r]) => r.Type === 'AWS::CodeBuild::Project' && logicalId.startsWith(`${id}Project`),
    );
    if (!entry) throw new Error(`no CodeBuild project for ${id} in the template`);
    const [logicalId, resource] = entry;
    const environment: Record<string, string | undefined> = {};
    for (const v of resource.Properties.Environment.EnvironmentVariables ?? []) {
      if (v.Type !== 'PLAINTEXT') throw new Error(`unexpected variable type ${v.Type} for ${v.Name}`);
      environment[v.Name] = typeof v.Value === 'string' ? v.Value : undefined;
    }
    out[config] = { logicalId, buildSpec: JSON.parse(resource.Properties.Source.BuildSpec), environment };
  }
  return out as Record<keyof typeof BUILDS, SynthesizedProject>;
}
