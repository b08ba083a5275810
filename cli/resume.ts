/**
 * `vit classify --resume`: which inputs an existing output file already records, and how many of its bytes to
 * keep. Every record ends with a newline, so a last line without one is torn (a run killed mid-write): it is
 * dropped and its input redone. In csv a file's record is several rows; a last group with fewer rows than a
 * complete record is dropped too.
 */
import { escapeTable, header, type OutputFormat } from './output.js';

export interface Recorded {
  /** Names as the output writes them (table: escaped). */
  names: Set<string>;
  /** Bytes of the file to keep; the rest (a torn record) is cut off before appending. */
  keepBytes: number;
  /** Whether a torn record was dropped. */
  dropped: boolean;
  /** Whether the file is empty (a csv header is still to be written). */
  empty: boolean;
}

export class ResumeError extends Error {}

/** The key an input is looked up by in `Recorded.names`. */
export function recordKey(format: OutputFormat, display: string): string {
  return format === 'table' ? escapeTable(display) : display;
}

/** `rowsPerRecord`: csv rows of a complete top-k record (min(top-k, classes)). */
export function recordedInputs(file: string, bytes: Buffer, format: OutputFormat, rowsPerRecord: number): Recorded {
  const complete = bytes.lastIndexOf(0x0a) + 1;
  let keepBytes = complete;
  const text = bytes.subarray(0, complete).toString('utf8');
  const names = new Set<string>();
  const bad = (line: number, why: string) =>
    new ResumeError(`--resume: ${file} line ${line} is not a ${format} record of vit classify (${why}); pass another --output or drop --resume`);
  if (format === 'jsonl' || format === 'table') {
    text.split('\n').slice(0, -1).forEach((line, i) => {
      if (format === 'table') {
        const tab = line.indexOf('\t');
        if (tab < 0) throw bad(i + 1, 'no tab');
        names.add(line.slice(0, tab));
        return;
      }
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch (e) {
        throw bad(i + 1, (e as Error).message);
      }
      const name = (rec as { file?: unknown } | null)?.file;
      if (typeof name !== 'string') throw bad(i + 1, 'no "file" string');
      names.add(name);
    });
  } else {
    // A newline inside a quoted name is not a record end: the csv branch finds complete rows itself.
    const all = bytes.toString('utf8');
    const rows = csvRows(all);
    keepBytes = Buffer.byteLength(all.slice(0, rows.at(-1)?.end ?? 0));
    const head = header('csv')!;
    if (rows.length && rows[0]!.fields.join(',') !== head) throw bad(1, `header is not "${head}"`);
    let groupStart = 0;
    let groupName: string | undefined;
    let groupRows = 0;
    let groupError = false;
    for (let r = 1; r < rows.length; r++) {
      const { fields, start } = rows[r]!;
      if (fields.length !== 6) throw bad(r + 1, `${fields.length} fields, expected 6`);
      if (fields[0] !== groupName || fields[1] === '1' || fields[5] !== '') {
        groupName = fields[0]!;
        groupStart = start;
        groupRows = 0;
        groupError = fields[5] !== '';
      }
      groupRows++;
      names.add(groupName);
    }
    if (groupName !== undefined && !groupError && groupRows < rowsPerRecord) {
      names.delete(groupName);
      keepBytes = Buffer.byteLength(all.slice(0, groupStart));
    }
  }
  return { names, keepBytes, dropped: keepBytes < bytes.length, empty: keepBytes === 0 };
}

/** The complete RFC 4180 rows of `text` (each ended by a newline outside quotes), with where each starts and ends. */
function csvRows(text: string): { fields: string[]; start: number; end: number }[] {
  const rows: { fields: string[]; start: number; end: number }[] = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\n') {
      fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
      rows.push({ fields, start, end: i + 1 });
      fields = [];
      field = '';
      start = i + 1;
    } else field += c;
  }
  return rows;
}
