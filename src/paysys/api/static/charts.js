// The status page's charts (uPlot, vendored): GET /stats/series, the last 15 minutes in 10 s
// buckets. window.paysysCharts.render(series) draws them; .rate and .age are the uPlot objects.
"use strict";
window.paysysCharts = (function () {
  const charts = { rate: null, age: null };

  function options(element, series, yLabel) {
    return {
      width: Math.max(300, element.clientWidth),
      height: 200,
      series: [{}].concat(series.map(([label, stroke]) => ({
        label, stroke, width: 2, spanGaps: false, points: { show: true, size: 5, fill: stroke },
      }))),
      axes: [{}, { label: yLabel, size: 50 }],
      // From zero; a flat line of zeros or no data still gets a scale.
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.15 : 1] } },
      legend: { live: false },
    };
  }

  function draw(name, id, series, yLabel, data) {
    const element = document.getElementById(id);
    if (!charts[name]) {
      charts[name] = new uPlot(options(element, series, yLabel), data, element);
    } else {
      charts[name].setData(data);
    }
  }

  function render(s) {
    const per = s.per_second;
    draw("rate", "chart-rate", [["Approved", "#2e7d32"], ["Declined", "#c62828"], ["Canceled", "#5b6475"]],
      "per s", [s.time, per.Approved, per.Declined, per.Canceled]);
    draw("age", "chart-age", [["p50", "#1565c0"], ["p99", "#b26a00"]],
      "s", [s.time, s.age_seconds.p50, s.age_seconds.p99]);
  }

  window.addEventListener("resize", () => {
    for (const [name, id] of [["rate", "chart-rate"], ["age", "chart-age"]]) {
      const element = document.getElementById(id);
      if (charts[name]) charts[name].setSize({ width: Math.max(300, element.clientWidth), height: 200 });
    }
  });
  charts.render = render;
  return charts;
})();
