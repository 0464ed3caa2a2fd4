// Small enhancements only; every page works without script.
document.addEventListener("DOMContentLoaded", function () {
  // Troubleshooting facts: add the time as the person's own device shows it.
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.textContent += " (" + when.toLocaleString() + " on this device)";
    }
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
