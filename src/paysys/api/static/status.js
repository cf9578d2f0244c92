// The status page (index.html): polls /payments and /stats, asks for an API key on a 401.
"use strict";
(function () {
  // Every 2 s at most, and not at all while the tab is hidden: /stats is cached for 2 s
  // server-side anyway, and a hidden tab should cost the backend nothing.
  const POLL_MS = 2000;
  const LIMIT = 20;
  const KEY_STORAGE = "paysys.apiKey";
  const $ = (id) => document.getElementById(id);
  let waitingForKey = false;

  function storedKey() {
    try { return sessionStorage.getItem(KEY_STORAGE) || ""; } catch (e) { return ""; }
  }
  function storeKey(key) {
    try {
      if (key) sessionStorage.setItem(KEY_STORAGE, key);
      else sessionStorage.removeItem(KEY_STORAGE);
    } catch (e) { /* storage disabled: the key lives until reload */ }
    memoryKey = key;
  }
  let memoryKey = storedKey();

  class Unauthorized extends Error {}

  async function getJSON(path) {
    const headers = { Accept: "application/json" };
    if (memoryKey) headers.Authorization = "Bearer " + memoryKey;
    const response = await fetch(path, { headers, cache: "no-store" });
    if (response.status === 401) throw new Unauthorized("401");
    let body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    if (!response.ok) {
      const detail = body && body.error ? body.error.code + ": " + body.error.message : "HTTP " + response.status;
      throw new Error(path + " → " + detail);
    }
    return body;
  }

  function askForKey(reason) {
    waitingForKey = true;
    $("auth").hidden = false;
    $("auth-reason").textContent = reason;
    $("live").className = "down";
    $("live").textContent = "needs an API key";
    $("api-key").focus();
  }

  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("api-key").value.trim();
    if (!key) return;
    storeKey(key);
    $("api-key").value = "";
    $("auth").hidden = true;
    $("forget").hidden = false;
    waitingForKey = false;
    schedule(0);
  });

  $("forget").addEventListener("click", () => {
    storeKey("");
    $("forget").hidden = true;
    schedule(0);
  });

  // --- rendering --------------------------------------------------------------------------
  function text(value) { return value === null || value === undefined ? "" : String(value); }

  function shortTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return isNaN(date) ? iso : date.toLocaleTimeString([], { hour12: false }) + "." +
      String(date.getMilliseconds()).padStart(3, "0");
  }

  function cell(className, value, title) {
    const td = document.createElement("td");
    if (className) td.className = className;
    td.textContent = text(value);
    if (title) td.title = title;
    return td;
  }

  function statusCell(status) {
    const td = document.createElement("td");
    td.className = "status-cell";
    const badge = document.createElement("span");
    badge.className = "status";
    td.append(badge);
    setStatus(td, status);
    return td;
  }

  function setStatus(td, status) {
    td.dataset.status = status;
    td.firstElementChild.textContent = status;
  }

  function buildRow(payment) {
    const tr = document.createElement("tr");
    tr.dataset.paymentId = payment.id;
    tr.append(
      cell("time", shortTime(payment.created_at), payment.created_at),
      cell("id", payment.id.slice(0, 8) + "…", payment.id),
      cell("amount", payment.amount + " " + payment.currency),
      cell("description", payment.description, payment.description),
      statusCell(payment.status),
      cell("time approved", ...outcome(payment)),
    );
    return tr;
  }

  // The last column: when it was approved or canceled, or why it was declined.
  function outcome(payment) {
    if (payment.status === "Declined") return [payment.decline_reason || "", "declined: " + (payment.decline_reason || "")];
    if (payment.status === "Canceled") return ["canceled " + shortTime(payment.updated_at), payment.updated_at];
    return [shortTime(payment.approved_at), payment.approved_at || ""];
  }

  function renderPayments(payments) {
    const tbody = $("payments");
    const existing = new Map();
    for (const row of tbody.querySelectorAll("tr[data-payment-id]")) existing.set(row.dataset.paymentId, row);
    const rows = [];
    for (const payment of payments) {
      let row = existing.get(payment.id);
      if (!row) {
        row = buildRow(payment);
      } else {
        const statusTd = row.querySelector("td.status-cell");
        if (statusTd.dataset.status !== payment.status) {
          setStatus(statusTd, payment.status);
          const approved = row.querySelector("td.approved");
          [approved.textContent, approved.title] = outcome(payment);
          row.classList.remove("changed");
          void row.offsetWidth;  // restart the highlight animation
          row.classList.add("changed");
        }
      }
      rows.push(row);
    }
    if (!rows.length) {
      const empty = document.createElement("tr");
      empty.className = "placeholder";
      const td = cell("empty", "No payments yet. POST /payments to create one.");
      td.colSpan = 6;
      empty.append(td);
      rows.push(empty);
    }
    tbody.replaceChildren(...rows);
  }

  function renderStats(stats) {
    $("count-pending").textContent = text(stats.payments.Pending);
    $("count-approved").textContent = text(stats.payments.Approved);
    $("count-declined").textContent = text(stats.payments.Declined);
    $("count-canceled").textContent = text(stats.payments.Canceled);
    if (stats.queue) {  // only the operator's view (an open API) shows the platform queues
      $("queue-visible").textContent = text(stats.queue.visible);
      $("queue-in-flight").textContent = text(stats.queue.in_flight);
      $("dlq-visible").textContent = text(stats.dlq.visible);
      $("dlq-card").classList.toggle("nonzero", stats.dlq.visible > 0);
    }
    for (const id of ["queue-visible", "queue-in-flight", "dlq-card"]) {
      $(id).closest(".card").hidden = !stats.queue;
    }
    $("merchant").textContent = stats.merchant_id ? "merchant " + stats.merchant_id : "";
  }

  // --- polling: one round at a time, every POLL_MS --------------------------------------
  let timer = null;
  function schedule(delay) {
    clearTimeout(timer);
    timer = setTimeout(poll, delay);
  }

  async function poll() {
    if (waitingForKey) return;  // resumes when a key is entered
    if (document.hidden) return;  // resumes on visibilitychange
    try {
      const [list, stats, series] = await Promise.all([
        getJSON("/payments?limit=" + LIMIT), getJSON("/stats"), getJSON("/stats/series"),
      ]);
      renderPayments(list.payments);
      renderStats(stats);
      window.paysysCharts.render(series);
      $("error").hidden = true;
      $("live").className = "ok";
      $("live").textContent = "live";
      $("updated").textContent = "updated " + new Date().toLocaleTimeString([], { hour12: false });
      $("forget").hidden = !memoryKey;
    } catch (error) {
      if (error instanceof Unauthorized) {
        const hadKey = Boolean(memoryKey);
        storeKey("");
        askForKey(hadKey ? "That key was not accepted." : "");
        return;
      }
      $("error").hidden = false;
      $("error").textContent = "Cannot refresh: " + error.message;
      $("live").className = "down";
      $("live").textContent = "unavailable, retrying";
    }
    schedule(POLL_MS);
  }

  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) schedule(0);
  });
  poll();
})();
