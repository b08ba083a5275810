/** Output formats of `vit classify`: one record per input, in input order. */
import { csvField } from '../util/csv.js';
import type { FileResult } from '../workers/protocol.js';

export type OutputFormat = 'table' | 'jsonl' | 'csv';

export function header(format: OutputFormat): string | undefined {
  return format === 'csv' ? 'file,rank,index,label,score,error' : undefined;
}

export function formatRecord(format: OutputFormat, file: string, r: FileResult): string {
  if (format === 'jsonl') return JSON.stringify(r.error !== undefined ? { file, error: r.error } : { file, top: r.top });
  if (format === 'csv') {
    if (r.error !== undefined) return [file, '', '', '', '', r.error].map(csvField).join(',');
    return r.top.map((t, i) => [file, i + 1, t.index, t.label ?? '', t.score, ''].map(csvField).join(',')).join('\n');
  }
  if (r.error !== undefined) return `${file}\tERROR ${r.error}`;
  return `${file}\t${r.top.map((t) => `${t.label ?? t.index} (${t.index}) ${t.score.toFixed(4)}`).join(' | ')}`;
}
