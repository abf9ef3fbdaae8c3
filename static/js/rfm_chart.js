/* The "Customers per RFM segment" dashboard card's chart, from its json_script data.
   Loaded with defer from the card, before the page's Chart.js and static/js/dashboard.js: it
   queues its drawing in window.crmDashboardCharts, and dashboard.js draws it after the page's
   own charts, in a task of its own, without animation. */
(function () {
  "use strict";

  // Bootstrap's colours, so the bars match the segment badges on the customer page.
  var fallbackColors = {
    primary: "#0d6efd",
    secondary: "#6c757d",
    success: "#198754",
    info: "#0dcaf0",
    warning: "#ffc107",
    danger: "#dc3545",
    light: "#adb5bd",
  };

  function toneColor(tone) {
    var value = getComputedStyle(document.documentElement).getPropertyValue("--bs-" + tone).trim();
    // The light tone is near-white in Bootstrap: a grey keeps the bar visible.
    return tone !== "light" && value ? value : fallbackColors[tone] || fallbackColors.secondary;
  }

  function draw() {
    var canvas = document.getElementById("chart-rfm");
    var element = document.getElementById("chart-rfm-data");
    if (!canvas || !element || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(element.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "Customers",
            data: data.customers,
            backgroundColor: data.tones.map(toneColor),
          },
        ],
      },
      options: {
        indexAxis: "y",
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
        // A bar opens the customer list filtered to its segment.
        onClick: function (event, elements) {
          if (elements.length && data.urls[elements[0].index]) {
            window.location.href = data.urls[elements[0].index];
          }
        },
        onHover: function (event, elements) {
          event.native.target.style.cursor = elements.length ? "pointer" : "default";
        },
      },
    });
  }

  (window.crmDashboardCharts = window.crmDashboardCharts || []).push(draw);
})();
