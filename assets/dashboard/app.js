// The larder dashboard page (OP3). Hand-written, no dependencies, no build step: it listens to
// /events (Server-Sent Events, one snapshot a second; /api/snapshot polled if the stream stalls),
// keeps the last five minutes of snapshots in memory and redraws small SVG charts from them.
// Everything shown that comes from the store (namespaces, key names, messages) is set as text,
// never parsed as HTML.
'use strict';

const HISTORY_MS = 5 * 60 * 1000;
const PALETTE = ['#2f6fdb', '#e07b1a', '#1f8a4c', '#b03aa8', '#c23b22', '#0f9aa8', '#7a5c2e', '#5b5fc7'];
const SVG = 'http://www.w3.org/2000/svg';

/** @type {Array<{ t: number, doc: any }>} */
const snapshots = [];
/** @type {Map<string, string>} namespace → colour, stable for the page's life */
const colours = new Map();
let lastMessageAt = 0;

function colourOf(ns) {
  let c = colours.get(ns);
  if (c === undefined) {
    c = PALETTE[colours.size % PALETTE.length];
    colours.set(ns, c);
  }
  return c;
}

function $(sel) {
  return document.querySelector(sel);
}

function setMetric(name, text) {
  for (const el of document.querySelectorAll(`[data-metric="${name}"]`)) el.textContent = text;
}

function fmtInt(n) {
  return Math.round(n).toLocaleString('en-US');
}

function fmtMs(v) {
  if (v === null || v === undefined) return '–';
  return v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(1)} ms`;
}

function fmtRatio(v) {
  return v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`;
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

function el(name, attrs, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/**
 * Draws line series into an SVG with a viewBox: gridlines with labels on the left, time running
 * to the right edge (now). `series`: [{ name, colour, points: [[t, v|null]] }].
 */
function lineChart(svg, series, opts) {
  const vb = svg.viewBox.baseVal;
  const W = vb.width;
  const H = vb.height;
  const left = 44;
  const right = 8;
  const top = 8;
  const bottom = 18;
  while (svg.firstChild) svg.removeChild(svg.firstChild);
  const now = Date.now();
  // The time axis spans what has been seen, from one minute up to HISTORY_MS.
  const first = snapshots.length > 0 ? snapshots[0].t : now;
  const span = Math.min(HISTORY_MS, Math.max(60_000, now - first));
  const t0 = now - span;
  let max = opts.yMax ?? 0;
  if (opts.yMax === undefined) {
    for (const s of series) for (const [, v] of s.points) if (v !== null && v > max) max = v;
    max = max <= 0 ? 1 : niceCeil(max);
  }
  const x = (t) => left + ((t - t0) / span) * (W - left - right);
  const y = (v) => top + (1 - v / max) * (H - top - bottom);
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    svg.appendChild(el('line', { class: 'grid', x1: left, x2: W - right, y1: y(v), y2: y(v) }));
    svg.appendChild(el('text', { x: left - 4, y: y(v) + 3, 'text-anchor': 'end' }, opts.format(v)));
  }
  const step = span <= 60_000 ? 10_000 : span <= 180_000 ? 30_000 : 60_000;
  for (let ago = 0; ago <= span; ago += step) {
    const label = ago === 0 ? 'now' : ago % 60_000 === 0 ? `-${ago / 60_000} min` : `-${ago / 1000} s`;
    svg.appendChild(el('text', { x: x(now - ago), y: H - 4, 'text-anchor': ago === 0 ? 'end' : 'middle' }, label));
  }
  for (const s of series) {
    let d = '';
    let pen = false;
    for (const [t, v] of s.points) {
      if (v === null || t < t0) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(Math.min(v, max)).toFixed(1)}`;
      pen = true;
    }
    if (d !== '') svg.appendChild(el('path', { class: 'series', d, stroke: s.colour, 'data-series': s.name }));
  }
}

function niceCeil(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function renderNamespaces(stats) {
  const body = $('#namespaces tbody');
  while (body.firstChild) body.removeChild(body.firstChild);
  for (const n of stats.namespaces) {
    const tr = document.createElement('tr');
    tr.dataset.namespace = n.namespace;
    const cells = [
      n.namespace,
      String(n.sources),
      n.readsPerSec.toFixed(1),
      fmtRatio(n.windowHitRatio),
      fmtRatio(n.hitRatio),
      fmtInt(n.nearHits),
      fmtInt(n.storeHits),
      fmtInt(n.misses),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      if (i === 0) {
        const sw = document.createElement('i');
        sw.style.cssText = `display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:6px;background:${colourOf(n.namespace)}`;
        td.appendChild(sw);
      }
      td.appendChild(document.createTextNode(text));
      if (i === 3) td.dataset.field = 'window-hit-ratio';
      if (i === 4) td.dataset.field = 'hit-ratio';
      if (i === 5) td.dataset.field = 'near-hits';
      if (i === 6) td.dataset.field = 'store-hits';
      if (i === 7) td.dataset.field = 'misses';
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  $('#no-namespaces').style.display = stats.namespaces.length === 0 ? '' : 'none';
}

function renderDoctor(doctor) {
  const list = $('#doctor-findings');
  while (list.firstChild) list.removeChild(list.firstChild);
  if (doctor === null) return;
  $('#doctor-when').textContent = `last run ${new Date(doctor.at).toLocaleTimeString()}`;
  const summary = $('#doctor-summary');
  if (doctor.error !== null) {
    summary.textContent = `The doctor could not run: ${doctor.error}`;
    summary.className = '';
  } else if (doctor.findings.length === 0) {
    summary.textContent = `No findings (${fmtInt(doctor.scannedKeys)} keys, ${doctor.namespaces} namespaces scanned).`;
    summary.className = 'ok';
  } else {
    summary.textContent = `${doctor.findings.length} finding(s) over ${fmtInt(doctor.scannedKeys)} keys in ${doctor.namespaces} namespaces:`;
    summary.className = '';
  }
  summary.dataset.findings = String(doctor.findings.length);
  for (const f of doctor.findings) {
    const li = document.createElement('li');
    li.dataset.code = f.code;
    const code = document.createElement('code');
    code.textContent = f.code;
    li.appendChild(code);
    li.appendChild(document.createTextNode(` ${f.message}`));
    const advice = document.createElement('span');
    advice.className = 'advice';
    advice.textContent = f.advice;
    li.appendChild(advice);
    list.appendChild(li);
  }
}

function render() {
  const last = snapshots[snapshots.length - 1];
  if (last === undefined) return;
  const { doc } = last;
  const s = doc.stats;
  $('#store').textContent = `${doc.store.kind} ${doc.store.endpoint}`;
  $('#updated').textContent = new Date(last.t).toLocaleTimeString();
  $('#window-label').textContent = `(each point: the last ${s.windowSec} s)`;
  setMetric('sources', String(s.sources.length));
  setMetric('latency-p50', fmtMs(s.storeLatencyMs.p50));
  setMetric('latency-p99', fmtMs(s.storeLatencyMs.p99));
  setMetric('latency-count', fmtInt(s.storeLatencyMs.count));
  setMetric('generator-runs', fmtInt(s.generator.runs));
  setMetric('generator-rate', s.generator.runsPerSec.toFixed(1));
  setMetric('generator-mean', fmtMs(s.generator.meanMs));
  setMetric('locks-acquired', fmtInt(s.locks.acquired));
  setMetric('locks-waits', fmtInt(s.locks.waits));
  setMetric('locks-timeouts', fmtInt(s.locks.timeouts));
  setMetric('near-entries', s.near === null ? '–' : fmtInt(s.near.entries));
  setMetric('near-bytes', s.near === null ? '–' : fmtBytes(s.near.bytes));
  setMetric('near-evictions', s.near === null ? '–' : fmtInt(s.near.evictions));
  setMetric('near-active', s.near === null ? 'off' : `${s.near.active}/${s.near.caches}`);
  setMetric('errors-rate', s.errors.perSec.toFixed(1));
  setMetric('pending', fmtInt(s.pendingInvalidations));
  renderNamespaces(s);
  renderDoctor(doc.doctor);

  const names = [...new Set(snapshots.flatMap((h) => h.doc.stats.namespaces.map((n) => n.namespace)))];
  lineChart(
    $('#chart-hits'),
    names.map((ns) => ({
      name: ns,
      colour: colourOf(ns),
      points: snapshots.map((h) => [h.t, h.doc.stats.namespaces.find((n) => n.namespace === ns)?.windowHitRatio ?? null]),
    })),
    { yMax: 1, format: (v) => `${Math.round(v * 100)}%` },
  );
  const legend = $('#legend-hits');
  while (legend.firstChild) legend.removeChild(legend.firstChild);
  for (const ns of names) {
    const span = document.createElement('span');
    const sw = document.createElement('i');
    sw.style.background = colourOf(ns);
    span.appendChild(sw);
    span.appendChild(document.createTextNode(ns));
    legend.appendChild(span);
  }
  lineChart(
    $('#chart-latency'),
    [
      { name: 'p50', colour: PALETTE[0], points: snapshots.map((h) => [h.t, h.doc.stats.storeLatencyMs.p50]) },
      { name: 'p99', colour: PALETTE[1], points: snapshots.map((h) => [h.t, h.doc.stats.storeLatencyMs.p99]) },
    ],
    { format: (v) => `${v.toFixed(v < 10 ? 1 : 0)} ms` },
  );
  lineChart($('#chart-generator'), [{ name: 'runs/s', colour: PALETTE[2], points: snapshots.map((h) => [h.t, h.doc.stats.generator.runsPerSec]) }], {
    format: (v) => `${v.toFixed(v < 10 ? 1 : 0)}/s`,
  });
  lineChart(
    $('#chart-locks'),
    [
      { name: 'waits/s', colour: PALETTE[0], points: snapshots.map((h) => [h.t, h.doc.stats.locks.waitsPerSec]) },
      { name: 'timeouts/s', colour: PALETTE[4], points: snapshots.map((h) => [h.t, h.doc.stats.locks.timeoutsPerSec]) },
    ],
    { format: (v) => `${v.toFixed(v < 10 ? 1 : 0)}/s` },
  );
  lineChart($('#chart-near'), [{ name: 'entries', colour: PALETTE[3], points: snapshots.map((h) => [h.t, h.doc.stats.near?.entries ?? null]) }], {
    format: (v) => fmtInt(v),
  });
}

function accept(doc) {
  lastMessageAt = Date.now();
  snapshots.push({ t: lastMessageAt, doc });
  while (snapshots.length > 0 && snapshots[0].t < lastMessageAt - HISTORY_MS) snapshots.shift();
  const status = $('#status');
  status.dataset.state = 'live';
  status.textContent = 'live';
  render();
}

function connect() {
  const source = new EventSource('events');
  source.addEventListener('snapshot', (e) => accept(JSON.parse(e.data)));
  source.onerror = () => {
    const status = $('#status');
    status.dataset.state = 'down';
    status.textContent = 'reconnecting…';
  };
}

// If the stream stalls (a proxy that buffers event streams), poll instead.
setInterval(() => {
  if (Date.now() - lastMessageAt < 3000) return;
  fetch('api/snapshot', { cache: 'no-store' })
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(String(r.status)))))
    .then(accept)
    .catch(() => {
      const status = $('#status');
      status.dataset.state = 'down';
      status.textContent = 'no connection to the dashboard server';
    });
}, 2000);

connect();
