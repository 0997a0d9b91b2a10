// The project's BPMN diagram (bpmn-js viewer, served from /static/vendor), level by level: the main model with
// each stage marked done / active / overdue / refused, and — drilled into from a button or a click on a call
// activity — a stage's model, its intake, each matter's model, with their tasks marked from the ledger and the
// ready tasks (/ui/projects/{id}/diagram-view.json; api/pages/diagram.py).
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("diagram");
  if (!box || typeof BpmnJS === "undefined") { return; }
  var nav = document.getElementById("diagram-nav");
  var title = document.getElementById("diagram-title");
  var viewer = new BpmnJS({ container: box });
  var trail = [];  // the views above the one shown: [{model, stage, matter, title}]
  var current = null;

  function query(v) {
    var q = [];
    ["model", "stage", "matter"].forEach(function (k) { if (v && v[k]) { q.push(k + "=" + encodeURIComponent(v[k])); } });
    return q.length ? "?" + q.join("&") : "";
  }

  function button(label, onClick) {
    var b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.addEventListener("click", onClick);
    return b;
  }

  function show(v) {
    box.setAttribute("data-ready", "loading");
    return Promise.all([
      fetch(box.dataset.base + "diagram.bpmn" + query(v), { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error(r.status); } return r.text(); }),
      fetch(box.dataset.base + "diagram-view.json" + query(v), { credentials: "same-origin" }).then(function (r) {
        if (!r.ok) { throw new Error(r.status); } return r.json(); })
    ]).then(function (loaded) {
      return viewer.importXML(loaded[0]).then(function () {
        var data = loaded[1];
        var canvas = viewer.get("canvas");
        var registry = viewer.get("elementRegistry");
        canvas.zoom("fit-viewport");
        Array.prototype.slice.call(box.attributes).forEach(function (a) {
          if (a.name.indexOf("data-marked-") === 0) { box.removeAttribute(a.name); }
        });
        Object.keys(data.states).forEach(function (id) {
          if (registry.get(id)) {
            canvas.addMarker(id, data.states[id]);
            box.setAttribute("data-marked-" + id, data.states[id]);
          }
        });
        current = { data: data, view: v };
        box.setAttribute("data-model", data.model);
        if (title) { title.textContent = trail.map(function (t) { return t.title; }).concat([data.title]).join(" › "); }
        renderNav(data, registry);
        box.setAttribute("data-ready", "true");
      });
    }).catch(function (err) {
      box.textContent = "流程图加载失败：" + err;
      box.setAttribute("data-ready", "error");
    });
  }

  function drillInto(entry) {
    trail.push({ view: current.view, title: current.data.title });
    show({ model: entry.model, stage: entry.stage, matter: entry.matter });
  }

  function renderNav(data, registry) {
    if (!nav) { return; }
    nav.textContent = "";
    if (trail.length) {
      nav.appendChild(button("返回上一级", function () { var up = trail.pop(); show(up.view); }));
    }
    var seen = {};
    data.drill.forEach(function (entry) {
      var key = entry.model + "|" + entry.stage + "|" + (entry.matter || "");
      if (seen[key] || (entry.element && !registry.get(entry.element) && entry.model !== "matter_approval")) { return; }
      seen[key] = true;
      var b = button("查看" + entry.label, function () { drillInto(entry); });
      b.setAttribute("data-drill", key);
      nav.appendChild(b);
    });
  }

  viewer.on("element.click", function (event) {
    if (!current) { return; }
    var id = event.element && event.element.id;
    var entry = current.data.drill.filter(function (d) { return d.element === id; })[0];
    if (entry) { drillInto(entry); }
  });

  show(null);
});
