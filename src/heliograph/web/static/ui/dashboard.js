// Draws the dashboard's charts (and the Properties page's) with the vendored uPlot. Each chart element
// carries its numbers as JSON in data-chart; the names of its lines and categories (logged text, such
// as model names and property values) are read from the header cells of the data table under it, the
// table that works without JavaScript. No inline script anywhere: the CSP forbids it;
// uPlot styles its elements through the CSSOM, which the CSP allows.
"use strict";
(function () {
  var COLORS = ["#0a58ca", "#b35900", "#116329", "#a40e26", "#6f42c1", "#1b7c83", "#8a6d00", "#57606a",
    "#c2255c", "#3d5a80"];
  var HEIGHT = 220;
  var charts = [];

  function compact(value) {
    var size = Math.abs(value);
    if (size >= 1e9) return (value / 1e9).toFixed(1) + "G";
    if (size >= 1e6) return (value / 1e6).toFixed(1) + "M";
    if (size >= 1e4) return (value / 1e3).toFixed(0) + "k";
    if (size >= 1e3) return (value / 1e3).toFixed(1) + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(size < 10 ? 2 : 1);
  }

  function format(unit, value) {
    if (value === null || value === undefined || isNaN(value)) return "–";
    if (unit === "usd") {
      if (value === 0) return "$0";
      return "$" + (Math.abs(value) < 0.01 ? value.toPrecision(2) : value.toFixed(2));
    }
    if (unit === "ms") {
      if (value >= 1000) return (value / 1000).toFixed(2) + " s";
      return (value !== 0 && value < 10 ? value.toFixed(1) : Math.round(value)) + " ms";
    }
    if (unit === "score") return value.toFixed(2);
    return compact(value);
  }

  // Whole steps for things counted one by one (no "2.5 requests" on an axis).
  var WHOLE_STEPS = [];
  [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9].forEach(function (scale) {
    WHOLE_STEPS.push(scale, 2 * scale, 5 * scale);
  });

  function shorten(text) {
    return text.length > 18 ? text.slice(0, 17) + "…" : text;
  }

  // Counts, costs and durations start at zero: a flat line of small values should not look like a cliff.
  function fromZero(u, low, high) {
    return [Math.min(0, low || 0), high > 0 ? high * 1.08 : 1];
  }

  // The chart's names from its data table: the column headers name the lines (after the first, which
  // names the x axis), the row headers name the categories of a bar chart.
  function names(element) {
    var figure = element.closest("figure");
    var table = figure && figure.querySelector("details table");
    if (!table) return { category: "", lines: [], labels: [] };
    var text = function (cell) { return cell.textContent.trim(); };
    var columns = Array.prototype.map.call(table.querySelectorAll("thead th"), text);
    var rows = Array.prototype.map.call(table.querySelectorAll("tbody th[scope=row]"), text);
    return { category: columns[0] || "", lines: columns.slice(1), labels: rows };
  }

  function options(spec, named, width) {
    var unit = spec.unit;
    var yAxis = { values: function (u, splits) { return splits.map(function (v) { return format(unit, v); }); },
      size: unit === "usd" ? 84 : 64 };
    if (unit === "count") yAxis.incrs = WHOLE_STEPS;
    var opts = {
      width: width,
      height: HEIGHT,
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: fromZero } },
      series: [{}],
      axes: [{}, yAxis]
    };
    spec.series.forEach(function (_values, i) {
      var color = COLORS[i % COLORS.length];
      var series = { label: named.lines[i] || "", stroke: color, width: 2,
        value: function (u, v) { return format(unit, v); } };
      if (spec.kind === "bars") {
        series.fill = color;
        series.paths = uPlot.paths.bars({ size: [0.6, 56] });
        series.points = { show: false };
      }
      opts.series.push(series);
    });
    if (spec.kind === "bars") {
      var labels = named.labels;
      opts.scales.x = { time: false, range: [-0.5, Math.max(labels.length, 1) - 0.5] };
      opts.series[0] = { label: named.category, value: function (u, i) { return i === null ? "–" : labels[i]; } };
      opts.axes[0] = {
        splits: function () { return labels.map(function (_l, i) { return i; }); },
        values: function (u, splits) { return splits.map(function (i) { return shorten(labels[i] || ""); }); },
        rotate: labels.length > 4 ? -30 : 0,
        size: labels.length > 4 ? 72 : 40
      };
    } else {
      // One bucket alone: a day either side, not uPlot's own padding of years.
      if (spec.x.length === 1) {
        var only = spec.x[0];
        opts.scales.x = { time: true, range: function () { return [only - 86400, only + 86400]; } };
      }
      // The tables and the page say UTC: the axis says the same.
      opts.tzDate = function (seconds) { return uPlot.tzDate(new Date(seconds * 1e3), "Etc/UTC"); };
    }
    return opts;
  }

  function draw(element) {
    if (element.dataset.drawn) return;
    var spec;
    try {
      spec = JSON.parse(element.dataset.chart);
    } catch (error) {
      return;
    }
    element.dataset.drawn = "1";
    var data = [spec.x].concat(spec.series);
    var width = Math.max(element.clientWidth, 240);
    charts.push({ element: element, plot: new uPlot(options(spec, names(element), width), data, element) });
  }

  function drawWithin(root) {
    if (!root || !root.querySelectorAll || typeof uPlot === "undefined") return;
    if (root.matches && root.matches("[data-chart]")) draw(root);
    root.querySelectorAll("[data-chart]").forEach(draw);
  }

  function resize() {
    charts = charts.filter(function (chart) { return document.contains(chart.element); });
    charts.forEach(function (chart) {
      var width = Math.max(chart.element.clientWidth, 240);
      if (width !== chart.plot.width) chart.plot.setSize({ width: width, height: HEIGHT });
    });
  }

  var pending = null;
  window.addEventListener("resize", function () {
    clearTimeout(pending);
    pending = setTimeout(resize, 150);
  });
  document.addEventListener("DOMContentLoaded", function () { drawWithin(document); });
  // Panels arrive by htmx swaps: draw what each one brought (a swap of the whole page brings many).
  document.addEventListener("htmx:load", function (event) { drawWithin(event.detail.elt); });
  document.addEventListener("htmx:afterSwap", function (event) {
    drawWithin(event.detail.elt);
    resize();
  });
})();
