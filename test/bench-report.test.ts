import { runInNewContext } from 'node:vm';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { formatCsv, formatJson, formatTable } from '../bench/format.js';
import { buildCharts, compareImageSizes, loadChartJsBundle, renderHtmlReport } from '../bench/report.js';
import { measured, type BenchMeasured as BenchResult, type BenchReport } from '../bench/types.js';

function result(backend: string, imageSize: number, batchSize: number, workers: number, imagesPerSecond: number): BenchResult {
  const p50 = (1000 * batchSize * workers) / imagesPerSecond;
  return {
    backend, workers, batchSize, imageSize, mode: 'model', imagesPerSecond,
    latencyMs: { p50, p95: p50 * 1.2, p99: p50 * 1.5 }, peakRssMB: 200 + 50 * workers,
    iterations: 10, images: 10 * batchSize,
  };
}

function sampleReport(model = 'deit-tiny-patch16-224'): BenchReport {
  const results: BenchResult[] = [];
  for (const workers of [1, 2])
    for (const batch of [1, 4])
      for (const size of [224, 384]) results.push(result('wasm', size, batch, workers, (size === 224 ? 31.7 : 8.9) * workers * (batch === 4 ? 1.2 : 1)));
  results.push({ ...result('webgpu', 224, 8, 1, 250.5), mode: 'end-to-end', deviceMs: { p50: 12.5 } });
  return {
    environment: {
      cpu: 'Test CPU, "quoted"', cores: 2, memoryGB: 7.8, os: 'linux 6.1 x64', node: 'v20.20.2',
      packages: { 'chart.js': '4.6.1', piscina: '5.3.2' }, commit: 'abc1234', date: '2026-05-01T12:00:00Z', model,
    },
    results,
  };
}

/** Independent RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; }
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; }
    else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; }
    else field += c;
  }
  if (field || row.length) { row.push(field); rows.push(row); }
  return rows;
}

function scriptBodies(html: string): string[] {
  return [...html.matchAll(/<script\b[^>]*>([\s\S]*?)<\/script>/gi)].map((m) => m[1]);
}

function embeddedJson(html: string, id: string): unknown {
  const m = new RegExp(`<script type="application/json" id="${id}">([\\s\\S]*?)</script>`).exec(html);
  if (!m) throw new Error(`no #${id} script in the report`);
  return JSON.parse(m[1]);
}

describe('text formats', () => {
  it('JSON round-trips to the same report', () => {
    const report = sampleReport();
    expect(JSON.parse(formatJson(report))).toEqual(report);
  });

  it('CSV quotes commas, quotes and newlines per RFC 4180 and has one row per result', () => {
    const report = sampleReport('vit, "base"\nline2');
    report.results[0].backend = 'wasm "simd", threads';
    const csv = formatCsv(report);
    expect(csv).toContain('"vit, ""base""\nline2"');
    const rows = parseCsv(csv);
    expect(rows).toHaveLength(report.results.length + 1);
    const header = rows[0];
    expect(new Set(rows.map((r) => r.length))).toEqual(new Set([header.length]));
    const col = (name: string) => header.indexOf(name);
    measured(report.results).forEach((r, i) => {
      const row = rows[i + 1];
      expect(row[col('model')]).toBe(report.environment.model);
      expect(row[col('backend')]).toBe(r.backend);
      expect(Number(row[col('imagesPerSecond')])).toBe(r.imagesPerSecond);
      expect(Number(row[col('latencyP99Ms')])).toBe(r.latencyMs.p99);
      expect(row[col('deviceP50Ms')]).toBe(r.deviceMs ? String(r.deviceMs.p50) : '');
    });
  });

  it('table lists every result with its settings and a speed-up against the 1-worker run', () => {
    const report = sampleReport();
    const lines = formatTable(report).split('\n');
    expect(lines.join('\n')).toContain(report.environment.cpu);
    const header = lines.find((l) => l.startsWith('backend'))!;
    expect(header).toContain('x vs 1 worker');
    for (const r of measured(report.results)) {
      const want = [r.backend, r.mode, String(r.imageSize), String(r.batchSize), String(r.workers)];
      const hits = lines.filter((l) => l.trim().split(/\s+/).slice(0, 5).join(' ') === want.join(' '));
      expect(hits, want.join(' ')).toHaveLength(1);
      if (r.backend === 'wasm') {
        const base = measured(report.results).find((b) => b.backend === 'wasm' && b.workers === 1 && b.imageSize === r.imageSize && b.batchSize === r.batchSize)!;
        expect(hits[0]).toContain(`${(r.imagesPerSecond / base.imagesPerSecond).toFixed(2)}x`);
      }
    }
    // a dashed rule under the header, one run of dashes per column
    const sep = lines[lines.indexOf(header) + 1];
    expect(sep.split(/ +/)).toHaveLength(header.trim().split(/ {2,}/).length);
  });

  it('table omits the speed-up column when no setting has several worker counts', () => {
    const report = sampleReport();
    report.results = report.results.filter((r) => r.workers === 1);
    expect(formatTable(report)).not.toContain('x vs 1 worker');
  });
});

describe('HTML report', () => {
  const report = sampleReport();
  const html = renderHtmlReport(report);

  it('references no external URL in any src/href attribute, and none outside the inlined Chart.js', () => {
    expect(html).not.toMatch(/<link\b|<script\b[^>]*\bsrc=/i);
    const attrs = [...html.matchAll(/\b(?:src|href)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]);
    expect(attrs.filter((a) => /^(?:[a-z][a-z0-9+.-]*:)?\/\//i.test(a))).toEqual([]);
    expect(html.replace(loadChartJsBundle(), '')).not.toMatch(/https?:\/\//i);
  });

  it('inlines a working Chart.js: evaluating its script defines the Chart constructor', () => {
    const bundle = scriptBodies(html).find((s) => s.includes('Chart.js v'));
    expect(bundle).toBeDefined();
    const sandbox: Record<string, unknown> = {};
    runInNewContext(bundle!, sandbox);
    const Chart = sandbox.Chart as { version: string };
    expect(typeof Chart).toBe('function');
    const { Chart: NodeChart } = createRequire(import.meta.url)('chart.js') as { Chart: { version: string } };
    expect(Chart.version).toBe(NodeChart.version);
  });

  it('embeds the report data as JSON that parses back to the report', () => {
    expect(embeddedJson(html, 'bench-data')).toEqual(report);
  });

  it('escapes </script> in a model name, in the data and in the visible text', () => {
    const evil = sampleReport('vit </script><script>alert(1)</script> & <b>');
    const out = renderHtmlReport(evil);
    // only the 4 real script elements close; the name never appears raw
    expect(out.match(/<\/script>/gi)).toHaveLength(4);
    expect(out).not.toContain(evil.environment.model);
    expect(embeddedJson(out, 'bench-data')).toEqual(evil);
  });

  it('draws one chart spec per canvas, with every result plotted once per throughput chart', () => {
    const charts = embeddedJson(html, 'bench-charts') as ReturnType<typeof buildCharts>;
    expect(charts.map((c) => c.id).sort()).toEqual(
      [...html.matchAll(/<canvas id="([^"]+)"/g)].map((m) => m[1]).sort(),
    );
    for (const id of ['chart-workers', 'chart-batch']) {
      const spec = charts.find((c) => c.id === id)!;
      const data = spec.config.data as { datasets: { data: (number | null)[] }[] };
      const points = data.datasets.flatMap((d) => d.data).filter((v) => v !== null);
      expect(points.sort()).toEqual(measured(report.results).map((r) => r.imagesPerSecond).sort());
      expect(JSON.stringify(spec.config.options)).toContain('images/s');
    }
  });

  it('size comparison pairs each 384 run with its 224 twin and predicts the token ratio', () => {
    const cmp = compareImageSizes(report);
    const pairs = report.results.filter((r) => r.imageSize === 384);
    expect(cmp).toHaveLength(pairs.length);
    const tokens = (s: number) => (s / 16) ** 2 + 1; // patch 16 from the model name
    for (const c of cmp) {
      expect(c.tokenRatio).toBeCloseTo(tokens(384) / tokens(224), 12);
      expect(c.measuredRatio).toBeCloseTo(c.baseImagesPerSecond / c.imagesPerSecond, 12);
      expect(c.flopRatio).toBeUndefined();
    }
    expect(html).toContain(`${(tokens(384) / tokens(224)).toFixed(2)}x`);
  });

  it('FLOP prediction with model dims sits above the token ratio (quadratic attention)', () => {
    const withDims = sampleReport();
    withDims.environment.modelDims = { patchSize: 16, hiddenSize: 192, mlpDim: 768 };
    const [c] = compareImageSizes(withDims);
    // per block: linear N(4D² + 2DM) plus attention 2N²D, evaluated directly
    const macs = (n: number) => n * (4 * 192 ** 2 + 2 * 192 * 768) + 2 * n * n * 192;
    expect(c.flopRatio).toBeCloseTo(macs(577) / macs(197), 12);
    expect(c.flopRatio!).toBeGreaterThan(c.tokenRatio);
    expect(renderHtmlReport(withDims)).toContain('FLOP prediction');
  });

  it('renders a single-result report with a note instead of a size ratio', () => {
    const one = sampleReport();
    one.results = [one.results[0]];
    const out = renderHtmlReport(one);
    expect(compareImageSizes(one)).toEqual([]);
    expect(out).toContain('no scaling ratio');
    expect(embeddedJson(out, 'bench-data')).toEqual(one);
  });
});
