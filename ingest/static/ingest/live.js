/* Live updates: one EventSource per page on the project's stream, asking
 * only for the jobs the page shows. A progress event moves the bar in place;
 * an event whose version is newer than the element's (a transition) makes
 * htmx fetch the element again, so badges, buttons and results come from the
 * server. While the stream is down, active rows poll every 2 s instead (their
 * hx-trigger asks ingestPolling()). Each job event is announced as
 * ingest:job-changed, for an open dialog to follow. */

import { fileSize, liveElements, refresh } from "./common.js";

const ACTIVE = ["queued", "running", "cancelling"];
const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";

const live = { source: null, connected: false, mode: "", retry: null, followed: new Set(), latest: new Map() };
window.ingestPolling = function () { return !live.connected; };

export function streamRoot() { return document.querySelector("[data-stream-url]"); }
function watchedIds() {
  const ids = Array.from(document.querySelectorAll("[data-live-job]"), (el) => el.dataset.liveJob);
  return Array.from(new Set(ids));
}

function setMode(mode) {
  live.mode = mode;
  const words = { stream: "Live", polling: "Refreshing every 2 s", "": "" };
  document.querySelectorAll("[data-live-indicator]").forEach((indicator) => {
    indicator.dataset.mode = mode;
    const text = indicator.querySelector("[data-live-text]");
    if (text) text.textContent = words[mode] || "";
  });
}

function connect() {
  const root = streamRoot();
  if (!root) return;
  clearTimeout(live.retry);
  if (live.source) live.source.close();
  if (!window.EventSource) { setMode("polling"); return; }
  const ids = watchedIds();
  const params = new URLSearchParams({ jobs: ids.join(",") });
  if (root.dataset.streamNew) params.set("new", "1");
  const source = new EventSource(root.dataset.streamUrl + "?" + params.toString());
  live.source = source;
  live.followed = new Set(ids);
  source.addEventListener("open", () => {
    live.connected = true;
    setMode("stream");
    catchUp();
  });
  source.addEventListener("error", () => {
    live.connected = false;
    setMode("polling");
    // A refused stream (503, 404) is not retried by the browser itself.
    if (source.readyState === EventSource.CLOSED) live.retry = setTimeout(connect, 5000);
  });
  source.addEventListener("job", (event) => {
    let data;
    try { data = JSON.parse(event.data); } catch (error) { return; }
    onJobEvent(data);
  });
}

// Whatever happened while no stream was open is fetched once.
function catchUp() {
  document.querySelectorAll("[data-live-job]").forEach((el) => {
    if (ACTIVE.includes(el.dataset.status)) refresh(el);
  });
}

// The newest state the stream announced for each job. An element older
// than that is fetched again, also right after a refresh lands: a refresh
// that was queued behind one in flight is lost when that one replaces its
// element, and this catches up instead.
function remember(data) {
  const known = live.latest.get(data.job);
  if (!known || data.version >= known.version) {
    live.latest.set(data.job, { version: data.version, itemsDone: data.items_done, deleted: data.deleted });
  }
}

function isBehind(el) {
  const known = live.latest.get(el.dataset.liveJob);
  if (!known) return false;
  if (known.deleted || known.version > Number(el.dataset.version)) return true;
  return "refreshOnItems" in el.dataset && known.itemsDone > Number(el.dataset.itemsDone);
}

function onJobEvent(data) {
  if (data.action === "create") live.followed.add(data.job);
  remember(data);
  const elements = liveElements(data.job);
  if (!elements.length) {
    if (data.action === "create" && !data.deleted) addRow(data.job);
    return;
  }
  elements.forEach((el) => {
    if (data.deleted && el.matches("tr")) { el.remove(); return; }
    if (data.version < Number(el.dataset.version)) return; // older than the page
    if (isBehind(el)) refresh(el);
    updateProgress(el, data);
  });
  announce(data.job);
}

function updateProgress(el, data) {
  const box = el.querySelector("[data-progress]");
  if (!box) return;
  const percent = Math.max(0, Math.min(100, data.percent));
  box.querySelector("[data-progress-fill]").style.width = percent + "%";
  box.querySelector("[data-progress-bar]").setAttribute("aria-valuenow", String(percent));
  box.querySelector("[data-progress-percent]").textContent = percent + "%";
  // Files that made it, and those that failed, as the server writes them.
  const failed = data.items_failed || 0;
  const files = box.querySelector("[data-progress-files]");
  files.firstChild.textContent =
    (data.items_done - failed) + " of " + data.items_total + " file" + (data.items_total === 1 ? "" : "s");
  files.querySelector("[data-progress-failed]").textContent = failed ? ", " + failed + " failed" : "";
  box.classList.toggle("progress-with-failures", failed > 0);
  box.querySelector("[data-progress-bytes]").textContent = fileSize(data.bytes_done) + " of " + fileSize(data.bytes_total);
  el.dataset.itemsDone = data.items_done;
  el.dataset.itemsTotal = data.items_total;
  updateReading(el, data);
}

// The file being read (the job page's row marked data-reading): its bytes
// are the job's bytes_done less what the files finished before it add up to.
function updateReading(el, data) {
  const row = el.querySelector("[data-reading]");
  if (!row) return;
  const size = Number(row.dataset.size);
  const read = Math.max(0, Math.min(size, data.bytes_done - Number(row.dataset.bytesBefore)));
  row.querySelector("[data-reading-fill]").style.width = (size ? Math.floor((read * 100) / size) : 0) + "%";
  row.querySelector("[data-reading-bar]").setAttribute("aria-valuenow", String(read));
  row.querySelector("[data-reading-text]").textContent = fileSize(read) + " of " + fileSize(size);
}

export async function addRow(jobId) {
  const root = streamRoot();
  const rows = document.querySelector("[data-job-rows]");
  if (!root || !rows || !root.dataset.rowUrl || document.getElementById("job-" + jobId)) return;
  let html = "";
  try {
    const response = await fetch(root.dataset.rowUrl.replace(PLACEHOLDER_ID, jobId), { credentials: "same-origin" });
    if (response.ok) html = (await response.text()).trim();
  } catch (error) {
    return;
  }
  if (!html || document.getElementById("job-" + jobId)) return;
  const template = document.createElement("template");
  template.innerHTML = html;
  const row = template.content.firstElementChild;
  if (!row) return;
  const empty = rows.querySelector("[data-empty-row]");
  if (empty) empty.remove();
  rows.prepend(row);
  row.classList.add("is-new");
  if (window.htmx) window.htmx.process(row);
  applyMode(row);
  // A row the open stream does not follow yet (created while it was
  // reconnecting) needs a stream that asks for it.
  if (live.connected && !live.followed.has(jobId)) connect();
}

function applyMode(el) {
  el.querySelectorAll("[data-live-indicator]").forEach((indicator) => { indicator.dataset.mode = live.mode; });
  setMode(live.mode);
}

function announce(jobId) {
  document.dispatchEvent(new CustomEvent("ingest:job-changed", { detail: { job: jobId } }));
}

export function start() {
  document.addEventListener("htmx:load", (event) => {
    const el = event.detail && event.detail.elt;
    if (el && el.dataset && el.dataset.liveJob) {
      applyMode(el);
      if (isBehind(el)) refresh(el);
      announce(el.dataset.liveJob);
    }
  });
  connect();
}
