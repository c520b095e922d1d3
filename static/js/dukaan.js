// Dukaan's few behaviours, kept out of the templates so a strict CSP holds.
// Everything here enhances pages that already work without it.
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

  // The store page's running total is fetched by htmx on "input" from the
  // quantities. A page that opens with quantities already chosen (an order
  // sent back with an error, a form the browser restored) asks for it once,
  // with an "input" marked RESTORED, which the cart below does not take for the
  // customer changing a hold (the cart may have arrived first).
  var RESTORED = "restored";
  function refreshTotal() {
    var inputs = document.querySelectorAll(".items input[name^='qty-']");
    for (var i = 0; i < inputs.length; i++) {
      if (inputs[i].value !== "" && inputs[i].value !== "0") {
        inputs[i].dispatchEvent(new CustomEvent("input", { bubbles: true, detail: RESTORED }));
        return;
      }
    }
  }
  window.addEventListener("pageshow", function () { setTimeout(refreshTotal, 0); });

  // The cart: once the visitor's cart is on the page (#cart-box, fetched by htmx), each
  // quantity on a product card becomes a hold. A change is sent 300 ms after the last
  // tap, one request at a time (the first one makes the cart and its cookie); the cart
  // that comes back sets every quantity on the page, so a refused change (409) springs
  // back to what is held. Until then, and without JavaScript, the quantities typed are
  // the order, as before.
  var CART_DELAY = 300;
  var cartSending = Promise.resolve(), cartTimers = {};

  function cartBox() { return document.getElementById("cart-box"); }
  function cartOn() { return document.documentElement.classList.contains("has-cart"); }
  function quantityInputs() { return document.querySelectorAll(".items input[name^='qty-']"); }

  function sendCartChange(input) {
    var productId = input.name.slice(4);
    delete cartTimers[productId];
    cartSending = cartSending.then(function () {
      var quantity = parseInt(input.value, 10);
      return htmx.ajax("POST", cartBox().getAttribute("data-cart-url"), {
        target: "#cart-box", swap: "innerHTML",
        values: { product_id: productId, quantity: isNaN(quantity) ? "" : String(quantity) }
      });
    }).catch(function () { /* the next change or the checkout tries again */ });
    return cartSending;
  }

  function flushCart() {
    Object.keys(cartTimers).forEach(function (productId) {
      clearTimeout(cartTimers[productId].timer);
      sendCartChange(cartTimers[productId].input);
    });
    return cartSending;
  }

  document.addEventListener("input", function (event) {
    var input = event.target;
    if (!cartOn() || !input.matches || !input.matches(".items input[name^='qty-']")) return;
    if (event.detail === RESTORED) return;  // the page opening, not the customer: only the total
    // Held quantities are the order now: the running total follows the cart, not each keystroke.
    event.stopPropagation();
    var productId = input.name.slice(4);
    if (cartTimers[productId]) clearTimeout(cartTimers[productId].timer);
    cartTimers[productId] = { input: input, timer: setTimeout(function () { sendCartChange(input); }, CART_DELAY) };
    var item = input.closest(".item");
    if (item) item.classList.toggle("in-cart", input.value !== "" && input.value !== "0");
  }, true);

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== cartBox()) return;
    // Quantities chosen before the cart first arrived are the visitor's latest choice:
    // they go to the cart rather than give way to it.
    var first = !cartOn();
    document.documentElement.classList.add("has-cart");
    var held = {};
    var lines = cartBox().querySelectorAll("[data-product]");
    for (var i = 0; i < lines.length; i++) {
      held[lines[i].getAttribute("data-product")] = lines[i].getAttribute("data-quantity");
    }
    var inputs = quantityInputs();
    for (var j = 0; j < inputs.length; j++) {
      var productId = inputs[j].name.slice(4);
      if (cartTimers[productId]) continue;  // a newer choice is on its way
      var quantity = held[productId] || "0";
      if (first && inputs[j].value !== "" && inputs[j].value !== "0" && inputs[j].value !== quantity) {
        sendCartChange(inputs[j]);
        var chosen = inputs[j].closest(".item");
        if (chosen) chosen.classList.add("in-cart");
        continue;
      }
      inputs[j].value = quantity;
      var item = inputs[j].closest(".item");
      if (item) item.classList.toggle("in-cart", quantity !== "0");
    }
    if (inputs.length) htmx.trigger(document.body, "cart-changed");
  });

  // Copy buttons: data-copy names the input whose value to copy.
  function copied(button) {
    var label = button.getAttribute("data-label") || button.textContent;
    button.setAttribute("data-label", label);
    button.textContent = "Copied";
    setTimeout(function () { button.textContent = label; }, 1500);
  }
  function copyBySelection(source, button) {
    source.select();
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected to copy by hand */ }
    copied(button);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) {
      var source = document.querySelector(button.getAttribute("data-copy"));
      if (!source) return;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(
          function () { copied(button); },
          function () { copyBySelection(source, button); }
        );
      } else {
        copyBySelection(source, button);
      }
      return;
    }
    // Quantity steppers: one more or one less, within the input's bounds.
    var step = event.target.closest("[data-step]");
    if (step) {
      var input = document.getElementById(step.getAttribute("aria-controls"));
      if (!input) return;
      var current = parseInt(input.value, 10);
      if (isNaN(current)) current = 0;
      var next = current + parseInt(step.getAttribute("data-step"), 10);
      // The page sets both bounds (the server's MAX_QUANTITY).
      var min = parseInt(input.min, 10), max = parseInt(input.max, 10);
      next = Math.min(max, Math.max(min, next));
      if (next === current && input.value !== "") return;
      input.value = String(next);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.dispatchEvent(new Event("change", { bubbles: true }));
    }
  });

  // The customer's order page refreshes itself (#order-live), but not while they are
  // writing in one of its forms (a UTR, a review): the refresh would swap the text away.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var live = event.detail.elt;
    if (!live || live.id !== "order-live" || event.detail.requestConfig.verb !== "get") return;
    var fields = live.querySelectorAll("form textarea, form input[type=text], form input:not([type])");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value !== "" || fields[i] === document.activeElement) {
        event.preventDefault();
        return;
      }
    }
  });

  // Escape in a row being edited inline cancels the edit.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var row = event.target.closest && event.target.closest("tr.editing");
    if (!row) return;
    var cancel = row.querySelector("[data-cancel]");
    if (cancel) { event.preventDefault(); cancel.click(); }
  });

  // New orders while the tab is in the background: say so in its title.
  var baseTitle = document.title, unseen = 0;
  document.addEventListener("htmx:afterSettle", function (event) {
    var list = event.target;
    if (!list || list.id !== "order-list") return;
    var arrived = parseInt(list.getAttribute("data-arrived") || "0", 10);
    if (arrived > 0 && document.hidden) {
      unseen += arrived;
      document.title = "(" + unseen + " new) " + baseTitle;
    }
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && unseen) { unseen = 0; document.title = baseTitle; }
  });

  // Submitting the checkout twice quickly sends one request.
  // A cart change still waiting to be sent goes first: the order is what the cart holds.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.id !== "checkout") return;
    if (form.dataset.sent) { event.preventDefault(); return; }
    form.dataset.sent = "1";
    setTimeout(function () { delete form.dataset.sent; }, 5000);
    if (Object.keys(cartTimers).length) {
      event.preventDefault();
      flushCart().then(function () { form.submit(); });
    }
  });

  // Product photos: a form sends itself as soon as files are chosen, and on a computer
  // files dropped on it are chosen for it (the file input stays the one source of files,
  // so the request is the same multipart form the Upload button sends without JavaScript).
  function sendPhotos(form) {
    if (form.requestSubmit) form.requestSubmit(); else htmx.trigger(form, "submit");
  }
  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.matches && input.matches("input[type=file][data-autosend]") && input.files.length) {
      sendPhotos(input.form);
    }
  });
  function dropZone(event) {
    return event.target.closest ? event.target.closest(".drop-zone") : null;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = dropZone(event);
      if (!zone || !event.dataTransfer || Array.prototype.indexOf.call(event.dataTransfer.types, "Files") < 0) return;
      event.preventDefault();
      zone.classList.add("dragging");
    });
  });
  document.addEventListener("dragleave", function (event) {
    var zone = dropZone(event);
    if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var zone = dropZone(event);
    if (!zone || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    zone.classList.remove("dragging");
    var input = zone.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
    sendPhotos(zone);
  });
})();
