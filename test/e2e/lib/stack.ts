/**
 * The stack the harness runs "for real": synthesized with the library as a user would, then read
 * back from the template (buildspec and project environment) like CodeBuild would.
 */
import * as fs from 'fs';
import * as path from 'path';
import { App, Stack, aws_codebuild as codebuild, aws_ecr_assets as ecr_assets, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { RepositorySettings } from './ecr-proxy';
import { BuildSecret, BuildxBuilder, CacheStrategy, CachedImageBuild, LayerCompression } from '../../../src';

export interface SynthesizedProject {
  readonly logicalId: string;
  /** Parsed buildspec. */
  readonly buildSpec: any;
  /** Project environment variables; a value that is a CloudFormation expression is `undefined`. */
  readonly environment: Record<string, string | undefined>;
  /** The construct's repositories' tag mutability, as the template creates them (for the ECR proxy). */
  readonly repositories: { readonly image: RepositorySettings; readonly cache?: RepositorySettings };
}

/** One CachedImageBuild of the test stack. */
export interface BuildDefinition {
  readonly strategy: 'registry' | 'inline' | 'buildah' | 'none';
  readonly dockerfile: string;
  /** Pass the build secret `api_token` (from Secrets Manager). */
  readonly secret?: boolean;
  /**
   * Registry strategy: a `docker-container` builder from this image (the default builder; an
   * image that cannot be pulled shows what happens then). Without it: the engine's own builder.
   */
  readonly builderImage?: string;
  readonly fallbackToEngineBuilder?: boolean;
  /** `BuildxBuilder.dockerContainer({ network })`. */
  readonly builderNetwork?: string;
  /** `BuildxBuilder.dockerContainer({ buildkitdConfig })`. */
  readonly buildkitdConfig?: string;
  /** `provenance` of the construct. */
  readonly provenance?: boolean;
  /** `rebuildExistingImages` of the construct. */
  readonly rebuildExistingImages?: boolean;
  /** `reproducibleTimestamps` of the construct. */
  readonly reproducibleTimestamps?: boolean;
  /** A standalone multi-architecture build (issue 12): `platforms` linux/amd64 and linux/arm64, a GitHub source starting batch builds. */
  readonly multiArch?: boolean;
  /** The BASE_IMAGE build argument, when not the harness's base image (an image index for `multiArch`). */
  readonly baseImage?: string;
  /** `CacheStrategy.buildah({ allowOlderBuildah })`: Debian 12's Buildah 1.28 builds with a warning. */
  readonly allowOlderBuildah?: boolean;
  /** `CacheStrategy.registry({ compression })`: LayerCompression.gzip or .zstd, with the level if given. */
  readonly compression?: { readonly algorithm: 'gzip' | 'zstd'; readonly level?: number };
}

/**
 * Synthesizes one CachedImageBuild per definition (construct id = key) and returns each one's
 * CodeBuild project as CodeBuild would see it.
 *
 * What the harness must set differently from CodeBuild is set as construct options (see README):
 * - registry, docker-container builder: the BuildKit image from the local registry (not Docker
 *   Hub), the host's network and a buildkitd configuration for the plain-HTTP local registries;
 * - registry, second configuration: the engine's own builder (containerd image store);
 * - RUN steps without network (`networkMode: NONE`): the local engines have no bridge network.
 */
export function synthesize(outdir: string, baseImage: string, builds: Record<string, BuildDefinition>): Record<string, SynthesizedProject> {
  const app = new App({ outdir });
  const stack = new Stack(app, 'CachedImageBuildE2e', { env: { account: '123456789012', region: 'us-east-1' } });
  for (const [id, def] of Object.entries(builds)) {
    const builder = def.builderImage !== undefined
      ? BuildxBuilder.dockerContainer({
        image: def.builderImage,
        fallbackToEngineBuilder: def.fallbackToEngineBuilder,
        network: def.builderNetwork,
        buildkitdConfig: def.buildkitdConfig,
      })
      : BuildxBuilder.currentDriver();
    const cache = {
      registry: () => CacheStrategy.registry({
        builder,
        ...(def.compression ? { compression: LayerCompression[def.compression.algorithm]({ level: def.compression.level }) } : {}),
      }),
      inline: () => CacheStrategy.inline(),
      buildah: () => CacheStrategy.buildah({ allowOlderBuildah: def.allowOlderBuildah }),
      none: () => CacheStrategy.none(),
    }[def.strategy]();
    new CachedImageBuild(stack, id, {
      repositoryName: `e2e-${id.toLowerCase()}`,
      cache,
      dockerfile: def.dockerfile,
      provenance: def.provenance,
      rebuildExistingImages: def.rebuildExistingImages,
      reproducibleTimestamps: def.reproducibleTimestamps,
      networkMode: ecr_assets.NetworkMode.NONE,
      // APP_FLAVOR: a build arg the sample apps use inside a stage (the build stage of the multi-stage one)
      buildArgs: { BASE_IMAGE: def.baseImage ?? baseImage, APP_FLAVOR: 'e2e' },
      ...(def.multiArch ? {
        platforms: [ecr_assets.Platform.LINUX_AMD64, ecr_assets.Platform.LINUX_ARM64],
        source: codebuild.Source.gitHub({ owner: 'e2e', repo: 'sample-app', webhook: true, webhookTriggersBatchBuild: true }),
      } : {}),
      buildSecrets: def.secret
        ? { api_token: BuildSecret.fromSecretsManager(secretsmanager.Secret.fromSecretNameV2(stack, `${id}Token`, 'e2e/api-token')) }
        : undefined,
    });
  }
  const assembly = app.synth();
  const template = JSON.parse(fs.readFileSync(path.join(assembly.directory, `${stack.artifactId}.template.json`), 'utf8'));

  const out: Record<string, SynthesizedProject> = {};
  for (const id of Object.keys(builds)) {
    const entry = Object.entries<any>(template.Resources).find(
      ([logicalId, r]) => r.Type === 'AWS::CodeBuild::Project' && logicalId.startsWith(`${id}Project`),
    );
    if (!entry) throw new Error(`no CodeBuild project for ${id} in the template`);
    const [logicalId, resource] = entry;
    const environment: Record<string, string | undefined> = {};
    for (const v of resource.Properties.Environment.EnvironmentVariables ?? []) {
      // CodeBuild resolves SECRETS_MANAGER and PARAMETER_STORE variables at build start: the harness
      // supplies their values as overrides, like CloudFormation expressions.
      if (!['PLAINTEXT', 'SECRETS_MANAGER', 'PARAMETER_STORE'].includes(v.Type)) throw new Error(`unexpected variable type ${v.Type} for ${v.Name}`);
      environment[v.Name] = v.Type === 'PLAINTEXT' && typeof v.Value === 'string' ? v.Value : undefined;
    }
    const repository = (prefix: string): RepositorySettings | undefined => {
      const r = Object.entries<any>(template.Resources).find(([k, v]) => v.Type === 'AWS::ECR::Repository' && k.startsWith(`${id}${prefix}`))?.[1];
      if (!r) return undefined;
      const filters = (r.Properties.ImageTagMutabilityExclusionFilters ?? []).map((f: any) => ({
        filterType: f.ImageTagMutabilityExclusionFilterType, filter: f.ImageTagMutabilityExclusionFilterValue,
      }));
      return { imageTagMutability: r.Properties.ImageTagMutability ?? 'MUTABLE', ...(filters.length ? { imageTagMutabilityExclusionFilters: filters } : {}) };
    };
    const image = repository('Repository');
    if (!image) throw new Error(`no ECR repository for ${id} in the template`);
    out[id] = { logicalId, buildSpec: JSON.parse(resource.Properties.Source.BuildSpec), environment, repositories: { image, cache: repository('CacheRepository') } };
  }
  return out;
}

/** The project's environment as CodeBuild would pass it, with the harness's overrides. */
export function projectEnvironment(project: SynthesizedProject, overrides: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(project.environment)) {
    if (k in overrides) continue;
    if (v === undefined) throw new Error(`${project.logicalId}: variable ${k} is a CloudFormation expression and the harness has no override for it`);
    env[k] = v;
  }
  return { ...env, ...overrides };
}
