/* Ingest dashboard: the upload form, live job updates and the confirmation
 * dialogs. Plain JavaScript next to htmx; no build step.
 *
 * Live updates: one EventSource per page on the project's stream, asking
 * only for the jobs the page shows. A progress event moves the bar in place;
 * an event whose version is newer than the element's (a transition) makes
 * htmx fetch the element again, so badges, buttons and results come from the
 * server. While the stream is down, active rows poll every 2 s instead (their
 * hx-trigger asks ingestPolling()).
 *
 * Actions are htmx forms: the upload form and the confirmation dialogs post
 * with hx-post, and the server answers with a partial (a notice, a refusal,
 * a cleanup report) and an HX-Trigger event this script follows:
 * ingest:done (close the dialog, refresh or remove the job's elements) or
 * ingest:refused (show the refusal; a job gone takes its row along).
 */
(function () {
  "use strict";

  const ACTIVE = ["queued", "running", "cancelling"];
  const PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000";

  // The same text as Django's filesizeformat, so a live update and a server
  // render of the same numbers read alike.
  function fileSize(bytes) {
    const units = [["PB", 1024 ** 5], ["TB", 1024 ** 4], ["GB", 1024 ** 3], ["MB", 1024 ** 2], ["KB", 1024]];
    for (const [unit, size] of units) {
      if (bytes >= size) return (bytes / size).toFixed(1) + "\u00a0" + unit;
    }
    return bytes + "\u00a0byte" + (bytes === 1 ? "" : "s");
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function notify(message, kind) {
    const box = document.getElementById("notices");
    if (!box) return;
    const notice = document.createElement("p");
    notice.className = "notice" + (kind === "error" ? " notice-error" : "");
    notice.textContent = message;
    box.replaceChildren(notice);
  }

  // What a response that is none of the dashboard's own answers means.
  function unexpected(status, url) {
    if (url && url.includes("/login/")) return "Your session has ended. Reload the page and log in again.";
    if (status === 403) return "The server refused the request. Reload the page and try again.";
    return "The server answered unexpectedly (status " + status + "). Reload the page and try again.";
  }

  // --- live updates ------------------------------------------------------------

  const live = { source: null, connected: false, mode: "", retry: null, followed: new Set(), latest: new Map() };
  window.ingestPolling = function () { return !live.connected; };

  function streamRoot() { return document.querySelector("[data-stream-url]"); }
  function liveElements(jobId) { return document.querySelectorAll('[data-live-job="' + jobId + '"]'); }
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

  function refresh(el) {
    if (window.htmx) window.htmx.trigger(el, "job:refresh");
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
    updateOpenDialog(data.job);
  }

  function updateProgress(el, data) {
    const box = el.querySelector("[data-progress]");
    if (!box) return;
    const percent = Math.max(0, Math.min(100, data.percent));
    box.querySelector("[data-progress-fill]").style.width = percent + "%";
    box.querySelector("[data-progress-bar]").setAttribute("aria-valuenow", String(percent));
    box.querySelector("[data-progress-percent]").textContent = percent + "%";
    box.querySelector("[data-progress-files]").textContent =
      data.items_done + " of " + data.items_total + " file" + (data.items_total === 1 ? "" : "s");
    box.querySelector("[data-progress-bytes]").textContent = fileSize(data.bytes_done) + " of " + fileSize(data.bytes_total);
    el.dataset.itemsDone = data.items_done;
    el.dataset.itemsTotal = data.items_total;
  }

  async function addRow(jobId) {
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

  // --- upload ----------------------------------------------------------------------

  function extensionOf(name) {
    const base = name.split(/[\\/]/).pop();
    const dot = base.lastIndexOf(".");
    return dot > 0 ? base.slice(dot).toLowerCase() : "";
  }

  function uploadLimits(form) {
    return {
      maxFileBytes: Number(form.dataset.maxFileBytes),
      maxFiles: Number(form.dataset.maxFiles),
      maxTotalBytes: Number(form.dataset.maxTotalBytes),
      // Text is judged by its content whatever its name, so only names that
      // are never text nor a kind the server reads are refused here.
      refused: form.dataset.refused.split(","),
      supported: form.dataset.supported,
    };
  }

  function fileProblem(file, limits) {
    const ext = extensionOf(file.name);
    if (ext && limits.refused.includes(ext)) {
      return ext + " files are not accepted; send " + limits.supported + ".";
    }
    if (file.size === 0) return "This file is empty.";
    if (file.size > limits.maxFileBytes) {
      return "Too large: the limit is " + fileSize(limits.maxFileBytes) + " per file.";
    }
    return "";
  }

  function uploadProblems(files, limits) {
    const problems = [];
    const refused = files.filter((file) => fileProblem(file, limits));
    if (refused.length === 1) problems.push(refused[0].name + ": " + fileProblem(refused[0], limits));
    if (refused.length > 1) problems.push(plural(refused.length, "file") + " cannot be sent; see the list below.");
    if (files.length > limits.maxFiles) {
      problems.push(plural(files.length, "file") + " chosen; a job takes at most " + limits.maxFiles + ".");
    }
    const total = files.reduce((sum, file) => sum + file.size, 0);
    if (total > limits.maxTotalBytes) {
      problems.push("The files add up to " + fileSize(total) + "; a job takes at most " + fileSize(limits.maxTotalBytes) + ".");
    }
    return problems;
  }

  function clearErrors(form) {
    form.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll(".has-error").forEach((el) => el.classList.remove("has-error"));
    form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showErrors(form, errors) {
    let first = null;
    for (const [field, messages] of Object.entries(errors)) {
      const slot = form.querySelector('[data-error-for="' + field + '"]') || form.querySelector('[data-error-for="__all__"]');
      if (!slot) continue;
      slot.textContent = [].concat(messages).join(" ");
      const input = form.querySelector('[name="' + field + '"]');
      if (input) {
        input.setAttribute("aria-invalid", "true");
        const wrapper = input.closest(".field");
        if (wrapper) wrapper.classList.add("has-error");
        const options = input.closest("details");
        if (options) options.open = true;
        first = first || input;
      }
    }
    if (first) first.focus();
  }

  function setupUpload(form) {
    const input = form.querySelector('input[type="file"]');
    const zone = form.querySelector("[data-dropzone]");
    const list = form.querySelector("[data-file-list]");
    const clear = form.querySelector("[data-upload-clear]");
    const submit = form.querySelector("[data-upload-submit]");
    const progress = form.querySelector("[data-upload-progress]");
    const limits = uploadLimits(form);

    function showFiles() {
      const files = Array.from(input.files);
      list.replaceChildren();
      list.hidden = clear.hidden = files.length === 0;
      for (const file of files) {
        const item = document.createElement("li");
        const name = document.createElement("span");
        name.className = "file-name";
        name.textContent = file.name;
        const size = document.createElement("span");
        size.className = "file-size";
        size.textContent = fileSize(file.size);
        item.append(name, size);
        const problem = fileProblem(file, limits);
        if (problem) {
          const note = document.createElement("span");
          note.className = "file-problem";
          note.textContent = problem;
          item.append(note);
        }
        list.append(item);
      }
      if (files.length > 1) {
        const summary = document.createElement("li");
        summary.className = "file-summary";
        summary.textContent = plural(files.length, "file") + " · " + fileSize(files.reduce((sum, f) => sum + f.size, 0));
        list.append(summary);
      }
      clearErrors(form);
      const problems = uploadProblems(files, limits);
      if (problems.length) showErrors(form, { files: problems });
    }

    function addFiles(dropped) {
      const merged = new DataTransfer();
      const seen = new Set();
      for (const file of [...input.files, ...dropped]) {
        const key = file.name + "/" + file.size + "/" + file.lastModified;
        if (!seen.has(key)) { seen.add(key); merged.items.add(file); }
      }
      input.files = merged.files;
      showFiles();
    }

    function busy(on, text) {
      submit.disabled = on;
      progress.hidden = !on;
      if (on) {
        progress.querySelector("progress").value = 0;
        progress.querySelector("[data-upload-progress-text]").textContent = text;
      }
    }

    function showProblems(xhr) {
      // The refusals came back in the error slots; mark their fields.
      const errors = {};
      form.querySelectorAll("[data-error-for]").forEach((slot) => {
        if (slot.textContent.trim()) errors[slot.dataset.errorFor] = [slot.textContent.trim()];
      });
      if (!Object.keys(errors).length) errors.files = [unexpected(xhr.status, xhr.responseURL)];
      showErrors(form, errors);
    }

    input.addEventListener("change", showFiles);
    clear.addEventListener("click", () => { input.value = ""; showFiles(); input.focus(); });
    ["dragenter", "dragover"].forEach((type) => zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("is-dragging");
    }));
    ["dragleave", "dragend"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("is-dragging")));
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("is-dragging");
      if (event.dataTransfer && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
    });

    form.addEventListener("htmx:beforeRequest", (event) => {
      clearErrors(form);
      const files = Array.from(input.files);
      if (!files.length) {
        event.preventDefault();
        showErrors(form, { files: ["Choose one or more files to upload, or drop them on the box above."] });
        return;
      }
      const problems = uploadProblems(files, limits);
      if (problems.length) { event.preventDefault(); showErrors(form, { files: problems }); return; }
      busy(true, "Uploading…");
    });
    form.addEventListener("htmx:xhr:progress", (event) => {
      if (!event.detail.lengthComputable || progress.hidden) return;
      const percent = Math.round((event.detail.loaded * 100) / event.detail.total);
      progress.querySelector("progress").value = percent;
      progress.querySelector("[data-upload-progress-text]").textContent =
        percent < 100 ? "Uploading… " + percent + "%" : "Checking the files…";
    });
    form.addEventListener("htmx:afterRequest", (event) => {
      busy(false);
      const xhr = event.detail.xhr;
      if (xhr.status >= 400 || !isOurs(xhr)) showProblems(xhr);
    });
    form.addEventListener("htmx:sendError", () => {
      busy(false);
      showErrors(form, { files: ["The upload did not reach the server. Check your connection and try again."] });
    });
    form.addEventListener("ingest:done", (event) => {
      form.reset();
      showFiles();
      if (streamRoot() && streamRoot().dataset.streamNew) addRow(event.detail.job);
    });
  }

  // --- confirmation dialogs --------------------------------------------------------

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
    const source = opener.closest("[data-live-job]");
    if (!dialog || !source) return;
    const form = dialog.querySelector("form");
    form.reset();
    form.action = opener.dataset.action;
    form.setAttribute("hx-post", opener.dataset.action);
    if (window.htmx) window.htmx.process(form);
    dialog.dataset.jobId = source.dataset.liveJob;
    dialog.querySelector("[data-dialog-error]").textContent = "";
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

  // --- htmx answers ----------------------------------------------------------------

  function isOurs(xhr) {
    return /ingest:/.test(xhr.getResponseHeader("HX-Trigger") || "");
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

  function dialogOf(event) {
    const elt = event.detail.elt;
    return elt && elt.closest ? elt.closest("dialog") : null;
  }

  // --- start ---------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const opener = event.target.closest("[data-open-dialog]");
    if (opener) {
      if (!opener.disabled) openDialog(opener);
      return;
    }
    const closer = event.target.closest("[data-close-dialog]");
    if (closer) closer.closest("dialog").close();
  });

  document.addEventListener("ingest:done", onDone);
  document.addEventListener("ingest:refused", onRefused);
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

  document.addEventListener("htmx:load", (event) => {
    const el = event.detail && event.detail.elt;
    if (el && el.dataset && el.dataset.liveJob) {
      applyMode(el);
      if (isBehind(el)) refresh(el);
      updateOpenDialog(el.dataset.liveJob);
    }
  });

  document.querySelectorAll("dialog").forEach((dialog) => {
    dialog.addEventListener("close", () => restoreFocus(dialog));
  });
  const uploadForm = document.getElementById("upload-form");
  if (uploadForm) setupUpload(uploadForm);
  connect();
})();
