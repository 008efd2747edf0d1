(function () {
  "use strict";
  /* Sort tables by a header click and filter long tables. No network, no storage, no
     eval; allowed by the report's CSP through this script's SHA-256 alone. */
  function value(row, index, kind) {
    var cell = row.cells[index];
    var text = cell ? cell.textContent.trim() : "";
    if (kind === "num") {
      var n = parseFloat(text.replace(/[^0-9.\-]/g, ""));
      return isNaN(n) ? -Infinity : n;
    }
    return text.toLowerCase();
  }
  function sortBy(th) {
    var table = th.closest("table");
    var body = table.tBodies[0];
    var index = th.cellIndex;
    var kind = th.getAttribute("data-sort");
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = value(a, index, kind);
      var y = value(b, index, kind);
      return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (cell) {
      cell.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable th[data-sort]").forEach(function (th) {
    th.tabIndex = 0;
    th.addEventListener("click", function () { sortBy(th); });
    th.addEventListener("keydown", function (event) {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        sortBy(th);
      }
    });
  });
  document.querySelectorAll("table.filterable").forEach(function (table) {
    var input = document.createElement("input");
    input.type = "search";
    input.placeholder = "Filter rows";
    input.setAttribute("aria-label", "Filter the rows of this table");
    var wrap = document.createElement("p");
    wrap.className = "filter no-print";
    wrap.appendChild(input);
    table.parentNode.insertBefore(wrap, table);
    input.addEventListener("input", function () {
      var query = input.value.toLowerCase();
      Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
        row.hidden = query !== "" && row.textContent.toLowerCase().indexOf(query) === -1;
      });
    });
  });
  document.documentElement.setAttribute("data-script", "ready");
})();
