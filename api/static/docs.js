// Swagger UI for /openapi.json, from the locally served bundle (no CDN, no inline script).
window.addEventListener("load", function () {
  var node = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: node.dataset.openapi, dom_id: "#swagger-ui", deepLinking: true });
});
