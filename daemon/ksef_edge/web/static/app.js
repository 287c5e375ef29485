// ksef-edge cashier and status page. Plain JS, no build step. Every data call goes to the /v1 API with
// the same bearer token as the till; the token is kept in this browser's localStorage only.
// Text from the server is always inserted with textContent (never innerHTML).
"use strict";

const TOKEN_KEY = "ksef-edge-token";
const STATE_PL = { issued: "wystawiona (czeka na KSeF)", sending: "wysyłana do KSeF", accepted: "przyjęta przez KSeF",
  confirmed: "potwierdzona (UPO)", rejected: "odrzucona przez KSeF" };
const PRINT_PL = { pending: "w kolejce", printing: "drukowanie…", printed: "wydrukowano",
  failed_retrying: "błąd drukarki — ponawiam", failed: "nie wydrukowano" };
const STATE_SHORT = { issued: "czeka", sending: "wysyłana", accepted: "w KSeF", confirmed: "w KSeF + UPO", rejected: "odrzucona" };
const PRINT_SHORT = { pending: "w kolejce", printing: "drukuje", printed: "✓", failed_retrying: "ponawiam", failed: "błąd" };
const SYNC_PL = { synchronized: "zsynchronizowany (NTP)", unsynchronized: "niezsynchronizowany", unknown: "nieznany" };
const REACH_PL = { reachable: "dostępny", unreachable: "niedostępny", unknown: "jeszcze nie sprawdzono", no_token: "brak tokenu KSeF" };
const AVAIL_PL = { AVAILABLE: "działa", MAINTENANCE: "przerwa techniczna", FAILURE: "awaria KSeF",
  TOTAL_FAILURE: "awaria całkowita", UNKNOWN: "nieznana" };
const RECENT_N = 20;        // newest invoices in the status list
const DEADLINE_WARN_DAYS = 1; // amber when the upload deadline is today or tomorrow; red when past

const $ = (id) => document.getElementById(id);
let products = [];
let cart = [];          // {name, qty: "2", price: "12.90", vat: "23"}
let pendingKey = null;  // Idempotency-Key of the sale being issued: a retry reuses it, never issues twice
let current = null;     // the last issued invoice (API JSON)
let pollTimer = null;
let statusTimer = null;
let receiptUrl = null;
let kor = null;         // the correction form: {inv, lines, key, inputs, changeInputs}
let korReceiptUrl = null;

// ------------------------------------------------------------------------------------------ API

function token() { return localStorage.getItem(TOKEN_KEY) || ""; }

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || ("HTTP " + status));
    this.status = status; this.code = e.code; this.field = e.field;
  }
}

async function api(path, opts = {}) {
  const headers = Object.assign({ Authorization: "Bearer " + token() }, opts.headers || {});
  const resp = await fetch(path, Object.assign({}, opts, { headers }));
  if (resp.status === 401) { logout("Token nie pasuje — zaloguj się ponownie."); throw new ApiError(401, null); }
  if (!resp.ok) {
    let body = null;
    try { body = await resp.json(); } catch (_) { /* not JSON */ }
    throw new ApiError(resp.status, body);
  }
  return resp;
}
const apiJson = async (path, opts) => (await api(path, opts)).json();

function newKey() {
  // crypto.randomUUID needs a secure context; a Pi on the shop's LAN is plain http
  const b = crypto.getRandomValues(new Uint8Array(16));
  return "ui-" + Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

// ----------------------------------------------------------------------------------- money/NIP

function parseAmount(text, decimals) {
  // "12,90" or "12.90" -> integer in 10^-decimals units; null if not a plain positive decimal
  const t = String(text).trim().replace(",", ".");
  const m = /^(\d{1,8})(?:\.(\d+))?$/.exec(t);
  if (!m || (m[2] && m[2].length > decimals)) return null;
  return parseInt(m[1], 10) * 10 ** decimals + parseInt((m[2] || "").padEnd(decimals, "0") || "0", 10);
}
function plainDecimal(text) { return String(text).trim().replace(",", "."); }
function formatPln(grosze) {
  const s = String(Math.abs(grosze)).padStart(3, "0");
  return (grosze < 0 ? "-" : "") + s.slice(0, -2) + "," + s.slice(-2) + " zł";
}
function lineGrosze(l) {
  const qty = parseAmount(l.qty, 3), price = parseAmount(l.price, 2);
  return Math.round((qty * price) / 1000); // display estimate; the receipt is authoritative
}

function normalizeNip(text) {
  let t = String(text).replace(/[\s-]/g, "");
  if (/^pl/i.test(t)) t = t.slice(2);
  return t;
}
function nipValid(nip) {
  // 10 digits; weights 6,5,7,2,3,4,5,6,7; sum mod 11 equals the 10th digit (and is never 10)
  if (!/^\d{10}$/.test(nip)) return false;
  const w = [6, 5, 7, 2, 3, 4, 5, 6, 7];
  const sum = w.reduce((acc, wi, i) => acc + wi * Number(nip[i]), 0);
  const check = sum % 11;
  return check !== 10 && check === Number(nip[9]);
}

// --------------------------------------------------------------------------------------- views

function show(view) {
  for (const v of ["login", "kasa", "status", "korekta"]) $("view-" + v).hidden = v !== view;
  $("tab-kasa").classList.toggle("active", view === "kasa");
  $("tab-status").classList.toggle("active", view === "status");
  $("logout").hidden = view === "login";
  clearInterval(statusTimer);
  if (view === "status") { refreshStatus(); statusTimer = setInterval(refreshStatus, 5000); }
}

function route() {
  const m = /[#&]token=([^&]+)/.exec(location.hash);
  if (m) { // the demo prints a link with the token in the fragment (never sent to the server)
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + "#kasa");
  }
  if (!token()) { show("login"); return; }
  show(location.hash === "#status" ? "status" : "kasa");
  refreshHealth();
}

function logout(message) {
  localStorage.removeItem(TOKEN_KEY);
  $("login-token").value = "";
  $("login-error").textContent = message || "";
  show("login");
}

async function login(ev) {
  ev.preventDefault();
  const t = $("login-token").value.trim();
  localStorage.setItem(TOKEN_KEY, t);
  try {
    await apiJson("/v1/status");
    $("login-token").value = "";
    $("login-error").textContent = "";
    if (!location.hash || location.hash === "#") location.hash = "#kasa"; else route();
  } catch (e) {
    if (e.status !== 401) $("login-error").textContent = "Nie można połączyć się z urządzeniem: " + e.message;
  }
}

async function refreshHealth() {
  try {
    const s = await apiJson("/v1/status");
    const pill = $("health");
    pill.textContent = s.can_issue ? "gotowe" : "nie można wystawiać";
    pill.className = "pill " + (s.can_issue ? "ok" : "bad");
    return s;
  } catch (_) { return null; }
}

// ---------------------------------------------------------------------------------------- kasa

function renderProducts() {
  const box = $("products");
  box.replaceChildren();
  for (const p of products) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "product";
    b.append(p.name);
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = formatPln(parseAmount(p.price, 2)) + " · VAT " + p.vat + "%";
    b.append(price);
    b.addEventListener("click", () => addLine(p.name, "1", p.price, p.vat));
    box.append(b);
  }
}

function addLine(name, qty, price, vat) {
  const same = cart.find((l) => l.name === name && l.price === price && l.vat === vat);
  if (same) same.qty = String((parseAmount(same.qty, 3) + parseAmount(qty, 3)) / 1000);
  else cart.push({ name, qty, price, vat });
  pendingKey = null; // a different sale from now on
  renderCart();
}

function renderCart() {
  const body = $("cart").tBodies[0];
  body.replaceChildren();
  let total = 0;
  cart.forEach((l, i) => {
    const tr = body.insertRow();
    const n = tr.insertCell(); n.className = "n";
    n.textContent = l.name + " (" + l.vat + "%)";
    const q = tr.insertCell(); q.className = "amt";
    const minus = document.createElement("button"); minus.type = "button"; minus.textContent = "−";
    minus.setAttribute("aria-label", "mniej: " + l.name);
    minus.addEventListener("click", () => changeQty(i, -1));
    const plus = document.createElement("button"); plus.type = "button"; plus.textContent = "+";
    plus.setAttribute("aria-label", "więcej: " + l.name);
    plus.addEventListener("click", () => changeQty(i, 1));
    q.append(minus, " " + l.qty.replace(".", ",") + " ", plus);
    const a = tr.insertCell(); a.className = "amt";
    a.textContent = formatPln(lineGrosze(l));
    total += lineGrosze(l);
  });
  $("cart-empty").hidden = cart.length > 0;
  $("cart-total").textContent = formatPln(total);
  updateIssueButton();
}

function changeQty(i, delta) {
  const q = parseAmount(cart[i].qty, 3) + delta * 1000;
  if (q <= 0) cart.splice(i, 1); else cart[i].qty = String(q / 1000);
  pendingKey = null;
  renderCart();
}

function nipState() {
  const raw = $("buyer-nip").value;
  const el = $("nip-state");
  const nip = normalizeNip(raw);
  if (!nip) { el.textContent = ""; el.className = "hint"; return "empty"; }
  if (!/^\d*$/.test(nip)) { el.textContent = "✗ NIP może zawierać tylko cyfry"; el.className = "hint bad"; return "bad"; }
  if (nip.length < 10) { el.textContent = "Wpisz 10 cyfr (" + nip.length + "/10)"; el.className = "hint"; return "partial"; }
  if (!nipValid(nip)) { el.textContent = "✗ Błędny NIP — nie zgadza się cyfra kontrolna"; el.className = "hint bad"; return "bad"; }
  el.textContent = "✓ NIP poprawny"; el.className = "hint ok"; return "ok";
}

function updateIssueButton() {
  const nip = nipState();
  const needName = nip === "ok" && !$("buyer-name").value.trim();
  $("issue").disabled = cart.length === 0 || nip === "bad" || nip === "partial" || needName;
  $("issue-error").textContent = needName ? "Podaj nazwę nabywcy (wymagana przy NIP)." : "";
}

function addManual(ev) {
  ev.preventDefault();
  const name = $("m-name").value.trim();
  const qty = parseAmount($("m-qty").value, 3), price = parseAmount($("m-price").value, 2);
  if (!name) { $("m-error").textContent = "Podaj nazwę."; return; }
  if (!qty) { $("m-error").textContent = "Ilość: liczba większa od zera, np. 1 lub 0,25."; return; }
  if (price === null) { $("m-error").textContent = "Cena: kwota w złotych, np. 12,90."; return; }
  $("m-error").textContent = "";
  addLine(name, plainDecimal($("m-qty").value), plainDecimal($("m-price").value), $("m-rate").value);
  $("m-name").value = ""; $("m-price").value = ""; $("m-qty").value = "1";
}

function requestBody() {
  const body = {
    lines: cart.map((l) => ({ name: l.name, quantity: l.qty, unit: "szt", unit_price_gross: l.price, vat_rate: l.vat })),
    payment: { method: document.querySelector("input[name=pay]:checked").value },
  };
  const nip = normalizeNip($("buyer-nip").value);
  const name = $("buyer-name").value.trim(), address = $("buyer-address").value.trim();
  if (nip || name) {
    body.buyer = { name: name || "Klient" };
    if (nip) body.buyer.nip = nip;
    if (address) body.buyer.address = address;
  }
  return body;
}

async function issue() {
  const btn = $("issue");
  btn.disabled = true;
  btn.textContent = "Wystawiam…";
  $("issue-error").textContent = "";
  pendingKey = pendingKey || newKey();
  try {
    const inv = await apiJson("/v1/invoices", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": pendingKey },
      body: JSON.stringify(requestBody()),
    });
    pendingKey = null;
    showResult(inv);
  } catch (e) {
    if (e.status && e.status < 500 && e.status !== 408) pendingKey = null; // refused: the next try is a new request
    const where = e.field ? " (" + e.field + ")" : "";
    $("issue-error").textContent = "Nie wystawiono: " + e.message + where;
  } finally {
    btn.textContent = "Wystaw fakturę";
    updateIssueButton();
  }
}

function showResult(inv) {
  current = inv;
  $("result").hidden = false;
  $("r-number").textContent = inv.number;
  renderResultState(inv);
  loadReceipt(inv.id);
  pollInvoice(inv.id);
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
  refreshHealth();
}

function renderResultState(inv) {
  $("r-state").textContent = STATE_PL[inv.state] || inv.state;
  $("r-print").textContent = PRINT_PL[inv.print_state] || inv.print_state;
  $("r-print").dataset.state = inv.print_state;
  $("r-print-error").textContent = "";
}

async function loadReceipt(id) {
  try {
    const blob = await (await api("/v1/invoices/" + id + "/receipt.png")).blob();
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
    receiptUrl = URL.createObjectURL(blob);
    $("r-receipt").src = receiptUrl;
  } catch (e) {
    $("r-print-error").textContent = "Podgląd paragonu niedostępny: " + e.message;
  }
}

function pollInvoice(id) {
  clearTimeout(pollTimer);
  let tries = 0;
  const tick = async () => {
    tries += 1;
    try {
      const inv = await apiJson("/v1/invoices/" + id);
      if (current && current.id === id) { current = inv; renderResultState(inv); }
      if (["printed", "failed"].includes(inv.print_state) && tries > 1) return;
    } catch (_) { /* keep trying */ }
    if (tries < 60) pollTimer = setTimeout(tick, 1000);
  };
  tick();
}

async function reprint() {
  if (!current) return;
  try {
    await apiJson("/v1/invoices/" + current.id + "/reprint", { method: "POST" });
    $("r-print").textContent = PRINT_PL.pending + " (kopia)";
    pollInvoice(current.id);
  } catch (e) {
    $("r-print-error").textContent = "Nie można wydrukować ponownie: " + e.message;
  }
}

function newSale() {
  cart = []; pendingKey = null; current = null;
  for (const id of ["buyer-nip", "buyer-name", "buyer-address"]) $(id).value = "";
  $("result").hidden = true;
  renderCart();
  window.scrollTo(0, 0);
}

// -------------------------------------------------------------------------------------- status

function tile(id, level) { const t = $(id); t.classList.remove("ok", "warn", "bad"); if (level) t.classList.add(level); }
function daysBetween(isoDate, now) {
  const d = new Date(isoDate + "T00:00:00"), today = new Date(now.getFullYear(), now.getMonth(), now.getDate());
  return Math.round((d - today) / 86400000);
}
function fmtTime(iso) { return iso ? new Date(iso).toLocaleString("pl-PL") : "—"; }
function text(id, value) { $(id).textContent = value == null ? "—" : String(value); }

async function refreshStatus() {
  let s;
  try { s = await apiJson("/v1/status"); } catch (e) { text("s-updated", "Błąd odświeżania: " + e.message); return; }
  const now = new Date();

  text("s-can-issue", s.can_issue ? "możliwe" : "wstrzymane");
  tile("t-issue", s.can_issue ? "ok" : "bad");
  const ul = $("s-problems"); ul.replaceChildren();
  for (const p of s.problems || []) { const li = document.createElement("li"); li.textContent = p.message; ul.append(li); }

  const up = (s.ksef && s.ksef.uplink) || null;
  const alarms = (up && up.alarms) || [];
  if (s.nearest_deadline) {
    const days = daysBetween(s.nearest_deadline, now);
    text("s-deadline", new Date(s.nearest_deadline + "T12:00:00").toLocaleDateString("pl-PL"));
    const overdue = days < 0 || alarms.some((a) => a.level === "overdue");
    const atRisk = days <= DEADLINE_WARN_DAYS || alarms.some((a) => a.level === "at_risk");
    text("s-deadline-note", overdue ? "Termin minął — wyślij faktury do KSeF!" :
      days === 0 ? "Dziś mija termin wysyłki" : atRisk ? "Termin jutro — sprawdź połączenie z KSeF" : "za " + days + " dni");
    tile("t-deadline", overdue ? "bad" : atRisk ? "warn" : "ok");
  } else {
    text("s-deadline", "brak"); text("s-deadline-note", "Wszystkie faktury są w KSeF."); tile("t-deadline", "ok");
  }

  const q = $("s-queue").tBodies[0]; q.replaceChildren();
  for (const [k, v] of Object.entries(s.queue || {})) {
    const tr = q.insertRow(); tr.insertCell().textContent = STATE_PL[k] || k; tr.insertCell().textContent = v;
  }

  const reach = (s.ksef && s.ksef.reachability) || "unknown";
  const avail = up ? up.ksef_availability : null;
  const sysWarn = (s.ksef && s.ksef.system_warning) || null;  // KSeF's X-System-Warning header, if it sent one
  text("s-ksef", REACH_PL[reach] || reach);
  text("s-ksef-detail", "środowisko: " + (s.ksef ? s.ksef.environment : "?") +
    (avail ? " · Latarnia: " + (AVAIL_PL[avail] || avail) : "") + (up ? " · tryb: " + up.mode : " · wysyłka wyłączona") +
    (sysWarn ? " · komunikat KSeF: " + sysWarn.warnings.map(w => w.message).join("; ") : ""));
  tile("t-ksef", reach === "reachable" && !sysWarn ? "ok" : reach === "unknown" && !sysWarn ? "" : "warn");

  const c = s.certificate || {};
  const certType = c.type || "nieznany typ";  // what the signer holds: never assumed
  text("s-cert", certType + " · ważny do " + (c.not_after ? new Date(c.not_after).toLocaleDateString("pl-PL") : "?"));
  text("s-cert-detail", "nr " + c.serial + " · NIP " + (c.nip || "—") + " · klucz: " + c.backend +
    " · zostało dni: " + c.days_left + ((c.warnings || []).length ? " · " + c.warnings.join("; ") : ""));
  tile("t-cert", c.days_left < 0 || c.type !== "Offline" ? "bad" : c.days_left <= 30 || (c.warnings || []).length ? "warn" : "ok");

  const clk = s.clock || {};
  text("s-clock", SYNC_PL[clk.sync] || clk.sync);
  text("s-clock-detail", "czas urządzenia: " + fmtTime(clk.now));
  tile("t-clock", clk.sync === "synchronized" ? "ok" : "warn");

  const pr = s.printer || {};
  const prState = String(pr.state || "");
  text("s-printer", prState === "ok" ? "gotowa" : prState === "not_configured" ? "nie skonfigurowano" : prState);
  const pq = pr.queue || {};
  text("s-printer-detail", Object.entries(pq).filter(([, v]) => v).map(([k, v]) => (PRINT_PL[k] || k) + ": " + v).join(" · ") || "");
  tile("t-printer", prState === "ok" ? "ok" : prState.startsWith("error") ? "bad" : "warn");

  if (up && up.last_error) {
    text("s-uplink-error", up.last_error + " (" + fmtTime(up.last_error_at) + ")");
    tile("t-uplink", "warn");
  } else {
    text("s-uplink-error", up ? "brak błędów" + (up.last_success ? " · ostatnia wysyłka " + fmtTime(up.last_success) : "")
      : "wysyłka do KSeF nie działa (brak tokenu KSeF lub wyłączona)");
    tile("t-uplink", up ? "ok" : "warn");
  }

  showBackup(s.backup || {});

  await refreshRecent();
  text("s-updated", "Aktualizacja: " + now.toLocaleTimeString("pl-PL"));
}

function fmtAge(seconds) {
  if (seconds == null) return "—";
  if (seconds < 120) return Math.round(seconds) + " s";
  if (seconds < 7200) return Math.round(seconds / 60) + " min";
  if (seconds < 172800) return Math.round(seconds / 3600) + " godz.";
  return Math.round(seconds / 86400) + " dni";
}

// Backups ([backup]): the age of the last good one; amber when unsent invoices are in no backup (alarm).
function showBackup(b) {
  if (!b.configured) {
    text("s-backup", "nie skonfigurowano");
    text("s-backup-detail", "kopie tylko ręcznie: ksef-edge backup create");
    tile("t-backup", "");
    return;
  }
  text("s-backup", b.last_backup_at ? "ostatnia " + fmtAge(b.age_s) + " temu" : "brak kopii");
  const parts = [];
  if (b.unprotected_invoices) parts.push("faktur bez kopii (jeszcze nie w KSeF): " + b.unprotected_invoices);
  if (b.alarm || !b.last_backup_at) parts.push(b.message);
  if (b.last_error) parts.push("błąd ostatniej kopii: " + b.last_error);
  parts.push("nośnik: " + b.dir);
  text("s-backup-detail", parts.join(" · "));
  tile("t-backup", b.alarm || b.last_error ? "warn" : "ok");
}

async function refreshRecent() {
  let items = [];
  try { items = (await apiJson("/v1/invoices?order=desc&limit=" + RECENT_N)).items; } catch (_) { return; }
  const body = $("recent").tBodies[0]; body.replaceChildren();
  for (const inv of items) {
    const tr = body.insertRow();
    tr.className = inv.state;
    tr.insertCell().textContent = inv.number;
    const st = tr.insertCell(); st.textContent = STATE_SHORT[inv.state] || inv.state; st.title = STATE_PL[inv.state] || "";
    const k = tr.insertCell(); k.className = "ksef"; k.textContent = inv.ksef_number || "—";
    tr.insertCell().textContent = inv.deadline ? inv.deadline.split("-").reverse().join(".") : "—";
    const p = tr.insertCell(); p.textContent = PRINT_SHORT[inv.print_state] || inv.print_state; p.title = PRINT_PL[inv.print_state] || "";
    const u = tr.insertCell(); u.className = "act";
    if (inv.upo_available) {
      const b = document.createElement("button"); b.type = "button"; b.textContent = "UPO"; b.className = "upo";
      b.addEventListener("click", () => openUpo(inv.id));
      u.append(b);
    } else if (inv.rejection) {
      u.append(inv.rejection.reason || "odrzucona");
    } else { u.append("—"); }
    if (inv.kind !== "KOR") { // a correction is corrected through its original
      const b = document.createElement("button"); b.type = "button"; b.textContent = "Korekta"; b.className = "kor";
      b.setAttribute("aria-label", "Korekta faktury " + inv.number);
      b.addEventListener("click", () => openCorrection(inv.id));
      u.append(b);
    }
  }
}

async function openUpo(id) {
  try {
    const blob = await (await api("/v1/invoices/" + id + "/upo.xml")).blob();
    window.open(URL.createObjectURL(new Blob([blob], { type: "text/xml" })), "_blank");
  } catch (e) { text("s-updated", "UPO niedostępne: " + e.message); }
}

// ----------------------------------------------------------------------------- korekta (returns)

function fieldNote(e) { return e.field ? " (pole: " + e.field + ")" : ""; }
function decimalPln(text) {  // "-12.30" -> "12,30 zł" (the amount refunded)
  const v = parseAmount(String(text).replace(/^-/, ""), 2);
  return v === null ? String(text) + " zł" : formatPln(v);
}

async function openCorrection(id) {
  kor = null;
  show("korekta");
  $("k-form").hidden = false; $("k-result").hidden = true;
  $("k-number").textContent = "…"; $("k-info").textContent = ""; $("k-error").textContent = "";
  $("k-lines").tBodies[0].replaceChildren();
  $("k-full").checked = false;
  $("k-submit").disabled = true;
  try {
    const [inv, lines] = await Promise.all([apiJson("/v1/invoices/" + id), apiJson("/v1/invoices/" + id + "/lines")]);
    kor = { inv, lines, key: null, inputs: [], changeInputs: [] };
  } catch (e) {
    $("k-error").textContent = "Nie można skorygować tej faktury: " + e.message + fieldNote(e);
    return;
  }
  const { inv, lines } = kor;
  $("k-number").textContent = inv.number;
  $("k-info").textContent = "wystawiona " + inv.issue_date.split("-").reverse().join(".") +
    " · " + (STATE_PL[inv.state] || inv.state) + " · razem " + decimalPln(inv.totals ? inv.totals.gross : "?") +
    (lines.corrections ? " · wcześniejsze korekty: " + lines.corrections : "") +
    " · ceny " + (lines.price_kind === "net" ? "netto" : "brutto");
  const body = $("k-lines").tBodies[0];
  for (const l of lines.lines) {
    const tr = body.insertRow();
    tr.insertCell().textContent = l.line_no;
    const n = tr.insertCell(); n.className = "n"; n.textContent = l.name + " (" + l.vat_rate + (/^\d+$/.test(l.vat_rate) ? "%" : "") + ")";
    tr.insertCell().textContent = l.quantity.replace(".", ",") + " " + l.unit;
    tr.insertCell().textContent = l.remaining_quantity.replace(".", ",");
    tr.insertCell().textContent = decimalPln(l.current_unit_price);
    const c = tr.insertCell();
    const inp = document.createElement("input");
    inp.inputMode = "decimal"; inp.placeholder = "0"; inp.dataset.lineNo = l.line_no; inp.id = "k-qty-" + l.line_no;
    inp.setAttribute("aria-label", "zwracana ilość: " + l.name);
    inp.disabled = Number(l.remaining_quantity) === 0;
    inp.addEventListener("input", korChanged);
    c.append(inp);
    kor.inputs.push(inp);
  }
  if (!lines.returnable) $("k-error").textContent = "Wszystko z tej faktury zostało już zwrócone.";
  $("k-submit").disabled = !lines.returnable;
}

function korChanged() {
  if (!kor) return;
  kor.key = null; // another request from now on
  kor.lines.lines.forEach((l, i) => {
    const inp = kor.inputs[i];
    inp.classList.remove("invalid");
    inp.disabled = $("k-full").checked || Number(l.remaining_quantity) === 0;
  });
  $("k-error").textContent = "";
}

function correctionBody() {
  const body = { reason: $("k-reason").value.trim(), refund_method: document.querySelector("input[name=k-refund]:checked").value };
  kor.changeInputs = [];
  if ($("k-full").checked) { body.full_return = true; return body; }
  body.changes = [];
  for (const inp of kor.inputs) {
    const v = plainDecimal(inp.value);
    if (inp.disabled || v === "" || parseAmount(v, 6) === 0) continue;
    if (parseAmount(v, 6) === null) throw Object.assign(new Error("Ilość: liczba, np. 1 lub 0,5."), { input: inp });
    body.changes.push({ line_no: Number(inp.dataset.lineNo), returned_quantity: v });
    kor.changeInputs.push(inp);
  }
  if (!body.changes.length) throw new Error("Wpisz zwracaną ilość przy co najmniej jednej pozycji albo zaznacz zwrot całości.");
  return body;
}

async function submitCorrection(ev) {
  ev.preventDefault();
  if (!kor) return;
  let body;
  try { body = correctionBody(); } catch (e) {
    $("k-error").textContent = e.message;
    if (e.input) { e.input.classList.add("invalid"); e.input.focus(); }
    return;
  }
  const btn = $("k-submit");
  btn.disabled = true; btn.textContent = "Wystawiam…";
  $("k-error").textContent = "";
  kor.key = kor.key || newKey(); // a retry after a timeout reuses it: never two corrections
  try {
    const k = await apiJson("/v1/invoices/" + kor.inv.id + "/corrections", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": kor.key },
      body: JSON.stringify(body),
    });
    showCorrection(k);
  } catch (e) {
    if (e.status && e.status < 500 && e.status !== 408) kor.key = null; // refused: nothing stored
    $("k-error").textContent = "Nie wystawiono korekty: " + e.message + fieldNote(e);
    const m = /^changes\[(\d+)\]/.exec(e.field || "");
    const inp = m ? kor.changeInputs[Number(m[1])] : null;
    if (inp) { inp.classList.add("invalid"); inp.focus(); }
    if (e.field === "reason") $("k-reason").classList.add("invalid");
  } finally {
    btn.textContent = "Wystaw korektę";
    btn.disabled = false;
  }
}

async function showCorrection(k) {
  $("k-form").hidden = true; $("k-result").hidden = false;
  $("k-r-number").textContent = k.number;
  $("k-r-original").textContent = (k.corrects && k.corrects.number) || kor.inv.number;
  $("k-r-refund").textContent = k.totals ? decimalPln(k.totals.gross) : "—";
  $("k-r-print").textContent = PRINT_PL[k.print_state] || k.print_state;
  $("k-r-error").textContent = "";
  try {
    const blob = await (await api("/v1/invoices/" + k.id + "/receipt.png")).blob();
    if (korReceiptUrl) URL.revokeObjectURL(korReceiptUrl);
    korReceiptUrl = URL.createObjectURL(blob);
    $("k-receipt").src = korReceiptUrl;
  } catch (e) { $("k-r-error").textContent = "Podgląd paragonu niedostępny: " + e.message; }
  for (let i = 0; i < 30 && !["printed", "failed"].includes(k.print_state); i++) {
    await new Promise((r) => setTimeout(r, 1000));
    try { k = await apiJson("/v1/invoices/" + k.id); } catch (_) { continue; }
    $("k-r-print").textContent = PRINT_PL[k.print_state] || k.print_state;
  }
}

function closeCorrection() {
  kor = null;
  if (location.hash === "#status") show("status"); else location.hash = "#status";
}

// ---------------------------------------------------------------------------------------- start

async function start() {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => logout(""));
  $("manual-form").addEventListener("submit", addManual);
  $("issue").addEventListener("click", issue);
  $("reprint").addEventListener("click", reprint);
  $("new-sale").addEventListener("click", newSale);
  $("r-correct").addEventListener("click", () => { if (current) openCorrection(current.id); });
  $("k-form").addEventListener("submit", submitCorrection);
  $("k-full").addEventListener("change", korChanged);
  $("k-reason").addEventListener("input", () => { $("k-reason").classList.remove("invalid"); korChanged(); });
  for (const r of document.querySelectorAll("input[name=k-refund]")) r.addEventListener("change", korChanged);
  $("k-cancel").addEventListener("click", closeCorrection);
  $("k-done").addEventListener("click", closeCorrection);
  for (const id of ["buyer-nip", "buyer-name"]) $(id).addEventListener("input", () => { pendingKey = null; updateIssueButton(); });
  window.addEventListener("hashchange", route);
  try { products = await (await fetch("/ui/products.json")).json(); } catch (_) { products = []; }
  renderProducts();
  renderCart();
  route();
}

document.addEventListener("DOMContentLoaded", start);
