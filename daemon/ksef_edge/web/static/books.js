// ksef-edge page, tab "Raporty" (day report and search): the day report, finding an old invoice, its PDF and a
// duplicate reprint. Uses app.js's api(), $(), errorPl() and STATE_SHORT; text always via textContent.
"use strict";

const RATE_PL = { "23": "23%", "8": "8%", "5": "5%", "0": "0%", zw: "zw", np: "np", oo: "oo (odwrotne obciążenie)" };
const PAY_PL = { cash: "gotówka", card: "karta", transfer: "przelew", unknown: "inna" };
let booksBefore = null;

function plMoney(text) { return String(text).replace(".", ",") + " zł"; }
function todayWarsaw() { return warsawDate(new Date()); }
function cell(tr, text) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; }

async function loadDayReport(ev) {
  if (ev) ev.preventDefault();
  const day = $("d-date").value || todayWarsaw();
  $("d-date").value = day;
  $("d-error").textContent = "";
  try {
    const r = await apiJson("/v1/reports/day?date=" + encodeURIComponent(day));
    const kv = $("d-summary").tBodies[0];
    kv.textContent = "";
    const rows = [["Faktury", r.invoices], ["Korekty", r.corrections],
      ["Numery", r.first_number ? r.first_number + " … " + r.last_number : "—"],
      ["Razem brutto", plMoney(r.totals.gross)],
      ...Object.entries(r.by_payment).map(([m, v]) => ["  " + (PAY_PL[m] || m), plMoney(v)]),
      ["Czeka na KSeF", r.waiting_for_ksef.count],
      ["Najbliższy termin wysyłki", r.nearest_deadline ? fmtDate(r.nearest_deadline) : "—"]];
    for (const [k, v] of rows) { const tr = kv.insertRow(); cell(tr, k); cell(tr, String(v)); }
    const body = $("d-rates").tBodies[0];
    body.textContent = "";
    for (const [rate, a] of Object.entries(r.by_rate)) {
      const tr = body.insertRow();
      cell(tr, RATE_PL[rate] || rate); cell(tr, plMoney(a.net)); cell(tr, plMoney(a.vat)); cell(tr, plMoney(a.gross));
    }
  } catch (e) { $("d-error").textContent = errorPl(e); }
}

async function printDayReport() {
  $("d-error").textContent = "";
  const day = $("d-date").value || todayWarsaw();
  try {
    await api("/v1/reports/day/print?date=" + encodeURIComponent(day), { method: "POST" });
    $("d-error").textContent = "Raport wysłany do drukarki.";
  } catch (e) { $("d-error").textContent = errorPl(e); }
}

function searchParams() {
  const p = new URLSearchParams();
  const add = (k, id) => { const v = $(id).value.trim(); if (v) p.set(k, v); };
  add("number", "f-number"); add("nip", "f-nip"); add("name", "f-name"); add("from", "f-from"); add("to", "f-to");
  add("amount", "f-amount"); add("state", "f-state");
  p.set("limit", "20");
  return p;
}

async function openPdf(id, copy) {
  try {
    const blob = await (await api("/v1/invoices/" + id + ".pdf" + (copy ? "?copy=1" : ""))).blob();
    window.open(URL.createObjectURL(blob), "_blank");
  } catch (e) { $("f-error").textContent = errorPl(e); }
}

async function reprintCopy(id, number) {
  try {
    await api("/v1/invoices/" + id + "/reprint", { method: "POST" });
    $("f-note").textContent = "Duplikat faktury " + number + " wysłany do drukarki.";
  } catch (e) { $("f-error").textContent = errorPl(e); }
}

async function openInvoice(h) {
  $("f-error").textContent = "";
  try {
    const inv = await apiJson("/v1/invoices/" + h.id);
    const kors = await apiJson("/v1/invoices/" + h.id + "/corrections");
    $("fd-number").textContent = h.number;
    $("fd-ksef").textContent = inv.ksef_number || "jeszcze nie nadany";
    $("fd-upo").textContent = inv.upo_available ? "jest (przycisk UPO)" : "jeszcze nie ma";
    $("fd-corrections").textContent = (kors.items || []).map((k) => k.number).join(", ") || "brak";
    const png = await (await api("/v1/invoices/" + h.id + "/receipt.png?copy=1")).blob();
    $("fd-receipt").src = URL.createObjectURL(png);
    $("f-detail").hidden = false;
  } catch (e) { $("f-error").textContent = errorPl(e); }
}

async function runSearch(ev, more) {
  if (ev) ev.preventDefault();
  $("f-error").textContent = ""; $("f-note").textContent = "";
  const p = searchParams();
  if (more && booksBefore) p.set("before", String(booksBefore));
  try {
    const r = await apiJson("/v1/search/invoices?" + p.toString());
    const body = $("f-results").tBodies[0];
    if (!more) body.textContent = "";
    for (const h of r.invoices) {
      const tr = body.insertRow();
      cell(tr, h.number + (h.kind === "KOR" ? " (korekta)" : "") + (h.receipt_no ? " · do paragonu " + h.receipt_no : ""));
      cell(tr, fmtDate(h.issue_date)); cell(tr, (h.buyer_name || "") + (h.buyer_nip ? " · NIP " + h.buyer_nip : ""));
      cell(tr, plMoney(h.gross)); cell(tr, STATE_SHORT[h.state] || h.state);
      cell(tr, h.ksef_number || "—").className = "ksef";
      const act = cell(tr, ""); act.className = "act";
      const pdf = document.createElement("button"); pdf.type = "button"; pdf.textContent = "PDF";
      pdf.addEventListener("click", () => openPdf(h.id, false));
      const dup = document.createElement("button"); dup.type = "button"; dup.textContent = "Drukuj duplikat";
      dup.addEventListener("click", () => reprintCopy(h.id, h.number));
      const open = document.createElement("button"); open.type = "button"; open.textContent = "Pokaż";
      open.addEventListener("click", () => openInvoice(h));
      act.append(open, pdf, dup);
      if (h.state === "confirmed") {
        const upo = document.createElement("button"); upo.type = "button"; upo.textContent = "UPO";
        upo.addEventListener("click", async () => {
          const blob = await (await api("/v1/invoices/" + h.id + "/upo.xml")).blob();
          window.open(URL.createObjectURL(blob), "_blank");
        });
        act.append(upo);
      }
    }
    booksBefore = r.next_before;
    $("f-more").hidden = !r.next_before;
    if (!more && !r.invoices.length) $("f-note").textContent = "Nic nie znaleziono — zmień warunki wyszukiwania.";
  } catch (e) { $("f-error").textContent = errorPl(e); }
}

document.addEventListener("DOMContentLoaded", () => {
  $("d-form").addEventListener("submit", loadDayReport);
  $("d-print").addEventListener("click", printDayReport);
  $("f-form").addEventListener("submit", (ev) => runSearch(ev, false));
  $("f-more").addEventListener("click", () => runSearch(null, true));
  $("tab-ksiegi").addEventListener("click", () => setTimeout(loadDayReport, 0));
  if (location.hash === "#ksiegi") setTimeout(loadDayReport, 0);
});

Object.assign(CODE_PL, {  // the codes of this tab's calls, in plain Polish (app.js holds the others)
  invalid_query: "Błędny warunek — popraw zaznaczone pole.",
  not_found: "Nie ma takiej faktury na tym urządzeniu.",
  no_printer: "Nie ustawiono drukarki — raport można tylko obejrzeć.",
  pdf_font_missing: "Brak czcionki do PDF na urządzeniu — wezwij serwis.",
  stored_document_unreadable: "Jednej z faktur nie da się odczytać — wezwij serwis.",
  nip_not_on_receipt: "NIP nabywcy nie był na paragonie — fakturę z NIP-em można wystawić tylko do paragonu z NIP-em.",
  invalid_fiscal_receipt: "Błędne dane paragonu — sprawdź numer paragonu i numer unikatowy kasy.",
});
Object.assign(FIELD_PL, { nip: "NIP", name: "nazwa", number: "numer", from: "od", to: "do", amount: "kwota", state: "stan" });
