// Passkeys: the browser's WebAuthn ceremonies for the login page and the Security page.
// The server (py_webauthn) writes the options and checks the answers; this file only carries them.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.PublicKeyCredential || !PublicKeyCredential.parseRequestOptionsFromJSON) {
    return; // the buttons stay hidden: this browser cannot use passkeys here
  }

  function options(form) {
    var data = new FormData(form);
    data.set("action", "options");
    // form.action would be the input named "action": read the attribute.
    return fetch(form.getAttribute("action") || window.location.href, {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "X-Requested-With": "fetch" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(body.error || response.statusText);
        }
        return body;
      });
    });
  }

  function say(form, text) {
    var status = form.querySelector(".passkey-status");
    if (status) {
      status.textContent = text;
    }
  }

  // Sign in: ask for a challenge, let the device sign it, send the answer as an ordinary form.
  document.querySelectorAll("form[data-passkey-login]").forEach(function (form) {
    var button = form.querySelector("button");
    button.hidden = false;
    button.addEventListener("click", function (event) {
      event.preventDefault();
      options(form)
        .then(function (json) {
          return navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(json) });
        })
        .then(function (credential) {
          form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
          form.querySelector("input[name=action]").value = "verify";
          form.submit();
        })
        .catch(function () {
          say(form, form.dataset.failed);
        });
    });
  });

  // Add a passkey: the same, with navigator.credentials.create().
  document.querySelectorAll("form[data-passkey-add]").forEach(function (form) {
    form.hidden = false;
    form.addEventListener("submit", function (event) {
      if (form.querySelector("input[name=credential]").value) {
        return; // the answer is in: let the form go
      }
      event.preventDefault();
      options(form)
        .then(function (json) {
          return navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(json) });
        })
        .then(function (credential) {
          form.querySelector("input[name=credential]").value = JSON.stringify(credential.toJSON());
          form.querySelector("input[name=action]").value = "add";
          form.submit();
        })
        .catch(function (error) {
          // The server's refusal says why; the device's (cancelled, timed out) gets the general words.
          say(form, error instanceof DOMException || !error.message ? form.dataset.failed : error.message);
        });
    });
  });
});
