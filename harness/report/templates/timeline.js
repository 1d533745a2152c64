// The timeline: every client op as a bar on its worker's row, drawn on a canvas. Only the
// ops inside the visible range are drawn, so 100k ops pan and zoom smoothly.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var canvas = document.getElementById("timeline");
  var tip = document.getElementById("timeline-tip");
  var range = document.getElementById("tl-range");
  var ctx = canvas.getContext("2d");
  var COLORS = ["#2f6fc4", "#cd2d3c", "#e89100"];
  var NAMES = ["ok", "fail", "info"];
  var LEFT = 110, TOP = 22, RIGHT = 12;
  var lanes = data.lanes.length;
  var laneH = lanes > 80 ? 6 : lanes > 40 ? 10 : 18;
  var end = data.end > 0 ? data.end : 1;
  var t0 = 0, t1 = end * 1.01;
  var dpr = window.devicePixelRatio || 1;
  var width = 0, height = TOP + lanes * laneH + 8;
  // Per lane, ops sorted by start (they are already in invocation order).
  var byLane = [];
  for (var l = 0; l < lanes; l++) byLane.push([]);
  data.ops.forEach(function (op) { byLane[op[0]].push(op); });

  function opEnd(op) { return op[3] < 0 ? end : op[3]; }
  function x(t) { return LEFT + (t - t0) / (t1 - t0) * (width - LEFT - RIGHT); }
  function tAt(px) { return t0 + (px - LEFT) / (width - LEFT - RIGHT) * (t1 - t0); }
  // Enough digits that eight ticks across the view read differently.
  function fmt(t) {
    if (!data.seconds) return "line " + Math.round(t);
    var span = t1 - t0;
    var digits = span > 0 ? Math.max(0, Math.min(9, Math.ceil(-Math.log10(span / 8)) + 1)) : 1;
    return t.toFixed(digits) + " s";
  }

  function resize() {
    width = canvas.parentElement.clientWidth - 16;
    canvas.style.width = width + "px";
    canvas.style.height = height + "px";
    canvas.width = Math.round(width * dpr);
    canvas.height = Math.round(height * dpr);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    draw();
  }

  function draw() {
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px sans-serif";
    // Fault windows.
    data.windows.forEach(function (w) {
      var a = Math.max(x(w[1]), LEFT), b = Math.min(x(w[2]), width - RIGHT);
      if (b <= a) return;
      ctx.globalAlpha = 0.16;
      ctx.fillStyle = w[3];
      ctx.fillRect(a, TOP, b - a, lanes * laneH);
      ctx.globalAlpha = 1;
      ctx.fillStyle = w[3];
      ctx.fillText(w[0], a + 2, TOP - 8);
    });
    // Axis ticks.
    ctx.fillStyle = "#5b6475";
    ctx.strokeStyle = "#dde1e8";
    var ticks = data.seconds ? 8 : Math.max(1, Math.min(8, Math.floor(t1 - t0)));
    for (var i = 0; i <= ticks; i++) {
      var t = t0 + (t1 - t0) * i / ticks, px = x(t);
      ctx.beginPath(); ctx.moveTo(px, TOP); ctx.lineTo(px, TOP + lanes * laneH); ctx.stroke();
      if (i < ticks) ctx.fillText(fmt(t), px + 2, height - 1);
    }
    // Lane labels.
    if (laneH >= 10) {
      for (var l = 0; l < lanes; l++) ctx.fillText("p " + data.lanes[l], 2, TOP + l * laneH + laneH - 5);
    }
    // Ops inside the range.
    var drawn = 0;
    for (var l = 0; l < lanes; l++) {
      var ops = byLane[l], y = TOP + l * laneH + 1;
      for (var k = 0; k < ops.length; k++) {
        var op = ops[k];
        if (op[2] > t1) break;
        var e = opEnd(op);
        if (e < t0) continue;
        var a = Math.max(x(op[2]), LEFT), b = Math.min(x(e), width - RIGHT);
        ctx.fillStyle = COLORS[op[4]];
        ctx.globalAlpha = op[3] < 0 ? 0.45 : 0.85;
        // Back-to-back ops stay apart by a pixel when there is room.
        var w = b - a > 3 ? b - a - 1 : Math.max(b - a, 1);
        ctx.fillRect(a, y, w, laneH - 2);
        drawn++;
      }
    }
    ctx.globalAlpha = 1;
    range.textContent = " showing " + fmt(t0) + " to " + fmt(t1) + " (" + drawn + " ops)";
  }

  function find(px, py) {
    var l = Math.floor((py - TOP) / laneH);
    if (l < 0 || l >= lanes) return null;
    var t = tAt(px), slack = (t1 - t0) * 2 / width;
    var ops = byLane[l], best = null;
    for (var k = 0; k < ops.length; k++) {
      var op = ops[k];
      if (op[2] - slack > t) break;
      if (opEnd(op) + slack >= t) best = op;
    }
    return best;
  }

  function zoom(factor, at) {
    var c = at === undefined ? (t0 + t1) / 2 : at;
    var n0 = c - (c - t0) * factor, n1 = c + (t1 - c) * factor;
    var min = data.seconds ? 1e-5 : 2;
    if (n1 - n0 < min) return;
    t0 = Math.max(n0, -end * 0.01); t1 = Math.min(n1, end * 1.05);
    draw();
  }

  canvas.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var rect = canvas.getBoundingClientRect();
    zoom(ev.deltaY < 0 ? 0.8 : 1.25, tAt(ev.clientX - rect.left));
  }, { passive: false });
  var dragging = null;
  canvas.addEventListener("mousedown", function (ev) { dragging = { x: ev.clientX, t0: t0, t1: t1 }; canvas.style.cursor = "grabbing"; });
  window.addEventListener("mouseup", function () { dragging = null; canvas.style.cursor = "grab"; });
  canvas.addEventListener("mousemove", function (ev) {
    var rect = canvas.getBoundingClientRect();
    var px = ev.clientX - rect.left, py = ev.clientY - rect.top;
    if (dragging) {
      var dt = (ev.clientX - dragging.x) / (width - LEFT - RIGHT) * (dragging.t1 - dragging.t0);
      t0 = dragging.t0 - dt; t1 = dragging.t1 - dt;
      draw();
      return;
    }
    var op = find(px, py);
    if (!op) { tip.style.display = "none"; return; }
    var lat = op[3] < 0 ? "never completed" : data.seconds ? ((op[3] - op[2]) * 1000).toFixed(1) + " ms" : (op[3] - op[2]) + " lines";
    tip.textContent = "process " + op[5] + " · " + data.fs[op[1]] + " · " + NAMES[op[4]] + "\n" +
      "value: " + op[6] + "\n" + fmt(op[2]) + " → " + (op[3] < 0 ? "…" : fmt(op[3])) + " (" + lat + ")" +
      (op[7] > 0 ? "\nline " + op[7] + " of the history" : "");
    tip.style.display = "block";
    tip.style.left = Math.min(px + 14, width - 300) + "px";
    tip.style.top = (py + 16) + "px";
  });
  canvas.addEventListener("mouseleave", function () { tip.style.display = "none"; });
  canvas.addEventListener("dblclick", function () { t0 = 0; t1 = end * 1.01; draw(); });
  document.getElementById("tl-in").addEventListener("click", function () { zoom(0.5); });
  document.getElementById("tl-out").addEventListener("click", function () { zoom(2); });
  document.getElementById("tl-all").addEventListener("click", function () { t0 = 0; t1 = end * 1.01; draw(); });
  window.addEventListener("resize", resize);
  resize();
})();
