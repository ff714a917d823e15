/**
 * Horizontal bar charts as hand-written SVG: no dependency, deterministic output (a re-run with
 * the same figures gives the same file), readable on GitHub in light and dark themes (own white
 * background). larder's bars are solid blue, peers grey, upper bounds an outlined, hatched bar on
 * the same axis — the Caffeine way of showing how close to the ceiling a system gets.
 */
import type { Bar, Chart } from './scenario.js';
import { fmt } from '../lib.js';

const W = 900;
const LABEL_W = 290;
const BAR_W = 470;
const BAR_H = 16;
const GAP = 5;
const GROUP_HEAD = 24;
const TOP = 74;
const COLORS = { larder: '#2563eb', peer: '#9ca3af', bound: '#ffffff' } as const;

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

interface Scale {
  x(v: number): number;
  ticks: number[];
}

/** Log axis over whole decades around the data; linear axis from 0 over "nice" steps. */
function scale(values: number[], log: boolean): Scale {
  const pos = values.filter((v) => v > 0);
  const max = Math.max(...pos, 1e-9);
  if (log) {
    // Half a decade of room below the smallest value, so that the shortest bar stays visible.
    const lo = Math.floor(Math.log10(Math.min(...pos, max)) - 0.5);
    const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
    const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    // A bar for value v is as long as v is above the lowest decade; the floor itself gets a sliver.
    return { x: (v) => (v <= 0 ? 0 : Math.max(2, ((Math.log10(v) - lo) / (hi - lo)) * BAR_W)), ticks };
  }
  const raw = max / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const top = Math.ceil(max / step) * step;
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  return { x: (v) => Math.max(v > 0 ? 2 : 0, (v / top) * BAR_W), ticks };
}

function tickLabel(v: number): string {
  if (v < 1000) return String(Number(v.toPrecision(3)));
  return fmt(v).replace(/\.0+(?=[kM]|$)/, '');
}

function bar(b: Bar, y: number, s: Scale): string {
  const x0 = LABEL_W;
  const label = `<text x="${x0 - 8}" y="${y + BAR_H - 4}" text-anchor="end" class="l${b.role === 'larder' ? ' b' : ''}">${esc(b.label)}</text>`;
  if (b.value === null) {
    return `${label}<text x="${x0 + 4}" y="${y + BAR_H - 4}" class="na">not offered</text>`;
  }
  const w = s.x(b.value);
  const rect =
    b.role === 'bound'
      ? `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="url(#hatch)" stroke="#374151" stroke-dasharray="3 2"/>`
      : `<rect x="${x0}" y="${y}" width="${w.toFixed(1)}" height="${BAR_H}" fill="${COLORS[b.role]}"/>`;
  const text = `<text x="${(x0 + w + 6).toFixed(1)}" y="${y + BAR_H - 4}" class="v">${esc(b.text ?? fmt(b.value))}</text>`;
  return label + rect + text;
}

export function renderChart(c: Chart): string {
  const all = c.groups.flatMap((g) => g.bars.map((b) => b.value ?? 0));
  const s = scale(all, c.log);
  const rows = c.groups.reduce((n, g) => n + g.bars.length, 0);
  const H = TOP + c.groups.length * GROUP_HEAD + rows * (BAR_H + GAP) + 40;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(
    '<style>.t{font-size:15px;font-weight:bold;fill:#111827}.a{fill:#4b5563}.l{fill:#111827}.b{font-weight:bold}.v{fill:#111827}' +
      '.g{font-weight:bold;fill:#374151}.na{fill:#6b7280;font-style:italic}.k{fill:#6b7280;font-size:11px}</style>',
  );
  out.push('<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/><line x1="0" y1="0" x2="0" y2="6" stroke="#9ca3af" stroke-width="2"/></pattern></defs>');
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="16" y="24" class="t">${esc(c.title)}</text>`);
  out.push(`<text x="16" y="44" class="a">${esc(c.axis)}</text>`);
  // Legend.
  const lx = W - 330;
  out.push(`<rect x="${lx}" y="34" width="12" height="12" fill="${COLORS.larder}"/><text x="${lx + 16}" y="44" class="a">larder</text>`);
  out.push(`<rect x="${lx + 70}" y="34" width="12" height="12" fill="${COLORS.peer}"/><text x="${lx + 86}" y="44" class="a">peer</text>`);
  out.push(`<rect x="${lx + 130}" y="34" width="12" height="12" fill="url(#hatch)" stroke="#374151" stroke-dasharray="3 2"/><text x="${lx + 146}" y="44" class="a">upper bound (no library)</text>`);
  const bottom = H - 28;
  for (const t of s.ticks) {
    const x = LABEL_W + s.x(t);
    out.push(`<line x1="${x.toFixed(1)}" y1="${TOP - 8}" x2="${x.toFixed(1)}" y2="${bottom}" stroke="#e5e7eb"/>`);
    out.push(`<text x="${x.toFixed(1)}" y="${bottom + 14}" text-anchor="middle" class="k">${tickLabel(t)}</text>`);
  }
  let y = TOP;
  for (const g of c.groups) {
    out.push(`<text x="16" y="${y + 14}" class="g">${esc(g.label)}</text>`);
    y += GROUP_HEAD;
    for (const b of g.bars) {
      out.push(bar(b, y, s));
      y += BAR_H + GAP;
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}
