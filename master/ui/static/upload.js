// EchoFS web UI uploader: drag-and-drop or a file picker, several files at once, each
// through the REST API's resumable chunk sessions (POST /api/v1/files/upload/init,
// PUT .../chunks/{i}, POST .../complete), with per-file progress. The session cookie
// authenticates; the page's CSRF token goes in X-CSRF-Token on every call.
"use strict";

(function () {
  var PARALLEL_PARTS = 3;
  var PART_ATTEMPTS = 3;
  var csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.content : "";
  };

  function api(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      return response.json().then(function (answer) {
        if (!response.ok) { throw new Error(answer.message || ("HTTP " + response.status)); }
        return answer.data;
      });
    });
  }

  // One part with byte-level progress (fetch has no upload progress; XHR does).
  function putPart(url, blob, onProgress) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("PUT", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.onprogress = function (event) { onProgress(event.loaded); };
      xhr.onload = function () {
        if (xhr.status >= 200 && xhr.status < 300) { onProgress(blob.size); resolve(); return; }
        var message = "HTTP " + xhr.status;
        try { message = JSON.parse(xhr.responseText).message || message; } catch (e) { /* keep */ }
        reject(new Error(message));
      };
      xhr.onerror = function () { reject(new Error("network error")); };
      xhr.send(blob);
    });
  }

  function row(list, file) {
    var item = document.createElement("li");
    item.className = "upload";
    item.dataset.name = file.name;
    var label = document.createElement("span");
    label.className = "upload-name";
    label.textContent = file.name;  // text, never HTML: names may hold markup
    var bar = document.createElement("progress");
    bar.max = 100; bar.value = 0;
    bar.setAttribute("aria-label", "upload of " + file.name);
    var status = document.createElement("span");
    status.className = "upload-status";
    status.textContent = "waiting";
    item.append(label, bar, status);
    list.appendChild(item);
    return { item: item, bar: bar, status: status };
  }

  async function uploadOne(zone, file, view) {
    var dir = zone.dataset.dir;
    var path = dir ? dir + "/" + file.name : file.name;
    var session = await api("POST", "/api/v1/files/upload/init", {
      bucket: zone.dataset.bucket, path: path, file_name: file.name, file_size: file.size
    });
    var base = "/api/v1/files/upload/" + session.session_id;
    var sent = new Array(session.total_chunks).fill(0);
    var show = function () {
      var total = sent.reduce(function (a, b) { return a + b; }, 0);
      var pct = file.size ? Math.floor(100 * total / file.size) : 100;
      view.bar.value = pct;
      view.status.textContent = pct + "%";
      view.item.dataset.progress = String(pct);
    };
    var next = 0;
    async function worker() {
      while (next < session.total_chunks) {
        var index = next++;
        var start = index * session.chunk_size;
        var blob = file.slice(start, Math.min(file.size, start + session.chunk_size));
        // Parts are idempotent: a failed one is sent again (the session keeps the others).
        for (var attempt = 1; ; attempt++) {
          try {
            await putPart(base + "/chunks/" + index, blob, function (loaded) {
              sent[index] = loaded; show();
            });
            break;
          } catch (error) {
            if (attempt >= PART_ATTEMPTS) { throw error; }
            sent[index] = 0; show();
            view.status.textContent = "retrying part " + index;
            await new Promise(function (r) { setTimeout(r, 500 * attempt); });
          }
        }
      }
    }
    var workers = [];
    for (var i = 0; i < Math.min(PARALLEL_PARTS, Math.max(1, session.total_chunks)); i++) {
      workers.push(worker());
    }
    await Promise.all(workers);
    view.status.textContent = "finishing";
    await api("POST", base + "/complete");
    view.bar.value = 100;
    view.status.textContent = "done";
    view.item.dataset.state = "done";
  }

  async function uploadAll(zone, files) {
    var list = document.getElementById("upload-list");
    var jobs = Array.prototype.map.call(files, function (file) {
      var view = row(list, file);
      return uploadOne(zone, file, view).catch(function (error) {
        view.status.textContent = "failed: " + error.message;
        view.item.dataset.state = "failed";
      });
    });
    await Promise.all(jobs);
    list.dataset.finished = String(Number(list.dataset.finished || 0) + files.length);
    // The listing, re-rendered by the server, replaces the old one in place (htmx).
    var here = window.location.pathname + window.location.search;
    if (window.htmx) {
      window.htmx.ajax("GET", here, {target: "#listing", select: "#listing", swap: "outerHTML"})
        .then(function () { list.dataset.refreshed = list.dataset.finished; });
    } else {
      var note = document.createElement("li");
      var link = document.createElement("a");
      link.href = here;
      link.textContent = "Uploads finished: show the new listing";
      note.appendChild(link);
      list.appendChild(note);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    var zone = document.getElementById("dropzone");
    if (!zone) { return; }
    var input = document.getElementById("file-input");
    zone.addEventListener("dragover", function (event) {
      event.preventDefault(); zone.classList.add("over");
    });
    zone.addEventListener("dragleave", function () { zone.classList.remove("over"); });
    zone.addEventListener("drop", function (event) {
      event.preventDefault(); zone.classList.remove("over");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        uploadAll(zone, event.dataTransfer.files);
      }
    });
    zone.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); input.click(); }
    });
    input.addEventListener("change", function () {
      if (input.files.length) { uploadAll(zone, input.files); input.value = ""; }
    });
  });
})();
