/* job-orchestrator dashboard: confirmations, the throughput chart, small conveniences.
 * No inline scripts anywhere (the Content-Security-Policy forbids them): everything is here. */
(function () {
  "use strict";

  // Forms that change something ask first (works with or without htmx).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form && form.getAttribute && form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);

  // <select data-autosubmit> submits its form on change.
  document.addEventListener("change", function (event) {
    var el = event.target;
    if (el && el.hasAttribute && el.hasAttribute("data-autosubmit") && el.form) {
      el.form.submit();
    }
  });

  var charts = {};

  function cssVar(name, fallback) {
    var v = getComputedStyle(document.documentElement).getPropertyValue(name);
    return (v && v.trim()) || fallback;
  }

  function drawChart() {
    var holder = document.getElementById("chart-data");
    if (!holder || typeof window.Chart === "undefined") return;
    var canvas = document.getElementById(holder.getAttribute("data-chart-target"));
    if (!canvas) return;
    var data = JSON.parse(holder.getAttribute("data-chart"));
    var select = document.querySelector("[data-chart-select='" + canvas.id + "']");
    var queue = select ? select.value : "";
    var series = data.series[queue] || {succeeded: [], failed: []};
    var rate = series.succeeded.map(function (ok, i) {
      var failed = series.failed[i] || 0;
      return ok + failed ? Math.round((1000 * failed) / (ok + failed)) / 10 : null;
    });
    var existing = charts[canvas.id];
    if (existing && existing.canvas === canvas) {
      existing.data.labels = data.labels;
      existing.data.datasets[0].data = series.succeeded;
      existing.data.datasets[1].data = series.failed;
      existing.data.datasets[2].data = rate;
      existing.update("none");
      return;
    }
    if (existing) existing.destroy();
    charts[canvas.id] = new window.Chart(canvas, {
      data: {
        labels: data.labels,
        datasets: [
          {type: "bar", label: "succeeded", data: series.succeeded, stack: "ended",
           backgroundColor: cssVar("--ok", "#2e7d32"), yAxisID: "y"},
          {type: "bar", label: "failed", data: series.failed, stack: "ended",
           backgroundColor: cssVar("--bad", "#c62828"), yAxisID: "y"},
          {type: "line", label: "failure rate %", data: rate, yAxisID: "rate",
           borderColor: cssVar("--warn", "#ef6c00"), backgroundColor: cssVar("--warn", "#ef6c00"),
           pointRadius: 1.5, borderWidth: 1.5, spanGaps: true}
        ]
      },
      options: {
        animation: false,
        maintainAspectRatio: false,
        interaction: {mode: "index", intersect: false},
        scales: {
          x: {stacked: true, ticks: {maxTicksLimit: 12}},
          y: {stacked: true, beginAtZero: true, title: {display: true, text: "attempts / min"},
              ticks: {precision: 0}},
          rate: {position: "right", min: 0, max: 100, grid: {drawOnChartArea: false},
                 title: {display: true, text: "failure %"}}
        },
        plugins: {legend: {position: "bottom"}}
      }
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target && event.target.hasAttribute && event.target.hasAttribute("data-chart-select")) {
      drawChart();
    }
  });
  document.addEventListener("DOMContentLoaded", drawChart);
  document.addEventListener("htmx:afterSettle", drawChart);
})();
