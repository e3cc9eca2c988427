// Package frame transforms captured frames before they are replayed: it
// replaces payloads by zeros of the same length with valid checksums
// ("replay without the original payload", as NetVCR does), rewrites MAC and
// IP addresses with incremental checksum updates (RFC 1624), and truncates.
//
// The per-frame functions (Parse, ZeroPayload, Rewrite.Apply, Truncate and
// Transformer.Apply) run inside the timed replay loop. They work in place on
// the caller's []byte, never allocate, and return only the sentinel errors
// declared in this package, so a caller can compare them with == or
// errors.Is at no cost. On error they leave the frame unchanged.
//
// Offsets in a Layout are indices into the frame as captured. A captured
// frame may be shorter than its IP length says (snaplen truncation) or
// longer (Ethernet trailer padding); Layout.End is where the IP packet ends
// according to its own length field, and bytes past it (a trailer) are never
// touched.
package frame
