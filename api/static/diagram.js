// The project's BPMN diagram (bpmn-js viewer, served from /static/vendor) with each stage's call activity
// marked done / active / overdue / refused from /ui/projects/{id}/diagram-state.json.
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("diagram");
  if (!box || typeof BpmnJS === "undefined") { return; }
  var viewer = new BpmnJS({ container: box });
  Promise.all([
    fetch(box.dataset.xml, { credentials: "same-origin" }).then(function (r) { return r.text(); }),
    fetch(box.dataset.state, { credentials: "same-origin" }).then(function (r) { return r.json(); })
  ]).then(function (loaded) {
    return viewer.importXML(loaded[0]).then(function () {
      var canvas = viewer.get("canvas");
      var registry = viewer.get("elementRegistry");
      canvas.zoom("fit-viewport");
      Object.keys(loaded[1]).forEach(function (id) {
        if (registry.get(id)) {
          canvas.addMarker(id, loaded[1][id]);
          box.setAttribute("data-marked-" + id, loaded[1][id]);
        }
      });
      box.setAttribute("data-ready", "true");
    });
  }).catch(function (err) {
    box.textContent = "流程图加载失败：" + err;
    box.setAttribute("data-ready", "error");
  });
});
