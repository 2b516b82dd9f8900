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

  // Resumable: the session of an unfinished upload of the same file (bucket, path, size,
  // modification time) is remembered in this browser; dropping the file again after a
  // reload or a lost connection sends only the parts the session still misses.
  function resumeKey(zone, path, file) {
    return "echofs-upload:" + zone.dataset.bucket + "/" + path + ":" + file.size + ":" +
      file.lastModified;
  }

  async function openSession(zone, path, file) {
    var key = resumeKey(zone, path, file);
    var known = window.localStorage.getItem(key);
    if (known) {
      try {
        var status = await api("GET", "/api/v1/files/upload/" + encodeURIComponent(known));
        if (status.state === "open" && status.file_size === file.size) {
          return {key: key, session: status, have: status.received, resumed: true};
        }
      } catch (e) { /* expired or gone: start afresh */ }
      window.localStorage.removeItem(key);
    }
    var session = await api("POST", "/api/v1/files/upload/init", {
      bucket: zone.dataset.bucket, path: path, file_name: file.name, file_size: file.size
    });
    window.localStorage.setItem(key, session.session_id);
    return {key: key, session: session, have: [], resumed: false};
  }

  async function uploadOne(zone, file, view) {
    var dir = zone.dataset.dir;
    var path = dir ? dir + "/" + file.name : file.name;
    var opened = await openSession(zone, path, file);
    var session = opened.session;
    var base = "/api/v1/files/upload/" + session.session_id;
    var sent = new Array(session.total_chunks).fill(0);
    var todo = [];
    var have = new Set(opened.have);
    for (var p = 0; p < session.total_chunks; p++) {
      if (have.has(p)) {
        sent[p] = Math.min(session.chunk_size, file.size - p * session.chunk_size);
      } else {
        todo.push(p);
      }
    }
    if (opened.resumed) { view.item.dataset.resumed = String(have.size); }
    var show = function () {
      var total = sent.reduce(function (a, b) { return a + b; }, 0);
      var pct = file.size ? Math.floor(100 * total / file.size) : 100;
      view.bar.value = pct;
      view.status.textContent = pct + "%";
      view.item.dataset.progress = String(pct);
    };
    show();
    async function worker() {
      while (todo.length) {
        var index = todo.shift();
        var start = index * session.chunk_size;
        var blob = file.slice(start, Math.min(file.size, start + session.chunk_size));
        // Parts are idempotent: a failed one is sent again (the session keeps the others).
        for (var attempt = 1; ; attempt++) {
          try {
            await putPart(base + "/chunks/" + index, blob, function (loaded) {
              sent[index] = loaded; show();
            });
            view.item.dataset.partsDone = String(Number(view.item.dataset.partsDone || 0) + 1);
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
    for (var i = 0; i < Math.min(PARALLEL_PARTS, Math.max(1, todo.length)); i++) {
      workers.push(worker());
    }
    await Promise.all(workers);
    view.status.textContent = "finishing";
    await api("POST", base + "/complete");
    window.localStorage.removeItem(opened.key);
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
    // The listing and the bucket's usage line, re-rendered by the server, replace the old
    // ones in place (htmx).
    var here = window.location.pathname + window.location.search;
    if (window.htmx) {
      window.htmx.ajax("GET", here, {target: "#listing", select: "#listing", swap: "outerHTML"})
        .then(function () {
          return window.htmx.ajax("GET", here, {target: "#bucket-usage",
                                                select: "#bucket-usage", swap: "outerHTML"});
        })
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
