import { Stage, aws_codebuild as codebuild, aws_codepipeline as codepipeline, pipelines } from 'aws-cdk-lib';
import { CachedImageBuild } from './cached-image-build';
import { archOf } from './multi-arch/platforms';
import { EXPORTED_VARIABLES } from './script/build-script';

/** Properties of a {@link CachedImageBuildStep}. */
export interface CachedImageBuildStepProps {
  /**
   * The build to run: a `CachedImageBuild` created without `source`, in the pipeline's stack (or in
   * a stack of the same stage that is deployed before the pipeline runs).
   */
  readonly imageBuild: CachedImageBuild;

  /**
   * The source with the Dockerfile and build context, such as a `pipelines.CodePipelineSource`.
   *
   * @default - the pipeline's source (the input of its synth step)
   */
  readonly input?: pipelines.IFileSetProducer;

  /**
   * The branch being built, for the branch cache, e.g. `source.sourceAttribute('BranchName')` of a
   * connection source, or a literal branch name.
   *
   * @default - the default branch's cache (a pipeline usually builds its default branch)
   */
  readonly branch?: string;
}

/**
 * A CDK Pipelines step that runs a {@link CachedImageBuild}: use it in `pre` or `post` of
 * `pipeline.addStage()` or `pipeline.addWave()`, for example to push the image before the stage that
 * deploys it.
 *
 * The step runs the build's own CodeBuild project: its buildspec, environment, role and grants, log
 * group and cache metrics are the build's (so `metric*()` and the cache miss alarm count the
 * pipeline's builds too). The pipeline's `codeBuildDefaults` do not apply to it.
 *
 * Later steps read the build's variables with `step.exportedVariable('IMAGE_URI')` (among them
 * `IMAGE_TAG`, `IMAGE_DIGEST`, and the cache report's `CACHE_HIT_RATIO` and `CACHED_STEPS`).
 *
 * A build with `platforms` runs as its actions of `toCodeBuildActions()`: one per platform in
 * parallel, then the image index action, whose variables the step exports (`IMAGE_URI` names the
 * index; `IMAGE_URI_AMD64` / `IMAGE_URI_ARM64` each platform's image by digest).
 */
export class CachedImageBuildStep extends pipelines.CodeBuildStep implements pipelines.ICodePipelineActionFactory {
  /** The build this step runs. */
  public readonly imageBuild: CachedImageBuild;

  /**
   * @param id the step's id, unique in the pipeline; also the name of its action
   * @param props the build to run, its input and branch
   */
  constructor(id: string, props: CachedImageBuildStepProps) {
    if (!(props.imageBuild.project instanceof codebuild.PipelineProject)) {
      throw new Error(`CachedImageBuildStep '${id}' needs a CachedImageBuild created without source (a CodePipeline project)`);
    }
    // The branch goes through `env` so that the pipeline orders this step after the step whose
    // output it names (e.g. the source's BranchName); it reaches the build as the action's variable.
    super(id, { input: props.input, commands: [], env: props.branch !== undefined ? { CIB_BRANCH: props.branch } : {} });
    this.imageBuild = props.imageBuild;
    this._setProject(props.imageBuild.project);
  }

  /**
   * A variable the build exports, for later steps, such as `IMAGE_URI`, `IMAGE_TAG` or
   * `IMAGE_DIGEST`; a name the build does not export is an error that lists those it does.
   */
  public exportedVariable(variableName: string): string {
    const exported = [...EXPORTED_VARIABLES];
    if (this.imageBuild.platforms.length > 1) {
      exported.push(...this.imageBuild.platforms.map((p) => `IMAGE_URI_${archOf(p).toUpperCase()}`));
    }
    if (!exported.includes(variableName)) {
      throw new Error(`CachedImageBuildStep '${this.id}': the build exports no variable '${variableName}'; it exports ${exported.join(', ')}`);
    }
    return super.exportedVariable(variableName);
  }

  /** Adds the build's CodeBuild action to the pipeline stage (called by `pipelines.CodePipeline`). */
  public produceAction(stage: codepipeline.IStage, options: pipelines.ProduceActionOptions): pipelines.CodePipelineActionFactoryResult {
    if (Stage.of(this.imageBuild) !== Stage.of(options.pipeline)) {
      throw new Error(
        `CachedImageBuildStep '${this.id}': the build ${this.imageBuild.node.path} must be in the pipeline's stage (its stack or a stack ` +
          'deployed before the pipeline runs), not in a stage the pipeline deploys: the pipeline starts the build\'s project',
      );
    }
    const mainInput = this.inputs.find((input) => input.directory === '.');
    const input = mainInput ? options.artifacts.toCodePipeline(mainInput.fileSet) : options.fallbackArtifact;
    if (!input) {
      throw new Error(`CachedImageBuildStep '${this.id}' needs an input: give input, or a pipeline with a source`);
    }
    // One action, or with platforms one per platform (run order `runOrder`) and the index (`runOrder + 1`).
    const actions = this.imageBuild.toCodeBuildActions({
      input,
      actionName: options.actionName,
      runOrder: options.runOrder,
      // The pipeline names a namespace only for a step whose variables are read; else one unique in the pipeline.
      variablesNamespace: options.variablesNamespace ?? `${stage.stageName}@${options.actionName}`.replace(/[^A-Za-z0-9@_-]/g, '@'),
      branch: this.env.CIB_BRANCH,
    });
    actions.forEach((action) => stage.addAction(action));
    return { runOrdersConsumed: actions.length > 1 ? 2 : 1 };
  }
}
