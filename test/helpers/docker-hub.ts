/** Fixtures of the Docker Hub tests (test/docker-hub/): the pull-through cache, its builder, bash stand-ins for docker and buildah. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Stack, aws_secretsmanager as secretsmanager } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild, DockerHubPullThroughCache } from '../../src';

export const PINNED = 'moby/buildkit:v0.33.1@sha256:cec9f139f45e93c5c69c60f8b07cfad9f43f4ef6b6a6cd917527fea5ff2e3dea';
/** The value of a resolved CloudFormation string made of literals, `Fn::Join` and the URL suffix (`amazonaws.com`). */
export function evaluate(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as any;
  if (v?.Ref === 'AWS::URLSuffix') return 'amazonaws.com';
  if (Array.isArray(v?.['Fn::Join'])) return v['Fn::Join'][1].map(evaluate).join(v['Fn::Join'][0]);
  throw new Error(`cannot evaluate ${JSON.stringify(value)}`);
}

export const REGISTRY = { 'Fn::Join': ['', [{ Ref: 'AWS::AccountId' }, '.dkr.ecr.', { Ref: 'AWS::Region' }, '.', { Ref: 'AWS::URLSuffix' }]] };

/** A credential secret as ECR requires it: named with its prefix. */
export function credential(stack: Stack, name = 'ecr-pullthroughcache/docker-hub'): secretsmanager.Secret {
  return new secretsmanager.Secret(stack, 'HubCredential', { secretName: name });
}

/** A stack without an environment (tokens for account and region), with a pull-through cache and a build using its builder. */
export function cachedBuild(builderOptions = {}): { stack: Stack; cache: DockerHubPullThroughCache; template: Template } {
  const stack = new Stack();
  const cache = new DockerHubPullThroughCache(stack, 'HubCache', { credential: credential(stack) });
  new CachedImageBuild(stack, 'Api', { cache: CacheStrategy.registry({ builder: cache.builder(builderOptions) }) });
  return { stack, cache, template: Template.fromStack(stack) };
}

/** The statements of all IAM policies of a template, with their policy's logical id. */
export function statements(template: Template): Array<{ policy: string; Action: string | string[]; Resource: unknown }> {
  return Object.entries(template.findResources('AWS::IAM::Policy'))
    .flatMap(([id, p]: [string, any]) => p.Properties.PolicyDocument.Statement.map((s: any) => ({ policy: id, ...s })));
}

/** A stand-in for docker (or buildah) that records its arguments and stdin, one line each, in $CALLS; fails `login` when $REFUSE is set. */
export const STAND_IN = (tool: string) => `${tool}() { printf '${tool} %s\\n' "$*" >> "$CALLS"; `
  + 'if [ "$1" = login ]; then printf \'stdin=%s\\n\' "$(cat)" >> "$CALLS"; if [ -n "${REFUSE:-}" ]; then echo "Error response from daemon: unauthorized: incorrect username or password" >&2; return 1; fi; echo "Login Succeeded"; fi; }';

export function callsFile(): string {
  return path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cib-hub-')), 'calls');
}

export const SECRET_ENV = { CIB_DOCKER_HUB_USERNAME: 'octocat', CIB_DOCKER_HUB_PASSWORD: 'dckr_pat_s3cret $(id) "q"' };
