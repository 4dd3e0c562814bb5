// Show only the fields of the chosen trigger type (the form works without this too).
(function () {
  const groups = {cron: /^cron_/, interval: /^(weeks|days|hours|minutes|seconds)$/, date: /^run_date$/};
  const select = document.getElementById("id_trigger_type");
  function toggle() {
    document.querySelectorAll("#trigger-form [data-field]").forEach(function (row) {
      const name = row.dataset.field;
      const owner = Object.keys(groups).find(function (type) { return groups[type].test(name); });
      row.style.display = owner && owner !== select.value ? "none" : "";
    });
  }
  select.addEventListener("change", toggle);
  toggle();
})();
