(function () {
  "use strict";
  /* The only script the stdout frame runs (its CSP pins this text's hash).

     It puts the output into the frame. The page hands the output over as text (the body's
     data-stdout, escaped), never as markup the frame's parser would act on: parsed here into an
     inert <template>, the output loses every <meta> before it reaches the document. A
     <meta http-equiv="refresh"> would otherwise navigate the frame (a sandbox with allow-scripts
     allows that; the Navigation API does not see it), and the page, putting the output back,
     would load it again and again. A target= on a link goes too, so that every link opens in a
     new tab (the frame's <base target="_blank">) and the frame keeps the output. Scripts and
     event handlers in the output stay dead: a parsed <script> never runs, and the CSP allows
     no inline handler.

     And it tells the page how tall the output is, so that the page can show it whole. */
  function show() {
    var body = document.body;
    var holder = document.createElement("template");
    holder.innerHTML = body.getAttribute("data-stdout") || "";
    body.removeAttribute("data-stdout");
    var output = holder.content;
    Array.prototype.forEach.call(output.querySelectorAll("meta"), function (meta) {
      meta.remove();
    });
    Array.prototype.forEach.call(output.querySelectorAll("[target]"), function (link) {
      link.removeAttribute("target");
    });
    body.appendChild(output);
  }
  var last = -1;
  function send() {
    var root = document.documentElement;
    var scrollbar = Math.max(0, window.innerHeight - root.clientHeight);
    var height = Math.ceil(root.getBoundingClientRect().height + scrollbar);
    if (height !== last) {
      last = height;
      parent.postMessage({ sssFrameHeight: height }, "*");
    }
  }
  if (document.body) show();
  else document.addEventListener("DOMContentLoaded", show);
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
})();
