// Registers the OpenTelemetry SDK for this process: a tracer provider with its span processors,
// the AsyncLocalStorage context manager (a span stays current across awaits) and the W3C trace
// context propagator (traceparent / tracestate in HTTP and Kafka headers). Loaded only when
// tracing is on (tracing-settings.ts); tests register an in-memory exporter through it directly.
import { context, diag, DiagLogLevel, propagation, trace, type DiagLogFunction } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { defaultResource, detectResources, resourceAttributesEnvDetector, resourceFromAttributes, serviceNameEnvDetector } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import { OTLPTraceExporter as OTLPProtobufTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as OTLPJsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { Logger } from './logger.ts';
import type { SamplerName, TracingSettings } from './tracing-settings.ts';

export interface Tracing {
  provider: TracerProvider;
  /** Exports every span ended so far. */
  flush(): Promise<void>;
  /** Flushes, then unregisters everything registerTracing registered: the API is the no-op again. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  exporters: SpanExporter[];
  /** The default service.name; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it. */
  serviceName: string;
  sampler?: Sampler;
  /** Export each span as it ends instead of in batches (tests). */
  immediate?: boolean;
  /** Where the SDK's own warnings (an export that failed) go. */
  logger?: Logger;
}

/** Registers the SDK globally; throws if another tracer provider or context manager is registered. */
export function registerTracing(opts: TracingOptions): Tracing {
  const resource = defaultResource()
    .merge(resourceFromAttributes({ 'service.name': opts.serviceName }))
    .merge(detectResources({ detectors: [resourceAttributesEnvDetector, serviceNameEnvDetector] }));
  const provider = new TracerProvider({
    resource,
    ...(opts.sampler ? { sampler: opts.sampler } : {}),
    spanProcessors: opts.exporters.map((exporter) => (opts.immediate ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter }))),
  });
  const contextManager = new AsyncLocalStorageContextManager();
  if (!context.setGlobalContextManager(contextManager.enable())) {
    throw new Error('cannot register tracing: another OpenTelemetry context manager is registered');
  }
  if (!trace.setGlobalTracerProvider(provider)) {
    context.disable();
    throw new Error('cannot register tracing: another OpenTelemetry tracer provider is registered');
  }
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  if (opts.logger) {
    const log = opts.logger.child({ component: 'opentelemetry' });
    const warn: DiagLogFunction = (message, ...args) => log.warn({ details: args.map(String) }, message);
    const ignore: DiagLogFunction = () => undefined;
    diag.setLogger({ error: warn, warn, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.WARN);
  }
  let shutdown: Promise<void> | undefined;
  return {
    provider,
    flush: () => provider.forceFlush(),
    shutdown() {
      shutdown ??= provider.shutdown().finally(() => {
        trace.disable();
        propagation.disable();
        context.disable();
        if (opts.logger) diag.disable();
      });
      return shutdown;
    },
  };
}

/** The SDK as the environment configured it (tracing-settings.ts). */
export function startTracing(settings: TracingSettings, serviceName: string, logger: Logger): Tracing {
  const exporters = settings.exporters.map((name): SpanExporter => {
    if (name === 'console') return new ConsoleSpanExporter();
    return settings.protocol === 'http/json' ? new OTLPJsonTraceExporter() : new OTLPProtobufTraceExporter();
  });
  const tracing = registerTracing({ exporters, serviceName, sampler: samplerOf(settings.sampler, settings.ratio), logger });
  logger.info({ exporters: settings.exporters, protocol: settings.protocol, sampler: settings.sampler }, 'tracing on: exporting spans with OpenTelemetry');
  return tracing;
}

function samplerOf(name: SamplerName, ratio: number): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}
