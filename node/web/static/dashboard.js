/* Live dashboard and map: swap in the fresh panel when the node reports a change,
   and show a province's figures on hover or click. No external code. */
(function () {
  "use strict";

  var root = document.getElementById("dashboard-live");
  if (!root) {
    return;
  }
  var status = document.querySelector("[data-live-status]");
  var shown = root.getAttribute("data-change-count");
  var loading = false;
  var pending = false;
  var pinned = null;

  function setStatus(text) {
    if (!status) {
      return;
    }
    status.textContent = text || "";
    status.hidden = !text;
  }

  function refresh() {
    if (loading) {
      pending = true;
      return;
    }
    loading = true;
    fetch(root.getAttribute("data-live-src"), {
      credentials: "same-origin",
      headers: { "Accept": "text/html" }
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    }).then(function (html) {
      root.innerHTML = html;
      var marker = root.querySelector("[data-change-count]");
      if (marker) {
        shown = marker.getAttribute("data-change-count");
        root.setAttribute("data-change-count", shown);
      }
      setStatus("");
      if (pinned) {
        showProvince(root.querySelector('path[data-province="' + pinned + '"]'));
      }
    }).catch(function () {
      setStatus(root.getAttribute("data-offline-text"));
    }).then(function () {
      loading = false;
      if (pending) {
        pending = false;
        refresh();
      }
    });
  }

  if (window.EventSource) {
    var source = new EventSource(root.getAttribute("data-events-src"));
    source.addEventListener("hello", function (event) {
      setStatus("");
      if (event.data !== shown) {
        refresh();
      }
    });
    source.addEventListener("change", function (event) {
      if (event.data !== shown) {
        refresh();
      }
    });
    source.addEventListener("open", function () {
      setStatus("");
    });
  }

  function showProvince(path) {
    var info = document.getElementById("map-info");
    if (!info) {
      return;
    }
    info.textContent = "";
    if (!path) {
      var empty = document.createElement("p");
      empty.className = "muted";
      empty.textContent = info.getAttribute("data-empty-text");
      info.appendChild(empty);
      return;
    }
    var title = document.createElement("h3");
    title.textContent = path.getAttribute("data-name");
    var summary = document.createElement("p");
    summary.setAttribute("data-province-summary", path.getAttribute("data-province"));
    summary.textContent = path.getAttribute("data-summary");
    info.appendChild(title);
    info.appendChild(summary);
    if (path.getAttribute("data-overdue")) {
      var overdue = document.createElement("p");
      overdue.textContent = path.getAttribute("data-overdue");
      info.appendChild(overdue);
    }
    ["data-source-own", "data-source-reported"].forEach(function (name) {
      if (path.getAttribute(name)) {
        var source = document.createElement("p");
        source.className = "muted";
        source.textContent = path.getAttribute(name);
        info.appendChild(source);
      }
    });
    var href = path.getAttribute("data-href");
    if (href) {
      var link = document.createElement("a");
      link.href = href;
      link.textContent = "\u2192 " + path.getAttribute("data-name");
      info.appendChild(link);
    }
  }

  function provinceOf(target) {
    return target && target.closest ? target.closest("path[data-province]") : null;
  }

  root.addEventListener("mouseover", function (event) {
    var path = provinceOf(event.target);
    if (path) {
      showProvince(path);
    }
  });
  root.addEventListener("focusin", function (event) {
    var path = provinceOf(event.target);
    if (path) {
      showProvince(path);
    }
  });
  root.addEventListener("mouseout", function (event) {
    if (provinceOf(event.target) && !pinned) {
      showProvince(null);
    } else if (provinceOf(event.target) && pinned) {
      showProvince(root.querySelector('path[data-province="' + pinned + '"]'));
    }
  });
  root.addEventListener("click", function (event) {
    var path = provinceOf(event.target);
    if (!path) {
      return;
    }
    var previous = root.querySelector("path.pinned");
    if (previous) {
      previous.classList.remove("pinned");
    }
    pinned = path.getAttribute("data-province");
    path.classList.add("pinned");
    showProvince(path);
  });
})();
