/* Draws the dashboard charts from the data the page carries in json_script elements, and the
   charts the cards queue in window.crmDashboardCharts (static/js/rfm_chart.js).
   Loaded with defer, after Chart.js. The work is cut into steps, each in a task of its own once
   the page has been painted, and no chart is animated: on a slow phone no task holds the page
   for long before it can paint again or answer a tap. */
(function () {
  "use strict";

  function readData(id) {
    var element = document.getElementById(id);
    return element ? JSON.parse(element.textContent) : null;
  }

  function cssColor(name, fallback) {
    var value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function moneyFormat(currency, fractionDigits) {
    try {
      return new Intl.NumberFormat(undefined, {
        style: "currency",
        currency: currency,
        maximumFractionDigits: fractionDigits,
        minimumFractionDigits: fractionDigits,
      });
    } catch (error) {
      // An unknown currency code: show the code before a plain number.
      var plain = new Intl.NumberFormat(undefined, {
        maximumFractionDigits: fractionDigits,
        minimumFractionDigits: fractionDigits,
      });
      return { format: function (value) { return currency + " " + plain.format(value); } };
    }
  }

  // Runs the steps one after another, each in a task of its own, from the first frame painted
  // on: between two steps the browser can paint and answer a tap. A step that fails does not
  // stop the others.
  function runAfterPaint(steps) {
    function next() {
      if (steps.length) {
        try {
          steps.shift()();
        } finally {
          window.setTimeout(next, 0);
        }
      }
    }
    window.requestAnimationFrame(function () {
      window.setTimeout(next, 0);
    });
  }

  function baseOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
    };
  }

  var revenue = { data: null, axisMoney: null, tooltipMoney: null };

  // The first number format a page builds is slow (the browser loads its number data): its own
  // step, before the charts, which format their ticks too.
  function prepareRevenue() {
    revenue.data = readData("chart-revenue-data");
    if (revenue.data) {
      revenue.axisMoney = moneyFormat(revenue.data.currency, 0);
    }
  }

  function drawRevenue() {
    var canvas = document.getElementById("chart-revenue");
    var data = revenue.data;
    if (!canvas || !data) {
      return;
    }
    var axisMoney = revenue.axisMoney;
    var options = baseOptions();
    options.scales = {
      revenue: {
        type: "linear",
        position: "left",
        beginAtZero: true,
        title: { display: true, text: "Revenue (" + data.currency + ")" },
        ticks: { callback: function (value) { return axisMoney.format(value); } },
      },
      orders: {
        type: "linear",
        position: "right",
        beginAtZero: true,
        title: { display: true, text: "Orders" },
        ticks: { precision: 0 },
        grid: { drawOnChartArea: false },
      },
    };
    // Datasets are listed in drawing order (line on top); the legend reads better revenue first.
    options.plugins.legend.reverse = true;
    options.plugins.tooltip = {
      callbacks: {
        label: function (context) {
          if (context.dataset.yAxisID !== "revenue") {
            return context.dataset.label + ": " + context.parsed.y;
          }
          // Built on the first tooltip, not while the chart is drawn.
          revenue.tooltipMoney = revenue.tooltipMoney || moneyFormat(data.currency, 2);
          var value = revenue.tooltipMoney.format(context.parsed.y);
          return context.dataset.label + ": " + value;
        },
      },
    };
    new Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          {
            type: "bar",
            label: "Revenue",
            data: data.revenue.map(Number),
            yAxisID: "revenue",
            backgroundColor: cssColor("--bs-primary", "#0d6efd"),
            order: 2,
          },
          {
            type: "line",
            label: "Delivered orders",
            data: data.orders,
            yAxisID: "orders",
            borderColor: cssColor("--bs-warning", "#ffc107"),
            backgroundColor: cssColor("--bs-warning", "#ffc107"),
            tension: 0.3,
            order: 1,
          },
        ],
      },
      options: options,
    });
  }

  function drawNewCustomers() {
    var canvas = document.getElementById("chart-new-customers");
    var data = readData("chart-new-customers-data");
    if (!canvas || !data) {
      return;
    }
    var options = baseOptions();
    options.plugins.legend.display = false;
    options.scales = { y: { beginAtZero: true, ticks: { precision: 0 } } };
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: [
          {
            label: "New customers",
            data: data.customers,
            backgroundColor: cssColor("--bs-success", "#198754"),
          },
        ],
      },
      options: options,
    });
  }

  if (typeof Chart === "undefined") {
    return;
  }
  // The first chart drawn also pays for compiling most of Chart.js: the simplest one goes first.
  var steps = [prepareRevenue, drawNewCustomers, drawRevenue];
  runAfterPaint(steps.concat(window.crmDashboardCharts || []));
})();
