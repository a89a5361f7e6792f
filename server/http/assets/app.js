// The operator page's script: plain JavaScript, no build step. It talks to the server only through the JSON API
// (/api/..., described at /api/openapi.json); every change sends the session's CSRF token in X-CSRF-Token.
// The rollout, device and audit sections are in fleet.js (loaded after this file; they share its globals).
'use strict';

const $ = (id) => document.getElementById(id);
let csrf = '';
let fleetOn = false; // false with --no-fleet: the rollout, device and audit sections stay hidden (fleet.js)

function say(text, kind) {
  const s = $('status');
  s.textContent = text;
  s.className = kind || '';
}

async function api(method, url, body) {
  const headers = {};
  if (method !== 'GET') headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = res.status === 204 ? {} : await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
  if (res.status === 401 && url !== '/api/login') showLogin();
  if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
  return data;
}

function showLogin() {
  $('app').hidden = true;
  $('logout').hidden = true;
  $('login-section').hidden = false;
  fleetPage.hide();
  $('password').focus();
}

async function showApp() {
  $('login-section').hidden = true;
  $('app').hidden = false;
  $('logout').hidden = false;
  await refresh();
  await fleetPage.show(fleetOn);
}

function renderOffer(offer) {
  const dl = $('offer');
  dl.replaceChildren();
  const m = offer.manifest;
  const rows = m ? [['FILE', m.file], ['PATH', m.path], ['SIZE', `${m.size} bytes`], ['VERSION', String(m.version)]] : [['FILE', '(no UPGRADE.TXT yet)']];
  if (m && m.crc32) rows.push(['CRC32', m.crc32]);
  if (m && m.md5) rows.push(['MD5', m.md5]);
  for (const [k, v] of rows) field(dl, k, v);
  $('offer-text').textContent = offer.text;
  return m;
}

/** Appends one `<dt>name</dt><dd data-field=name>value</dd>` pair to `dl` (also used by fleet.js). */
function field(dl, name, value) {
  const dt = document.createElement('dt');
  dt.textContent = name;
  const dd = document.createElement('dd');
  dd.textContent = value;
  dd.dataset.field = name;
  dl.append(dt, dd);
}

function renderReleases(data, offered) {
  const tbody = $('releases').tBodies[0];
  tbody.replaceChildren();
  for (const r of [...data.releases].reverse()) {
    const tr = document.createElement('tr');
    if (offered && offered.file === r.name && offered.version === r.version) tr.className = 'offered';
    const cells = [r.name, String(r.version), String(r.size), r.crc32, r.md5, new Date(r.publishedAt).toLocaleString()];
    cells.forEach((c, i) => {
      const td = document.createElement('td');
      td.textContent = c;
      if (i === 3 || i === 4) td.className = 'mono';
      tr.append(td);
    });
    tbody.append(tr);
  }
  const sel = $('select-name');
  const keep = sel.value;
  sel.replaceChildren();
  for (const b of data.binaries) {
    const o = document.createElement('option');
    o.value = b.name;
    o.textContent = `${b.name} (${b.size} bytes)`;
    sel.append(o);
  }
  if (keep) sel.value = keep;
}

async function refresh() {
  const [offer, releases] = await Promise.all([api('GET', '/api/offer'), api('GET', '/api/releases')]);
  renderReleases(releases, renderOffer(offer));
  fleetPage.releases(releases.releases);
}

function describe(offer) {
  const m = offer.manifest;
  return m && m.file !== 'NO_FILE' ? `${m.file} v${m.version}` : 'NO_FILE';
}

// A program name from a file name, as the IDE's "Export binary to OTA file" makes it: extension dropped, other
// characters replaced by _, first 7 kept.
function programName(fileName) {
  const dot = fileName.lastIndexOf('.');
  const stem = dot > 0 ? fileName.slice(0, dot) : fileName;
  return stem.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 7);
}

function chooseFile(file) {
  if (!file) return;
  if (!$('upload-name').value) $('upload-name').value = programName(file.name);
  say(`${file.name}: ${file.size} bytes, ready to upload`);
}

// XMLHttpRequest rather than fetch: it reports upload progress.
function upload(file, name, version) {
  return new Promise((resolve, reject) => {
    const q = new URLSearchParams({ name });
    if (version) q.set('version', version);
    const xhr = new XMLHttpRequest();
    xhr.open('POST', `/api/releases?${q}`);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader('X-CSRF-Token', csrf);
    const bar = $('upload-progress');
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) bar.value = Math.round((e.loaded / e.total) * 100); };
    xhr.onload = () => {
      let data = {};
      try { data = JSON.parse(xhr.responseText); } catch { data = { error: `HTTP ${xhr.status}` }; }
      if (xhr.status === 401) showLogin();
      if (xhr.status >= 200 && xhr.status < 300) { bar.value = 100; resolve(data); } else reject(new Error(data.error || `HTTP ${xhr.status}`));
    };
    xhr.onerror = () => reject(new Error('the upload failed: connection lost'));
    xhr.send(file);
  });
}

function busy(form, on) {
  for (const el of form.querySelectorAll('button, input, select')) el.disabled = on;
}

async function submitting(form, work) {
  busy(form, true);
  try {
    await work();
  } catch (e) {
    say(e.message, 'error');
  } finally {
    busy(form, false);
  }
}

function wire() {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(ev.target, async () => {
      const r = await api('POST', '/api/login', { password: $('password').value });
      csrf = r.csrfToken;
      fleetOn = r.fleet;
      $('password').value = '';
      say('Logged in.', 'ok');
      await showApp();
    });
  });
  $('logout').addEventListener('click', async () => {
    try { await api('POST', '/api/logout'); } catch { /* the session is gone either way */ }
    csrf = '';
    say('Logged out.');
    showLogin();
  });
  const drop = $('drop');
  drop.addEventListener('dragover', (ev) => { ev.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (ev) => {
    ev.preventDefault();
    drop.classList.remove('over');
    if (ev.dataTransfer.files.length) {
      $('file').files = ev.dataTransfer.files;
      chooseFile(ev.dataTransfer.files[0]);
    }
  });
  $('file').addEventListener('change', () => chooseFile($('file').files[0]));
  $('upload-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const file = $('file').files[0];
    if (!file) { say('Choose a binary first.', 'error'); return; }
    submitting(ev.target, async () => {
      say(`Uploading ${file.name}...`);
      const r = await upload(file, $('upload-name').value.trim(), $('upload-version').value.trim());
      say(`Published ${r.release.name} v${r.release.version} (${r.release.size} bytes). Devices are offered ${describe(r.offer)}.`, 'ok');
      ev.target.reset();
      $('upload-progress').hidden = true;
      await refresh();
    });
  });
  $('select-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(ev.target, async () => {
      const body = { name: $('select-name').value };
      const v = $('select-version').value.trim();
      if (v) body.version = Number(v);
      const r = await api('POST', '/api/select', body);
      say(`Devices are offered ${describe(r.offer)}.`, 'ok');
      await refresh();
    });
  });
  $('nofile-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    submitting(ev.target, async () => {
      const r = await api('POST', '/api/no-file');
      say(`Devices are offered ${describe(r.offer)}: no update.`, 'ok');
      await refresh();
    });
  });
}

async function start() {
  wire();
  try {
    const s = await api('GET', '/api/session');
    csrf = s.csrfToken;
    fleetOn = s.fleet;
    await showApp();
  } catch {
    showLogin();
  }
}

// After every deferred script (fleet.js defines fleetPage) has run.
document.addEventListener('DOMContentLoaded', start);
