// Small enhancements only; every page works without script.
document.addEventListener("DOMContentLoaded", function () {
  // Troubleshooting facts: add the time as the person's own device shows it, with its time zone.
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      var local = when.toLocaleString(undefined, { dateStyle: "long", timeStyle: "long" });
      el.textContent += " (" + local + " " + (el.dataset.localTime || "on this device") + ")";
    }
  });
  // Copy: the facts as plain text, one per line. Without script they stay selectable text.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var list = document.getElementById(button.dataset.copy);
    var status = button.parentNode.querySelector(".copy-status");
    if (!list || !navigator.clipboard) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var lines = [];
      list.querySelectorAll("dt").forEach(function (term) {
        var value = term.nextElementSibling;
        lines.push(term.textContent.trim() + ": " + (value ? value.textContent.trim() : ""));
      });
      navigator.clipboard.writeText(lines.join("\n") + "\n").then(function () {
        status.textContent = button.dataset.copied;
      });
    });
  });
  // The print view's button (the browser's own Print works without script).
  document.querySelectorAll("button[data-print]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      window.print();
    });
  });
  // The single sign-on answer goes on to the login by itself; the button is there without script.
  document.querySelectorAll("form[data-autosubmit]").forEach(function (form) {
    form.submit();
  });
});

// Ask before an action that cannot be undone (the server does the work either way).
document.addEventListener("submit", function (event) {
  var button = event.submitter;
  if (button && button.dataset.confirm && !window.confirm(button.dataset.confirm)) {
    event.preventDefault();
  }
});
