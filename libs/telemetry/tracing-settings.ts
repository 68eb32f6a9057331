// Whether tracing is on, read from the standard OpenTelemetry variables. On only when they ask for
// an exporter (OTEL_TRACES_EXPORTER, or an OTLP endpoint) and OTEL_SDK_DISABLED is not true; off,
// the SDK is not even loaded and @opentelemetry/api stays the no-op.
import { ConfigError } from '#libs/config/load.ts';
import type { Logger } from './logger.ts';
import type { Tracing } from './tracing-sdk.ts';

export type TraceExporterName = 'otlp' | 'console';
export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type SamplerName = 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';

export interface TracingSettings {
  exporters: TraceExporterName[];
  protocol: OtlpProtocol;
  sampler: SamplerName;
  /** The sampled fraction for the traceidratio samplers. */
  ratio: number;
}

const samplers: readonly SamplerName[] = ['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'];

function set(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value ? value : undefined;
}

/** The tracing the environment asks for, or undefined when it asks for none. */
export function tracingSettings(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  if (set(env, 'OTEL_SDK_DISABLED')?.toLowerCase() === 'true') return undefined;
  const endpoint = set(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? set(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const named = set(env, 'OTEL_TRACES_EXPORTER');
  const listed = named === undefined ? (endpoint ? ['otlp'] : []) : named.split(',').map((e) => e.trim().toLowerCase()).filter(Boolean);
  for (const name of listed) {
    if (name !== 'otlp' && name !== 'console' && name !== 'none') {
      throw new ConfigError(`OTEL_TRACES_EXPORTER: '${name}' is not a trace exporter Spillway has; use otlp, console or none`);
    }
  }
  const exporters = listed.filter((e): e is TraceExporterName => e !== 'none');
  if (exporters.length === 0) return undefined;

  const protocolVariable = set(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = set(env, protocolVariable) ?? 'http/protobuf';
  if (protocol !== 'http/protobuf' && protocol !== 'http/json') {
    throw new ConfigError(`${protocolVariable}: '${protocol}' is not supported; use http/protobuf or http/json (an OTLP collector's HTTP port, 4318)`);
  }

  const samplerName = set(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase() ?? 'parentbased_always_on';
  const sampler = samplers.find((s) => s === samplerName);
  if (!sampler) throw new ConfigError(`OTEL_TRACES_SAMPLER: '${samplerName}' is not a sampler Spillway has; use one of ${samplers.join(', ')}`);
  const rawRatio = set(env, 'OTEL_TRACES_SAMPLER_ARG');
  const ratio = rawRatio === undefined ? 1 : Number(rawRatio);
  if (sampler.endsWith('traceidratio') && !(ratio >= 0 && ratio <= 1)) {
    throw new ConfigError(`OTEL_TRACES_SAMPLER_ARG: '${rawRatio}' is not a sampling ratio between 0 and 1`);
  }
  return { exporters, protocol, sampler, ratio };
}

/**
 * Registers the OpenTelemetry SDK for this process when the environment asks for tracing, with
 * service.name `spillway-<role>` unless OTEL_SERVICE_NAME (or OTEL_RESOURCE_ATTRIBUTES) names
 * one. Undefined, and nothing loaded or registered, when it does not. The exporters read their
 * own variables (endpoint, headers, timeout, …) from the process environment.
 */
export async function startTracingFromEnv(role: string, logger: Logger): Promise<Tracing | undefined> {
  const settings = tracingSettings(process.env);
  if (!settings) return undefined;
  const { startTracing } = await import('./tracing-sdk.ts');
  return startTracing(settings, `spillway-${role}`, logger);
}
