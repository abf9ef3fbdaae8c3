// After an htmx update: say what happened, and put focus where the work goes on.
//
// - A response announces its result with the header
//   HX-Trigger: {"crm:announce": "Tag VIP added"}; the text goes to the page's polite live
//   region (#live-region in base.html).
// - Focus goes to the first element of the new content marked data-focus (the input that was
//   used, or the new item), so keyboard users carry on where they were.
// - New content marked data-focus-next="selector" (a row that has just been dealt with) sends
//   focus to the first match in the rows after it, or, when none is left, to the element named
//   by its data-focus-fallback ("#id").
// - The messages a page opens with (after a form posted and came back) are said in the live
//   region too: a screen reader does not read an alert that was there from the start.
(function () {
  "use strict";

  function announce(text, delay) {
    var region = document.getElementById("live-region");
    if (!region || !text) {
      return;
    }
    // Emptied first, so the same message twice is read twice.
    region.textContent = "";
    window.setTimeout(function () {
      region.textContent = text;
    }, delay || 50);
  }

  function firstMatch(root, selector) {
    return root.matches(selector) ? root : root.querySelector(selector);
  }

  function focusTarget(settled) {
    var focus = firstMatch(settled, "[data-focus]");
    var nextSelector = settled.getAttribute("data-focus-next");
    if (focus || !nextSelector) {
      return focus;
    }
    for (var row = settled.nextElementSibling; row; row = row.nextElementSibling) {
      focus = firstMatch(row, nextSelector);
      if (focus) {
        return focus;
      }
    }
    var fallback = settled.getAttribute("data-focus-fallback");
    return fallback ? document.querySelector(fallback) : null;
  }

  document.addEventListener("crm:announce", function (event) {
    announce(event.detail && event.detail.value);
  });

  // Fired on each element the swap put in the page (for an outerHTML swap, the element that
  // replaced the target, which event.detail.target still names).
  document.addEventListener("htmx:afterSettle", function (event) {
    var settled = event.target;
    if (!(settled instanceof Element) || !settled.isConnected) {
      return;
    }
    var focus = focusTarget(settled);
    if (focus) {
      focus.focus();
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    var main = document.getElementById("main");
    if (!main) {
      return;
    }
    var said = [];
    main.querySelectorAll(":scope > .alert").forEach(function (message) {
      said.push(message.textContent.trim().replace(/\s+/g, " "));
    });
    // Later than an update's: the screen reader is still starting to read the new page.
    announce(said.join(" "), 500);
  });
})();
