import { aws_codebuild as codebuild } from 'aws-cdk-lib';
import { Construct } from 'constructs';

/**
 * Where the BuildKit image of a docker-container builder comes from, when the build has to do more
 * than pull a reference: an ECR pull-through cache (see `docker-hub-pull-through-cache.ts`).
 * Internal: not part of the jsii API.
 */
export interface BuilderImageSource {
  /** ECR registry host of the image (a token), which the build logs in to when it is not the image repository's. */
  readonly registry: string;
  /** Region of that registry (a token). */
  readonly region: string;
  /** Grants the project what pulling the image (and importing it on the first pull) needs. */
  grant(scope: Construct, project: codebuild.IProject): void;
}
