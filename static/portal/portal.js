// Small enhancements only; every page works without script.
document.addEventListener("DOMContentLoaded", function () {
  // Troubleshooting facts: add the time as the person's own device shows it.
  document.querySelectorAll("time[data-local-time]").forEach(function (el) {
    var when = new Date(el.getAttribute("datetime"));
    if (!isNaN(when)) {
      el.textContent += " (" + when.toLocaleString() + " on this device)";
    }
  });
});
