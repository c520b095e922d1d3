// Dukaan's few behaviours, kept out of the templates so a strict CSP holds.
(function () {
  "use strict";

  // A fresh idempotency key each time the store page is shown: a double tap
  // or a network retry re-sends the same key, and the server keeps one order.
  function newOrderToken() {
    var field = document.getElementById("order-token");
    if (!field) return;
    if (window.crypto && crypto.randomUUID) {
      field.value = crypto.randomUUID();
    } else if (window.crypto && crypto.getRandomValues) {
      var bytes = crypto.getRandomValues(new Uint8Array(16));
      field.value = Array.prototype.map.call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      }).join("");
    }
  }
  window.addEventListener("pageshow", newOrderToken);

  // Copy buttons: data-copy names the input whose value to copy.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.value).then(done);
    } else {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // Submitting the checkout twice quickly sends one request.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "checkout") return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () { delete form.dataset.sent; }, 5000);
  });
})();
