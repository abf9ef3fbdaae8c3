// After an htmx update: say what happened, and put focus where the work goes on.
//
// - A response announces its result with the header
//   HX-Trigger: {"crm:announce": "Tag VIP added"}; the text goes to the page's polite live
//   region (#live-region in base.html).
// - Focus goes to the first element of the new content marked data-focus (the input that was
//   used, or the new item), so keyboard users carry on where they were.
(function () {
  "use strict";

  function announce(text) {
    var region = document.getElementById("live-region");
    if (!region || !text) {
      return;
    }
    // Emptied first, so the same message twice is read twice.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, 50);
  }

  document.addEventListener("crm:announce", function (event) {
    announce(event.detail && event.detail.value);
  });

  document.addEventListener("htmx:afterSettle", function (event) {
    var target = event.detail.target;
    var focus = target && target.querySelector ? target.querySelector("[data-focus]") : null;
    if (focus && target.contains(focus)) {
      focus.focus();
    }
  });
})();
