/* Draws the dashboard charts from the data the page carries in json_script elements. */
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

  var reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function baseOptions() {
    return {
      responsive: true,
      maintainAspectRatio: false,
      animation: reduceMotion ? false : undefined,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom" } },
    };
  }

  function drawRevenue() {
    var canvas = document.getElementById("chart-revenue");
    var data = readData("chart-revenue-data");
    if (!canvas || !data) {
      return;
    }
    var axisMoney = moneyFormat(data.currency, 0);
    var tooltipMoney = moneyFormat(data.currency, 2);
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
          var value = context.dataset.yAxisID === "revenue"
            ? tooltipMoney.format(context.parsed.y)
            : context.parsed.y;
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
  drawRevenue();
  drawNewCustomers();
})();
