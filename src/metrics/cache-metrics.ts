import { Duration, aws_cloudwatch as cloudwatch, aws_codebuild as codebuild, aws_iam as iam } from 'aws-cdk-lib';
import { Construct } from 'constructs';
import { CacheMetricsWidgetOptions, CacheMissAlarmOptions } from './metrics-props';
import { METRIC_DIMENSION } from '../script/cache-report';

/**
 * The cache metrics of a build's project, its alarm and dashboard widget. Internal: the
 * construct's `metric*()`, `addCacheMissAlarm()` and `metricsWidget()` methods expose them.
 */

/**
 * Lets the project put metric data in the namespace, and nowhere else. In a policy of its own
 * (`PutMetricsPolicy` in `scope`): `cloudwatch:PutMetricData` only works on `*`, and keeping it
 * apart lets the cdk-nag acknowledgment of that cover this statement only (see compliance.ts).
 */
export function grantPutMetrics(scope: Construct, project: codebuild.IProject, namespace: string): iam.Policy {
  return new iam.Policy(scope, 'PutMetricsPolicy', {
    roles: [project.role!],
    statements: [new iam.PolicyStatement({
      actions: ['cloudwatch:PutMetricData'],
      resources: ['*'],
      conditions: { StringEquals: { 'cloudwatch:namespace': namespace } },
    })],
  });
}

/** The project's cache metrics and what is built on them. */
export class CacheMetrics {
  /** `dimensions`: more dimensions than `ProjectName` (a multi-architecture build's `Platform`). */
  constructor(private readonly namespace: string, private readonly project: codebuild.IProject,
    private readonly dimensions: Record<string, string> = {}) {}

  public metric(metricName: string, statistic: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.namespace,
      metricName,
      dimensionsMap: { [METRIC_DIMENSION]: this.project.projectName, ...this.dimensions },
      statistic,
      ...props,
    });
  }

  public alarm(scope: Construct, id: string, options: CacheMissAlarmOptions): cloudwatch.Alarm {
    const periods = options.periods ?? 3;
    if (!Number.isInteger(periods) || periods < 1) {
      throw new Error(`addCacheMissAlarm(): periods must be a whole number of at least 1; got ${periods}`);
    }
    const period = options.period ?? Duration.hours(1);
    return new cloudwatch.Alarm(scope, id, {
      alarmName: options.alarmName,
      alarmDescription: `Every build of ${this.project.projectName} missed the Docker layer cache in ${periods} consecutive periods ` +
        `of ${period.toHumanString()} (cdk-cached-image-build)`,
      metric: this.metric('CacheHitRatio', 'Maximum', { period }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: periods,
      datapointsToAlarm: periods,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }

  public widget(options: CacheMetricsWidgetOptions): cloudwatch.GraphWidget {
    const period = options.period ?? Duration.hours(1);
    return new cloudwatch.GraphWidget({
      title: options.title ?? 'Docker layer cache',
      width: options.width ?? 12,
      height: options.height ?? 6,
      left: [this.metric('CacheHitRatio', 'Average', { period, label: 'cache hit ratio (%)' })],
      leftYAxis: { min: 0, max: 100, label: '%', showUnits: false },
      right: [this.metric('BuildSeconds', 'Average', { period, label: 'build time (s)' })],
      rightYAxis: { min: 0, label: 's', showUnits: false },
    });
  }
}
