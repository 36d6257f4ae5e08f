// Pledge review desk: keeps the alert badge live, and signs commands with the reader's own
// Ed25519 key through WebCrypto. The command bytes and the DSSE envelope are built exactly as
// docs/FORMAT.md (sections 1, 2 and 5) says and as the CLI builds them; the private key is
// read from a file the person chooses, used here, and never sent anywhere. It is kept only if
// the person asks, as a non-extractable CryptoKey in this origin's IndexedDB.
'use strict';

const PAYLOAD_TYPE = 'application/vnd.pledge.command.v1+json';
const utf8 = new TextEncoder();

// ---- Bytes ------------------------------------------------------------------------------

/** RFC 8785 canonical JSON (FORMAT.md section 1): sorted members (by UTF-16 code units, which
 *  is what Array.prototype.sort compares), ECMAScript number and string serialisation. */
function canonical(v) {
  if (v === null || typeof v !== 'object') {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error('JSON has no spelling for ' + v);
    return JSON.stringify(v);
  }
  if (Array.isArray(v)) return '[' + v.map(canonical).join(',') + ']';
  return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + canonical(v[k])).join(',') + '}';
}

function b64(bytes) {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

function unb64(s) {
  const clean = s.replace(/-/g, '+').replace(/_/g, '/').replace(/[\s=]+/g, '');
  const t = atob(clean + '==='.slice((clean.length + 3) % 4));
  return Uint8Array.from(t, (c) => c.charCodeAt(0));
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

function unhex(s) {
  return Uint8Array.from(s.match(/../g) || [], (h) => parseInt(h, 16));
}

/** DSSE pre-authentication encoding: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body. */
function pae(type, body) {
  const t = utf8.encode(type);
  const head = utf8.encode('DSSEv1 ' + t.length + ' ' + type + ' ' + body.length + ' ');
  const out = new Uint8Array(head.length + body.length);
  out.set(head);
  out.set(body, head.length);
  return out;
}

/** A UUID version 7: 48 bits of Unix milliseconds, then random bits (RFC 9562). */
function uuidv7(ms = Date.now()) {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  let t = ms;
  for (let i = 5; i >= 0; i--) {
    b[i] = t % 256;
    t = Math.floor(t / 256);
  }
  b[6] = (b[6] & 0x0f) | 0x70;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = hex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** FORMAT.md section 2: UTC, exactly six fractional digits, `Z`. */
function timestamp(date) {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** The envelope of `command` signed by `key` (a CryptoKey) under `keyid`. */
async function envelope(key, keyid, command) {
  const payload = utf8.encode(canonical(command));
  const sig = new Uint8Array(await crypto.subtle.sign('Ed25519', key, pae(PAYLOAD_TYPE, payload)));
  return { payloadType: PAYLOAD_TYPE, payload: b64(payload), signatures: [{ keyid, sig: b64(sig) }] };
}

// ---- Keys -------------------------------------------------------------------------------

/** Reads a PKCS#8 Ed25519 private key (PEM or DER). Returns a non-extractable signing key and
 *  the public key's hex; the extractable copy used to learn the public key is dropped. */
async function importKey(bytes) {
  let der = bytes;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(bytes);
  if (text.includes('-----BEGIN')) {
    const m = text.match(/-----BEGIN PRIVATE KEY-----([\s\S]*?)-----END PRIVATE KEY-----/);
    if (!m) throw new Error('the file is PEM but not a PKCS#8 private key (it must say BEGIN PRIVATE KEY)');
    der = unb64(m[1]);
  }
  let probe;
  try {
    probe = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, true, ['sign']);
  } catch (e) {
    throw new Error('the file is not an Ed25519 PKCS#8 private key (' + e.message + '); export one with `pledge keys export NAME --out FILE`');
  }
  const jwk = await crypto.subtle.exportKey('jwk', probe);
  const key = await crypto.subtle.importKey('pkcs8', der, { name: 'Ed25519' }, false, ['sign']);
  return { key, publicKey: hex(unb64(jwk.x)) };
}

/** Finds the enrolled, unrevoked key with this public key: its id, principal and roles. */
async function identify(publicKey) {
  const r = await fetch('/api/v1/keys', { headers: { accept: 'application/json' } });
  if (!r.ok) throw new Error('cannot read the enrolled keys (' + r.status + ')');
  const rows = (await r.json()).enrolled.filter((k) => k.public_key === publicKey);
  const live = rows.find((k) => k.revoked_seq === null);
  if (!live) {
    throw new Error(rows.length ? 'this key was revoked in this ledger' : 'this key is not enrolled in this ledger');
  }
  return { keyid: live.key_id, principal: live.principal, roles: live.roles };
}

const DB = 'pledge-desk';

function db() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore('keys');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function stored(op, value) {
  const d = await db();
  return new Promise((resolve, reject) => {
    const tx = d.transaction('keys', op === 'get' ? 'readonly' : 'readwrite');
    const s = tx.objectStore('keys');
    const req = op === 'get' ? s.get('signer') : op === 'put' ? s.put(value, 'signer') : s.delete('signer');
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

let signer = null; // { key, publicKey, keyid, principal, roles }

function showSigner() {
  const st = document.getElementById('key-status');
  if (!st) return;
  st.textContent = signer
    ? `Signing as ${signer.principal} (${signer.roles.join(', ') || 'no role'}), key ${signer.keyid.slice(0, 12)}…`
    : 'No key loaded';
  document.body.dataset.signer = signer ? signer.principal : '';
}

async function loadKeyFile(file, remember) {
  const { key, publicKey } = await importKey(new Uint8Array(await file.arrayBuffer()));
  const who = await identify(publicKey);
  signer = { key, publicKey, ...who };
  if (remember) await stored('put', { key, publicKey });
  showSigner();
}

// ---- Commands ---------------------------------------------------------------------------

function ledgerId() {
  return document.body.dataset.ledger;
}

/** Signs and posts one command; resolves to the server's answer `{status, body}`. */
async function submit(kind, body) {
  if (!signer) throw new Error('load your key first (the key panel at the top of the page)');
  const command = { id: uuidv7(), ledger: ledgerId(), issued_at: timestamp(new Date()), kind, body };
  const env = await envelope(signer.key, signer.keyid, command);
  const r = await fetch('/api/v1/commands', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json' },
    body: JSON.stringify(env),
  });
  return { status: r.status, body: await r.json() };
}

function bodyOf(form) {
  const body = JSON.parse(form.dataset.body || '{}');
  for (const field of form.querySelectorAll('textarea, input[type=text]')) {
    const v = field.value.trim();
    if (field.name === 'override_reason') {
      if (v) body.override_reason = v;
    } else {
      body[field.name] = v;
    }
  }
  return body;
}

async function onSign(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const out = form.querySelector('output');
  const button = form.querySelector('button[type=submit]');
  out.className = 'result';
  delete out.dataset.rule;
  button.disabled = true;
  try {
    const { status, body } = await submit(form.dataset.kind, bodyOf(form));
    if (status === 200 || status === 201) {
      out.classList.add('ok');
      out.dataset.outcome = 'recorded';
      out.textContent = 'Recorded: ' + body.events.map((e) => `#${e.seq} ${e.kind}`).join(', ') + '. Reloading…';
      setTimeout(() => location.reload(), 1200);
    } else {
      const e = body.error || {};
      out.classList.add('refused');
      out.dataset.outcome = 'refused';
      if (e.rule) out.dataset.rule = e.rule;
      out.textContent = `Refused${e.rule ? ' (' + e.rule + ')' : ''}: ${e.message || 'status ' + status}`;
      button.disabled = false;
    }
  } catch (e) {
    out.classList.add('refused');
    out.dataset.outcome = 'error';
    out.textContent = e.message;
    button.disabled = false;
  }
}

// ---- Live badge -------------------------------------------------------------------------

async function refreshBadge() {
  const badge = document.getElementById('badge');
  if (!badge) return;
  const r = await fetch('/api/v1/ml-alerts/stats', { headers: { accept: 'application/json' } });
  if (!r.ok) return;
  const unread = (await r.json()).unread_by_severity || {};
  const n = { critical: unread.critical || 0, warning: unread.warning || 0, info: unread.info || 0 };
  const parts = [['critical', 'Critical'], ['warning', 'Warning'], ['info', 'Info']]
    .filter(([k]) => n[k] > 0)
    .map(([k, name]) => `${n[k]} ${name}`);
  badge.textContent = parts.length ? 'Unread ML alerts: ' + parts.join(', ') : 'No unread ML alerts';
  for (const k of Object.keys(n)) badge.dataset[k] = String(n[k]);
}

function live() {
  const head = document.body.dataset.head;
  const url = '/api/v1/events/stream' + (head !== undefined ? '?after=' + head : '');
  const source = new EventSource(url);
  let pending = null;
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = null;
      refreshBadge();
    }, 150);
  };
  for (const kind of (document.body.dataset.kinds || '').split(' ').filter(Boolean)) {
    source.addEventListener(kind, changed);
  }
  source.onmessage = changed;
  window.addEventListener('beforeunload', () => source.close());
}

// ---- Audit ------------------------------------------------------------------------------

async function verifyNow() {
  const out = document.getElementById('verify-result');
  out.textContent = 'Verifying…';
  const r = await fetch('/api/v1/verify', { headers: { accept: 'application/json' } });
  const j = await r.json();
  if (j.ok) {
    out.className = 'ok';
    out.textContent = `Verified: ${j.summary.events} events, every hash, link, signature and derived event.`;
  } else {
    out.className = 'bad';
    out.textContent = 'Verification failed: ' + JSON.stringify(j.failure || j.error);
  }
}

// ---- Start ------------------------------------------------------------------------------

async function start() {
  for (const form of document.querySelectorAll('form.sign')) form.addEventListener('submit', onSign);
  const file = document.getElementById('key-file');
  const err = document.getElementById('key-error');
  if (file) {
    file.addEventListener('change', async () => {
      err.textContent = '';
      if (!file.files.length) return;
      try {
        await loadKeyFile(file.files[0], document.getElementById('key-remember').checked);
      } catch (e) {
        signer = null;
        showSigner();
        err.textContent = e.message;
      } finally {
        file.value = '';
      }
    });
    document.getElementById('key-forget').addEventListener('click', async () => {
      signer = null;
      await stored('delete').catch(() => {});
      showSigner();
    });
  }
  const verify = document.getElementById('verify-run');
  if (verify) verify.addEventListener('click', verifyNow);
  if (document.getElementById('badge') && document.body.dataset.ledger) live();
  try {
    const kept = await stored('get');
    if (kept && kept.key) {
      signer = { key: kept.key, publicKey: kept.publicKey, ...(await identify(kept.publicKey)) };
    }
  } catch (e) {
    if (err) err.textContent = 'The kept key cannot be used: ' + e.message;
  }
  showSigner();
  document.body.dataset.ready = 'true';
}

// For tests and scripts: the same functions the forms use.
window.pledge = { canonical, pae, timestamp, uuidv7, envelope, importKey, unhex, hex, b64 };

document.addEventListener('DOMContentLoaded', start);
