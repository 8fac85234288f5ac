// The web view's only script, served from /ui/assets/ (the CSP forbids inline scripts):
// buttons with data-copy put their value on the clipboard. Pages work without it.
"use strict";

function copyWithSelection(text) {
  var area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.appendChild(area);
  area.select();
  try {
    document.execCommand("copy");
  } catch (_) {
    // Nothing more to try: the text stays selectable on the page.
  }
  document.body.removeChild(area);
}

document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) {
    return;
  }
  var text = button.getAttribute("data-copy");
  var done = function () {
    button.textContent = "copied";
    setTimeout(function () {
      button.textContent = "copy";
    }, 1200);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(done, function () {
      copyWithSelection(text);
      done();
    });
  } else {
    copyWithSelection(text);
    done();
  }
});
