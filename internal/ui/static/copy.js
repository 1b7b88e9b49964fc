// Copy buttons: a button with data-copy="ID" copies the text of the
// element with that id. Without JavaScript the buttons stay hidden and the
// text stays selectable.
(function () {
  "use strict";
  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  function done(button, text) {
    button.textContent = text;
    setTimeout(function () { button.textContent = "Copy"; }, 2000);
  }
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var target = document.getElementById(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    button.hidden = false;
    button.addEventListener("click", function () {
      var text = target.textContent;
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(function () { done(button, "Copied"); },
          function () { select(target); done(button, "Selected: press Ctrl+C"); });
        return;
      }
      select(target);
      try {
        done(button, document.execCommand("copy") ? "Copied" : "Selected: press Ctrl+C");
      } catch (e) {
        done(button, "Selected: press Ctrl+C");
      }
    });
  });
})();
