/** Human formatting shared by commands: sizes as docker prints them, aligned tables. */

/** docker's HumanSize: decimal units, 3 significant digits (`2.06MB`). */
export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : Number(v.toPrecision(3))}${units[i]}`;
}

/**
 * A size in the binary unit the user gave (`--volume-size 300M`: `300MiB`, not docker's decimal
 * `315MB`), rounded down so that a full volume never reads as more than its limit; exact bytes
 * without a unit (a plain number of bytes, fat32).
 */
export function sizeIn(bytes: number, unit: 'KiB' | 'MiB' | 'GiB' | 'TiB' | undefined): string {
  if (!unit) return `${bytes} bytes`;
  const v = bytes / 1024 ** (['KiB', 'MiB', 'GiB', 'TiB'].indexOf(unit) + 1);
  return `${Math.floor(v * 100) / 100}${unit}`;
}

/** `1 blob`, `3 blobs`. */
export function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]) => cells.map((cell, c) => (c === cells.length - 1 ? cell : cell.padEnd(widths[c]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

export function short(digest: string, n = 12): string {
  const colon = digest.indexOf(':');
  return digest.slice(colon + 1, colon + 1 + n);
}

export function ago(iso: string | null): string {
  if (!iso) return '-';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().replace(/\.\d+Z$/, 'Z');
}
