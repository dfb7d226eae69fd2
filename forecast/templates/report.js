(function () {
  "use strict";
  // Sort a table by a column on a click (or Enter) on its header; numbers by their data-sort value.
  function key(cell) {
    var v = cell ? cell.getAttribute("data-sort") : null;
    if (v !== null && v !== "" && !isNaN(Number(v))) { return [0, Number(v)]; }
    return [1, cell ? cell.textContent.trim().toLowerCase() : ""];
  }
  function compare(a, b) {
    if (a[0] !== b[0]) { return a[0] - b[0]; }
    return a[1] < b[1] ? -1 : (a[1] > b[1] ? 1 : 0);
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    if (!table.tHead || !table.tBodies.length) { return; }
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, column) {
      th.tabIndex = 0;
      th.setAttribute("aria-sort", "none");
      function sort() {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        var up = th.getAttribute("aria-sort") !== "ascending";
        rows.sort(function (a, b) { return compare(key(a.cells[column]), key(b.cells[column])) * (up ? 1 : -1); });
        Array.prototype.forEach.call(heads, function (h) { h.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", up ? "ascending" : "descending");
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (event) {
        if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
      });
    });
  });
  // Open or close every folded section at once.
  var controls = document.querySelector(".controls");
  if (controls) {
    [["Open all sections", true], ["Close all sections", false]].forEach(function (pair) {
      var button = document.createElement("button");
      button.type = "button";
      button.textContent = pair[0];
      button.addEventListener("click", function () {
        Array.prototype.forEach.call(document.querySelectorAll("details"), function (d) { d.open = pair[1]; });
      });
      controls.appendChild(button);
    });
    controls.hidden = false;
  }
})();
