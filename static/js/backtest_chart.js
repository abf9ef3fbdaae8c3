/* The backtest's calibration chart (templates/customers/partials/backtest.html): mean repeat
   purchases predicted and actual in each group of customers, from its json_script data. Loaded
   with defer after Chart.js, on the staff page and in the admin. */
(function () {
  "use strict";

  function draw() {
    var canvas = document.getElementById("chart-backtest");
    var element = document.getElementById("chart-backtest-data");
    if (!canvas || !element || typeof Chart === "undefined") {
      return;
    }
    var data = JSON.parse(element.textContent);
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Predicted", data: data.predicted, backgroundColor: "#0d6efd" },
          { label: "Actual", data: data.actual, backgroundColor: "#fd7e14" },
        ],
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        scales: {
          y: {
            beginAtZero: true,
            title: { display: true, text: "Mean repeat purchases per customer" },
          },
        },
      },
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", draw);
  } else {
    draw();
  }
})();
