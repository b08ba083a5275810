/** Plain-text, CSV and JSON renderings of a benchmark report (the HTML report lives in report.ts). */
import { csvField } from '../util/csv.js';
import { measured, type BenchEnvironment, type BenchMeasured, type BenchReport, type BenchResult } from './types.js';

/** "224" or "224x320" (height x width). */
export function sizeLabel(r: BenchResult): string {
  return r.imageWidth === undefined ? String(r.imageSize) : `${r.imageSize}x${r.imageWidth}`;
}

/** The backend (its label carries a non-default precision) with its other session settings: `onnx`, `onnx-int8`,
 * `onnx 2 threads`, `cuda-bf16 on 2 GPUs`. */
export function backendLabel(r: BenchResult): string {
  return [r.backend, r.gpus ? `on ${r.gpus} GPUs` : undefined, r.threads ? `${r.threads} threads` : undefined].filter(Boolean).join(' ');
}

/** Settings other than the worker count: results sharing this key form one worker-scaling series. */
function scalingKey(r: BenchResult): string {
  return `${backendLabel(r)}\u0000${r.mode}\u0000${sizeLabel(r)}\u0000${r.batchSize}`;
}

/** Results ordered by backend, mode, image size, batch size, workers (a stable copy). */
export function sortResults(results: readonly BenchResult[]): BenchResult[] {
  return [...results].sort(
    (a, b) =>
      backendLabel(a).localeCompare(backendLabel(b)) ||
      a.mode.localeCompare(b.mode) ||
      a.imageSize - b.imageSize ||
      (a.imageWidth ?? a.imageSize) - (b.imageWidth ?? b.imageSize) ||
      a.batchSize - b.batchSize ||
      a.workers - b.workers,
  );
}

/**
 * Throughput relative to the 1-worker run with the same backend, mode, image size and batch size.
 * Undefined when that group has a single worker count or no 1-worker baseline.
 */
export function speedUpVsOneWorker(results: readonly BenchResult[]): Map<BenchResult, number> {
  const groups = new Map<string, BenchMeasured[]>();
  for (const r of measured(results)) {
    const g = groups.get(scalingKey(r));
    if (g) g.push(r);
    else groups.set(scalingKey(r), [r]);
  }
  const out = new Map<BenchResult, number>();
  for (const g of groups.values()) {
    const base = g.find((r) => r.workers === 1);
    if (!base || new Set(g.map((r) => r.workers)).size < 2 || !(base.imagesPerSecond > 0)) continue;
    for (const r of g) out.set(r, r.imagesPerSecond / base.imagesPerSecond);
  }
  return out;
}

/** Compact number: 3 significant-ish digits for small values, integers for large ones. */
export function fmtNum(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1000) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** Environment as label/value pairs, in display order (shared with the HTML report). */
export function environmentRows(env: BenchEnvironment): [string, string][] {
  const rows: [string, string][] = [
    ['model', env.model],
    ['date', env.date],
    ['cpu', `${env.cpu} (${env.cores} cores)`],
    ['memory', `${env.memoryGB.toFixed(1)} GB`],
  ];
  if (env.gpu) rows.push(['gpu', env.gpu]);
  rows.push(['os', env.os], ['node', env.node]);
  if (env.commit) rows.push(['commit', env.commit]);
  if (env.modelDims) {
    const d = env.modelDims;
    rows.push(['model dims', `patch ${d.patchSize}, hidden ${d.hiddenSize}, mlp ${d.mlpDim}`]);
  }
  const pkgs = Object.entries(env.packages).map(([k, v]) => `${k} ${v}`);
  if (pkgs.length) rows.push(['packages', pkgs.join(', ')]);
  return rows;
}

export interface TableColumn {
  header: string;
  numeric: boolean;
  cell: (r: BenchResult) => string;
}

/** Result-table columns; the speed-up and device columns appear only when some result has a value. */
export function tableColumns(results: readonly BenchResult[]): TableColumn[] {
  const speedUp = speedUpVsOneWorker(results);
  const cols: TableColumn[] = [
    { header: 'backend', numeric: false, cell: backendLabel },
    { header: 'mode', numeric: false, cell: (r) => r.mode },
    { header: 'image', numeric: true, cell: (r) => sizeLabel(r) },
    { header: 'batch', numeric: true, cell: (r) => String(r.batchSize) },
    { header: 'workers', numeric: true, cell: (r) => String(r.workers) },
    { header: 'img/s', numeric: true, cell: (r) => (r.error === undefined ? fmtNum(r.imagesPerSecond) : 'FAILED') },
  ];
  if (speedUp.size) {
    cols.push({
      header: 'x vs 1 worker',
      numeric: true,
      cell: (r) => (speedUp.has(r) ? `${speedUp.get(r)!.toFixed(2)}x` : ''),
    });
  }
  cols.push(
    { header: 'p50 ms', numeric: true, cell: (r) => (r.error === undefined ? fmtNum(r.latencyMs.p50) : '') },
    { header: 'p95 ms', numeric: true, cell: (r) => (r.error === undefined ? fmtNum(r.latencyMs.p95) : '') },
    { header: 'p99 ms', numeric: true, cell: (r) => (r.error === undefined ? fmtNum(r.latencyMs.p99) : '') },
  );
  if (results.some((r) => r.error === undefined && r.deviceMs)) {
    cols.push({ header: 'device p50 ms', numeric: true, cell: (r) => (r.error === undefined && r.deviceMs ? fmtNum(r.deviceMs.p50) : '') });
  }
  cols.push({ header: 'peak RSS MB', numeric: true, cell: (r) => (r.error === undefined ? fmtNum(r.peakRssMB) : '') });
  if (results.some((r) => r.error !== undefined)) cols.push({ header: 'error', numeric: false, cell: (r) => r.error ?? '' });
  return cols;
}

/** Aligned plain-text table with the environment as a header block. */
export function formatTable(report: BenchReport): string {
  const envRows = environmentRows(report.environment);
  const labelWidth = Math.max(...envRows.map(([k]) => k.length));
  const head = envRows.map(([k, v]) => `${k.padEnd(labelWidth)}  ${v}`);

  const results = sortResults(report.results);
  const cols = tableColumns(results);
  const cells = results.map((r) => cols.map((c) => c.cell(r)));
  const widths = cols.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (row: string[]) =>
    row.map((s, i) => (cols[i].numeric ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join('  ').trimEnd();
  const body = results.length
    ? [line(cols.map((c) => c.header)), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line)]
    : ['(no results)'];
  return [...head, '', ...body].join('\n') + '\n';
}

const CSV_HEADER = [
  'model', 'backend', 'mode', 'imageSize', 'batchSize', 'workers', 'imagesPerSecond',
  'latencyP50Ms', 'latencyP95Ms', 'latencyP99Ms', 'deviceP50Ms', 'peakRssMB', 'iterations', 'images', 'error',
];


/** Header row plus one row per result, CRLF line endings as RFC 4180 specifies; numbers at full precision. */
export function formatCsv(report: BenchReport): string {
  const rows = report.results.map((r) =>
    r.error !== undefined
      ? [report.environment.model, r.backend, r.mode, sizeLabel(r), r.batchSize, r.workers, '', '', '', '', '', '', '', '', r.error]
      : [
          report.environment.model, r.backend, r.mode, sizeLabel(r), r.batchSize, r.workers, r.imagesPerSecond,
          r.latencyMs.p50, r.latencyMs.p95, r.latencyMs.p99, r.deviceMs?.p50, r.peakRssMB, r.iterations, r.images, '',
        ],
  );
  return [CSV_HEADER, ...rows].map((row) => row.map(csvField).join(',')).join('\r\n') + '\r\n';
}

export function formatJson(report: BenchReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}
