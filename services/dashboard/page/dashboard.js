// The dashboard page: polls /dashboard/data every interval (the browser resends the admin key it
// was asked for), keeps the chart points of the last minutes, draws them with uPlot and fills the
// tables. Plain browser JavaScript, no build step. Text from the server goes in as text, never HTML.
/* global uPlot */
'use strict';

(() => {
  const keepMs = 10 * 60_000;
  const state = { points: [], since: 0, intervalMs: 2_000, data: null, charts: new Map() };
  window.spillwayDashboard = state;

  const palette = ['#4c9ffe', '#e5534b', '#e5a50a', '#3fb67b', '#b083f0', '#39c5cf', '#f778ba', '#a3be8c', '#d08770', '#88c0d0'];
  const fixedColors = {
    finished: '#4c9ffe', failed: '#e5534b', fallbacks: '#e5a50a',
    p50: '#3fb67b', p95: '#e5a50a', p99: '#e5534b',
  };

  // What each chart draws: its series names, and each series' value at a point.
  const charts = {
    requests: { fixed: ['finished', 'failed', 'fallbacks'], value: (p, name) => ({ finished: p.requests, failed: p.failed, fallbacks: p.fallbacks })[name], format: rate, empty: 'No requests yet' },
    latency: { fixed: ['p50', 'p95', 'p99'], value: (p, name) => (p[name] === null ? null : p[name] * 1000), format: ms, empty: 'No upstream calls in the window' },
    targetFailures: { field: 'targetFailures', missing: 0, format: rate, empty: 'No failed attempts' },
    routes: { field: 'routes', missing: 0, format: rate, empty: 'No fallbacks' },
    classes: { field: 'classes', missing: 0, format: rate, empty: 'No failures to attribute' },
    lag: { field: 'lag', missing: null, format: count, whole: true, empty: 'No lag: every group is caught up' },
  };

  // ---- formatting ----
  function rate(v) {
    if (v === null || v === undefined || Number.isNaN(v)) return '–';
    if (v === 0) return '0';
    if (v < 0.1) return v.toFixed(3);
    if (v < 10) return v.toFixed(2);
    if (v < 1000) return v.toFixed(1);
    return Math.round(v).toLocaleString();
  }
  function ms(v) {
    if (v === null || v === undefined) return '–';
    return v >= 1000 ? (v / 1000).toFixed(2) + ' s' : Math.round(v) + ' ms';
  }
  function seconds(v) {
    return v === null || v === undefined ? '–' : ms(v * 1000);
  }
  function count(v) {
    return v === null || v === undefined ? '–' : Math.round(v).toLocaleString();
  }
  function percent(part, whole) {
    return whole > 0 ? ((100 * part) / whole).toFixed(part === whole || part === 0 ? 0 : 1) + '%' : '–';
  }
  function ago(epochMs, now) {
    const s = Math.max(0, Math.round((now - epochMs) / 1000));
    if (s < 90) return s + ' s';
    if (s < 5400) return Math.round(s / 60) + ' min';
    return (s / 3600).toFixed(1) + ' h';
  }

  // ---- DOM helpers ----
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null) continue;
      if (name === 'class') node.className = value;
      else if (name === 'style') Object.assign(node.style, value);
      else node.setAttribute(name, String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
    return node;
  }
  function fillBody(table, rows, columns, emptyText) {
    const body = table.tBodies[0];
    body.replaceChildren(...(rows.length > 0 ? rows : [el('tr', { class: 'empty-row' }, el('td', { colspan: columns }, emptyText))]));
  }
  function tile(id, value, sub, tone) {
    const node = document.getElementById('tile-' + id);
    node.textContent = value;
    document.getElementById('tile-' + id + '-sub').textContent = sub || '';
    if (tone) node.parentElement.dataset.tone = tone;
    else delete node.parentElement.dataset.tone;
  }

  // ---- charts ----
  function seriesNames(spec) {
    if (spec.fixed) return spec.fixed;
    const names = new Set();
    for (const p of state.points) for (const name of Object.keys(p[spec.field])) names.add(name);
    return [...names].sort();
  }

  function drawChart(name) {
    const spec = charts[name];
    const host = document.querySelector('[data-chart="' + name + '"]');
    const names = seriesNames(spec);
    const xs = state.points.map((p) => p.t / 1000);
    const ys = names.map((n) => state.points.map((p) => {
      if (spec.fixed) return spec.value(p, n);
      const v = p[spec.field][n];
      return v === undefined ? spec.missing : v;
    }));
    let max = 0;
    for (const series of ys) for (const v of series) if (v !== null && v > max) max = v;
    host.dataset.points = String(xs.length);
    host.dataset.series = names.join('|');
    host.dataset.max = String(max);
    host.dataset.active = max > 0 ? 'yes' : 'no';

    const existing = state.charts.get(name);
    const signature = names.join('\u0000');
    const nothing = names.length === 0 || (max === 0 && !spec.fixed);
    let message = host.querySelector('.empty');
    if (nothing || xs.length === 0) {
      if (!message) {
        message = el('div', { class: 'empty' });
        host.append(message);
      }
      message.textContent = xs.length === 0 ? 'Collecting…' : spec.empty;
    } else if (message) {
      message.remove();
    }
    if (existing && existing.signature === signature) {
      existing.plot.setData([xs, ...ys]);
      host.dataset.drawn = String(Number(host.dataset.drawn || '0') + 1);
      return;
    }
    if (existing) existing.plot.destroy();
    const colorOf = (n, i) => fixedColors[n] || palette[i % palette.length];
    const width = Math.max(200, host.clientWidth);
    const plot = new uPlot({
      width,
      height: 210,
      cursor: { drag: { x: false, y: false } },
      legend: { live: true },
      scales: { x: { time: true }, y: { range: (_u, _min, dataMax) => [0, dataMax > 0 ? dataMax * 1.15 : 1] } },
      axes: [
        { stroke: '#8a93a6', grid: { stroke: '#2a3040', width: 1 }, ticks: { stroke: '#2a3040', width: 1 } },
        {
          stroke: '#8a93a6', grid: { stroke: '#2a3040', width: 1 }, ticks: { stroke: '#2a3040', width: 1 }, size: 56,
          values: (_u, splits) => splits.map((v) => spec.format(v)),
          ...(spec.whole ? { incrs: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 1e6] } : {}),
        },
      ],
      series: [
        // Away from the cursor the legend shows the latest values.
        { value: (u, v, _si, idx) => new Date((idx === null ? latest(u.data[0]) : v) * 1000).toLocaleTimeString() },
        ...names.map((n, i) => ({
          label: n, stroke: colorOf(n, i), width: 2, fill: colorOf(n, i) + '18', points: { show: false }, spanGaps: false,
          value: (u, v, si, idx) => spec.format(idx === null ? latest(u.data[si]) : v),
        })),
      ],
    }, [xs, ...ys], host);
    state.charts.set(name, { plot, signature });
    host.dataset.drawn = String(Number(host.dataset.drawn || '0') + 1);
  }

  function latest(values) {
    for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
    return null;
  }

  const resize = new ResizeObserver(() => {
    for (const [name, chart] of state.charts) {
      const host = document.querySelector('[data-chart="' + name + '"]');
      chart.plot.setSize({ width: Math.max(200, host.clientWidth), height: 210 });
    }
  });
  for (const host of document.querySelectorAll('[data-chart]')) resize.observe(host);

  // ---- panels ----
  function renderOverview(d) {
    const o = d.overview;
    tile('requests', rate(o.requestsPerSecond), count(o.requests) + ' finished · ' + rate(o.attemptsPerSecond) + ' attempts/s');
    tile('failed', rate(o.failedPerSecond), percent(o.failedPerSecond, o.requestsPerSecond) + ' of finished · ' + count(o.failed) + ' total', o.failedPerSecond > 0 ? 'bad' : null);
    tile('fallbacks', rate(o.fallbacksPerSecond), count(o.fallbacks) + ' total', o.fallbacksPerSecond > 0 ? 'warn' : null);
    tile('latency', seconds(o.latency.p95), 'p50 ' + seconds(o.latency.p50) + ' · p99 ' + seconds(o.latency.p99));
    const open = d.breakers.filter((b) => b.state !== 'closed');
    tile('breakers', String(open.length), d.breakers.length + ' known · ' + d.cooldowns.length + ' keys cooling down', open.length > 0 ? 'bad' : 'ok');
    if (d.lag) {
      const consuming = d.lag.filter((l) => l.committed);
      const total = consuming.reduce((n, l) => n + l.lag, 0);
      const worst = consuming.slice().sort((a, b) => b.lag - a.lag)[0];
      tile('lag', count(total), worst && worst.lag > 0 ? 'most: ' + worst.name : 'every group caught up', total > 0 ? 'warn' : 'ok');
    } else {
      tile('lag', '?', 'Kafka did not answer', 'bad');
    }
  }

  function renderTargets(d) {
    const rows = d.targets.map((t) => el('tr', { 'data-target': t.target, class: t.failedPerSecond > 0 ? 'hot' : null },
      el('td', { class: 'id' }, t.target),
      el('td', null, t.breaker ? el('span', { class: 'pill', 'data-state': t.breaker }, t.breaker.replace('_', '-')) : el('span', { class: 'muted' }, '–')),
      el('td', { class: 'num' }, rate(t.attemptsPerSecond)),
      el('td', { class: 'num rate' }, rate(t.failedPerSecond)),
      el('td', { class: 'num rate' }, t.attemptsPerSecond > 0 ? percent(t.failedPerSecond, t.attemptsPerSecond) : percent(t.failed, t.attempts)),
      el('td', { class: 'num' }, rate(t.fallbacksPerSecond)),
      el('td', { class: 'num' }, seconds(t.latency && t.latency.p50)),
      el('td', { class: 'num' }, seconds(t.latency && t.latency.p95)),
      el('td', { class: 'num' }, seconds(t.latency && t.latency.p99)),
      el('td', { class: 'num' }, count(t.attempts)),
      el('td', { class: 'num' }, count(t.failed)),
    ));
    fillBody(document.getElementById('targets'), rows, 11, 'No upstream attempts yet');
  }

  function renderBreakers(d) {
    const host = document.getElementById('breakers');
    const badges = d.breakers.map((b) => el('div', { class: 'badge', 'data-breaker': b.id, 'data-kind': b.kind, 'data-state': b.state },
      el('span', { class: 'state' }, (b.kind === 'key' ? 'key · ' : '') + b.state.replace('_', '-')),
      el('span', { class: 'name' }, b.id),
      el('span', { class: 'detail' }, (b.state === 'closed' ? 'closed' : b.state.replace('_', '-')) + (b.since ? ' for ' + ago(b.since, d.now) : '') + ' · ' + b.windowFailures + '/' + b.windowRequests + ' failed in window' + (b.consecutiveFailures ? ' · ' + b.consecutiveFailures + ' in a row' : '')),
    ));
    host.replaceChildren(...(badges.length > 0 ? badges : [el('span', { class: 'none' }, 'No breaker has recorded anything yet')]));
    const cooling = d.cooldowns.map((c) => el('div', { class: 'badge', 'data-cooldown': c.key, 'data-state': 'cooldown' },
      el('span', { class: 'state' }, c.reason.replace('_', ' ')),
      el('span', { class: 'name' }, c.key),
      el('span', { class: 'detail' }, 'back in ' + ago(d.now, c.until) + ' (' + new Date(c.until).toLocaleTimeString() + ')'),
    ));
    document.getElementById('cooldowns').replaceChildren(...(cooling.length > 0 ? cooling : [el('span', { class: 'none' }, 'Every key is in rotation')]));
  }

  function renderFallbacks(d) {
    const rows = d.fallbacks.map((f) => el('tr', { 'data-fallback-from': f.from, 'data-fallback-to': f.to, 'data-reason': f.reason, 'data-total': f.total },
      el('td', { class: 'id' }, f.from),
      el('td', { class: 'arrow' }, '→'),
      el('td', { class: 'id' }, f.to),
      el('td', null, f.reason.replace(/_/g, ' ')),
      el('td', { class: 'num' }, rate(f.perSecond)),
      el('td', { class: 'num' }, count(f.total)),
    ));
    fillBody(document.getElementById('fallbacks'), rows, 6, 'No fallbacks yet');
  }

  function barRows(items, key, tone) {
    const top = Math.max(1, ...items.map((i) => i.total));
    return items.map((i) => el('tr', { ['data-' + key]: i[key], 'data-total': i.total },
      el('td', null, i[key].replace(/_/g, ' ')),
      el('td', { class: 'bar-cell' }, el('div', { class: 'bar ' + (typeof tone === 'function' ? tone(i) : tone), style: { width: Math.max(1, (100 * i.total) / top) + '%' } })),
      el('td', { class: 'num' }, rate(i.perSecond)),
      el('td', { class: 'num' }, count(i.total)),
    ));
  }

  function renderFailures(d) {
    fillBody(document.getElementById('failures'), barRows(d.failures, 'failure', ''), 4, 'No failed attempts');
    fillBody(document.getElementById('outcomes'), barRows(d.outcomes, 'outcome', (o) => (o.outcome === 'success' ? 'ok' : '')), 4, 'No finished requests');
  }

  function renderLag(d) {
    const error = document.getElementById('lag-error');
    error.hidden = d.lagError === null;
    error.textContent = d.lagError ? 'Kafka did not answer: ' + d.lagError : '';
    // A group with no committed offset is probably not running here (webhooks off, say): shown, not counted.
    const rows = (d.lag || []).map((l) => {
      const idle = !l.committed && l.lag > 0;
      return el('tr', { 'data-group': l.groupId, 'data-topic': l.topic, 'data-lag': l.lag, 'data-committed': l.committed ? 'yes' : 'no', class: idle ? 'idle' : null },
        el('td', { class: 'id' }, l.name),
        el('td', { class: 'num' }, count(l.partitions)),
        el('td', { class: 'num', title: idle ? 'The group has committed no offset on this topic: it is not running, or its first messages are still in flight.' : null }, idle ? 'no commit yet · ' + count(l.lag) + ' on the topic' : count(l.lag)),
      );
    });
    fillBody(document.getElementById('lag'), rows, 3, d.lag ? 'No consumer groups' : 'Unknown');
  }

  function renderBatches(d) {
    const cards = d.batches.map((b) => {
      const pct = (n) => (b.total > 0 ? (100 * n) / b.total : 0) + '%';
      return el('div', { class: 'batch', 'data-batch': b.id, 'data-completed': b.completed, 'data-failed': b.failed, 'data-total': b.total },
        el('div', { class: 'head' }, el('span', { class: 'id' }, b.id), el('span', { class: 'meta' }, b.status.replace('_', ' ') + ' · ' + b.endpoint + ' · ' + ago(b.createdAt, d.now) + ' old')),
        el('div', { class: 'progress' }, el('div', { class: 'completed', style: { width: pct(b.completed) } }), el('div', { class: 'failed', style: { width: pct(b.failed) } })),
        el('div', { class: 'counts' }, (b.completed + b.failed) + ' / ' + b.total + ' done (' + percent(b.completed + b.failed, b.total) + ') · ' + b.completed + ' completed · ' + b.failed + ' failed'),
      );
    });
    document.getElementById('batches').replaceChildren(...(cards.length > 0 ? cards : [el('span', { class: 'none' }, 'No batch is running')]));
  }

  function renderInstances(d) {
    const items = d.instances.map((i) => el('span', { class: 'instance', 'data-instance': i.instance, title: 'up ' + ago(i.startedAt, d.now) + ', last published ' + ago(i.at, d.now) + ' ago' },
      el('span', { class: 'roles' }, i.roles.join('+') || 'gateway'), i.instance));
    document.getElementById('instances').replaceChildren(...(items.length > 0 ? items : [el('span', { class: 'none' }, 'No process has published yet')]));
    document.getElementById('deployment').textContent = 'prefix ' + d.prefix + ' · ' + (d.durable ? 'Kafka + Redis' : 'embedded (in-memory, not durable)') + ' · ' + d.instances.length + ' live process' + (d.instances.length === 1 ? '' : 'es');
  }

  function render(d) {
    renderOverview(d);
    for (const name of Object.keys(charts)) drawChart(name);
    renderTargets(d);
    renderBreakers(d);
    renderFallbacks(d);
    renderFailures(d);
    renderLag(d);
    renderBatches(d);
    renderInstances(d);
  }

  function setStatus(kind, text) {
    const node = document.getElementById('status');
    node.dataset.state = kind;
    node.textContent = text;
  }

  async function poll() {
    try {
      const res = await fetch('/dashboard/data?since=' + state.since, { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) throw new Error('the gateway answered ' + res.status);
      const d = await res.json();
      state.intervalMs = d.intervalMs;
      // A collector that went idle starts its points afresh: so does the page.
      if (d.points.length > 0 && state.points.length > 0 && d.points[0].t <= state.points[state.points.length - 1].t) state.points = [];
      state.points.push(...d.points);
      while (state.points.length > 0 && state.points[0].t < d.now - keepMs) state.points.shift();
      if (state.points.length > 0) state.since = state.points[state.points.length - 1].t;
      state.data = d;
      render(d);
      setStatus('live', 'live · ' + new Date(d.now).toLocaleTimeString());
    } catch (err) {
      setStatus('error', String(err instanceof Error ? err.message : err));
    } finally {
      setTimeout(poll, state.intervalMs);
    }
  }

  void poll();
})();
