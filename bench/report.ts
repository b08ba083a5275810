/**
 * Self-contained HTML benchmark report: Chart.js (UMD bundle read from node_modules at runtime) and the
 * data are inlined, so the file opens offline and references no external URL.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { backendLabel, environmentRows, fmtNum, sizeLabel, sortResults, tableColumns } from './format.js';
import { measured, type BenchMeasured, type BenchReport, type BenchResult } from './types.js';

/** The Chart.js UMD bundle. chart.js's `exports` map hides dist/, so resolve the package entry and step over. */
export function loadChartJsBundle(): string {
  const entry = createRequire(import.meta.url).resolve('chart.js');
  const file = join(dirname(entry), 'chart.umd.js');
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read the Chart.js bundle ${file}: ${(err as Error).message}`);
  }
}

/** JSON safe inside a <script> element: `<`, `>`, `&` and the JS line separators become \u escapes. */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JavaScript source safe inside a <script> element (a literal `</script` would end it early). */
function jsForScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** ViT sequence length for a square image: one token per patch plus the class token. */
export function tokenCount(imageSize: number, patchSize: number): number {
  return Math.floor(imageSize / patchSize) ** 2 + 1;
}

/**
 * Multiply-accumulates of one encoder block on N tokens of width D with MLP width M:
 * QKV + output projections 4·N·D², MLP 2·N·D·M (linear in N), QKᵀ and attention·V 2·N²·D (quadratic).
 * Patch embedding and head are left out; the ratio between two sizes does not depend on the depth.
 */
export function encoderBlockMacs(n: number, d: number, m: number): number {
  return n * (4 * d * d + 2 * d * m) + 2 * n * n * d;
}

/** Patch size from the environment's model dims, else from a `patchNN` in the model name, else 16. */
function patchSizeOf(report: BenchReport): { patch: number; source: string } {
  if (report.environment.modelDims) return { patch: report.environment.modelDims.patchSize, source: 'model dims' };
  const m = /patch(\d+)/i.exec(report.environment.model);
  return m ? { patch: Number(m[1]), source: 'model name' } : { patch: 16, source: 'assumed' };
}

export interface SizeComparison {
  label: string;
  baseSize: number;
  size: number;
  baseImagesPerSecond: number;
  imagesPerSecond: number;
  /** Time per image at `size` over time per image at `baseSize`. */
  measuredRatio: number;
  tokenRatio: number;
  flopRatio?: number;
}

const MODE_SHORT: Record<BenchResult['mode'], string> = { model: 'model', 'end-to-end': 'e2e' };

function comboLabel(r: BenchResult, omit: { size?: boolean } = {}): string {
  const parts = [backendLabel(r), MODE_SHORT[r.mode]];
  if (!omit.size) parts.push(`${sizeLabel(r)}px`);
  parts.push(`b${r.batchSize}`, `w${r.workers}`);
  return parts.join(' · ');
}

/** Every square result at a larger image size matched with the smallest-size result of identical other settings. */
export function compareImageSizes(report: BenchReport): SizeComparison[] {
  const results = measured(sortResults(report.results)).filter((r) => r.imageWidth === undefined);
  const sizes = [...new Set(results.map((r) => r.imageSize))].sort((a, b) => a - b);
  if (sizes.length < 2) return [];
  const { patch } = patchSizeOf(report);
  const dims = report.environment.modelDims;
  const base = sizes[0];
  const key = (r: BenchResult) => comboLabel(r, { size: true });
  const baseByKey = new Map(results.filter((r) => r.imageSize === base).map((r) => [key(r), r]));
  const out: SizeComparison[] = [];
  for (const r of results) {
    const b = baseByKey.get(key(r));
    if (r.imageSize === base || !b || !(r.imagesPerSecond > 0)) continue;
    const n0 = tokenCount(base, patch);
    const n1 = tokenCount(r.imageSize, patch);
    out.push({
      label: key(r),
      baseSize: base,
      size: r.imageSize,
      baseImagesPerSecond: b.imagesPerSecond,
      imagesPerSecond: r.imagesPerSecond,
      measuredRatio: b.imagesPerSecond / r.imagesPerSecond,
      tokenRatio: n1 / n0,
      flopRatio: dims
        ? encoderBlockMacs(n1, dims.hiddenSize, dims.mlpDim) / encoderBlockMacs(n0, dims.hiddenSize, dims.mlpDim)
        : undefined,
    });
  }
  return out;
}

const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#65a30d', '#475569', '#ea580c'];

export interface ChartSpec {
  id: string;
  title: string;
  /** Canvas height in CSS pixels. */
  height: number;
  /** Plain-data Chart.js configuration (no functions), serialised into the page. */
  config: Record<string, unknown>;
}

function axis(title: string, extra: Record<string, unknown> = {}) {
  return { title: { display: true, text: title }, ...extra };
}

function lineDataset(label: string, data: (number | null)[], i: number) {
  const color = PALETTE[i % PALETTE.length];
  return { label, data, borderColor: color, backgroundColor: color, pointRadius: 4, spanGaps: true, tension: 0 };
}

/**
 * Images/s against `x` (workers or batch size) on an evenly spaced category axis, one line per group of
 * the remaining settings; missing points are null and spanned, a lone point shows as a dot.
 */
function scalingChart(id: string, title: string, results: BenchMeasured[], x: 'workers' | 'batchSize', xTitle: string): ChartSpec {
  const xs = [...new Set(results.map((r) => r[x]))].sort((a, b) => a - b);
  const series = new Map<string, (number | null)[]>();
  for (const r of results) {
    const label = [backendLabel(r), MODE_SHORT[r.mode], x === 'workers' ? `b${r.batchSize}` : `w${r.workers}`, `${sizeLabel(r)}px`].join(' · ');
    const data = series.get(label) ?? xs.map(() => null);
    data[xs.indexOf(r[x])] = r.imagesPerSecond;
    series.set(label, data);
  }
  return {
    id,
    title,
    height: 340,
    config: {
      type: 'line',
      data: { labels: xs.map(String), datasets: [...series].map(([label, data], i) => lineDataset(label, data, i)) },
      options: {
        scales: { x: axis(xTitle, { offset: true }), y: axis('throughput (images/s)', { beginAtZero: true }) },
      },
    },
  };
}

/** Chart specs for the report, in display order. */
export function buildCharts(report: BenchReport): ChartSpec[] {
  const results = measured(sortResults(report.results));
  const charts = [
    scalingChart('chart-workers', 'Throughput vs workers', results, 'workers', 'workers (threads in the pool)'),
    scalingChart('chart-batch', 'Throughput vs batch size', results, 'batchSize', 'batch size (images per call)'),
  ];

  const pct = ['p50', 'p95', 'p99'] as const;
  charts.push({
    id: 'chart-latency',
    title: 'Latency percentiles per call (backend · mode · image · batch · workers)',
    height: 120 + 40 * Math.max(2, results.length),
    config: {
      type: 'bar',
      data: {
        labels: results.map((r) => comboLabel(r)),
        datasets: pct.map((p, i) => ({ label: p, data: results.map((r) => r.latencyMs[p]), backgroundColor: PALETTE[i], maxBarThickness: 14 })),
      },
      options: {
        indexAxis: 'y',
        scales: { x: axis('latency (ms)', { beginAtZero: true }), y: axis('configuration') },
      },
    },
  });

  const sizes = [...new Set(results.map(sizeLabel))];
  const combos = [...new Set(results.map((r) => comboLabel(r, { size: true })))];
  charts.push({
    id: 'chart-sizes',
    title: `Throughput by image size (${sizes.map((s) => `${s}px`).join(' vs ')})`,
    height: 360,
    config: {
      type: 'bar',
      data: {
        labels: combos,
        datasets: sizes.map((s, i) => ({
          label: `${s}px`,
          backgroundColor: PALETTE[i % PALETTE.length],
          maxBarThickness: 48,
          data: combos.map(
            (c) => results.find((r) => sizeLabel(r) === s && comboLabel(r, { size: true }) === c)?.imagesPerSecond ?? null,
          ),
        })),
      },
      options: {
        scales: { x: axis('backend · mode · batch · workers'), y: axis('throughput (images/s)', { beginAtZero: true }) },
      },
    },
  });
  return charts;
}

function htmlTable(headers: string[], rows: string[][], numeric: boolean[]): string {
  const cls = (i: number) => (numeric[i] ? ' class="num"' : '');
  const head = headers.map((h, i) => `<th${cls(i)}>${escapeHtml(h)}</th>`).join('');
  const body = rows.map((row) => `<tr>${row.map((c, i) => `<td${cls(i)}>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

function sizeSection(report: BenchReport): string {
  const cmp = compareImageSizes(report);
  const { patch, source } = patchSizeOf(report);
  if (!cmp.length) {
    return '<p class="note">No pair of results differing only in image size, so no scaling ratio to show.</p>';
  }
  const hasFlops = cmp.some((c) => c.flopRatio !== undefined);
  const headers = ['backend · mode · batch · workers', 'sizes', 'img/s (small)', 'img/s (large)', 'measured time ratio', 'token prediction'];
  if (hasFlops) headers.push('FLOP prediction');
  const rows = cmp.map((c) => {
    const row = [
      c.label, `${c.size} / ${c.baseSize}`, fmtNum(c.baseImagesPerSecond), fmtNum(c.imagesPerSecond),
      `${c.measuredRatio.toFixed(2)}x`, `${c.tokenRatio.toFixed(2)}x`,
    ];
    if (hasFlops) row.push(c.flopRatio === undefined ? '' : `${c.flopRatio.toFixed(2)}x`);
    return row;
  });
  const example = cmp[0];
  const n0 = tokenCount(example.baseSize, patch);
  const n1 = tokenCount(example.size, patch);
  const note =
    `Time ratio = (images/s at the small size) / (images/s at the large size). Token prediction: cost linear in the ` +
    `sequence length, ((${example.size}/${patch})² + 1) / ((${example.baseSize}/${patch})² + 1) = ${n1}/${n0} = ` +
    `${(n1 / n0).toFixed(2)}x (patch ${patch}, ${source}).` +
    (hasFlops ? ' FLOP prediction adds the attention term that grows with the square of the token count.' : '');
  return htmlTable(headers, rows, headers.map((_, i) => i >= 2)) + `\n<p class="note">${escapeHtml(note)}</p>`;
}

const STYLE = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  margin: 0; padding: 24px 32px 48px; background: #f8fafc; color: #0f172a; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 12px; }
.sub { color: #475569; margin: 0 0 20px; }
.card { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 16px 20px; margin-bottom: 20px; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(560px, 1fr)); gap: 20px; }
.grid .card { margin-bottom: 0; }
.chart { position: relative; width: 100%; }
.grid { margin-bottom: 20px; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { padding: 4px 10px; border-bottom: 1px solid #e2e8f0; text-align: left; white-space: nowrap; }
th { background: #f1f5f9; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
table.env td:first-child { color: #475569; width: 1%; white-space: nowrap; }
table.env td { white-space: normal; }
.note { color: #475569; font-size: 13px; margin: 10px 0 0; }
`;

/** Draws every chart spec; plain browser JS, run after the inlined Chart.js bundle. */
const CLIENT_SCRIPT = `
Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
Chart.defaults.animation = false;
var specs = JSON.parse(document.getElementById('bench-charts').textContent);
specs.forEach(function (s) {
  var o = s.config.options = s.config.options || {};
  o.animation = false; o.responsive = true; o.maintainAspectRatio = false;
  o.plugins = Object.assign({ legend: { position: 'bottom', labels: { usePointStyle: s.config.type === 'line' } } }, o.plugins);
  new Chart(document.getElementById(s.id), s.config);
});
`;

/** The whole report as one HTML document with no external references. */
export function renderHtmlReport(report: BenchReport): string {
  const env = report.environment;
  const results = sortResults(report.results);
  const charts = buildCharts(report);
  const cols = tableColumns(results);
  const chartCard = (c: ChartSpec, extra = '') =>
    `<section class="card"><h2>${escapeHtml(c.title)}</h2>` +
    `<div class="chart" style="height:${c.height}px"><canvas id="${c.id}" role="img" aria-label="${escapeHtml(c.title)}"></canvas></div>${extra}</section>`;
  const [workers, batch, latency, sizes] = charts;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ViT benchmark: ${escapeHtml(env.model)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>ViT benchmark: ${escapeHtml(env.model)}</h1>
<p class="sub">${escapeHtml(env.date)} · ${results.length} result${results.length === 1 ? '' : 's'}</p>
<section class="card"><h2>Environment</h2>
${htmlTable(['', ''], environmentRows(env), [false, false]).replace('<table>', '<table class="env">').replace(/<thead>.*?<\/thead>/, '')}
</section>
<div class="grid">
${chartCard(workers)}
${chartCard(batch)}
</div>
${chartCard(sizes, sizeSection(report))}
${chartCard(latency)}
<section class="card"><h2>All results</h2>
${htmlTable(cols.map((c) => c.header), results.map((r) => cols.map((c) => c.cell(r))), cols.map((c) => c.numeric))}
<p class="note">Latency is per call (one batch); img/s counts images over wall time across all workers.</p>
</section>
<script type="application/json" id="bench-data">${jsonForScript(report)}</script>
<script type="application/json" id="bench-charts">${jsonForScript(charts)}</script>
<script>${jsForScript(loadChartJsBundle())}</script>
<script>${CLIENT_SCRIPT}</script>
</body>
</html>
`;
}
