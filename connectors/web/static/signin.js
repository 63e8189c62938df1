"use strict";
// One-click sign-in links (`bash deploy/dev.sh demo`) carry the token in the URL's fragment,
// which a browser never sends to a server: read it, erase it from the address bar and the
// history at once, and post it with the form like a pasted token.
(function () {
  var match = /^#token=([A-Za-z0-9_-]{1,200})$/.exec(window.location.hash);
  if (!match) {
    return;
  }
  history.replaceState(null, "", window.location.pathname + window.location.search);
  var form = document.getElementById("signin-form");
  var field = document.getElementById("token");
  if (form && field) {
    field.value = match[1];
    form.submit();
  }
})();
