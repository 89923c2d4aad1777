/* What the dashboard's modules share: numbers and words as the server writes
 * them, the elements that show a job, and what the server answered. */

// The same text as Django's filesizeformat, so a live update and a server
// render of the same numbers read alike.
export function fileSize(bytes) {
  const units = [["PB", 1024 ** 5], ["TB", 1024 ** 4], ["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]];
  for (const [unit, size] of units) {
    if (bytes >= size) return (bytes / size).toFixed(1) + "\u00a0" + unit;
  }
  return bytes + "\u00a0byte" + (bytes === 1 ? "" : "s");
}

export function plural(count, word) {
  return count + " " + word + (count === 1 ? "" : "s");
}

// What a response that is none of the dashboard's own answers means.
export function unexpected(status, url) {
  if (url && url.includes("/login/")) return "Your session has ended. Reload the page and log in again.";
  if (status === 403) return "The server refused the request. Reload the page and try again.";
  return "The server answered unexpectedly (status " + status + "). Reload the page and try again.";
}

// The dashboard's own answers to htmx carry an ingest:* event.
export function isOurs(xhr) {
  return /ingest:/.test(xhr.getResponseHeader("HX-Trigger") || "");
}

export function liveElements(jobId) {
  return document.querySelectorAll('[data-live-job="' + jobId + '"]');
}

export function refresh(el) {
  if (window.htmx) window.htmx.trigger(el, "job:refresh");
}
