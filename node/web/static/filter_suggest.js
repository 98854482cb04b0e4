/* Search fields with suggestions in the task list filters. As the user types,
   the field requests matches from its suggestion endpoint (data-suggest-src) and
   lists them in its <datalist>. Choosing one stores its id in the hidden
   field named by data-suggest-id, so the filter does not depend on the name
   being unique. Typing anything else clears the id, and the server then
   looks the typed name up. Without this script the fields are plain text
   fields. No external code. */
(function () {
  "use strict";

  var DELAY_MS = 200;

  function setUp(input) {
    var list = document.getElementById(input.getAttribute("list"));
    var hidden = document.getElementById(input.getAttribute("data-suggest-id"));
    var source = input.getAttribute("data-suggest-src");
    var field = input.getAttribute("data-suggest-field");
    var idsByValue = {};
    var timer = null;
    var latest = 0;

    function show(items) {
      var options = document.createDocumentFragment();
      var seen = {};
      idsByValue = {};
      items.forEach(function (item) {
        var value = item[field];
        // Two agencies may share a name, so the parent's name is added to the second.
        if (seen[value] && item.parent) {
          value = value + " (" + item.parent + ")";
        }
        seen[value] = true;
        idsByValue[value] = String(item.id);
        var option = document.createElement("option");
        option.value = value;
        if (item.summary) {
          option.label = item.summary;
        }
        options.appendChild(option);
      });
      list.replaceChildren(options);
      list.setAttribute("data-loaded", String(items.length));
    }

    function ask() {
      var request = ++latest;
      var url = source + "?q=" + encodeURIComponent(input.value.trim());
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.json();
        })
        .then(function (body) {
          if (request === latest) {
            show(body.items);
          }
        })
        .catch(function (error) {
          // The field still works as a plain text field.
          if (window.console) {
            window.console.warn("suggestions failed", url, error);
          }
        });
    }

    input.addEventListener("input", function () {
      var id = idsByValue[input.value];
      hidden.value = id || "";
      if (id) {
        return;
      }
      window.clearTimeout(timer);
      timer = window.setTimeout(ask, DELAY_MS);
    });
  }

  var inputs = document.querySelectorAll("input[data-suggest-src]");
  Array.prototype.forEach.call(inputs, setUp);
}());
