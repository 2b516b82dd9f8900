// EchoFS web UI: live fragments over SSE, confirmations, copy-to-clipboard.
// Loaded from this origin only (the Content-Security-Policy forbids inline script).
"use strict";

(function () {
  // <div data-live-src="/ui/.../live">: the server streams re-rendered HTML fragments
  // (escaped by its templates); each replaces the element's content.
  function startLive(element) {
    var source = new EventSource(element.dataset.liveSrc);
    source.addEventListener("fragment", function (event) {
      element.innerHTML = event.data;
      element.dataset.liveUpdates = String(Number(element.dataset.liveUpdates || 0) + 1);
    });
    source.onerror = function () { element.dataset.liveError = "reconnecting"; };
    source.onopen = function () { delete element.dataset.liveError; };
  }

  // <form data-confirm="question">: asks before submitting (keyboard users get the
  // browser's own dialog, which is focusable).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form instanceof HTMLFormElement && form.dataset.confirm &&
        !window.confirm(form.dataset.confirm)) {
      event.preventDefault();
    }
  }, true);

  // <button data-copy="#selector">: copies that input's value.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-copy]") : null;
    if (!button) { return; }
    var input = document.querySelector(button.dataset.copy);
    if (!input) { return; }
    input.select();
    var done = function () { button.textContent = button.dataset.copiedLabel || "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(done, function () {
        document.execCommand("copy"); done();
      });
    } else {
      document.execCommand("copy"); done();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-live-src]").forEach(startLive);
  });
})();
