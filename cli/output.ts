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
  if (r.error !== undefined) return `${escapeTable(file)}\tERROR ${escapeTable(r.error)}`;
  return `${escapeTable(file)}\t${r.top.map((t) => `${escapeTable(String(t.label ?? t.index))} (${t.index}) ${t.score.toFixed(4)}`).join(' | ')}`;
}

/**
 * Table fields stay on one line and hold no tab: backslash, tab, newline, carriage return and other control
 * characters are written as \\, \t, \n, \r and \xNN.
 */
export function escapeTable(s: string): string {
  return s.replace(/[\\\x00-\x1f\x7f]/g, (c) => {
    if (c === '\\') return '\\\\';
    if (c === '\t') return '\\t';
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}
