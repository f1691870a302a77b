/** Formatting of sizes, durations and snapshot listings, shared by the commands. */
import type { Snapshot } from '@strata/engine';

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 -> "1.50 KiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '?';
  let i = 0;
  let v = n;
  while (Math.abs(v) >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${v.toFixed(2)} ${UNITS[i]}`;
}

/** Seconds -> "1:02:03" or "2:03". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** The JSON shape of a snapshot in listings: the engine's object with `short_id` added, as restic does. */
export function snapshotJson(s: Snapshot): Record<string, unknown> {
  return {
    id: s.id,
    short_id: shortId(s.id),
    time: s.time,
    host: s.host,
    username: s.username,
    paths: s.paths,
    tags: s.tags ?? [],
    type: s.type,
    parent: s.parent ?? null,
    set: s.set ?? null,
    tree: s.tree,
    summary: s.summary,
    programVersion: s.programVersion,
  };
}

/** Lays out rows as aligned columns, the first row being the header. */
export function table(rows: string[][]): string {
  if (rows.length === 0) return '';
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]))).join('  ').trimEnd();
  const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
  return [line(rows[0]), rule, ...rows.slice(1).map(line), rule].join('\n');
}

/** Local time "2026-11-26 18:20:31" for human listings. */
export function localTime(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The human table of snapshots: ID, time, host, type, tags, paths, size. */
export function snapshotTable(snapshots: Snapshot[]): string {
  const rows = [['ID', 'Time', 'Host', 'Type', 'Tags', 'Paths', 'Size']];
  for (const s of snapshots) {
    rows.push([shortId(s.id), localTime(s.time), s.host, s.type, (s.tags ?? []).join(','), s.paths.join(', '), formatBytes(s.summary?.totalBytesProcessed ?? 0)]);
  }
  return `${table(rows)}\n${snapshots.length} snapshot${snapshots.length === 1 ? '' : 's'}`;
}
