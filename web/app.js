// leadsprint browser UI: the live dashboard and the leads explorer.
// One ES module, no dependencies, no build step. Every string from the API is
// rendered as text (textContent / setAttribute), never parsed as HTML.

// ───────────────────────────── helpers ─────────────────────────────

const $ = (selector, root = document) => root.querySelector(selector);
const SVG_NS = 'http://www.w3.org/2000/svg';

/** Sets attributes: `class`, `dataset`, `on<event>` (a listener), booleans, the rest as strings. */
function setAttrs(node, attrs) {
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value == null || value === false) continue;
    if (key === 'dataset') {
      for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
    } else if (key.startsWith('on') && typeof value === 'function') {
      node.addEventListener(key.slice(2), value);
    } else {
      node.setAttribute(key, value === true ? '' : String(value));
    }
  }
}

/** Appends children; strings and numbers become text nodes, null/false are skipped. */
function appendAll(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child == null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Builds an HTML element: el('td', {class: 'num'}, '42'). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  setAttrs(node, attrs);
  return appendAll(node, children);
}

/** Builds an SVG element (same calling convention as `el`). */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  setAttrs(node, attrs);
  return appendAll(node, children);
}

/** Writes text only when it changed (keeps the DOM quiet under 1 Hz updates). */
function setText(node, text) {
  const value = String(text);
  if (node.textContent !== value) node.textContent = value;
}

const isNum = (v) => typeof v === 'number' && Number.isFinite(v);
const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

// Fixed en-US formatting so numbers read the same for every user ("20,000").
const formatters = new Map();
function numberFormat(digits, extra = {}) {
  const key = `${digits}:${JSON.stringify(extra)}`;
  if (!formatters.has(key)) {
    formatters.set(key, new Intl.NumberFormat('en-US', { maximumFractionDigits: digits, ...extra }));
  }
  return formatters.get(key);
}
const fmtInt = (v) => (isNum(v) ? numberFormat(0).format(Math.round(v)) : '—');
const fmtNum = (v, digits = 2) => (isNum(v) ? numberFormat(digits).format(v) : '—');
const fmtPct = (v) => (isNum(v) ? `${fmtNum(v, 1)}%` : '—');
const fmtCompact = (v) => (isNum(v) ? numberFormat(1, { notation: 'compact' }).format(v) : '—');
const fmtMoney = (v) =>
  isNum(v) ? numberFormat(2, { style: 'currency', currency: 'USD', minimumFractionDigits: 2 }).format(v) : '—';

/** 0.8 → "0.8", 0.05 → "0.05", 12 → "12": request rates stay short and comparable. */
function fmtRate(v) {
  if (!isNum(v)) return '—';
  if (v >= 10) return v.toFixed(0);
  if (v === 0 || v >= 0.1) return v.toFixed(1);
  return v.toFixed(2);
}

/** Seconds → "4m 12s", "1h 05m", "9s"; null → "—". */
function fmtDuration(seconds) {
  if (!isNum(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

const pad2 = (n) => String(n).padStart(2, '0');
/** Epoch ms → local "hh:mm:ss". */
function fmtClock(ms) {
  if (!isNum(ms)) return '—';
  const d = new Date(ms);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}
/** Epoch ms → local "YYYY-MM-DD hh:mm:ss". */
function fmtDateTime(ms) {
  if (!isNum(ms)) return '—';
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${fmtClock(ms)}`;
}
/** Epoch ms → "5m ago" / "3d ago". */
function fmtAgo(ms) {
  if (!isNum(ms)) return '—';
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 60) return 'just now';
  if (s < 3600) return `${Math.floor(s / 60)}m ago`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ago`;
  return `${Math.floor(s / 86400)}d ago`;
}

/** "job_title" → "Job title". */
const humanize = (key) => {
  const words = String(key).replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
};

/** Only http(s) URLs may become links; anything else (javascript:, bare hosts) stays text. */
const isWebUrl = (url) => typeof url === 'string' && /^https?:\/\//i.test(url);
function linkOrText(url, label = url) {
  if (isWebUrl(url)) return el('a', { href: url, target: '_blank', rel: 'noopener noreferrer' }, label);
  return document.createTextNode(url == null ? '—' : String(url));
}

const truncate = (text, max) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
/** "1 lead", "3 leads" (formatted count). */
const plural = (n, one, many = `${one}s`) => `${fmtInt(n)} ${n === 1 ? one : many}`;
const muted = (text = '—') => el('span', { class: 'muted' }, text);

// Messages: one visible area for API errors (never swallowed); `key` replaces an
// earlier message of the same kind instead of stacking duplicates.
function showMessage(text, { key = null, level = 'error', timeout = 0 } = {}) {
  const box = $('#messages');
  if (key) clearMessage(key);
  const node = el('div', { class: `message message-${level}`, dataset: key ? { key } : {} },
    el('span', { class: 'message-text' }, text),
    el('button', { type: 'button', class: 'btn btn-icon', 'aria-label': 'Dismiss', onclick: () => node.remove() }, '✕'));
  box.append(node);
  if (timeout) setTimeout(() => node.remove(), timeout);
}
function clearMessage(key) {
  for (const node of document.querySelectorAll('#messages .message')) {
    if (node.dataset.key === key) node.remove();
  }
}

// ───────────────────────────── api ─────────────────────────────

class ApiError extends Error {
  constructor(message, status = 0, body = null) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** fetch + JSON; a 4xx/5xx throws an ApiError carrying the server's `error` text. */
async function api(path, { method = 'GET', body, headers = {}, signal } = {}) {
  let res;
  try {
    res = await fetch(path, { method, body, signal, credentials: 'same-origin', headers: { Accept: 'application/json', ...headers } });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError(`Could not reach the server: ${e.message}`);
  }
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = (data && typeof data.error === 'string' && data.error) ||
      text.trim().slice(0, 300) || `${res.status} ${res.statusText}`;
    throw new ApiError(message, res.status, data);
  }
  if (data === null && text) throw new ApiError(`The server sent a response that is not JSON (${path}).`, res.status);
  return data;
}

// ───────────────────────────── dashboard ─────────────────────────────

const dash = {
  snapshot: null,
  source: null,        // the EventSource
  connected: false,
  retryTimer: 0,
  servedWorkflows: null, // serve mode: the one-time /api/workflows answer
  workflowsRequested: false,
};

/** Opens the event stream. EventSource reconnects by itself after a dropped
 *  connection; only when the browser gives up (an HTTP error) do we retry, slowly. */
function connectEvents() {
  clearTimeout(dash.retryTimer);
  const source = new EventSource('/api/events');
  dash.source = source;
  source.addEventListener('open', () => {
    dash.connected = true;
    clearMessage('live');
    updateLiveStatus();
  });
  source.addEventListener('snapshot', (ev) => {
    let snap;
    try {
      snap = JSON.parse(ev.data);
    } catch {
      showMessage('A live update from the server could not be read.', { key: 'live' });
      return;
    }
    dash.connected = true;
    applySnapshot(snap);
  });
  source.addEventListener('error', () => {
    dash.connected = false;
    updateLiveStatus();
    if (source.readyState !== EventSource.CLOSED) return; // the browser is reconnecting
    source.close();
    // Ask the plain endpoint why, so the user sees the server's own error text.
    api('/api/dashboard')
      .then((snap) => {
        applySnapshot(snap);
        showMessage('Live updates stopped; retrying in 15 seconds.', { key: 'live', level: 'warn' });
      })
      .catch((e) => showMessage(`Live updates unavailable: ${e.message}`, { key: 'live' }));
    dash.retryTimer = setTimeout(connectEvents, 15000);
  });
}

function updateLiveStatus() {
  const badge = $('#live-status');
  const finished = dash.snapshot?.run?.finished === true;
  let state = 'reconnecting';
  let text = 'reconnecting…';
  if (finished) [state, text] = ['finished', 'finished'];
  else if (dash.connected) [state, text] = ['live', 'live'];
  setText(badge, text);
  badge.dataset.state = state;
  badge.title = dash.connected ? 'Receiving live updates' : 'Connection lost; reconnecting to the server';
}

function applySnapshot(snap) {
  if (!snap || typeof snap !== 'object') return;
  dash.snapshot = snap;
  renderMode(snap.mode);
  renderProgress(snap);
  renderStats(snap.stats || {});
  renderKpis(snap.kpis || []);
  renderEnrichment(snap.enrichment);
  if (!$('#view-dashboard').hidden) renderChart(snap.series || []);
  renderWorkflowSource(snap);
  renderEvents(snap.events || []);
  renderWriterError(snap.writer_error);
  renderSinksOff(snap.alert_sinks_off || []);
  updateLiveStatus();
}

/** A banner while new leads cannot be stored; text only (it quotes a system error). */
function renderWriterError(message) {
  const banner = $('#writer-error');
  const text = message
    ? `${message}. Fix the cause (free disk space, say) and restart leadsprint; committed leads are kept.`
    : '';
  if (banner.textContent === text) return; // an alert is announced on each change only
  banner.hidden = !message;
  banner.textContent = text;
}

/** A banner for alert sinks turned off because their destination is gone. */
function renderSinksOff(sinks) {
  const banner = $('#alert-sinks-off');
  const text = sinks.map((s) => `Alerts to ${s.sink} are off: ${s.disabled}. Set a new address and restart to send again.`).join(' ');
  if (banner.textContent === text) return;
  banner.hidden = !sinks.length;
  banner.textContent = text;
}

const MODE_TITLES = {
  demo: 'Demo campaign against the sandbox vendors',
  run: 'Campaign running against the real vendors',
  serve: 'Serving the stored leads; no sprint is running in this server',
};
function renderMode(mode) {
  const badge = $('#mode-badge');
  badge.hidden = !mode;
  if (!mode) return;
  setText(badge, `${mode} mode`);
  badge.title = MODE_TITLES[mode] || '';
}

function renderProgress(snap) {
  const run = snap.run;
  const stats = snap.stats || {};
  const target = run?.target ?? snap.target;
  const unique = (run ? run.unique_leads : stats.unique_leads) ?? 0;
  let percent = run?.progress_percent;
  if (!isNum(percent)) percent = isNum(target) && target > 0 ? (unique / target) * 100 : 0;

  const count = $('#unique-count');
  setText(count, fmtInt(unique));
  count.setAttribute('data-value', String(Math.round(unique)));
  setText($('#target-count'), fmtInt(target));
  setText($('#progress-percent'), fmtPct(percent));
  $('#progress-bar').style.width = `${clamp(percent, 0, 100)}%`;
  $('#progress-track').setAttribute('aria-valuenow', String(Math.round(clamp(percent, 0, 100))));
  $('#progress-track').classList.toggle('complete', percent >= 100);

  const idle = run ? '' : 'no sprint is running in this server';
  setText($('#run-eta'), run && !run.finished ? fmtDuration(run.eta_seconds) : '—');
  setText($('#run-elapsed'), run ? fmtDuration(run.elapsed_seconds) : '—');
  setText($('#run-rate'), run ? fmtInt(run.leads_per_hour) : '—');
  setText($('#run-cost'), run ? fmtMoney(run.cost) : '—');
  $('.run-facts').title = idle;
  renderPlan(snap.plan);
}

/** The sprint's plan: time to target (vendor time) and the bottleneck it named. */
function renderPlan(plan) {
  const line = $('#plan-line');
  line.hidden = !plan;
  if (!plan) return;
  const when = isNum(plan.time_to_target_seconds) ? `target in ${fmtDuration(plan.time_to_target_seconds)} (vendor time)` : 'target out of reach';
  setText(line, `Plan: ${when} · bottleneck: ${plan.bottleneck}`);
}

const STAT_CARDS = [
  ['records_received', 'Records received', fmtInt],
  ['duplicates_merged', 'Duplicates merged', fmtInt],
  ['quarantined', 'Quarantined', fmtInt],
  ['qualified_leads', 'Qualified leads', fmtInt],
  ['avg_quality', 'Avg quality', (v) => fmtNum(v, 1)],
  ['email_availability', 'With email', fmtPct],
  ['linkedin_availability', 'With LinkedIn', fmtPct],
  ['company_completeness', 'Company complete', fmtPct],
  ['needs_review', 'Needs review', fmtInt],
  ['aliases', 'Merged leads', fmtInt],
  ['suppressed', 'Suppressed records', fmtInt],
  ['erased', 'Erased records', fmtInt],
];
function renderStats(stats) {
  const grid = $('#stats');
  if (!grid.childElementCount) {
    for (const [key, label] of STAT_CARDS) {
      grid.append(el('div', { class: 'stat' }, el('dt', null, label), el('dd', { dataset: { stat: key } }, '—')));
    }
  }
  for (const [key, , format] of STAT_CARDS) setText(grid.querySelector(`[data-stat="${key}"]`), format(stats[key]));
}

function renderKpis(kpis) {
  const box = $('#kpis');
  if (!kpis.length) {
    box.replaceChildren(el('p', { class: 'empty' }, 'No KPIs reported yet.'));
    return;
  }
  // Small and button-free, so a full rebuild per snapshot is fine.
  box.replaceChildren(...kpis.map((k) => {
    const pass = k.pass === true;
    return el('div', { class: `kpi ${pass ? 'kpi-pass' : 'kpi-fail'}` },
      el('div', { class: 'kpi-head' },
        el('span', { class: 'kpi-name' }, k.name ?? ''),
        el('span', { class: `badge ${pass ? 'pass' : 'fail'}` }, pass ? 'PASS' : 'FAIL')),
      el('div', { class: 'kpi-value' }, isNum(k.value) ? fmtNum(k.value, 2) : '—'),
      el('div', { class: 'kpi-threshold' }, k.threshold ? `target ${k.threshold}` : ''));
  }));
}

/** The enrichment stage: queue, per-provider calls, hits, cache hits, credits and
 *  dollars against their caps, and its pause/resume switch. Hidden without one. */
function renderEnrichment(e) {
  const card = $('#enrichment-card');
  card.hidden = !e;
  if (!e) return;
  const money = (v) => (isNum(v) ? `$${fmtNum(v, 2)}` : '—');
  setText($('#enrichment-summary'),
    `${e.state} · queue ${fmtNum(e.queue ?? 0)} · ${fmtNum(e.leads_done ?? 0)} leads checked · ` +
    `${fmtNum(e.emails_found ?? 0)} emails found · ${fmtNum(e.companies_filled ?? 0)} companies filled · ` +
    `${money(e.spent)} of ${money(e.cap)}`);
  const providers = Object.entries(e.providers || {});
  $('#enrichment tbody').replaceChildren(...providers.map(([name, p]) => {
    const caps = [p.credits_cap != null ? `${fmtNum(p.credits_cap)} credits` : null,
      p.spend_cap != null ? money(p.spend_cap) : null].filter(Boolean).join(', ');
    return el('tr', { dataset: { provider: name } },
      el('td', null, name),
      el('td', { class: 'num' }, fmtNum(p.calls ?? 0)),
      el('td', { class: 'num' }, fmtNum(p.hits ?? 0)),
      el('td', { class: 'num' }, fmtNum(p.misses ?? 0)),
      el('td', { class: 'num' }, fmtNum(p.cache_hits ?? 0)),
      el('td', { class: 'num' }, fmtNum(p.credits ?? 0, 1)),
      el('td', { class: 'num' }, money(p.dollars)),
      el('td', null, caps || 'enrichment cap only'));
  }));
  $('#enrichment-notes').replaceChildren(...(e.notes || []).map((n) => el('li', { class: 'event event-warn' }, n)));
  const toggle = $('#enrichment-toggle');
  const active = e.state === 'running' || e.state === 'paused';
  toggle.hidden = !active;
  if (active && !toggle.dataset.busy) setText(toggle, e.state === 'paused' ? 'Resume' : 'Pause');
}

async function onEnrichmentToggle(ev) {
  const button = ev.currentTarget;
  const action = button.textContent === 'Resume' ? 'resume' : 'pause';
  button.dataset.busy = '1';
  button.disabled = true;
  try {
    await api(`/api/enrichment/${action}`, { method: 'POST' });
  } catch (e) {
    showMessage(`Could not ${action} enrichment: ${e.message}`, { key: 'enrichment' });
  } finally {
    delete button.dataset.busy;
    button.disabled = false;
  }
}

function renderEvents(events) {
  const list = $('#events');
  // Rebuild only when the newest event changed.
  const last = events[events.length - 1];
  const signature = `${events.length}|${last?.at}|${last?.message}`;
  if (list.dataset.signature === signature) return;
  list.dataset.signature = signature;
  if (!events.length) {
    list.replaceChildren(el('li', { class: 'empty' }, 'No events yet.'));
    return;
  }
  list.replaceChildren(...events.slice().reverse().map((e) => {
    const level = ['info', 'warn', 'error'].includes(e.level) ? e.level : 'info';
    return el('li', { class: `event event-${level}` },
      el('time', { class: 'event-time', datetime: isNum(e.at) ? new Date(e.at).toISOString() : null, title: fmtDateTime(e.at) }, fmtClock(e.at)),
      el('span', { class: `badge level-${level}` }, level),
      e.workflow ? el('span', { class: 'event-workflow' }, e.workflow) : null,
      el('span', { class: 'event-message' }, e.message ?? ''));
  }));
}

// ───────────────────────────── chart ─────────────────────────────

/** Round tick values from 0 to at least `max` (3–4 steps). */
function niceTicks(max, steps = 3) {
  if (!isNum(max) || max <= 0) return [0, 1];
  const raw = max / steps;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  const step = (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 2.5 ? 2.5 : norm <= 5 ? 5 : 10) * mag;
  const ticks = [];
  for (let v = 0; v < max + step * 0.999; v += step) ticks.push(v);
  return ticks;
}

function renderChart(series) {
  const chart = $('#chart');
  // Draw in CSS pixels (viewBox = rendered size) so text stays crisp and unscaled.
  const width = Math.max(320, Math.round(chart.getBoundingClientRect().width || 800));
  const height = 240;
  chart.setAttribute('viewBox', `0 0 ${width} ${height}`);
  const points = series.filter((p) => p && isNum(p.t));
  if (points.length < 2) {
    const text = dash.snapshot && !dash.snapshot.run ? 'no sprint is running in this server' : 'collecting data…';
    chart.replaceChildren(svg('text', { x: width / 2, y: height / 2, class: 'chart-empty', 'text-anchor': 'middle' }, text));
    return;
  }
  const m = { left: 56, right: 60, top: 14, bottom: 28 };
  const t0 = points[0].t;
  const span = Math.max(1, points[points.length - 1].t - t0);
  const rate = (p) => (isNum(p.leads_per_hour) ? p.leads_per_hour : 0);
  const uniq = (p) => (isNum(p.unique) ? p.unique : 0);
  const rateTicks = niceTicks(Math.max(...points.map(rate)));
  const uniqTicks = niceTicks(Math.max(...points.map(uniq)), rateTicks.length - 1);
  const rateTop = rateTicks[rateTicks.length - 1];
  const uniqTop = uniqTicks[uniqTicks.length - 1];
  const base = height - m.bottom;
  const x = (t) => m.left + ((t - t0) / span) * (width - m.left - m.right);
  const yRate = (v) => base - (v / rateTop) * (base - m.top);
  const yUniq = (v) => base - (v / uniqTop) * (base - m.top);
  const line = (y, value) => points.map((p, i) => `${i ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(value(p)).toFixed(1)}`).join('');

  const parts = [];
  for (const v of rateTicks) {
    parts.push(svg('line', { class: 'grid', x1: m.left, x2: width - m.right, y1: yRate(v), y2: yRate(v) }));
    parts.push(svg('text', { class: 'axis', x: m.left - 8, y: yRate(v) + 4, 'text-anchor': 'end' }, fmtCompact(v)));
  }
  for (const v of uniqTicks) {
    parts.push(svg('text', { class: 'axis axis-unique', x: width - m.right + 8, y: yUniq(v) + 4 }, fmtCompact(v)));
  }
  const xTicks = 5;
  for (let i = 0; i < xTicks; i++) {
    const t = t0 + (span * i) / (xTicks - 1);
    const anchor = i === 0 ? 'start' : i === xTicks - 1 ? 'end' : 'middle';
    parts.push(svg('text', { class: 'axis', x: x(t), y: height - 8, 'text-anchor': anchor }, fmtClock(t)));
  }
  const rateLine = line(yRate, rate);
  parts.push(svg('path', { class: 'area-rate', d: `${rateLine}L${x(t0 + span).toFixed(1)},${base}L${x(t0).toFixed(1)},${base}Z` }));
  parts.push(svg('path', { class: 'line-unique', d: line(yUniq, uniq) }));
  parts.push(svg('path', { class: 'line-rate', d: rateLine }));
  const last = points[points.length - 1];
  parts.push(svg('circle', { class: 'dot-rate', cx: x(last.t), cy: yRate(rate(last)), r: 3.5 }));
  parts.push(svg('line', { class: 'baseline', x1: m.left, x2: width - m.right, y1: base, y2: base }));
  chart.replaceChildren(...parts);
  chart.setAttribute('aria-label', `Leads per hour over time; latest ${fmtInt(rate(last))} leads per hour, ${fmtInt(uniq(last))} unique leads`);
}

// ───────────────────────────── workflows ─────────────────────────────

const NOT_RUNNING = 'no sprint is running in this server';
const wfRows = new Map();  // name → { tr, cells, button, data, live }
const pending = new Map(); // name → { action, until }: a click awaiting the snapshot that shows it

/** Live rows from the snapshot's run; in serve mode, a one-time /api/workflows list. */
function renderWorkflowSource(snap) {
  if (snap.run) {
    setText($('#workflows-note'), '');
    renderWorkflows(snap.run.workflows || [], true);
    return;
  }
  setText($('#workflows-note'), 'No sprint is running in this server; showing the configured workflows.');
  if (dash.servedWorkflows) {
    renderWorkflows(dash.servedWorkflows, false);
  } else if (!dash.workflowsRequested) {
    dash.workflowsRequested = true;
    api('/api/workflows')
      .then((data) => {
        dash.servedWorkflows = data.workflows || [];
        if (!dash.snapshot?.run) renderWorkflows(dash.servedWorkflows, false);
      })
      .catch((e) => {
        dash.workflowsRequested = false; // try again with a later snapshot
        showMessage(`Could not load the workflows: ${e.message}`, { key: 'workflows' });
      });
  }
}

function createRow(name) {
  const td = (cls) => el('td', { class: cls });
  const cells = {
    name: td('wf-name'), state: td('state'), requests: td('num'), rate: td('num nowrap'),
    errors: td('num'), records: td('num'), newLeads: td('num'), duplicates: td('num'), cost: td('num'),
    lastError: td('last-error'), action: td('action'),
  };
  cells.nameText = el('span', { class: 'wf-title' });
  cells.vendor = el('span', { class: 'wf-vendor' });
  cells.reason = el('span', { class: 'wf-reason' });
  cells.name.append(cells.nameText, cells.vendor, cells.reason);
  cells.badge = el('span', { class: 'badge' });
  cells.state.append(cells.badge);
  const button = el('button', { type: 'button', class: 'btn btn-small', onclick: onWorkflowAction });
  cells.action.append(button);
  const tr = el('tr', { 'data-workflow': name }, Object.entries(cells)
    .filter(([k]) => !['nameText', 'vendor', 'reason', 'badge'].includes(k)).map(([, c]) => c));
  return { tr, cells, button, data: null, live: false };
}

function renderWorkflows(list, live) {
  const tbody = $('#workflows tbody');
  const seen = new Set();
  list.forEach((w, i) => {
    const name = String(w.name ?? '');
    seen.add(name);
    let row = wfRows.get(name);
    if (!row) {
      row = createRow(name);
      wfRows.set(name, row);
    }
    updateRow(row, w, live);
    // Move a row only when the order really changed, so buttons stay put under the cursor.
    if (tbody.children[i] !== row.tr) tbody.insertBefore(row.tr, tbody.children[i] || null);
  });
  for (const [name, row] of wfRows) {
    if (!seen.has(name)) {
      row.tr.remove();
      wfRows.delete(name);
    }
  }
  $('#workflows-empty').hidden = list.length > 0;
}

function actionFor(state, live) {
  if (!live) return 'pause'; // shown disabled: nothing to pause in serve mode
  if (state === 'running' || state === 'waiting') return 'pause';
  if (state === 'paused') return 'resume';
  return null;
}

function updateRow(row, w, live) {
  row.data = w;
  row.live = live;
  const { cells, button } = row;
  const state = String(w.state ?? '');
  setText(cells.nameText, w.name ?? '');
  setText(cells.reason, w.reason ? `${state}: ${w.reason}` : '');
  setText(cells.vendor, w.vendor ?? '');
  setText(cells.badge, state);
  cells.badge.className = `badge state-${state.replace(/[^a-z]/g, '')}`;
  cells.state.title = w.reason || '';

  setText(cells.requests, fmtInt(w.requests));
  cells.requests.title = `${fmtInt(w.successes)} succeeded, ${fmtInt(w.retries)} retries, ${fmtInt(w.failed_requests)} failed; latency ${fmtNum(w.latency_ms, 0)} ms`;
  setText(cells.rate, `${fmtRate(w.achieved_rate)} / ${fmtRate(w.allowed_rate)} req/s`);
  cells.rate.title = 'achieved / allowed request rate';

  const errors = Object.entries(w.errors || {});
  const errorTotal = errors.reduce((sum, [, n]) => sum + (isNum(n) ? n : 0), 0);
  setText(cells.errors, fmtInt(errorTotal));
  cells.errors.title = errors.length ? errors.map(([k, n]) => `${k}: ${n}`).join(', ') : 'no errors';
  cells.errors.classList.toggle('has-errors', errorTotal > 0);

  setText(cells.records, fmtInt(w.records));
  setText(cells.newLeads, fmtInt(w.new_leads));
  setText(cells.duplicates, fmtInt(w.duplicates));
  cells.duplicates.title = `${fmtInt(w.quarantined)} quarantined`;
  setText(cells.cost, fmtMoney(w.cost));
  cells.cost.title = isNum(w.credits) ? `${fmtInt(w.credits)} credits` : '';
  const lastError = w.last_error ? String(w.last_error) : '';
  setText(cells.lastError, lastError ? truncate(lastError, 60) : '—');
  cells.lastError.title = lastError;
  cells.lastError.classList.toggle('muted', !lastError);

  // The same button element lives for the row's lifetime; only its action/text change.
  const p = pending.get(w.name);
  if (p) {
    const settled = p.action === 'pause' ? state !== 'running' && state !== 'waiting' : state !== 'paused';
    if (settled || Date.now() > p.until) pending.delete(w.name);
  }
  const action = actionFor(state, live);
  if (!action) {
    button.hidden = true;
    button.removeAttribute('data-action');
    return;
  }
  button.hidden = false;
  const waiting = pending.has(w.name);
  if (!waiting) {
    button.dataset.action = action;
    setText(button, action === 'pause' ? 'Pause' : 'Resume');
  }
  button.disabled = !live || waiting;
  button.title = live ? `${action === 'pause' ? 'Pause' : 'Resume'} ${w.name}` : NOT_RUNNING;
}

async function onWorkflowAction(ev) {
  const button = ev.currentTarget;
  const name = button.closest('tr')?.dataset.workflow;
  const action = button.dataset.action;
  if (!name || !action || button.disabled) return;
  button.disabled = true;
  setText(button, action === 'pause' ? 'Pausing…' : 'Resuming…');
  const until = Date.now() + 15000;
  pending.set(name, { action, until });
  // If no snapshot ever confirms the change, give the button back.
  setTimeout(() => {
    const row = wfRows.get(name);
    if (row?.data && pending.get(name)?.until === until) updateRow(row, row.data, row.live);
  }, 15100);
  try {
    await api(`/api/workflows/${encodeURIComponent(name)}/${action}`, { method: 'POST' });
  } catch (e) {
    pending.delete(name);
    const row = wfRows.get(name);
    if (row?.data) updateRow(row, row.data, row.live);
    showMessage(`Could not ${action} ${name}: ${e.message}`, { key: `wf-${name}` });
  }
}

// ───────────────────────────── explorer ─────────────────────────────

const SORTS = ['relevance', 'quality', 'recent', 'oldest'];
const PAGE = 25;
const explorer = { q: '', sort: 'relevance', offset: 0, loadedKey: null, controller: null, seq: 0, typing: 0 };
const stateKey = (s) => JSON.stringify([s.q, s.sort, s.offset]);

function listHash({ q, sort, offset }) {
  const params = new URLSearchParams();
  if (q) params.set('q', q);
  if (sort && sort !== 'relevance') params.set('sort', sort);
  if (offset > 0) params.set('offset', String(offset));
  const s = params.toString();
  return `#/leads${s ? `?${s}` : ''}`;
}

/** Changes the list state through the hash, so Back/Forward and links work.
 *  `replace` is for typing: one history entry per search, not per keystroke. */
function navigateList(changes, { replace = false, force = false } = {}) {
  const next = { ...explorer, ...changes };
  const hash = listHash(next);
  if (force) explorer.loadedKey = null;
  if (replace || location.hash === hash) {
    history.replaceState(null, '', hash);
    route();
  } else {
    location.hash = hash;
  }
}

/** Runs the current search again where it is (the detail stays open). */
function refreshResults() {
  explorer.loadedKey = null;
  if (!$('#view-leads').hidden) loadResults();
}

async function loadResults() {
  const key = stateKey(explorer);
  if (key === explorer.loadedKey) return;
  explorer.loadedKey = key;
  explorer.controller?.abort();
  const controller = new AbortController();
  explorer.controller = controller;
  const seq = ++explorer.seq;
  const params = new URLSearchParams({ q: explorer.q, sort: explorer.sort, limit: String(PAGE), offset: String(explorer.offset), facets: 'true' });
  $('#results-loading').hidden = false;
  $('#results').classList.add('loading');
  try {
    const data = await api(`/api/leads?${params}`, { signal: controller.signal });
    if (seq !== explorer.seq) return;
    showSearchError(null);
    $('#results').classList.remove('stale');
    renderResults(data);
  } catch (e) {
    if (e.name === 'AbortError' || seq !== explorer.seq) return;
    explorer.loadedKey = null; // let the same search be retried
    $('#results').classList.add('stale'); // the rows below belong to the previous search
    if (e.status === 400) showSearchError(e);
    else showMessage(`Search failed: ${e.message}`, { key: 'search' });
  } finally {
    if (seq === explorer.seq) {
      $('#results-loading').hidden = true;
      $('#results').classList.remove('loading');
    }
  }
}

/** The parser's error under the search box, with a caret under the column it names. */
function showSearchError(error) {
  const box = $('#search-error');
  const input = $('#search-input');
  if (!error) {
    box.hidden = true;
    box.replaceChildren();
    input.removeAttribute('aria-invalid');
    return;
  }
  const column = error.body?.column;
  const children = [el('span', null, error.message)];
  if (isNum(column) && column >= 1 && explorer.q) {
    const chars = Array.from(explorer.q);
    const caret = `${' '.repeat(Math.min(column - 1, chars.length))}^`;
    children.push(el('code', { class: 'caret', 'aria-hidden': 'true' }, `${explorer.q}\n${caret}`));
  }
  box.replaceChildren(...children);
  box.hidden = false;
  input.setAttribute('aria-invalid', 'true');
}

function renderResults(data) {
  const total = isNum(data.total) ? data.total : 0;
  const hits = Array.isArray(data.hits) ? data.hits : [];
  if (!hits.length && total > 0 && explorer.offset >= total) {
    // A stale link past the end: go to the last page instead of showing nothing.
    navigateList({ offset: Math.floor((total - 1) / PAGE) * PAGE }, { replace: true });
    return;
  }
  const totalNode = $('#results-total');
  setText(totalNode, fmtInt(total));
  totalNode.setAttribute('data-value', String(total));
  setText($('#results-noun'), total === 1 ? 'matching lead' : 'matching leads');

  $('#results tbody').replaceChildren(...hits.map(resultRow));
  $('#results-empty').hidden = hits.length > 0;
  markSelectedRow();

  const from = hits.length ? explorer.offset + 1 : 0;
  const to = explorer.offset + hits.length;
  setText($('#page-info'), total ? `${fmtInt(from)}–${fmtInt(to)} of ${fmtInt(total)}` : 'no results');
  $('#page-prev').disabled = explorer.offset === 0;
  $('#page-next').disabled = explorer.offset + PAGE >= total;
  renderFacets(data.facets || {});
}

function resultRow(lead) {
  const place = [lead.city, lead.region, lead.country].filter(Boolean).join(', ');
  const quality = isNum(lead.quality) ? lead.quality : null;
  const band = quality == null ? '' : quality >= 80 ? 'q-high' : quality >= 60 ? 'q-mid' : 'q-low';
  const linkedin = isWebUrl(lead.linkedin_url)
    ? el('a', { class: 'li-link', href: lead.linkedin_url, target: '_blank', rel: 'noopener noreferrer', title: lead.linkedin_url, 'aria-label': 'LinkedIn profile', onclick: (e) => e.stopPropagation() }, 'in')
    : null;
  const open = () => { location.hash = `#/leads/${lead.id}`; };
  return el('tr', {
    'data-id': lead.id, tabindex: 0, class: 'clickable', title: 'Open the lead',
    onclick: open,
    onkeydown: (e) => {
      if (e.key === 'Enter' || e.key === ' ') {
        e.preventDefault();
        open();
      }
    },
  },
  el('td', { class: 'lead-name' }, el('span', null, lead.name || `Lead #${lead.id}`), linkedin),
  el('td', { class: 'title' }, lead.title || muted()),
  el('td', null, lead.company || muted()),
  el('td', { class: 'loc' }, place || muted()),
  el('td', { class: 'email' }, lead.email ? el('span', null, lead.email, ' ', el('span', { class: `badge email-${lead.email_status || 'unknown'}` }, lead.email_status || '')) : muted()),
  el('td', { class: 'num' }, quality == null ? muted() : el('span', { class: `quality ${band}` }, String(quality))),
  el('td', { class: 'vendors' }, (lead.vendors || []).map((v) => el('span', { class: 'tag' }, v))),
  el('td', { class: 'num' }, fmtInt(lead.sources)),
  el('td', { class: 'nowrap col-added', title: fmtDateTime(lead.created_at) }, fmtAgo(lead.created_at)));
}

// ── the query text: facets add clauses, chips remove them ──

/** Splits a query into terms/operators/parentheses with their positions (mirrors the server's lexer). */
function tokenize(q) {
  const out = [];
  let depth = 0;
  let i = 0;
  const phraseEnd = (j) => {
    const close = q.indexOf('"', j + 1);
    let end = close < 0 ? q.length : close + 1;
    if (q[end] === '~') while (/\d/.test(q[end + 1] || '')) end++;
    return q[end] === '~' ? end + 1 : end;
  };
  while (i < q.length) {
    const c = q[i];
    if (/\s/.test(c)) { i++; continue; }
    if (c === '(' || c === ')') {
      if (c === ')') depth = Math.max(0, depth - 1);
      out.push({ kind: c === '(' ? 'open' : 'close', text: c, start: i, end: i + 1, depth });
      if (c === '(') depth++;
      i++;
      continue;
    }
    let j = i;
    if (c === '"') j = phraseEnd(i);
    else {
      while (j < q.length && !/[\s()"]/.test(q[j])) j++;
      if (q[j - 1] === ':' && q[j] === '"') j = phraseEnd(j); // field:"a phrase"
    }
    const text = q.slice(i, j);
    const kind = /^(AND|OR|NOT|&&|\|\|)$/.test(text) ? 'op' : 'term';
    out.push({ kind, text, start: i, end: j, depth });
    i = j;
  }
  return out;
}

const isOr = (t) => t && t.kind === 'op' && (t.text === 'OR' || t.text === '||');

/** The removable field filters: top-level `field:value` terms not part of an OR. */
function activeFilters(q) {
  const tokens = tokenize(q);
  const filters = [];
  tokens.forEach((t, i) => {
    if (t.kind !== 'term' || t.depth !== 0 || !/^[-!]?[A-Za-z_]+:(?!\/\/)./.test(t.text)) return; // a URL is not a field
    const negatedByWord = tokens[i - 1]?.text === 'NOT';
    if (isOr(tokens[negatedByWord ? i - 2 : i - 1]) || isOr(tokens[i + 1])) return;
    filters.push({ ...t, negated: negatedByWord || /^[-!]/.test(t.text) });
  });
  return filters;
}

function removeFilter(q, filter) {
  const tokens = tokenize(q);
  const i = tokens.findIndex((t) => t.start === filter.start);
  if (i < 0) return q;
  const drop = new Set([i]);
  let before = i - 1;
  if (tokens[before]?.text === 'NOT') drop.add(before--);
  if (tokens[before]?.text === 'AND' || tokens[before]?.text === '&&') drop.add(before);
  else if (tokens[i + 1]?.text === 'AND' || tokens[i + 1]?.text === '&&') drop.add(i + 1);
  let result = '';
  let last = 0;
  tokens.forEach((t, k) => {
    if (!drop.has(k)) return;
    result += q.slice(last, t.start);
    last = t.end;
  });
  return (result + q.slice(last)).replace(/\s+/g, ' ').trim();
}

/** `field:value`, quoted when needed. The query language has no escape for `"`
 *  inside a phrase, so an embedded quote becomes a space (words still match). */
function clauseFor(field, value) {
  const v = String(value).replace(/"/g, ' ').replace(/\s+/g, ' ').trim();
  return /^[\p{L}\p{N}_.@-]+$/u.test(v) && !/^(AND|OR|NOT)$/.test(v) ? `${field}:${v}` : `${field}:"${v}"`;
}

function addClause(q, clause) {
  const trimmed = q.trim();
  if (!trimmed) return clause;
  // AND binds tighter than OR: wrap a top-level OR so the filter applies to all of it.
  const hasTopOr = tokenize(trimmed).some((t) => t.depth === 0 && isOr(t));
  return hasTopOr ? `(${trimmed}) ${clause}` : `${trimmed} ${clause}`;
}

/** Facet key + value → the clause it filters by (null when not filterable). */
function facetClause(key, value) {
  if (key === 'quality') {
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(String(value));
    return m ? `quality:${m[1]}..${m[2]}` : null;
  }
  if (value == null || value === '') return null;
  return clauseFor(key, value);
}

function renderChips() {
  const box = $('#chips');
  const filters = activeFilters(explorer.q);
  box.replaceChildren(...filters.map((f) => {
    const negated = f.negated;
    const body = f.text.replace(/^[-!]/, '');
    const colon = body.indexOf(':');
    const label = `${negated ? 'not ' : ''}${body.slice(0, colon)}: ${body.slice(colon + 1).replace(/^"|"$/g, '')}`;
    return el('span', { class: `chip${negated ? ' chip-not' : ''}` },
      el('span', null, label),
      el('button', { type: 'button', class: 'chip-remove', 'aria-label': `Remove filter ${label}`, title: 'Remove this filter',
        onclick: () => navigateList({ q: removeFilter(explorer.q, f), offset: 0 }) }, '✕'));
  }));
  box.hidden = filters.length === 0;
}

const FACET_LIMIT = 8;
function renderFacets(facets) {
  const box = $('#facets');
  const active = new Map(activeFilters(explorer.q).map((f) => [f.text.toLowerCase(), f]));
  const panels = Object.entries(facets).filter(([, values]) => Array.isArray(values) && values.length);
  if (!panels.length) {
    box.replaceChildren(el('p', { class: 'muted small' }, 'No facets for this search.'));
    return;
  }
  box.replaceChildren(...panels.map(([key, values]) => {
    const list = el('ul', { class: 'facet-list' });
    values.forEach((item, i) => {
      const clause = facetClause(key, item.value);
      const filter = clause && active.get(clause.toLowerCase());
      const content = [el('span', { class: 'facet-value' }, item.value === '' ? '(empty)' : String(item.value)), el('span', { class: 'facet-count' }, fmtInt(item.count))];
      const entry = clause
        ? el('button', { type: 'button', class: 'facet-btn', 'aria-pressed': filter ? 'true' : 'false', title: filter ? `Remove ${clause}` : `Filter by ${clause}`,
          onclick: () => navigateList({ q: filter ? removeFilter(explorer.q, filter) : addClause(explorer.q, clause), offset: 0 }) }, content)
        : el('span', { class: 'facet-btn facet-static' }, content);
      list.append(el('li', { hidden: i >= FACET_LIMIT }, entry));
    });
    const more = values.length > FACET_LIMIT
      ? el('button', { type: 'button', class: 'link-btn', onclick: (e) => {
        const expanded = e.currentTarget.getAttribute('aria-expanded') === 'true';
        list.querySelectorAll('li').forEach((li, i) => { li.hidden = !expanded ? false : i >= FACET_LIMIT; });
        e.currentTarget.setAttribute('aria-expanded', String(!expanded));
        setText(e.currentTarget, expanded ? `Show all ${values.length}` : 'Show fewer');
      }, 'aria-expanded': 'false' }, `Show all ${values.length}`)
      : null;
    return el('section', { class: 'card facet', dataset: { facet: key } }, el('h3', { class: 'facet-title' }, humanize(key)), list, more);
  }));
}

function syncExplorerControls() {
  const input = $('#search-input');
  if (input.value !== explorer.q && document.activeElement !== input) input.value = explorer.q;
  $('#sort-select').value = explorer.sort;
  for (const th of document.querySelectorAll('#results th[data-sort-col]')) {
    const col = th.dataset.sortCol;
    let sort = 'none';
    if (col === 'quality' && explorer.sort === 'quality') sort = 'descending';
    if (col === 'recent' && explorer.sort === 'recent') sort = 'descending';
    if (col === 'recent' && explorer.sort === 'oldest') sort = 'ascending';
    th.setAttribute('aria-sort', sort);
  }
  const q = encodeURIComponent(explorer.q);
  $('#export-csv').setAttribute('href', `/api/export?format=csv&q=${q}`);
  $('#export-jsonl').setAttribute('href', `/api/export?format=jsonl&q=${q}`);
  renderChips();
  const reviewing = activeFilters(explorer.q).some((f) => f.text.toLowerCase() === REVIEW_CLAUSE);
  $('#review-filter').setAttribute('aria-pressed', String(reviewing));
  $('#review-filter').classList.toggle('btn-primary', reviewing);
}

const REVIEW_CLAUSE = 'is:review';

function wireExplorer() {
  const input = $('#search-input');
  input.addEventListener('input', () => {
    clearTimeout(explorer.typing);
    explorer.typing = setTimeout(() => {
      if (!$('#view-leads').hidden) navigateList({ q: input.value, offset: 0 }, { replace: true });
    }, 250);
  });
  $('#search-form').addEventListener('submit', (e) => {
    e.preventDefault();
    clearTimeout(explorer.typing);
    navigateList({ q: input.value, sort: $('#sort-select').value, offset: 0 }, { force: true });
  });
  $('#sort-select').addEventListener('change', (e) => navigateList({ sort: e.target.value, offset: 0 }));
  for (const button of document.querySelectorAll('#results .th-sort')) {
    button.addEventListener('click', () => {
      let sort = button.dataset.sort;
      if (sort === 'recent' && explorer.sort === 'recent') sort = 'oldest';
      navigateList({ sort, offset: 0 });
    });
  }
  $('#review-filter').addEventListener('click', () => {
    const filter = activeFilters(explorer.q).find((f) => f.text.toLowerCase() === REVIEW_CLAUSE);
    const q = filter ? removeFilter(explorer.q, filter) : addClause(explorer.q, REVIEW_CLAUSE);
    navigateList({ q, offset: 0 });
  });
  $('#page-prev').addEventListener('click', () => navigateList({ offset: Math.max(0, explorer.offset - PAGE) }));
  $('#page-next').addEventListener('click', () => navigateList({ offset: explorer.offset + PAGE }));
}

// ───────────────────────────── detail ─────────────────────────────

const detail = { id: null, controller: null, returnFocus: false };
const QUALITY_LABELS = { full_name: 'Full name', job_title: 'Job title', linkedin_url: 'LinkedIn URL', email: 'Email', company: 'Company' };
const SPECIAL_SECTIONS = new Set(['sources', 'merges', 'quality', 'identity', 'contradictions', 'suppressed', 'requested_id', 'merged_into']);
const isTimeKey = (key) => /(^|_)at$/.test(key);

async function openDetail(id) {
  const panel = $('#lead-detail');
  const wasHidden = panel.hidden;
  panel.hidden = false;
  markSelectedRow(id);
  if (detail.id === id) return;
  detail.id = id;
  detail.controller?.abort();
  const controller = new AbortController();
  detail.controller = controller;
  setText($('#lead-name'), `Lead #${id}`);
  setText($('#lead-subtitle'), 'Loading…');
  $('#lead-body').replaceChildren();
  if (wasHidden) $('#lead-close').focus({ preventScroll: true });
  try {
    const lead = await api(`/api/leads/${encodeURIComponent(id)}`, { signal: controller.signal });
    if (detail.id !== id) return;
    renderLead(lead);
  } catch (e) {
    if (e.name === 'AbortError' || detail.id !== id) return;
    setText($('#lead-subtitle'), '');
    $('#lead-body').replaceChildren(el('p', { class: 'field-error' }, `Could not load lead ${id}: ${e.message}`));
  }
}

function closeDetail() {
  const panel = $('#lead-detail');
  if (panel.hidden) return;
  panel.hidden = true;
  const id = detail.id;
  const hadFocus = panel.contains(document.activeElement) || document.activeElement === document.body;
  detail.id = null;
  detail.controller?.abort();
  markSelectedRow(null);
  // Give focus back to the row the lead was opened from (not while the user types elsewhere).
  if (hadFocus) $(`#results tbody tr[data-id="${CSS.escape(String(id))}"]`)?.focus({ preventScroll: true });
}

function markSelectedRow(id = detail.id) {
  for (const tr of document.querySelectorAll('#results tbody tr')) {
    const selected = id != null && tr.dataset.id === String(id);
    tr.classList.toggle('selected', selected);
    if (selected) tr.setAttribute('aria-current', 'true');
    else tr.removeAttribute('aria-current');
  }
}

function renderLead(lead) {
  const name = lead.full_name || [lead.first_name, lead.last_name].filter(Boolean).join(' ') || `Lead #${lead.id}`;
  setText($('#lead-name'), name);
  const company = lead.company && typeof lead.company === 'object' ? lead.company.name : lead.company;
  setText($('#lead-subtitle'), [lead.job_title, company].filter(Boolean).join(' · '));
  const sections = leadNotices(lead);
  if (lead.quality && typeof lead.quality === 'object') sections.push(qualitySection(lead.quality));
  sections.push(identitySection(lead));
  // Every other field, generically, so fields added later show up without UI changes.
  const fields = Object.entries(lead).filter(([k]) => !SPECIAL_SECTIONS.has(k));
  sections.push(el('section', { class: 'detail-section' }, el('h3', null, 'Fields'), fieldList(fields)));
  sections.push(el('section', { class: 'detail-section' }, el('h3', null, `Sources (${(lead.sources || []).length})`), sourcesTable(lead.sources || [])));
  sections.push(el('section', { class: 'detail-section' }, el('h3', null, `Merge history (${(lead.merges || []).length})`), mergesTable(lead.merges || [])));
  $('#lead-body').replaceChildren(...sections);
}

/** What a reader must know first: the id asked for was merged, the lead is on the
 *  do-not-contact list, its keys contradict. */
function leadNotices(lead) {
  const notes = [];
  if (lead.merged_into != null && lead.requested_id != null) {
    notes.push(el('p', { class: 'notice' }, `Lead #${lead.requested_id} was merged into this lead (#${lead.merged_into}): a record showed they are one person.`));
  }
  if (lead.suppressed) {
    notes.push(el('p', { class: 'notice notice-warn' }, `On the do-not-contact list (${lead.suppressed}): left out of every export and CRM sync.`));
  }
  for (const c of lead.contradictions || []) {
    const what = c.kind === 'linkedin_url' ? 'LinkedIn URLs' : `${c.kind.replace('profile_id:', '')} IDs`;
    notes.push(el('p', { class: 'notice notice-warn' }, `Needs review: ${c.keys.length} ${what} on one lead (${c.keys.join(', ')}). If they are different people, split the keys that belong to someone else.`));
  }
  return notes;
}

/** The lead's identity keys, each selectable, and the split that moves the
 *  selected ones into a new lead (remembered: they never join again by themselves). */
function identitySection(lead) {
  const keys = [
    ...(lead.identity?.linkedin_urls || []).map((v) => `u:${v}`),
    ...(lead.identity?.emails || []).map((v) => `e:${v}`),
    ...(lead.identity?.profile_ids || []).map((v) => `p:${v}`),
  ];
  const flagged = new Set((lead.contradictions || []).flatMap((c) => c.keys));
  const button = el('button', { type: 'button', class: 'btn', id: 'split-button', disabled: true }, 'Split selected keys into a new lead');
  const boxes = keys.map((key) => el('input', { type: 'checkbox', value: key, class: 'split-key' }));
  const update = () => {
    const n = boxes.filter((b) => b.checked).length;
    button.disabled = n === 0 || n === keys.length;
    button.title = n === keys.length ? 'A lead keeps at least one key' : '';
  };
  boxes.forEach((b) => b.addEventListener('change', update));
  button.addEventListener('click', () => splitLead(lead.id, boxes.filter((b) => b.checked).map((b) => b.value), button));
  const items = keys.map((key, i) => el('li', { class: flagged.has(key) ? 'key flagged' : 'key' },
    el('label', null, boxes[i], ' ', key)));
  return el('section', { class: 'detail-section' },
    el('h3', null, `Identity keys (${keys.length})`),
    keys.length ? el('ul', { class: 'key-list' }, items) : muted('none'),
    keys.length > 1 ? button : null);
}

async function splitLead(id, keys, button) {
  button.disabled = true;
  try {
    const report = await api(`/api/leads/${encodeURIComponent(id)}/split`, {
      method: 'POST', body: JSON.stringify({ keys }), headers: { 'Content-Type': 'application/json' },
    });
    showMessage(`Lead #${report.lead} split: ${report.moved.join(', ')} moved to new lead #${report.new_lead}.`, { level: 'info', timeout: 8000 });
    detail.id = null; // reload the lead as it is now
    openDetail(String(report.lead));
    // The search index commits the change within about a second: look again then.
    refreshResults();
    setTimeout(refreshResults, 1200);
  } catch (e) {
    showMessage(`Split failed: ${e.message}`);
    button.disabled = false;
  }
}

function qualitySection(quality) {
  const parts = Object.entries(quality).filter(([k, v]) => k !== 'score' && isNum(v));
  // Parts share the 100 points equally (five parts of 20 today).
  const share = parts.length ? 100 / parts.length : 100;
  const score = isNum(quality.score) ? quality.score : parts.reduce((s, [, v]) => s + v, 0);
  return el('section', { class: 'detail-section' },
    el('h3', null, 'Quality ', el('span', { class: `quality ${score >= 80 ? 'q-high' : score >= 60 ? 'q-mid' : 'q-low'}` }, `${score} / 100`)),
    el('ul', { class: 'quality-bars' }, parts.map(([key, value]) => {
      const fill = el('span', { class: `bar-fill${value > 0 ? '' : ' zero'}` });
      fill.style.width = `${clamp((value / share) * 100, 0, 100)}%`;
      return el('li', null,
        el('span', { class: 'bar-label' }, QUALITY_LABELS[key] || humanize(key)),
        el('span', { class: 'bar-track', role: 'img', 'aria-label': `${value} of ${fmtNum(share, 0)} points` }, fill),
        el('span', { class: 'bar-value' }, `${value} pts`));
    })));
}

function fieldList(entries) {
  return el('dl', { class: 'fields' }, entries.map(([key, value]) =>
    el('div', { class: 'field' }, el('dt', { title: key }, humanize(key)), el('dd', null, renderValue(key, value)))));
}

/** Any JSON value as DOM text: objects nest, arrays list, times format, http(s) URLs link. */
function renderValue(key, value) {
  if (value == null || value === '') return muted();
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') return isTimeKey(key) ? fmtDateTime(value) : String(value);
  if (typeof value === 'string') return /url$/i.test(key) ? linkOrText(value) : value;
  if (Array.isArray(value)) {
    if (!value.length) return muted('none');
    if (value.every((v) => v && typeof v === 'object' && !Array.isArray(v))) return objectTable(value);
    return el('ul', { class: 'inline-list' }, value.map((v) => el('li', null, renderValue(key.replace(/s$/, ''), v))));
  }
  if (typeof value === 'object') return fieldList(Object.entries(value));
  return String(value);
}

function objectTable(rows) {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  return el('table', { class: 'table table-compact' },
    el('thead', null, el('tr', null, keys.map((k) => el('th', { scope: 'col' }, humanize(k))))),
    el('tbody', null, rows.map((r) => el('tr', null, keys.map((k) => el('td', null, renderValue(k, r[k])))))));
}

function sourcesTable(sources) {
  if (!sources.length) return el('p', { class: 'muted' }, 'No sources recorded.');
  return el('div', { class: 'table-scroll' }, el('table', { class: 'table table-compact' },
    el('thead', null, el('tr', null, ['Vendor', 'Workflow', 'Record', 'Fetched'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', null, sources.map((s) => el('tr', null,
      el('td', null, s.vendor ?? ''), el('td', null, s.workflow ?? ''),
      el('td', null, s.record_id ?? muted()), el('td', { class: 'nowrap' }, fmtDateTime(s.fetched_at)))))));
}

function mergesTable(merges) {
  if (!merges.length) return el('p', { class: 'muted' }, 'No merges: this lead comes from a single record.');
  const list = (items) => (items && items.length ? el('ul', { class: 'inline-list' }, items.map((i) => el('li', null, String(i)))) : muted());
  return el('div', { class: 'table-scroll' }, el('table', { class: 'table table-compact' },
    el('thead', null, el('tr', null, ['When', 'Source', 'Filled fields', 'Added keys', 'Leads merged / split', 'Kept apart'].map((h) => el('th', { scope: 'col' }, h)))),
    el('tbody', null, merges.map((m) => el('tr', null,
      el('td', { class: 'nowrap' }, fmtDateTime(m.at)),
      el('td', { class: 'merge-source' }, m.source
        ? [el('div', null, [m.source.vendor, m.source.workflow].filter(Boolean).join(' · ')), m.source.record_id ? el('div', { class: 'muted small' }, m.source.record_id) : null]
        : muted()),
      el('td', null, list(m.filled)),
      el('td', null, list(m.added_keys)),
      el('td', null, mergeLinks(m)),
      el('td', null, m.conflicts_with && m.conflicts_with.length
        ? m.conflicts_with.map((id) => el('a', { href: `#/leads/${encodeURIComponent(id)}`, class: 'conflict-link' }, `#${id}`))
        : muted()))))));
}

/** The leads a merge event joined into this one, or the lead a split made. */
function mergeLinks(m) {
  const link = (id) => el('a', { href: `#/leads/${encodeURIComponent(id)}`, class: 'conflict-link' }, `#${id}`);
  if (m.split_with != null) {
    const moved = (m.removed_keys || []).length ? ` (${m.removed_keys.join(', ')})` : '';
    return el('span', null, (m.removed_keys || []).length ? 'split off to ' : 'split from ', link(m.split_with), moved);
  }
  return m.absorbed && m.absorbed.length ? m.absorbed.map(link) : muted();
}

// ───────────────────────────── do not contact ─────────────────────────────

const KIND_LABELS = { email: 'Email', domain: 'Domain', linkedin_url: 'LinkedIn URL', profile_id: 'Profile ID' };

async function loadSuppressions() {
  try {
    const list = await api('/api/suppressions');
    renderSuppressions(list);
  } catch (e) {
    showSuppressResult(`Could not read the list: ${e.message}`, true);
  }
}

function renderSuppressions(list) {
  const entries = list.entries || [];
  setText($('#suppress-total'), plural(entries.length, 'entry', 'entries'));
  $('#suppress-empty').hidden = entries.length > 0;
  $('#suppressions tbody').replaceChildren(...entries.map((e) => {
    const remove = el('button', { type: 'button', class: 'btn btn-small' }, 'Remove');
    remove.addEventListener('click', () => changeList('/api/suppressions/remove', [e.entry]));
    return el('tr', null,
      el('td', { class: 'mono' }, e.entry),
      el('td', null, KIND_LABELS[e.kind] || e.kind),
      el('td', { class: 'nowrap' }, fmtDateTime(e.added_at)),
      el('td', null, e.origin),
      el('td', null, remove));
  }));
}

async function changeList(path, entries) {
  try {
    const r = await api(path, { method: 'POST', body: JSON.stringify({ entries }), headers: { 'Content-Type': 'application/json' } });
    showSuppressResult(listChangeText(r), false);
    loadSuppressions();
    return true;
  } catch (e) {
    showSuppressResult(e.message, true);
    return false;
  }
}

function listChangeText(r) {
  const parts = [
    r.added?.length && `${fmtInt(r.added.length)} added`,
    r.already_listed?.length && `${fmtInt(r.already_listed.length)} already listed`,
    r.removed?.length && `${fmtInt(r.removed.length)} removed`,
    r.not_listed?.length && `${fmtInt(r.not_listed.length)} not on the list`,
    r.rejected?.length && `${plural(r.rejected.length, 'line')} without an entry (${r.rejected.slice(0, 3).map((x) => `line ${x.line}: ${x.reason}`).join('; ')})`,
  ].filter(Boolean);
  return `${parts.join(', ') || 'nothing changed'}; ${plural(r.listed, 'entry', 'entries')} on the list.`;
}

function showSuppressResult(text, isError) {
  const box = $('#suppress-result');
  box.replaceChildren(el('span', null, text));
  box.classList.toggle('error', isError);
  box.hidden = false;
}

function wireSuppressions() {
  $('#suppress-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const entries = $('#suppress-input').value.split('\n').map((l) => l.trim()).filter(Boolean);
    if (!entries.length) return showSuppressResult('Write one entry per line first.', true);
    if (await changeList('/api/suppressions', entries)) $('#suppress-input').value = '';
  });
  $('#suppress-import').addEventListener('click', async () => {
    const file = $('#suppress-file').files?.[0];
    if (!file) return showSuppressResult('Choose a list file first.', true);
    try {
      const r = await api(`/api/suppressions/import?name=${encodeURIComponent(file.name)}`,
        { method: 'POST', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
      showSuppressResult(`${file.name}: ${listChangeText(r)}`, false);
      $('#suppress-file').value = '';
      loadSuppressions();
    } catch (e) {
      showSuppressResult(`${file.name}: ${e.message}`, true);
    }
  });
}

// ───────────────────────────── import / export ─────────────────────────────

const MAX_UPLOAD = 64 * 1024 * 1024;

async function importFile() {
  const input = $('#import-file');
  const button = $('#import-button');
  const file = input.files?.[0];
  if (!file) return showImportResult('Choose a CSV, JSON or JSONL file first.', true);
  if (file.size > MAX_UPLOAD) {
    const mib = (file.size / (1024 * 1024)).toFixed(1);
    return showImportResult(`${file.name} is ${mib} MiB; uploads are limited to 64 MiB. Split the file, or import it on the server with "leadsprint import".`, true);
  }
  button.disabled = true;
  setText(button, 'Importing…');
  showImportResult(`Importing ${file.name}…`, false);
  try {
    const report = await api(`/api/import?name=${encodeURIComponent(file.name)}`,
      { method: 'POST', body: file, headers: { 'Content-Type': 'application/octet-stream' } });
    showImportSummary(file.name, report);
    input.value = '';
    navigateList({}, { force: true }); // refresh the search with the new leads
    // The search index commits new leads within about a second: look again then.
    setTimeout(() => navigateList({}, { force: true }), 1200);
  } catch (e) {
    showImportResult(`Import of ${file.name} failed: ${e.message}`, true);
  } finally {
    button.disabled = false;
    setText(button, 'Import');
  }
}

function showImportResult(text, isError) {
  const box = $('#import-result');
  box.replaceChildren(el('span', null, text));
  box.classList.toggle('error', isError);
  box.hidden = false;
}

function showImportSummary(name, report) {
  const f = report.file || {};
  const t = report.totals || {};
  const rows = f.rows ?? t.records_received;
  const main = `${plural(rows, 'row')} read: ${plural(t.new_leads, 'new lead')}, ${fmtInt(t.duplicates_merged)} merged, ${fmtInt(t.quarantined)} quarantined`;
  const quarantined = Object.entries(t.quarantined_by_kind || {}).filter(([, n]) => n > 0);
  const details = [
    f.format && `format ${f.format}`,
    f.vendor && `vendor ${f.vendor}`,
    t.duplicates_unchanged > 0 && `${plural(t.duplicates_unchanged, 'duplicate')} already known`,
    t.conflicts > 0 && plural(t.conflicts, 'conflict'),
    quarantined.length && `quarantined: ${quarantined.map(([k, n]) => `${humanize(k).toLowerCase()} ${fmtInt(n)}`).join(', ')}`,
    (f.ignored_columns || []).length && `ignored columns: ${f.ignored_columns.join(', ')}`,
  ].filter(Boolean).join(' · ');
  const box = $('#import-result');
  box.replaceChildren(el('strong', null, `${name}: ${main}.`), details ? el('span', { class: 'muted small' }, ` ${details}`) : null);
  box.classList.remove('error');
  box.hidden = false;
}

// ───────────────────────────── router ─────────────────────────────

const VIEWS = { dashboard: 'Dashboard', leads: 'Leads', suppress: 'Do not contact' };

function showView(name) {
  for (const view of Object.keys(VIEWS)) {
    $(`#view-${view}`).hidden = view !== name;
    if (view === name) $(`#tab-${view}`).setAttribute('aria-current', 'page');
    else $(`#tab-${view}`).removeAttribute('aria-current');
  }
  document.title = `${VIEWS[name]} · leadsprint`;
}

/** `#/`, `#/dashboard`, `#/leads?q=…&sort=…&offset=…`, `#/leads/123`. */
function route() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const cut = raw.indexOf('?');
  const path = cut < 0 ? raw : raw.slice(0, cut);
  const query = cut < 0 ? '' : raw.slice(cut + 1);
  const parts = path.split('/').filter(Boolean);

  if (parts[0] === 'suppress') {
    clearTimeout(explorer.typing);
    showView('suppress');
    loadSuppressions();
    return;
  }
  if (parts[0] !== 'leads') {
    clearTimeout(explorer.typing);
    showView('dashboard');
    if (dash.snapshot) renderChart(dash.snapshot.series || []); // drawn at its visible size
    return;
  }
  showView('leads');
  const id = parts[1];
  // A detail URL keeps the list as it was; a list URL carries its whole state.
  if (!id || query) {
    const params = new URLSearchParams(query);
    const sort = params.get('sort');
    explorer.q = params.get('q') ?? '';
    explorer.sort = SORTS.includes(sort) ? sort : 'relevance';
    explorer.offset = Math.max(0, Number.parseInt(params.get('offset') ?? '0', 10) || 0);
  }
  syncExplorerControls();
  loadResults();
  if (id && /^\d+$/.test(id)) openDetail(id);
  else closeDetail();
}

function init() {
  wireExplorer();
  $('#enrichment-toggle').addEventListener('click', onEnrichmentToggle);
  wireSuppressions();
  $('#lead-close').addEventListener('click', () => { location.hash = listHash(explorer); });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$('#lead-detail').hidden) location.hash = listHash(explorer);
  });
  $('#import-button').addEventListener('click', importFile);
  window.addEventListener('hashchange', route);
  // Redraw the chart at its new size; the observer fires only on real size changes.
  new ResizeObserver(() => {
    if (dash.snapshot && !$('#view-dashboard').hidden) renderChart(dash.snapshot.series || []);
  }).observe($('.chart-wrap'));
  route();
  connectEvents();
}

init();
