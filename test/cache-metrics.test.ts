import { App, Duration, Stack, aws_cloudwatch as cloudwatch } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { CacheStrategy, CachedImageBuild, CachedImageBuildProps } from '../src';
import { unguarded } from './helpers/build-script';

function create(props: CachedImageBuildProps = {}): { stack: Stack; build: CachedImageBuild } {
  const stack = new Stack(new App(), 'TestStack', { env: { account: '123456789012', region: 'us-east-1' } });
  return { stack, build: new CachedImageBuild(stack, 'Api', { repositoryName: 'api', ...props }) };
}

function projectOf(template: Template): [string, any] {
  const [entry] = Object.entries(template.findResources('AWS::CodeBuild::Project'));
  return entry;
}

function commands(template: Template): string[] {
  const spec = JSON.parse(projectOf(template)[1].Properties.Source.BuildSpec);
  return Object.values<any>(spec.phases).flatMap((p) => p.commands).map(unguarded);
}

function envOf(template: Template): Record<string, any> {
  return Object.fromEntries(projectOf(template)[1].Properties.Environment.EnvironmentVariables.map((v: any) => [v.Name, v.Value]));
}

/** Statements of the project role's policies that mention CloudWatch. */
function cloudwatchStatements(template: Template): any[] {
  return Object.values<any>(template.findResources('AWS::IAM::Policy'))
    .flatMap((p) => p.Properties.PolicyDocument.Statement)
    .filter((s: any) => [s.Action].flat().some((a: string) => a.startsWith('cloudwatch:')));
}

describe('cache report in the buildspec', () => {
  test.each([
    ['registry', CacheStrategy.registry()],
    ['inline', CacheStrategy.inline()],
    ['buildah', CacheStrategy.buildah()],
    ['none', CacheStrategy.none()],
  ])('counts the cached steps and prints the summary line (%s)', (_name, cache) => {
    // WHEN
    const template = Template.fromStack(create({ cache }).stack);

    // THEN
    const all = commands(template);
    expect(all.filter((c) => c.startsWith('CIB_COUNTS="$(awk '))).toHaveLength(1);
    expect(all).toContain('echo "cache: $CACHED_STEPS/$((CACHED_STEPS + EXECUTED_STEPS)) steps cached ($CACHE_HIT_RATIO%), $BUILD_SECONDS s"');
    expect(all.filter((c) => c.includes('| tee "$CIB_BUILD_LOG"'))).toHaveLength(1);
  });

  test('publishes the metrics to the CachedImageBuild namespace by default', () => {
    // WHEN
    const template = Template.fromStack(create().stack);

    // THEN
    expect(envOf(template).CIB_METRICS_NAMESPACE).toEqual('CachedImageBuild');
    expect(commands(template).filter((c) => c.includes('aws cloudwatch put-metric-data'))).toHaveLength(1);
  });

  test('publishes to the given namespace', () => {
    // WHEN
    const template = Template.fromStack(create({ metricsNamespace: 'Team/Images' }).stack);

    // THEN
    expect(envOf(template).CIB_METRICS_NAMESPACE).toEqual('Team/Images');
  });

  test('publishes nothing and grants nothing with metrics: false, but still prints the summary', () => {
    // WHEN
    const template = Template.fromStack(create({ metrics: false }).stack);

    // THEN
    expect(envOf(template)).not.toHaveProperty('CIB_METRICS_NAMESPACE');
    expect(commands(template).filter((c) => c.includes('cloudwatch'))).toEqual([]);
    expect(commands(template).filter((c) => c.startsWith('echo "cache: '))).toHaveLength(1);
    expect(cloudwatchStatements(template)).toEqual([]);
  });
});

describe('permissions', () => {
  test('the project role may put metric data in its namespace only', () => {
    // WHEN
    const template = Template.fromStack(create({ metricsNamespace: 'Team/Images' }).stack);

    // THEN
    expect(cloudwatchStatements(template)).toEqual([{
      Action: 'cloudwatch:PutMetricData',
      Effect: 'Allow',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'Team/Images' } },
    }]);
  });
});

describe('validation', () => {
  test.each([
    ['AWS/CodeBuild', /metricsNamespace must be .* not start with AWS\//],
    ['', /metricsNamespace must be 1 to 255 characters/],
    ['has space', /metricsNamespace must be 1 to 255 characters/],
    ['x'.repeat(256), /metricsNamespace must be 1 to 255 characters/],
  ])('rejects the namespace %j', (namespace, message) => {
    // WHEN / THEN
    expect(() => create({ metricsNamespace: namespace })).toThrow(message);
  });

  test('rejects a namespace with metrics: false', () => {
    // WHEN / THEN
    expect(() => create({ metrics: false, metricsNamespace: 'X' })).toThrow(/metricsNamespace has no effect with metrics: false/);
  });

  test('metric methods need the metrics', () => {
    // GIVEN
    const { build } = create({ metrics: false });

    // WHEN / THEN
    expect(() => build.metricCacheHitRatio()).toThrow(/metricCacheHitRatio\(\) needs the cache metrics, which this build does not publish \(metrics: false\)/);
    expect(() => build.addCacheMissAlarm('Alarm')).toThrow(/addCacheMissAlarm\(\) needs the cache metrics/);
  });

  test.each([0, 1.5, -2])('rejects an alarm over %d periods', (periods) => {
    // GIVEN
    const { build } = create();

    // WHEN / THEN
    expect(() => build.addCacheMissAlarm('Alarm', { periods })).toThrow(/periods must be a whole number of at least 1/);
  });
});

describe('metrics', () => {
  test.each([
    ['metricCacheHitRatio', 'CacheHitRatio', 'Average'],
    ['metricCachedSteps', 'CachedSteps', 'Sum'],
    ['metricExecutedSteps', 'ExecutedSteps', 'Sum'],
    ['metricBuildSeconds', 'BuildSeconds', 'Average'],
  ])('%s is %s (%s) in the namespace, by project name', (method, metricName, statistic) => {
    // GIVEN
    const { stack, build } = create({ metricsNamespace: 'Team/Images' });

    // WHEN
    const metric: cloudwatch.Metric = (build as any)[method]();

    // THEN
    expect(metric.namespace).toEqual('Team/Images');
    expect(metric.metricName).toEqual(metricName);
    expect(metric.statistic).toEqual(statistic);
    expect(metric.period.toMinutes()).toEqual(5);
    expect(stack.resolve(metric.dimensions)).toEqual({ ProjectName: { Ref: projectOf(Template.fromStack(stack))[0] } });
  });

  test('metric() takes any metric name and options', () => {
    // GIVEN
    const { build } = create();

    // WHEN
    const metric = build.metric('BuildSeconds', { statistic: 'p90', period: Duration.hours(1) });

    // THEN
    expect([metric.metricName, metric.statistic, metric.period.toHours()]).toEqual(['BuildSeconds', 'p90', 1]);
  });
});

describe('cache miss alarm', () => {
  test('fires when the best hit ratio is 0 in 3 consecutive hours by default', () => {
    // GIVEN
    const { stack, build } = create();

    // WHEN
    build.addCacheMissAlarm('CacheMissAlarm');

    // THEN
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'CachedImageBuild',
      MetricName: 'CacheHitRatio',
      Statistic: 'Maximum',
      Period: 3600,
      Threshold: 0,
      ComparisonOperator: 'LessThanOrEqualToThreshold',
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: 'notBreaching',
      Dimensions: [{ Name: 'ProjectName', Value: { Ref: Match.anyValue() } }],
    });
  });

  test('uses the given periods, period and name', () => {
    // GIVEN
    const { stack, build } = create();

    // WHEN
    build.addCacheMissAlarm('CacheMissAlarm', { periods: 5, period: Duration.minutes(30), alarmName: 'api-cache-misses' });

    // THEN
    Template.fromStack(stack).hasResourceProperties('AWS::CloudWatch::Alarm', {
      AlarmName: 'api-cache-misses', Period: 1800, EvaluationPeriods: 5, DatapointsToAlarm: 5,
    });
  });

  test('is opt-in: no alarm unless asked', () => {
    // WHEN
    const { stack } = create();

    // THEN
    Template.fromStack(stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
  });
});

describe('dashboard widget', () => {
  test('graphs the hit ratio (0-100 %) on the left and the build time on the right', () => {
    // GIVEN
    const { stack, build } = create();
    const dashboard = new cloudwatch.Dashboard(stack, 'Dashboard');

    // WHEN
    dashboard.addWidgets(build.metricsWidget({ title: 'API image cache', width: 24 }));

    // THEN
    const [, resource] = Object.entries<any>(Template.fromStack(stack).findResources('AWS::CloudWatch::Dashboard'))[0];
    const body = JSON.stringify(stack.resolve(resource.Properties.DashboardBody));
    for (const fragment of ['API image cache', 'CacheHitRatio', 'BuildSeconds', '\\"width\\":24', '\\"max\\":100']) {
      expect(body).toContain(fragment);
    }
  });
});
