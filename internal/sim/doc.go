// Package sim starts the three upstream simulators (Artifi, Zoho Bigin,
// IBM BPM) on loopback ports, seeded with demo data, and returns the URLs
// and the test credentials that the clients must be configured with.
//
// The simulators live apart from the clients in internal/upstream so that
// no client depends on them: of the production code, only `lifecycle
// simulate` and `lifecycle dev` import this tree; everything else that does
// is a test. Under it:
//
//   - artifisim, biginsim, bpmsim: one simulator per upstream, answering
//     with the bodies that the client packages hold as their contract;
//   - faults: the failures real upstreams produce (slowness, 5xx, 429,
//     resets, lost replies), injected into any simulator at start or at
//     run time through PUT /_sim/faults;
//   - simserver: the HTTP listener they share, which refuses any address
//     other than loopback because the simulators accept well-known
//     credentials.
package sim
