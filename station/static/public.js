// The candidates' pages work without this file; with it: text typed in capitals as it is
// typed (the form is written in capitals), and the list of problems read out first.
(function () {
  "use strict";
  document.querySelectorAll('form.prefill input[autocapitalize="characters"], form.prefill input[type="email"]').forEach(function (input) {
    input.addEventListener("input", function () {
      var start = input.selectionStart, end = input.selectionEnd, upper = input.value.toLocaleUpperCase("fr");
      if (upper !== input.value && upper.length === input.value.length) {
        input.value = upper;
        if (input.setSelectionRange && start !== null) { try { input.setSelectionRange(start, end); } catch (e) { /* email inputs */ } }
      }
    });
  });
  var problems = document.getElementById("problems");
  if (problems) { problems.focus(); }
})();
