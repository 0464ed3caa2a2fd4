// Attachments: say at once when they are too large (before anything is sent), and show each file's
// progress while it is sent. Without script the form posts as it always did.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("form[data-upload]").forEach(function (form) {
    var input = form.querySelector("input[type=file]");
    var box = form.querySelector("[data-upload-progress]");
    var limit = parseInt(form.dataset.maxBytes, 10);
    if (!input || !box || !window.FormData || !window.XMLHttpRequest) {
      return;
    }
    var bars = [];

    function size(bytes) {
      var units = ["B", "KB", "MB", "GB"];
      var unit = 0;
      while (bytes >= 1024 && unit < units.length - 1) {
        bytes /= 1024;
        unit += 1;
      }
      return (unit ? bytes.toFixed(1) : bytes) + " " + units[unit];
    }

    function total() {
      return Array.prototype.reduce.call(input.files, function (sum, file) {
        return sum + file.size;
      }, 0);
    }

    function show() {
      box.textContent = "";
      bars = [];
      var list = document.createElement("ul");
      list.className = "plain";
      Array.prototype.forEach.call(input.files, function (file) {
        var item = document.createElement("li");
        var label = document.createElement("span");
        label.textContent = file.name + " (" + size(file.size) + ")";
        var bar = document.createElement("progress");
        bar.max = Math.max(file.size, 1);
        bar.value = 0;
        bar.setAttribute("aria-label", file.name);
        item.appendChild(label);
        item.appendChild(document.createTextNode(" "));
        item.appendChild(bar);
        list.appendChild(item);
        bars.push(bar);
      });
      box.appendChild(list);
      if (total() > limit) {
        var error = document.createElement("p");
        error.className = "errors";
        error.setAttribute("role", "alert");
        error.textContent = box.dataset.tooLarge;
        box.appendChild(error);
      }
    }

    input.addEventListener("change", show);
    form.addEventListener("submit", function (event) {
      if (total() > limit) {
        event.preventDefault();
        show();
        return;
      }
      if (!input.files.length || event.defaultPrevented) {
        return; // nothing to show progress for: the form posts as usual
      }
      event.preventDefault();
      var data = new FormData(form);
      if (event.submitter && event.submitter.name) {
        data.append(event.submitter.name, event.submitter.value);
      }
      var sizes = Array.prototype.map.call(input.files, function (file) {
        return file.size;
      });
      var button = event.submitter || form.querySelector("button[type=submit]");
      if (button) {
        button.disabled = true;
        button.textContent = box.dataset.sending;
      }
      var request = new XMLHttpRequest();
      request.open("POST", form.getAttribute("action") || window.location.href);
      request.upload.addEventListener("progress", function (progress) {
        var sent = progress.loaded;
        sizes.forEach(function (bytes, index) {
          bars[index].value = Math.max(0, Math.min(bytes, sent));
          sent -= bytes;
        });
      });
      request.addEventListener("load", function () {
        // The page the server answered with (the message, or the form with its errors) replaces this one.
        if (request.responseURL) {
          window.history.replaceState(null, "", request.responseURL);
        }
        document.open();
        document.write(request.responseText);
        document.close();
      });
      request.addEventListener("error", function () {
        if (button) {
          button.disabled = false;
        }
        box.textContent = box.dataset.failed;
      });
      request.send(data);
    });
  });
});
