// A delta sender with a quiet counter, driven by tests/test_expiry.py: the OpenTelemetry JS SDK as OpenClaw ships
// it, exporting every 200 ms with delta temporality. It adds 100 input tokens to openclaw.tokens once, then records
// one completed run on openclaw.run.duration_ms before every export for --seconds, then shuts down.
//
// node quiet.mjs --endpoint http://127.0.0.1:4318 --seconds 5
//
// Prints {"exports": [[metric names], ...] (one entry per export), "runs": N} on stdout; exits 1 if an export failed.

import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

import { AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';

const INTERVAL_MS = 200;
const SUCCESS = 0; // ExportResultCode.SUCCESS

const { values } = parseArgs({ options: { endpoint: { type: 'string' }, seconds: { type: 'string' } } });
const endpoint = (values.endpoint ?? '').replace(/\/+$/, '');
const seconds = Number(values.seconds ?? '5');
if (!endpoint || !(seconds > 0)) {
  console.error('quiet.mjs: --endpoint and a positive --seconds are required');
  process.exit(2);
}

const exporter = new OTLPMetricExporter({
  url: `${endpoint}/v1/metrics`,
  temporalityPreference: AggregationTemporality.DELTA,
});
const exports = [];
let failed = false;
const recorded = new Proxy(exporter, {
  get(target, property) {
    if (property === 'export') {
      return (metrics, done) => {
        exports.push(metrics.scopeMetrics.flatMap((scope) => scope.metrics.map((m) => m.descriptor.name)));
        target.export(metrics, (result) => {
          if (result.code !== SUCCESS) failed = true;
          done(result);
        });
      };
    }
    const value = Reflect.get(target, property, target);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

const resource = resourceFromAttributes({ 'service.name': 'openclaw-gateway', 'host.name': 'vm' });
const reader = new PeriodicExportingMetricReader({ exporter: recorded, exportIntervalMillis: INTERVAL_MS });
const meterProvider = new MeterProvider({ resource, readers: [reader] });
const meter = meterProvider.getMeter('openclaw');
const tokens = meter.createCounter('openclaw.tokens', { unit: '1', description: 'Token usage by type' });
const runDuration = meter.createHistogram('openclaw.run.duration_ms', { unit: 'ms', description: 'Agent run duration' });

tokens.add(100, {
  'openclaw.channel': 'webchat',
  'openclaw.agent': 'main',
  'openclaw.provider': 'fakeai',
  'openclaw.model': 'fake-model',
  'openclaw.token': 'input',
});
const until = Date.now() + seconds * 1000;
let runs = 0;
while (Date.now() < until) {
  runs += 1;
  runDuration.record(1500, {
    'openclaw.channel': 'webchat',
    'openclaw.provider': 'fakeai',
    'openclaw.model': 'fake-model',
    'openclaw.outcome': 'completed',
  });
  await sleep(INTERVAL_MS);
}
await meterProvider.shutdown(); // exports what is left

console.log(JSON.stringify({ exports, runs }));
process.exit(failed ? 1 : 0);
