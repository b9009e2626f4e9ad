// Loaded before the widget manager (vendor/html-manager/embed-amd.js) on pages with ipywidgets
// snapshots; see nb_ipywidgets_js in _config.yml. Two fixes, so that the snapshots render offline
// and without JavaScript errors:
//
// 1. The widget manager loads its Font Awesome fonts from the folder of its require.js module's
//    URL, and require.js resolves the module names relative to the page
//    (book/@jupyter-widgets/html-manager/dist/, which does not exist), not to where embed-amd.js is.
//    Map those module names to vendor/html-manager/, where tools/fetch_js.sh puts the fonts.
//    (window.__jupyter_widgets_assets_path__ is read too, but only after the styles are inserted.)
// 2. The widgets typeset their labels with the MathJax 2 API (MathJax.Hub.Queue), but the book
//    loads MathJax 3, which has no MathJax.Hub: every label then throws "Cannot read properties of
//    undefined (reading 'Queue')" (jupyter-widgets/ipywidgets#3829). Give MathJax 3 a Hub.Queue
//    that typesets with MathJax 3's own API.
(function () {
  "use strict";
  var here = document.currentScript && document.currentScript.src;
  if (here) {
    var assets = new URL("vendor/html-manager/", here).href;
    window.__jupyter_widgets_assets_path__ = assets;
    if (window.require && window.require.config) {
      window.require.config({
        paths: {
          "@jupyter-widgets/html-manager/dist": assets.replace(/\/$/, ""),
          "@jupyter-widgets/html-manager": assets + "index",
        },
      });
    }
  }

  // MathJax 3 (tex-chtml.js, a deferred script) has replaced window.MathJax by DOMContentLoaded;
  // the widget manager renders the snapshots at the window's load event, after that.
  document.addEventListener("DOMContentLoaded", function () {
    var mathjax = window.MathJax;
    if (!mathjax || mathjax.Hub || !mathjax.startup) {
      return; // no MathJax on this page, or MathJax 2 with its own Hub
    }
    mathjax.Hub = {
      Queue: function () {
        Array.prototype.forEach.call(arguments, function (job) {
          if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
            mathjax.startup.promise
              .then(function () { return mathjax.typesetPromise([job[2]]); })
              .catch(function (error) { console.error("MathJax could not typeset a widget:", error); });
          }
        });
      },
    };
  });
})();
