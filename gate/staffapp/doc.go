// Package staffapp serves the gate's staff app: one page, embedded in the
// binary, that a kiosk browser opens full screen, and the small JSON API it
// calls (docs/staff-app.md specifies both). kido-gate serve wires it to the
// gate's replica and sync loop.
//
// What it guarantees:
//
//   - Every decision is made by the replica's Scan (or Admit) and is on disk
//     before the answer that shows it is written.
//   - The API answers only requests that a page served by this handler can
//     make: a Host naming the address it listens on (no DNS rebinding), the
//     X-Kido-Staff header (which a cross-site form or image cannot send, and
//     a cross-site script cannot send without a CORS preflight this handler
//     never grants), no foreign Origin, and a JSON or image body where one is
//     expected. See docs/staff-app.md, "Security".
//   - Find, manual admission and ticket history need the staff PIN when one
//     is set; scanning never does. Wrong PINs are rate limited.
//   - Nothing the page shows is loaded from the network: no CDN, no fonts.
package staffapp
