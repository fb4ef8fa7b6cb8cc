// Draws each panel's chart when htmx brings the panel in; a click on a bar or slice opens the records
// behind it (the same link as the table row).
(function () {
  function draw(root) {
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.drawn || typeof echarts === "undefined") return;
      var option = JSON.parse(el.dataset.chart || "{}");
      if (!option.series) return;
      option.animation = false;  // numbers at once; a click lands on the bar it sees
      el.dataset.drawn = "1";
      var chart = echarts.init(el, null, { renderer: "svg" });
      chart.setOption(option);
      var links = JSON.parse(el.dataset.links || "[]");
      chart.on("click", function (p) {
        var url = links[p.dataIndex];
        if (url) window.location.href = url;
      });
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  document.addEventListener("htmx:afterSettle", function (e) { draw(e.target); });
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
})();
