// The API console: Swagger UI (vendored, see `make vendor`) on this API's own OpenAPI
// document. "Try it out" sends requests to this origin (the document's server is "/");
// "Authorize" takes an API key from `paysys keygen`, sent as `Authorization: Bearer <key>`.
"use strict";
window.ui = SwaggerUIBundle({
  url: new URL("/openapi.json", window.location.href).href,
  dom_id: "#swagger-ui",
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
  deepLinking: true,
  displayRequestDuration: true,
  docExpansion: "list",
  defaultModelsExpandDepth: 0,
  tryItOutEnabled: false,
  persistAuthorization: false, // the key stays in this page, never in localStorage
  validatorUrl: null, // no badge fetched from an online validator
});
