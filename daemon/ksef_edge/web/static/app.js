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

const SALE_KEY = "ksef-edge-sale";
const HEALTH_EVERY_MS = 5000;
const ISSUE_TIMEOUT_MS = 20000;
// Polish for every refusal/problem code the API can answer (the API keeps English for integrators).
const CODE_PL = {
  body_too_large: "Za dużo pozycji naraz — podziel sprzedaż na dwie faktury.",
  clock_behind: "Zegar urządzenia cofnął się — wezwij serwis, aby ustawić datę i godzinę.",
  clock_unsynchronized: "Zegar nie jest zsynchronizowany — sprawdź połączenie z internetem lub wezwij serwis.",
  certificate_expired: "Certyfikat KSeF wygasł — właściciel musi zainstalować nowy.",
  certificate_not_yet_valid: "Certyfikat KSeF nie jest jeszcze ważny — sprawdź datę urządzenia.",
  correction_of_correction: "Korekty nie można skorygować — skoryguj fakturę pierwotną.",
  duplicate_key: "Pole podane dwa razy — to błąd kasy, zgłoś serwisowi.",
  empty: "Pole nie może być puste.",
  float_not_allowed: "Kwota w złym formacie — to błąd kasy, zgłoś serwisowi.",
  http_error: "Urządzenie odrzuciło zapytanie — spróbuj ponownie.",
  idempotency_conflict: "Ta sprzedaż była już wysłana z inną zawartością — zacznij nową sprzedaż.",
  internal: "Błąd urządzenia — spróbuj ponownie; jeśli się powtarza, wezwij serwis.",
  invalid_amount: "Nieprawidłowa kwota lub ilość.",
  invalid_buyer: "Błędne dane nabywcy.",
  invalid_characters: "Niedozwolone znaki w tekście.",
  invalid_correction: "Korekty nie można wystawić z tymi danymi.",
  invalid_date: "Nieprawidłowa data.",
  invalid_encoding: "Nieprawidłowe kodowanie znaków — to błąd kasy, zgłoś serwisowi.",
  invalid_idempotency_key: "Błąd kasy (klucz sprzedaży) — zacznij nową sprzedaż.",
  invalid_invoice: "Faktury nie można wystawić z tymi danymi.",
  invalid_json: "Błąd kasy (dane) — odśwież stronę.",
  invalid_nip: "Błędny NIP nabywcy.",
  invalid_payment_method: "Nieznana forma płatności.",
  invalid_query: "Błędne zapytanie — odśwież stronę.",
  invalid_vat_rate: "Nieznana stawka VAT.",
  method_not_allowed: "Błędne zapytanie — odśwież stronę.",
  missing_field: "Brakuje wymaganego pola.",
  missing_idempotency_key: "Błąd kasy (klucz sprzedaży) — odśwież stronę.",
  mixed_price_kinds: "Wszystkie ceny muszą być brutto albo wszystkie netto.",
  no_printer: "Nie skonfigurowano drukarki.",
  no_technical_correction: "Ta faktura nie ma korekty technicznej.",
  no_upo: "KSeF nie wydał jeszcze UPO dla tej faktury.",
  not_found: "Nie znaleziono faktury.",
  original_not_correctable: "Tej faktury nie można skorygować na urządzeniu.",
  original_not_reproducible: "Tej faktury nie można skorygować na urządzeniu (brak danych pierwotnych).",
  out_of_range: "Wartość poza dozwolonym zakresem.",
  receipt_unavailable: "Podgląd paragonu niedostępny.",
  schema_error: "Błąd urządzenia przy tworzeniu faktury — nic nie zapisano; wezwij serwis.",
  storage_full: "Pamięć urządzenia pełna — nic nie zapisano; wezwij serwis.",
  store_unavailable: "Baza faktur niedostępna — wezwij serwis.",
  too_long: "Tekst za długi.",
  too_many_lines: "Za dużo pozycji na jednej fakturze.",
  unauthorized: "Token nie pasuje — zaloguj się ponownie.",
  unknown_field: "Błąd kasy (nieznane pole) — zgłoś serwisowi.",
  unprintable_text: "Drukarka nie wydrukuje tego tekstu — użyj liter lub cyfr.",
  unsupported_media_type: "Błąd kasy (format) — odśwież stronę.",
  wrong_type: "Błąd kasy (typ danych) — zgłoś serwisowi.",
};
const FIELD_PL = { name: "nazwa", quantity: "ilość", unit: "jednostka", unit_price_gross: "cena", unit_price_net: "cena netto",
  vat_rate: "stawka VAT", nip: "NIP", address: "adres", exemption_basis: "podstawa zwolnienia", payment: "płatność",
  method: "forma płatności", reason: "przyczyna", returned_quantity: "zwracana ilość", lines: "pozycje", buyer: "nabywca" };

const $ = (id) => document.getElementById(id);
let products = [];
// The sale: one Idempotency-Key from its start to "Nowa sprzedaż", kept with the cart in localStorage, so a
// second tap, a double-click, a reload or a retry after a lost answer can never issue a second invoice.
// {key, cart: [{name, qty, price, vat, unit, basis}], closed: bool, invoiceId, uncertain: bool}
let sale = null;
let cart = [];
let busy = false;
let current = null;     // the last issued invoice (API JSON)
let pollTimer = null;
let statusTimer = null;
let healthTimer = null;
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

function fieldPl(field) {
  // "lines[1].name" -> "pozycja 2: nazwa"; "buyer.nip" -> "nabywca: NIP"
  if (!field) return "";
  const m = /^(lines|changes)\[(\d+)\]\.?(.*)$/.exec(field);
  if (m) return "pozycja " + (Number(m[2]) + 1) + (m[3] ? ": " + (FIELD_PL[m[3]] || m[3]) : "");
  return field.split(".").map((p) => FIELD_PL[p] || p).join(": ");
}
// What a cashier reads for a failed call: Polish text for the code and the field; never a raw exception.
function errorPl(e) {
  if (!(e instanceof ApiError)) return "Brak połączenia z urządzeniem — sprawdź sieć i spróbuj ponownie.";
  const text = CODE_PL[e.code] || (e.status >= 500 ? CODE_PL.internal : "Urządzenie odmówiło (kod " + (e.code || e.status) + ").");
  return text + (e.field ? " (" + fieldPl(e.field) + ")" : "");
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
  for (const v of ["login", "kasa", "status", "korekta", "ksiegi"]) $("view-" + v).hidden = v !== view;
  $("tab-ksiegi").classList.toggle("active", view === "ksiegi");
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
  show(location.hash === "#status" ? "status" : location.hash === "#ksiegi" ? "ksiegi" : "kasa");
  if (!products.length) loadCatalogue();
  clearInterval(healthTimer);
  refreshHealth();
  healthTimer = setInterval(refreshHealth, HEALTH_EVERY_MS);
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
    showTill((await apiJson("/v1/status")).till);
    $("login-token").value = "";
    $("login-error").textContent = "";
    if (!location.hash || location.hash === "#") location.hash = "#kasa"; else route();
  } catch (e) {
    if (e.status !== 401) $("login-error").textContent = errorPl(e);
  }
}

// ------------------------------------------------------------------------------ problems in sight

function hhmm(iso) { return iso ? fmtTime(iso) : ""; }  // Warsaw time with its date: an outage may span midnight
function plural(n, one, few, many) {
  if (n === 1) return one;
  return n % 10 >= 2 && n % 10 <= 4 && (n % 100 < 10 || n % 100 >= 20) ? few : many;
}

// Every current problem as {level: "bad"|"warn", title, todo, short}; worst first.
function problemsOf(s) {
  const out = [];
  const add = (level, short, title, todo) => out.push({ level, short, title, todo });
  for (const p of s.problems || []) {
    add("bad", "wystawianie wstrzymane", "Nie można wystawiać faktur.", CODE_PL[p.code] || "Wezwij serwis (kod " + p.code + ").");
  }
  const pr = s.printer || {};
  const ps = pr.status || {};
  const failed = (pr.queue || {}).failed || 0;
  if (ps.fault === "paper_out") add("bad", "brak papieru", "Brak papieru w drukarce.", "Włóż nową rolkę — paragony wydrukują się same.");
  else if (ps.fault === "cover_open") add("bad", "drukarka otwarta", "Pokrywa drukarki jest otwarta.", "Zamknij pokrywę — paragony wydrukują się same.");
  else if (ps.fault === "unreachable" || ps.fault === "offline" || ps.fault === "printer_error" || String(pr.state || "").startsWith("error")) {
    add("bad", "drukarka nie działa", "Drukarka nie drukuje.", "Sprawdź zasilanie, kabel i papier; paragony czekają w kolejce.");
  }
  if (failed) add("bad", "paragon niewydrukowany", failed + " " + plural(failed, "paragon nie został wydrukowany", "paragony nie zostały wydrukowane", "paragonów nie wydrukowano") + ".",
    "Wydrukuj ponownie z zakładki Status (przycisk przy fakturze) i wręcz klientowi.");
  const up = (s.ksef && s.ksef.uplink) || null;
  const alarms = (up && up.alarms) || [];
  if (s.nearest_deadline) {
    const days = daysBetween(s.nearest_deadline, new Date());
    const date = s.nearest_deadline.split("-").reverse().join(".");
    if (days < 0 || alarms.some((a) => a.level === "overdue")) add("bad", "termin KSeF minął", "Termin wysyłki faktur do KSeF minął (" + date + ").", "Przywróć internet albo wezwij serwis dziś.");
    else if (days <= DEADLINE_WARN_DAYS || alarms.some((a) => a.level === "at_risk")) {
      add("warn", days === 0 ? "termin KSeF dziś" : "termin KSeF jutro", (days === 0 ? "Dziś" : "Jutro") + " mija termin wysyłki faktur do KSeF (" + date + ").", "Sprawdź połączenie z internetem.");
    }
  }
  if (alarms.some((a) => a.level === "rejected")) add("bad", "faktura odrzucona", "KSeF odrzucił fakturę.", "Zgłoś właścicielowi — potrzebna korekta techniczna (Status).");
  if (s.ksef && s.ksef.reachability === "unreachable") {
    const since = up && up.last_success ? " Ostatnia udana wysyłka: " + hhmm(up.last_success) + "." : up && up.last_error_at ? " Od " + hhmm(up.last_error_at) + "." : "";
    add("warn", "brak KSeF", "Brak połączenia z KSeF." + since, "Wystawiaj dalej — faktury wyślą się same po powrocie połączenia.");
  }
  const c = s.certificate || {};
  if (c.days_left != null && c.days_left < 0) add("bad", "certyfikat wygasł", "Certyfikat KSeF wygasł.", "Właściciel musi zainstalować nowy certyfikat.");
  else if (c.days_left != null && c.days_left <= 30) add("warn", "certyfikat wygasa", "Certyfikat KSeF wygasa za " + c.days_left + " " + plural(c.days_left, "dzień", "dni", "dni") + ".", "Właściciel powinien zamówić nowy w KSeF.");
  if (s.clock && s.clock.sync === "unsynchronized") add("warn", "zegar", "Zegar urządzenia nie jest zsynchronizowany.", "Sprawdź internet; jeśli trwa, wezwij serwis.");
  if (ps.paper === "near_end" && !ps.fault) add("warn", "kończy się papier", "Kończy się papier w drukarce.", "Przygotuj nową rolkę.");
  const b = s.backup || {};
  if (b.configured && (b.alarm || b.last_error)) add("warn", "kopia zapasowa", "Kopia zapasowa jest nieaktualna.", "Sprawdź nośnik kopii (pendrive) albo wezwij serwis.");
  return out.sort((a, b2) => (a.level === b2.level ? 0 : a.level === "bad" ? -1 : 1));
}

function showProblems(list) {
  const pill = $("health"), banner = $("banner");
  if (!list.length) {
    pill.textContent = "gotowe"; pill.className = "pill ok"; banner.hidden = true; return;
  }
  const worst = list[0];
  pill.textContent = worst.short + (list.length > 1 ? " +" + (list.length - 1) : "");
  pill.className = "pill " + worst.level;
  banner.hidden = false;
  banner.className = "banner " + worst.level;
  $("banner-title").textContent = worst.title;
  $("banner-todo").textContent = worst.todo;
  $("banner-more").textContent = list.length > 1 ? "Także: " + list.slice(1).map((p) => p.short).join(", ") + "." : "";
}

// named tills: the header says which till's token this browser uses (ksef-edge till add NAME)
function showTill(name) {
  const el = $("till-name");
  el.textContent = name ? "Kasa: " + name : "";
  el.hidden = !name;
}

async function refreshHealth() {
  try {
    const s = await apiJson("/v1/status");
    showTill(s.till);
    showProblems(problemsOf(s));
    return s;
  } catch (e) {
    if (e.status !== 401) showProblems([{ level: "bad", short: "brak połączenia", title: "Brak połączenia z urządzeniem.", todo: "Sprawdź, czy urządzenie jest włączone i podłączone do sieci." }]);
    return null;
  }
}

// ---------------------------------------------------------------------------------------- kasa

function rateText(vat) { return /^\d+$/.test(vat) ? vat + "%" : vat; }

async function loadCatalogue() {
  try {
    const c = await apiJson("/v1/catalogue");
    products = c.products || [];
    const errs = c.errors || [];
    $("catalogue-error").textContent = errs.length ? "Lista towarów: " + errs.slice(0, 3).map((e) =>
      (e.line ? "wiersz " + e.line + (e.field ? ", kolumna " + e.field : "") + ": " : "") + e.message).join(" · ") +
      (errs.length > 3 ? " (i " + (errs.length - 3) + " więcej)" : "") : "";
  } catch (_) { /* keep the last list */ }
  renderProducts();
}

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
    price.textContent = formatPln(parseAmount(p.price, 2)) + (p.unit && p.unit !== "szt" ? "/" + p.unit : "") + " · VAT " + rateText(p.vat);
    b.append(price);
    b.addEventListener("click", () => addLine(p.name, "1", p.price, p.vat, p.unit || "szt", p.exemption_basis || null));
    box.append(b);
  }
  box.classList.toggle("locked", saleLocked());
}

// ------------------------------------------------------------------------------------------ sale

function saveSale() {
  sale.cart = cart;
  sale.buyer = { nip: $("buyer-nip").value, name: $("buyer-name").value, address: $("buyer-address").value };
  sale.pay = (document.querySelector("input[name=pay]:checked") || {}).value || "card";
  localStorage.setItem(SALE_KEY, JSON.stringify(sale));
}
function startSale() { sale = { key: newKey(), cart: [], closed: false, invoiceId: null, uncertain: false }; cart = sale.cart; }
function restoreSale() {
  try { sale = JSON.parse(localStorage.getItem(SALE_KEY) || "null"); } catch (_) { sale = null; }
  if (!sale || !sale.key) { startSale(); return; }
  cart = sale.cart || [];
  const b = sale.buyer || {};
  $("buyer-nip").value = b.nip || ""; $("buyer-name").value = b.name || ""; $("buyer-address").value = b.address || "";
  const r = document.querySelector("input[name=pay][value=" + (sale.pay || "card") + "]");
  if (r) r.checked = true;
  if (b.nip || b.name || b.address) $("buyer").open = true;
}
// Closed (issued) or possibly issued (answer lost): the cart cannot change, only the same request can be retried.
function saleLocked() { return !!sale && (sale.closed || sale.uncertain); }
function lockInputs() {
  const locked = saleLocked();
  for (const id of ["buyer-nip", "buyer-name", "buyer-address", "m-name", "m-qty", "m-price", "m-rate", "m-unit", "m-basis"]) $(id).disabled = locked;
  for (const r of document.querySelectorAll("input[name=pay]")) r.disabled = locked;
  for (const b of document.querySelectorAll("#products button, #manual-form button")) b.disabled = locked;
  $("products").classList.toggle("locked", locked);
}

function addLine(name, qty, price, vat, unit, basis) {
  if (saleLocked()) return;
  const same = cart.find((l) => l.name === name && l.price === price && l.vat === vat && l.unit === unit);
  if (same) same.qty = String((parseAmount(same.qty, 3) + parseAmount(qty, 3)) / 1000);
  else cart.push({ name, qty, price, vat, unit, basis });
  saveSale();
  renderCart();
}

function renderCart() {
  const body = $("cart").tBodies[0];
  body.replaceChildren();
  let total = 0;
  const locked = saleLocked();
  cart.forEach((l, i) => {
    const tr = body.insertRow();
    const n = tr.insertCell(); n.className = "n";
    n.textContent = l.name + " (" + rateText(l.vat) + ")";
    const q = tr.insertCell(); q.className = "amt qty";
    const qtyText = l.qty.replace(".", ",") + " " + (l.unit || "szt");
    if (locked) q.append(qtyText);
    else {
      const minus = document.createElement("button"); minus.type = "button"; minus.textContent = "−";
      minus.setAttribute("aria-label", "mniej: " + l.name);
      minus.addEventListener("click", () => changeQty(i, -1));
      const plus = document.createElement("button"); plus.type = "button"; plus.textContent = "+";
      plus.setAttribute("aria-label", "więcej: " + l.name);
      plus.addEventListener("click", () => changeQty(i, 1));
      const span = document.createElement("span"); span.className = "q"; span.textContent = qtyText;
      q.append(minus, span, plus);
    }
    const a = tr.insertCell(); a.className = "amt";
    a.textContent = formatPln(lineGrosze(l));
    total += lineGrosze(l);
  });
  $("cart-empty").hidden = cart.length > 0;
  $("cart-total").textContent = formatPln(total);
  const last = body.rows[body.rows.length - 1];
  if (last) last.scrollIntoView({ block: "nearest" });
  lockInputs();
  updateIssueButton();
}

function changeQty(i, delta) {
  if (saleLocked()) return;
  const q = parseAmount(cart[i].qty, 3) + delta * 1000;
  if (q <= 0) cart.splice(i, 1); else cart[i].qty = String(q / 1000);
  saveSale();
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
  const needNip = cart.some((l) => l.vat === "oo") && nip !== "ok";
  const summary = [normalizeNip($("buyer-nip").value), $("buyer-name").value.trim()].filter(Boolean).join(" · ");
  $("buyer-summary").textContent = summary ? "— " + summary : "";
  const btn = $("issue");
  btn.disabled = busy || !sale || sale.closed || cart.length === 0 || nip === "bad" || nip === "partial" || needName || needNip;
  btn.textContent = busy ? "Wystawiam…" : sale && sale.closed ? "Wystawiono — Nowa sprzedaż poniżej" :
    sale && sale.uncertain ? "Ponów wystawienie (ta sama sprzedaż)" : "Wystaw fakturę";
  if (sale && sale.closed) return;
  if (needName || needNip || nip === "bad" || nip === "partial") $("buyer").open = true;
  if (!busy && !(sale && sale.uncertain)) {
    $("issue-error").textContent = needName ? "Podaj nazwę nabywcy (wymagana przy NIP)." :
      needNip ? "Odwrotne obciążenie (oo) wymaga NIP nabywcy." : "";
  }
}

function addManual(ev) {
  ev.preventDefault();
  const name = $("m-name").value.trim();
  const qty = parseAmount($("m-qty").value, 3), price = parseAmount($("m-price").value, 2);
  const vat = $("m-rate").value, basis = $("m-basis").value.trim();
  if (!name) { $("m-error").textContent = "Podaj nazwę."; return; }
  if (!qty) { $("m-error").textContent = "Ilość: liczba większa od zera, np. 1 lub 0,25."; return; }
  if (price === null) { $("m-error").textContent = "Cena: kwota w złotych, np. 12,90."; return; }
  if (vat === "zw" && !basis) { $("m-error").textContent = "Przy stawce zw podaj podstawę zwolnienia."; return; }
  $("m-error").textContent = "";
  addLine(name, plainDecimal($("m-qty").value), plainDecimal($("m-price").value), vat, $("m-unit").value, vat === "zw" ? basis : null);
  $("m-name").value = ""; $("m-price").value = ""; $("m-qty").value = "1";
}

function requestBody() {
  const body = {
    lines: cart.map((l) => ({ name: l.name, quantity: l.qty, unit: l.unit || "szt", unit_price_gross: l.price, vat_rate: l.vat })),
    payment: { method: document.querySelector("input[name=pay]:checked").value },
  };
  const bases = [...new Set(cart.filter((l) => l.vat === "zw").map((l) => l.basis).filter(Boolean))];
  if (bases.length) body.exemption_basis = bases.join("; ");
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
  if (busy || !sale || sale.closed) return; // a second tap or a double-click while the first is on its way
  busy = true;
  saveSale();
  updateIssueButton();
  $("issue-error").textContent = "";
  try {
    const inv = await apiJson("/v1/invoices", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": sale.key },
      body: JSON.stringify(requestBody()),
      signal: AbortSignal.timeout(ISSUE_TIMEOUT_MS),  // no answer: the outcome is unknown, the same sale may be retried
    });
    sale.closed = true; sale.uncertain = false; sale.invoiceId = inv.id;
    saveSale();
    showResult(inv);
  } catch (e) {
    const refused = e instanceof ApiError && e.status >= 400 && e.status < 500 && e.status !== 408 && e.status !== 409;
    if (refused) { sale.key = newKey(); sale.uncertain = false; } // nothing was stored: the corrected sale is a new request
    else if (!(e instanceof ApiError && e.status === 409)) sale.uncertain = true; // maybe stored: only the same request may follow
    saveSale();
    $("issue-error").textContent = (refused || (e instanceof ApiError && e.status === 409) ? "Nie wystawiono: " + errorPl(e) :
      "Nie wiadomo, czy faktura powstała (" + errorPl(e) + "). Dotknij „Ponów wystawienie” — ta sama sprzedaż nie da drugiej faktury.");
  } finally {
    busy = false;
    renderCart();
    renderProducts();
  }
}

function showResult(inv) {
  current = inv;
  $("result").hidden = false;
  $("r-number").textContent = inv.number;
  renderResultState(inv);
  loadReceipt(inv.id);
  pollInvoice(inv.id);
  renderCart();
  $("result").scrollIntoView({ behavior: "smooth", block: "start" });
  refreshHealth();
}

function renderResultState(inv) {
  $("r-state").textContent = STATE_PL[inv.state] || inv.state;
  $("r-print").textContent = PRINT_PL[inv.print_state] || inv.print_state;
  $("r-print").dataset.state = inv.print_state;
  $("r-print-error").textContent = inv.print_state === "failed" ? "Paragon nie wydrukował się — dotknij „Drukuj ponownie”." :
    inv.print_state === "failed_retrying" ? "Drukarka nie drukuje — sprawdź papier i pokrywę; paragon wydrukuje się sam." : "";
}

async function loadReceipt(id) {
  try {
    const blob = await (await api("/v1/invoices/" + id + "/receipt.png")).blob();
    if (receiptUrl) URL.revokeObjectURL(receiptUrl);
    receiptUrl = URL.createObjectURL(blob);
    $("r-receipt").src = receiptUrl;
  } catch (e) {
    $("r-print-error").textContent = "Podgląd paragonu niedostępny: " + errorPl(e);
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
    if (tries < 120) pollTimer = setTimeout(tick, 1000);
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
    $("r-print-error").textContent = "Nie można wydrukować ponownie: " + errorPl(e);
  }
}

function newSale() {
  startSale();
  current = null;
  for (const id of ["buyer-nip", "buyer-name", "buyer-address"]) $(id).value = "";
  $("buyer").open = false;
  $("issue-error").textContent = "";
  $("result").hidden = true;
  saveSale();
  renderCart();
  renderProducts();
  window.scrollTo(0, 0);
}

async function resumeSale() {
  // after a reload: a closed sale shows its invoice again; an open one just has its cart back
  if (sale.closed && sale.invoiceId) {
    try { showResult(await apiJson("/v1/invoices/" + sale.invoiceId)); } catch (_) { /* shown on the next action */ }
  }
}

// -------------------------------------------------------------------------------------- status

function tile(id, level) { const t = $(id); t.classList.remove("ok", "warn", "bad"); if (level) t.classList.add(level); }
// Dates: ONE format on the whole page, DD.MM.YYYY (08.12.2026), as Polish invoices and KSeF print it, always
// in Warsaw time whatever the browser's zone. Written out by hand: toLocaleDateString("pl-PL") drops the
// leading zero (8.12.2026), and the browser's own "today" is not the Polish civil date of a deadline.
const WARSAW = new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Warsaw", year: "numeric", month: "2-digit",
  day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
function warsawParts(instant) {
  const p = {};
  for (const part of WARSAW.formatToParts(instant)) p[part.type] = part.value;
  return p;
}
function fmtDate(isoDate) {  // a civil date "2026-12-08" (P_1, a deadline) -> "08.12.2026"
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(isoDate || ""));
  return m ? m[3] + "." + m[2] + "." + m[1] : "—";
}
function warsawDate(instant) {  // the Polish civil date of an instant, "2026-12-08"
  const p = warsawParts(instant);
  return p.year + "-" + p.month + "-" + p.day;
}
function fmtInstantDate(iso) { return iso ? fmtDate(warsawDate(new Date(iso))) : "—"; }
function fmtClock(instant) { const p = warsawParts(instant); return p.hour + ":" + p.minute + ":" + p.second; }
function fmtTime(iso) {  // an instant -> "08.12.2026 14:05:09" (Warsaw)
  return iso ? fmtInstantDate(iso) + " " + fmtClock(new Date(iso)) : "—";
}
function dayNumber(isoDate) { const [y, m, d] = isoDate.split("-").map(Number); return Date.UTC(y, m - 1, d) / 86400000; }
function daysBetween(isoDate, now) { return dayNumber(isoDate) - dayNumber(warsawDate(now)); }
function text(id, value) { $(id).textContent = value == null ? "—" : String(value); }

async function refreshStatus() {
  let s;
  try { s = await apiJson("/v1/status"); } catch (e) { text("s-updated", "Błąd odświeżania: " + errorPl(e)); return; }
  const now = new Date();

  text("s-can-issue", s.can_issue ? "możliwe" : "wstrzymane");
  tile("t-issue", s.can_issue ? "ok" : "bad");
  const ul = $("s-problems"); ul.replaceChildren();
  for (const p of s.problems || []) { const li = document.createElement("li"); li.textContent = CODE_PL[p.code] || ("kod " + p.code); ul.append(li); }

  const up = (s.ksef && s.ksef.uplink) || null;
  const alarms = (up && up.alarms) || [];
  if (s.nearest_deadline) {
    const days = daysBetween(s.nearest_deadline, now);
    text("s-deadline", fmtDate(s.nearest_deadline));
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
  text("s-cert", certType + " · ważny do " + (c.not_after ? fmtInstantDate(c.not_after) : "?"));
  text("s-cert-detail", "nr " + c.serial + " · NIP " + (c.nip || "—") + " · klucz: " + c.backend +
    " · zostało dni: " + c.days_left + ((c.warnings || []).length ? " · uwagi: " + c.warnings.length + " (ksef-edge cert show)" : ""));
  tile("t-cert", c.days_left < 0 || c.type !== "Offline" ? "bad" : c.days_left <= 30 || (c.warnings || []).length ? "warn" : "ok");

  const clk = s.clock || {};
  text("s-clock", SYNC_PL[clk.sync] || clk.sync);
  text("s-clock-detail", "czas urządzenia: " + fmtTime(clk.now));
  tile("t-clock", clk.sync === "synchronized" ? "ok" : "warn");

  const pr = s.printer || {};
  const prState = String(pr.state || "");
  const pst = pr.status || {};
  const fault = pst.fault ? { paper_out: "brak papieru", cover_open: "otwarta pokrywa", offline: "wyłączona (offline)",
    printer_error: "błąd mechanizmu", unreachable: "nie odpowiada" }[pst.fault] || pst.fault : null;
  text("s-printer", fault || (prState === "ok" ? "gotowa" : prState === "not_configured" ? "nie skonfigurowano" :
    prState.startsWith("error") ? "nie drukuje" : prState.startsWith("printing") ? "drukuje" : prState));
  const pq = pr.queue || {};
  text("s-printer-detail", [pst.paper === "near_end" ? "kończy się papier" : "", ...Object.entries(pq).filter(([, v]) => v)
    .map(([k, v]) => (PRINT_PL[k] || k) + ": " + v)].filter(Boolean).join(" · "));
  tile("t-printer", fault || prState.startsWith("error") || pq.failed ? "bad" : prState === "ok" || prState.startsWith("printing") ? (pst.paper === "near_end" ? "warn" : "ok") : "warn");

  if (up && up.last_error && reach !== "reachable") {  // details stay in the daemon log: no raw exception here
    text("s-uplink-error", "Nie udało się wysłać do KSeF (" + fmtTime(up.last_error_at) + "). Faktury czekają i wyślą się same.");
    tile("t-uplink", "warn");
  } else {
    text("s-uplink-error", up ? "brak błędów" + (up.last_success ? " · ostatnia wysyłka " + fmtTime(up.last_success) : "")
      : "wysyłka do KSeF nie działa (brak tokenu KSeF lub wyłączona)");
    tile("t-uplink", up ? "ok" : "warn");
  }

  showBackup(s.backup || {});

  await refreshRecent();
  text("s-updated", "Aktualizacja: " + fmtClock(now));
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
  if (b.alarm || !b.last_backup_at) parts.push("kopia nieaktualna — sprawdź nośnik");
  if (b.last_error) parts.push("ostatnia kopia nie powiodła się");
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
    tr.insertCell().textContent = fmtDate(inv.deadline);
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
  } catch (e) { text("s-updated", "UPO niedostępne: " + errorPl(e)); }
}

// ----------------------------------------------------------------------------- korekta (returns)

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
    $("k-error").textContent = "Nie można skorygować tej faktury: " + errorPl(e);
    return;
  }
  const { inv, lines } = kor;
  $("k-number").textContent = inv.number;
  $("k-info").textContent = "wystawiona " + fmtDate(inv.issue_date) +
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
    $("k-error").textContent = "Nie wystawiono korekty: " + errorPl(e);
    const m = /^changes\[(\d+)\]/.exec(e.field || "");
    const inp = m ? kor.changeInputs[Number(m[1])] : null;
    if (inp) { inp.classList.add("invalid"); inp.focus(); }
    const line = inp ? kor.lines.lines.find((l) => String(l.line_no) === inp.dataset.lineNo) : null;
    if (line && /returned_quantity$/.test(e.field || "")) {  // say what is allowed, from the lines the page holds
      $("k-error").textContent = "Nie wystawiono korekty: pozycja " + line.line_no + " — można zwrócić najwyżej " +
        line.remaining_quantity.replace(".", ",") + " " + line.unit + ".";
    }
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
  } catch (e) { $("k-r-error").textContent = "Podgląd paragonu niedostępny: " + errorPl(e); }
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
  for (const id of ["buyer-nip", "buyer-name", "buyer-address"]) $(id).addEventListener("input", () => { saveSale(); updateIssueButton(); });
  for (const r of document.querySelectorAll("input[name=pay]")) r.addEventListener("change", saveSale);
  $("m-rate").addEventListener("change", () => { $("m-basis-label").hidden = $("m-rate").value !== "zw"; });
  window.addEventListener("hashchange", route);
  restoreSale();
  renderCart();
  route();
  setInterval(() => { if (token()) loadCatalogue(); }, 15000);  // the owner's edits show without a reload
  await resumeSale();
}

// the sticky bar's height (it wraps on a narrow screen) keeps whatever the page scrolls to below it (app.css)
function trackBarHeight() {
  document.documentElement.style.setProperty("--bar-h", document.querySelector(".bar").offsetHeight + "px");
}
window.addEventListener("resize", trackBarHeight);

document.addEventListener("DOMContentLoaded", trackBarHeight);
document.addEventListener("DOMContentLoaded", start);
