/* The confirmation dialogs: one of each kind per page, filled from the job it
 * was opened for and kept up to date while open. Each dialog's form posts
 * with htmx; the server answers with a partial and an HX-Trigger event:
 * ingest:done (close the dialog, refresh or remove the job's elements; a
 * cleanup shows its report instead) or ingest:refused (the refusal lands in
 * the dialog; a job gone takes its row along). */

import { isOurs, liveElements, plural, refresh, unexpected } from "./common.js";

function fill(dialog, name, text) {
  dialog.querySelectorAll('[data-fill="' + name + '"]').forEach((el) => { el.textContent = text; });
}

function fillCancel(dialog, source) {
  const done = Number(source.dataset.itemsDone);
  const total = Number(source.dataset.itemsTotal);
  const confirm = dialog.querySelector("[data-confirm-button]");
  const status = source.dataset.status;
  confirm.disabled = !["queued", "running"].includes(status);
  if (status === "queued") {
    fill(dialog, "summary", "It has not started: it leaves the queue at once.");
    fill(dialog, "kept", "Nothing has been processed yet, so nothing is lost.");
    fill(dialog, "dropped", "All " + plural(total, "file") + ".");
  } else if (status === "running") {
    fill(dialog, "summary", dialog.dataset.cancellingNote);
    fill(dialog, "kept", done + " of " + plural(total, "file") + " finished so far, with the documents they produced.");
    fill(dialog, "dropped", "The other " + plural(total - done, "file") + "; the file being read now is rolled back whole.");
  } else {
    fill(dialog, "summary", "This job is already " + status + "; there is nothing left to cancel.");
    fill(dialog, "kept", done + " of " + plural(total, "file") + " and their documents.");
    fill(dialog, "dropped", "—");
  }
}

function fillDialog(dialog, source) {
  fill(dialog, "name", source.dataset.name);
  dialog.querySelector(".dialog-title").title = source.dataset.name; // clamped when long
  if (dialog.id === "cancel-dialog") fillCancel(dialog, source);
}

function updateOpenDialog(jobId) {
  const dialog = document.querySelector("dialog[open]");
  if (!dialog || dialog.dataset.jobId !== jobId || dialog.dataset.busy) return;
  const source = document.querySelector('[data-live-job="' + jobId + '"]');
  if (source) fillDialog(dialog, source);
}

function setBusy(dialog, on) {
  if (!dialog) return;
  const confirm = dialog.querySelector("[data-confirm-button]");
  confirm.disabled = on;
  if (on) dialog.dataset.busy = "1"; else delete dialog.dataset.busy;
}

function openDialog(opener) {
  const dialog = document.getElementById(opener.dataset.openDialog);
  const source = opener.closest("[data-live-job], [data-dialog-source]");
  if (!dialog || !source) return;
  const form = dialog.querySelector("form");
  form.reset();
  form.action = opener.dataset.action;
  // The job dialogs post with htmx; a plain one (a member's removal) as a form.
  if (form.hasAttribute("hx-post")) {
    form.setAttribute("hx-post", opener.dataset.action);
    if (window.htmx) window.htmx.process(form);
  }
  dialog.dataset.jobId = source.dataset.liveJob || "";
  dialog.opener = opener;
  const error = dialog.querySelector("[data-dialog-error]");
  if (error) error.textContent = "";
  setBusy(dialog, false);
  const ask = dialog.querySelector("[data-cleanup-ask]");
  if (ask) {
    fill(dialog, "cleanup-title", dialog.dataset.title);
    ask.hidden = false;
    dialog.querySelector("[data-cleanup-result]").hidden = true;
    dialog.querySelector("[data-confirm-button]").hidden = false;
  }
  fillDialog(dialog, source);
  dialog.showModal();
}

// Rows are replaced by live refreshes, so focus goes back to the button
// that now stands where the opener stood.
function restoreFocus(dialog) {
  const jobId = dialog.dataset.jobId;
  if (!jobId) {
    if (dialog.opener && dialog.opener.isConnected) dialog.opener.focus();
    return;
  }
  const target =
    document.querySelector('[data-live-job="' + jobId + '"] [data-open-dialog="' + dialog.id + '"]:not(:disabled)') ||
    document.querySelector('[data-live-job="' + jobId + '"] a, [data-live-job="' + jobId + '"] button:not(:disabled)') ||
    document.getElementById("main");
  if (target) target.focus();
}

// The report itself is the server's partial, swapped into the result box.
function showCleanupResult(dialog) {
  dialog.querySelector("[data-cleanup-ask]").hidden = true;
  dialog.querySelector("[data-cleanup-result]").hidden = false;
  dialog.querySelector("[data-confirm-button]").hidden = true;
  fill(dialog, "cleanup-title", "Cleanup done");
  dialog.querySelector("[data-close-dialog]").focus();
}

function onDone(event) {
  const { job, action } = event.detail;
  const dialog = event.target.closest("dialog");
  if (!dialog) return;
  if (action === "cleanup") {
    showCleanupResult(dialog);
    liveElements(job).forEach(refresh);
    return;
  }
  dialog.close();
  if (action === "delete") liveElements(job).forEach((el) => el.remove());
  else liveElements(job).forEach(refresh);
}

function onRefused(event) {
  const gone = event.detail.gone;
  if (gone) liveElements(gone.job).forEach((el) => { if (el.matches("tr")) el.remove(); });
}

function actionForm(el) {
  const form = el && el.closest ? el.closest("form") : null;
  return form && (form.matches("[data-confirm]") || form.id === "upload-form") ? form : null;
}

// Refusals come with a 4xx status: htmx swaps them only where the
// dashboard's own answer says so. Anything else (a login page after the
// session ended, a proxy's error) is told in words instead.
function beforeSwap(event) {
  const form = actionForm(event.detail.elt);
  if (!form) return;
  const xhr = event.detail.xhr;
  if (isOurs(xhr)) {
    event.detail.shouldSwap = true;
    event.detail.isError = false;
  } else {
    event.detail.shouldSwap = false;
    const error = form.querySelector("[data-dialog-error]");
    if (error) error.textContent = unexpected(xhr.status, xhr.responseURL);
  }
}

// In DEBUG, django-htmx's helper shows any 400, 403 or 404 answer to htmx as
// Django's error page, replacing the document. The dashboard's refusals are
// answers to show in place, so their beforeOnLoad stops here, in the capture
// phase, before that helper's listener; htmx goes on with the response.
function keepRefusalsInPlace(event) {
  if (actionForm(event.detail.elt) && isOurs(event.detail.xhr)) event.stopPropagation();
}

function dialogOf(event) {
  const elt = event.detail.elt;
  return elt && elt.closest ? elt.closest("dialog") : null;
}

export function start() {
  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      if (!opener.disabled) openDialog(opener);
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });
  document.addEventListener("ingest:job-changed", (event) => updateOpenDialog(event.detail.job));
  document.addEventListener("ingest:done", onDone);
  document.addEventListener("ingest:refused", onRefused);
  document.addEventListener("htmx:beforeOnLoad", keepRefusalsInPlace, true);
  document.addEventListener("htmx:beforeSwap", beforeSwap);
  document.addEventListener("htmx:beforeRequest", (event) => setBusy(dialogOf(event), true));
  document.addEventListener("htmx:afterRequest", (event) => setBusy(dialogOf(event), false));
  document.addEventListener("htmx:sendError", (event) => {
    const dialog = dialogOf(event);
    if (dialog) {
      dialog.querySelector("[data-dialog-error]").textContent =
        "The server could not be reached. Check your connection and try again.";
    }
  });
  document.querySelectorAll("dialog").forEach((dialog) => {
    dialog.addEventListener("close", () => restoreFocus(dialog));
  });
}
