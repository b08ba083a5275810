/** CSV quoting, shared by `vit classify --format csv` and the benchmark reports. */

/** RFC 4180 field: quoted when it holds a comma, quote, CR or LF; inner quotes doubled. */
export function csvField(value: string | number | undefined): string {
  const s = value === undefined ? '' : String(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
