// The pages' icon (the dashboard, the node's demo page, the dev app): a small globe, inline so a
// page never asks for a /favicon.ico that is not there (a 404 on every load).
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><circle cx="8" cy="8" r="7" fill="#1f3b57" stroke="#4aa3ff"/>' +
  '<path d="M8 1v14M1 8h14M8 1c-4 4-4 10 0 14M8 1c4 4 4 10 0 14" fill="none" stroke="#4aa3ff"/></svg>';

/** For `<link rel="icon" href="…">` (pages with a CSP need `img-src data:`). */
export const FAVICON_DATA_URL = `data:image/svg+xml,${encodeURIComponent(FAVICON_SVG)}`;
