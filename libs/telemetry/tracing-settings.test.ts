// Which OTEL_* environments switch tracing on, with which exporter, protocol and sampler, and
// which are refused with a message naming the variable.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '#libs/config/load.ts';
import { tracingSettings } from './tracing-settings.ts';

const otlpDefaults = { exporters: ['otlp'], protocol: 'http/protobuf', sampler: 'parentbased_always_on', ratio: 1 };

describe('tracing settings from the environment', () => {
  it('is off when no OTEL_* variable asks for it', () => {
    assert.equal(tracingSettings({}), undefined);
    assert.equal(tracingSettings({ OTEL_SERVICE_NAME: 'gw', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' }), undefined);
    assert.equal(tracingSettings({ OTEL_TRACES_EXPORTER: ' ' }), undefined);
  });

  it('is on with OTLP over http/protobuf when an endpoint is set', () => {
    assert.deepEqual(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), otlpDefaults);
    assert.deepEqual(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }), otlpDefaults);
  });

  it('is on when OTEL_TRACES_EXPORTER names an exporter, with or without an endpoint', () => {
    assert.deepEqual(tracingSettings({ OTEL_TRACES_EXPORTER: 'otlp' }), otlpDefaults);
    assert.deepEqual(tracingSettings({ OTEL_TRACES_EXPORTER: 'Console, otlp' })?.exporters, ['console', 'otlp']);
  });

  it('is off when OTEL_TRACES_EXPORTER is none, even with an endpoint', () => {
    assert.equal(tracingSettings({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined);
  });

  it('is off when OTEL_SDK_DISABLED is true, whatever else is set', () => {
    assert.equal(tracingSettings({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined);
    assert.equal(tracingSettings({ OTEL_SDK_DISABLED: 'TRUE', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), undefined);
    assert.deepEqual(tracingSettings({ OTEL_SDK_DISABLED: 'false', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }), otlpDefaults);
  });

  it('takes http/json from the traces protocol first, then the general one', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.equal(tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })?.protocol, 'http/json');
    assert.equal(tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json' })?.protocol, 'http/json');
  });

  it('refuses grpc and unknown exporters, naming the variable', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317' };
    assert.throws(() => tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), (err: Error) => err instanceof ConfigError && err.message.startsWith('OTEL_EXPORTER_OTLP_PROTOCOL:'));
    assert.throws(() => tracingSettings({ ...endpoint, OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc'/);
    assert.throws(() => tracingSettings({ OTEL_TRACES_EXPORTER: 'zipkin' }), /OTEL_TRACES_EXPORTER: 'zipkin'/);
  });

  it('reads the sampler and its ratio', () => {
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' };
    assert.deepEqual(tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'parentbased_traceidratio', OTEL_TRACES_SAMPLER_ARG: '0.25' }), { ...otlpDefaults, sampler: 'parentbased_traceidratio', ratio: 0.25 });
    assert.equal(tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'always_off' })?.sampler, 'always_off');
    assert.throws(() => tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG: '2'/);
    assert.throws(() => tracingSettings({ ...endpoint, OTEL_TRACES_SAMPLER: 'jaeger_remote' }), /OTEL_TRACES_SAMPLER: 'jaeger_remote'/);
  });
});
