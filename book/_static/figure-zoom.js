// A figure that the column shows smaller than it was drawn opens at full size on a click (and
// closes on a click or Escape), so that its text can be read on a narrow screen.
document.addEventListener("DOMContentLoaded", function () {
  "use strict";
  var dialog = null;

  function open(src) {
    if (!dialog) {   // made on first use: an <img> without a source would count as a broken image
      dialog = document.createElement("dialog");
      dialog.className = "figure-zoom";
      dialog.setAttribute("aria-label", "figure at full size");
      dialog.appendChild(document.createElement("img")).alt = "the figure at full size";
      dialog.addEventListener("click", function () { dialog.close(); });
      document.body.appendChild(dialog);
    }
    dialog.querySelector("img").src = src;
    dialog.showModal();
  }

  function mark(img) {
    img.classList.toggle("zoomable", img.naturalWidth > img.clientWidth + 1);
  }

  document.querySelectorAll("div.cell_output img").forEach(function (img) {
    if (img.complete) mark(img); else img.addEventListener("load", function () { mark(img); });
    img.addEventListener("click", function () {
      if (img.classList.contains("zoomable")) open(img.currentSrc || img.src);
    });
  });
  window.addEventListener("resize", function () {
    document.querySelectorAll("div.cell_output img").forEach(mark);
  });
});
