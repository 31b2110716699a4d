// Sends what OpenClaw's diagnostics-otel sends, with the same OpenTelemetry JS SDK and OTLP/HTTP protobuf
// exporters, to an OTLP endpoint; driven by tests/test_exporters.py.
//
// node send.mjs --endpoint http://127.0.0.1:4318 [--temporality cumulative|delta] [--gzip]
//               [--header name=value]... [--rounds N]
//
// Without --temporality / --gzip / --header the exporters fall back to the standard environment variables
// (OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, OTEL_EXPORTER_OTLP_COMPRESSION, OTEL_EXPORTER_OTLP_HEADERS),
// which is how OpenClaw users switch them. SEND_ENDPOINT may replace --endpoint.
//
// Each round of ROUNDS records OpenClaw-shaped instruments on a meter named "openclaw" (resource service.name
// openclaw-gateway): the openclaw.tokens counter (input/output) and one completed run on the
// openclaw.run.duration_ms histogram, then forceFlush()es the metrics. Then one span and one log record are
// exported. Prints a JSON summary of every export result on stdout; exits 1 if any export failed.

import { parseArgs } from 'node:util';

import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';

// The values each round records; tests/test_exporters.py asserts the totals.
const ROUNDS = [
  { input: 100, output: 20, runMs: 1500 },
  { input: 50, output: 0, runMs: 2500 },
];
const USAGE = {
  'openclaw.channel': 'webchat',
  'openclaw.agent': 'main',
  'openclaw.provider': 'fakeai',
  'openclaw.model': 'fake-model',
};
const SUCCESS = 0; // ExportResultCode.SUCCESS

const { values } = parseArgs({
  options: {
    endpoint: { type: 'string' },
    temporality: { type: 'string' },
    gzip: { type: 'boolean' },
    header: { type: 'string', multiple: true },
    rounds: { type: 'string' },
  },
});
const endpoint = (values.endpoint ?? process.env.SEND_ENDPOINT ?? '').replace(/\/+$/, '');
if (!endpoint) {
  console.error('send.mjs: --endpoint (or SEND_ENDPOINT) is required');
  process.exit(2);
}
const rounds = Number(values.rounds ?? ROUNDS.length);

const common = {};
if (values.gzip) common.compression = 'gzip';
if (values.header) {
  common.headers = Object.fromEntries(
    values.header.map((pair) => {
      const at = pair.indexOf('=');
      return [pair.slice(0, at), pair.slice(at + 1)];
    }),
  );
}
const metricOptions = { ...common, url: `${endpoint}/v1/metrics` };
if (values.temporality === 'delta') metricOptions.temporalityPreference = AggregationTemporality.DELTA;
else if (values.temporality === 'cumulative') metricOptions.temporalityPreference = AggregationTemporality.CUMULATIVE;
else if (values.temporality) {
  console.error(`send.mjs: --temporality must be cumulative or delta, got ${values.temporality}`);
  process.exit(2);
}

const results = { metrics: [], traces: [], logs: [] };
const errors = [];

// forceFlush() of traces and logs rejects when an export fails; note it and carry on with the other signals.
async function settle(what, promise) {
  try {
    await promise;
  } catch (error) {
    errors.push(`${what}: ${error}`);
  }
}

// Record the result of every export call (the SDK's forceFlush() hides export failures in its error handler).
function recorded(exporter, signal) {
  return new Proxy(exporter, {
    get(target, property) {
      if (property === 'export') {
        return (items, done) =>
          target.export(items, (result) => {
            results[signal].push({ code: result.code, error: result.error ? String(result.error) : undefined });
            done(result);
          });
      }
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

const resource = resourceFromAttributes({ 'service.name': 'openclaw-gateway', 'host.name': 'vm' });

// -- metrics ---------------------------------------------------------------------------------------------------
const reader = new PeriodicExportingMetricReader({
  exporter: recorded(new OTLPMetricExporter(metricOptions), 'metrics'),
  exportIntervalMillis: 3_600_000, // only forceFlush() exports
});
const meterProvider = new MeterProvider({ resource, readers: [reader] });
const meter = meterProvider.getMeter('openclaw');
const tokens = meter.createCounter('openclaw.tokens', { unit: '1', description: 'Token usage by type' });
const runDuration = meter.createHistogram('openclaw.run.duration_ms', { unit: 'ms', description: 'Agent run duration' });

for (const round of ROUNDS.slice(0, rounds)) {
  tokens.add(round.input, { ...USAGE, 'openclaw.token': 'input' });
  if (round.output) tokens.add(round.output, { ...USAGE, 'openclaw.token': 'output' });
  runDuration.record(round.runMs, {
    'openclaw.channel': 'webchat',
    'openclaw.provider': 'fakeai',
    'openclaw.model': 'fake-model',
    'openclaw.outcome': 'completed',
  });
  await settle('metrics flush', meterProvider.forceFlush());
}

// -- one span ----------------------------------------------------------------------------------------------------
const tracerProvider = new BasicTracerProvider({
  resource,
  spanProcessors: [
    new BatchSpanProcessor(recorded(new OTLPTraceExporter({ ...common, url: `${endpoint}/v1/traces` }), 'traces')),
  ],
});
const span = tracerProvider.getTracer('openclaw').startSpan('openclaw.run', {
  attributes: { 'openclaw.outcome': 'completed', 'openclaw.provider': 'fakeai', 'openclaw.model': 'fake-model' },
});
span.end();
await settle('traces flush', tracerProvider.forceFlush());

// -- one log record ------------------------------------------------------------------------------------------------
const loggerProvider = new LoggerProvider({
  resource,
  processors: [
    new BatchLogRecordProcessor(recorded(new OTLPLogExporter({ ...common, url: `${endpoint}/v1/logs` }), 'logs')),
  ],
});
loggerProvider.getLogger('openclaw').emit({
  severityNumber: 17, // ERROR
  severityText: 'ERROR',
  body: 'provider returned 500',
  attributes: { 'openclaw.provider': 'fakeai' },
});
await settle('logs flush', loggerProvider.forceFlush());

await settle('shutdown', Promise.all([meterProvider.shutdown(), tracerProvider.shutdown(), loggerProvider.shutdown()]));

const failed = Object.values(results)
  .flat()
  .some((result) => result.code !== SUCCESS);
const missing = Object.entries(results).filter(([, list]) => list.length === 0).map(([signal]) => signal);
console.log(JSON.stringify({ results, missing, errors }));
process.exit(failed || missing.length || errors.length ? 1 : 0);
