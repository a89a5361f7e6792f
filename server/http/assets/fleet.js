// The operator page's fleet sections: the rollout (start form, state, waves, expand/pause/resume/abort/complete),
// the device table updated live from server-sent events (/api/events), and the audit log. Loaded after app.js and
// uses its globals ($, api, say, refresh, field); everything goes through the JSON API with the CSRF token.
'use strict';

const AUDIT_SHOWN = 100;

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.append(td);
  return td;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '-';
}

// "10", "12.5%", "" -> the value to send (the server parses percents as the CLI does), or undefined when empty.
function optional(id) {
  const v = $(id).value.trim();
  return v === '' ? undefined : v;
}

function list(id) {
  return $(id).value.split(',').map((c) => c.trim()).filter((c) => c !== '');
}

const fleetPage = {
  events: undefined,
  shown: false,
  current: null,
  rolloutTimer: undefined,

  async show(enabled) {
    for (const id of ['rollout-section', 'devices-section', 'audit-section']) $(id).hidden = !enabled;
    this.shown = enabled;
    if (!enabled) return;
    await Promise.all([this.loadRollout(), this.loadDevices(), this.loadAudit()]);
    this.listen();
  },

  hide() {
    this.shown = false;
    if (this.events) this.events.close();
    this.events = undefined;
    clearTimeout(this.rolloutTimer);
    this.rolloutTimer = undefined;
    $('devices-live').textContent = '';
  },

  // Live updates: a device row as its sessions arrive, the rollout when anyone changes it. The EventSource
  // reconnects by itself; after each (re)connection the table is read again so nothing missed stays stale.
  listen() {
    if (this.events) this.events.close();
    const es = new EventSource('/api/events');
    this.events = es;
    es.addEventListener('hello', () => {
      $('devices-live').textContent = '(live)';
      this.loadDevices().catch(() => {});
    });
    es.addEventListener('device', (ev) => {
      const d = JSON.parse(ev.data);
      this.renderDevice(d.device, d.progress);
      this.soon();
    });
    es.addEventListener('progress', (ev) => this.renderProgress(JSON.parse(ev.data)));
    es.addEventListener('rollout', () => {
      this.loadRollout().catch(() => {});
      this.loadAudit().catch(() => {});
    });
    es.onerror = () => { $('devices-live').textContent = es.readyState === EventSource.CLOSED ? '(not live: reload the page)' : '(reconnecting)'; };
  },

  // The waves' device counts follow the device states: read again at most once a second while devices report.
  soon() {
    if (this.rolloutTimer) return;
    this.rolloutTimer = setTimeout(() => {
      this.rolloutTimer = undefined;
      this.loadRollout().catch(() => {});
    }, 1000);
  },

  releases(releases) {
    const sel = $('start-name');
    const keep = sel.value;
    sel.replaceChildren();
    for (const name of [...new Set(releases.map((r) => r.name))].sort()) {
      const o = document.createElement('option');
      o.value = name;
      o.textContent = name;
      sel.append(o);
    }
    if (keep) sel.value = keep;
  },

  async loadRollout() {
    if (!this.shown) return;
    this.renderRollout(await api('GET', '/api/rollout'));
  },

  renderRollout(rep) {
    const dl = $('rollout');
    dl.replaceChildren();
    const r = rep.rollout;
    const running = r && (r.state === 'active' || r.state === 'paused');
    field(dl, 'Root UPGRADE.TXT', rep.rootOffer);
    if (r) {
      field(dl, running ? 'Rollout' : 'Last rollout', `${r.name} v${r.version}`);
      field(dl, 'State', r.state + (r.reason ? `: ${r.reason}` : ''));
      field(dl, 'Reaches', [...r.cohorts.map((c) => `cohort ${c}`), `${r.reachPercent}%`].join(' + ') + (r.window ? `, window ${r.window} UTC` : ''));
      field(dl, 'Failures', `${r.failures}${r.budget === null ? '' : ` of a budget of ${r.budget}`} (${r.reached} devices reached)`);
    } else {
      field(dl, 'Rollout', 'none');
    }
    const tbody = $('waves').tBodies[0];
    tbody.replaceChildren();
    for (const w of rep.waves) {
      const tr = document.createElement('tr');
      cell(tr, String(w.wave));
      cell(tr, w.reaches);
      cell(tr, String(w.devices));
      cell(tr, Object.entries(w.states).map(([k, v]) => `${k} ${v}`).join(', ') || '-');
      tbody.append(tr);
    }
    $('waves').hidden = rep.waves.length === 0;
    $('rollout-actions').hidden = !running;
    $('start-form').hidden = Boolean(running);
    this.current = r;
    this.applyButtons();
  },

  // Pause only an active rollout, resume only a paused one (the server refuses the others with a message anyway).
  applyButtons() {
    const r = this.current;
    if (!r) return;
    $('rollout-pause').disabled = r.state !== 'active';
    $('rollout-resume').disabled = r.state !== 'paused';
  },

  async loadDevices() {
    if (!this.shown) return;
    const { devices } = await api('GET', '/api/devices');
    $('devices').tBodies[0].replaceChildren();
    for (const d of devices) this.renderDevice(d, null);
    $('devices-empty').hidden = devices.length > 0;
  },

  // One row, replaced in place (found by its login) or appended. `progress`: {bytes, size} from a live event.
  renderDevice(d, progress) {
    const tbody = $('devices').tBodies[0];
    const tr = document.createElement('tr');
    tr.dataset.login = d.login;
    cell(tr, d.login);
    cell(tr, d.cohort || '-');
    cell(tr, d.state, `state state-${d.state}`).dataset.field = 'state';
    cell(tr, when(d.lastSeen));
    cell(tr, d.address || '-');
    cell(tr, d.offered ? `${d.offered.file} v${d.offered.version}` : '-');
    const dl = d.download;
    const bytes = dl && progress && dl.outcome === 'in-progress' ? progress.bytes : dl && dl.bytes;
    const td = cell(tr, dl ? `${dl.file} v${dl.version ?? '?'}: ${dl.outcome || '-'}, ${bytes} bytes` : '-', 'wrap');
    td.dataset.field = 'download';
    if (dl && progress && progress.size > 0) {
      const bar = document.createElement('progress');
      bar.max = progress.size;
      bar.value = Math.min(progress.bytes, progress.size);
      bar.setAttribute('aria-label', `Download progress of ${d.login}`);
      td.append(bar);
    }
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'small danger';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove device login ${d.login}`);
    remove.addEventListener('click', () => this.removeDevice(d.login));
    tr.insertCell().append(remove);
    const old = [...tbody.rows].find((row) => row.dataset.login === d.login);
    if (old) old.replaceWith(tr);
    else tbody.append(tr);
    $('devices-empty').hidden = true;
  },

  // A running download's bytes so far (between the device events of its start and its end).
  renderProgress(p) {
    const tr = [...$('devices').tBodies[0].rows].find((row) => row.dataset.login === p.login);
    const td = tr && tr.querySelector('[data-field="download"]');
    if (!td) return;
    td.textContent = `${p.file} v${p.version ?? '?'}: in-progress, ${p.bytes} bytes`;
    const bar = document.createElement('progress');
    bar.max = p.size;
    bar.value = Math.min(p.bytes, p.size);
    bar.setAttribute('aria-label', `Download progress of ${p.login}`);
    td.append(bar);
  },

  async removeDevice(login) {
    if (!confirm(`Remove the device login ${login}? It can no longer log in, and its status and sessions are deleted.`)) return;
    try {
      await api('DELETE', `/api/devices/${encodeURIComponent(login)}`);
      say(`Removed the device login ${login}.`, 'ok');
      await Promise.all([this.loadDevices(), this.loadAudit(), this.loadRollout()]);
    } catch (e) {
      say(e.message, 'error');
    }
  },

  async loadAudit() {
    if (!this.shown) return;
    const { entries } = await api('GET', `/api/audit?limit=${AUDIT_SHOWN}`);
    const tbody = $('audit').tBodies[0];
    tbody.replaceChildren();
    for (const e of entries.reverse()) {
      const tr = document.createElement('tr');
      cell(tr, when(e.at));
      cell(tr, e.actor);
      cell(tr, e.action);
      cell(tr, e.subject || '-');
      cell(tr, e.offerAfter || '-', 'wrap');
      tbody.append(tr);
    }
  },

  // Runs one rollout change, shows its result, and reads everything it may have changed.
  async change(what, method, url, body) {
    const rep = await api(method, url, body);
    this.renderRollout(rep);
    const r = rep.rollout;
    await Promise.all([this.loadAudit(), this.loadDevices(), refresh()]);
    say(`${what}: rollout of ${r.name} v${r.version} is ${r.state}${r.reason ? ` (${r.reason})` : ''}.`, 'ok');
  },

  wire() {
    $('device-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = { login: $('device-login').value.trim(), password: $('device-password').value, cohort: $('device-cohort').value.trim() || null };
      submitting(ev.target, async () => {
        const r = await api('POST', '/api/devices', body);
        ev.target.reset();
        await Promise.all([this.loadDevices(), this.loadAudit(), this.loadRollout()]);
        say(`Added the device login ${r.device.login}${r.device.cohort ? ` (cohort ${r.device.cohort})` : ''}.`, 'ok');
      });
    });
    $('start-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = { name: $('start-name').value };
      const version = optional('start-version');
      if (version !== undefined) body.version = Number(version);
      const cohorts = list('start-cohorts');
      if (cohorts.length) body.cohorts = cohorts;
      for (const [id, key] of [['start-percent', 'percent'], ['start-waves', 'waves'], ['start-advance', 'advanceAt'],
        ['start-max-rate', 'maxFailureRate'], ['start-window', 'window']]) {
        const v = optional(id);
        if (v !== undefined) body[key] = v;
      }
      const maxFailures = optional('start-max-failures');
      if (maxFailures !== undefined) body.maxFailures = Number(maxFailures);
      submitting(ev.target, () => this.change('Started', 'POST', '/api/rollout/start', body));
    });
    $('expand-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const body = {};
      const percent = optional('expand-percent');
      if (percent !== undefined) body.percent = percent;
      const cohorts = list('expand-cohorts');
      if (cohorts.length) body.cohorts = cohorts;
      submitting(ev.target, async () => {
        await this.change('Expanded', 'POST', '/api/rollout/expand', body);
        ev.target.reset();
      });
    });
    for (const [id, what, url] of [['rollout-pause', 'Paused', '/api/rollout/pause'], ['rollout-resume', 'Resumed', '/api/rollout/resume'],
      ['rollout-abort', 'Aborted', '/api/rollout/abort'], ['rollout-complete', 'Completed', '/api/rollout/complete']]) {
      $(id).addEventListener('click', () => submitting($('rollout-actions'), () => this.change(what, 'POST', url)).then(() => this.applyButtons()));
    }
  },
};

fleetPage.wire();
