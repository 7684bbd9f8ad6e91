(function () {
  "use strict";
  /* The only script the stdout frame runs (its CSP pins this text's hash): tell the page how
     tall the output is, so that the page can show it whole. */
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
  if (window.ResizeObserver) new ResizeObserver(send).observe(document.documentElement);
  window.addEventListener("load", send);
  window.addEventListener("resize", send);
})();
