// Preloaded into the benchmark's private Azurite by `./dev bench` (NODE_OPTIONS=--require).
//
// Azurite garbage-collects the extents (stored bodies) of deleted queue messages and overwritten
// blobs in a mark-and-sweep pass every 60 s (queue) and 10 min (blob). Each extent is removed from
// a LokiJS collection with an index on its id, at a cost that grows with the number of extents:
// 3.6 ms each among 1,500, 22 ms among 5,000 (node, lokijs 1.5.12 as Azurite 3.37 uses it). The
// pass is synchronous, so it stops Azurite's one event loop, blob and queue alike: delivering
// tickets at 72/s, each minute's pass deleted 2,000-2,800 extents and answered nothing for
// 28-52 s (docs/benchmarks-notes.md, "Tickets at WhatsApp's pace"). Azure Storage has no such
// pause, and its housekeeping is not on the app's instance, so the benchmark postpones the passes
// past any run: the first one still runs at start (on an empty store), the next in 24 h. The
// deleted bodies stay in memory meanwhile, a few hundred bytes each.
"use strict";
const path = require("path");
const azurite = path.join(__dirname, "..", "node_modules", "azurite", "dist", "src");
const postponed = 24 * 60 * 60 * 1000;
for (const service of ["queue", "blob"]) {
  // Read by the GC managers' constructors as a default argument, so setting it before they are built is enough.
  const constants = require(path.join(azurite, service, "utils", "constants.js"));
  if (typeof constants.DEFAULT_GC_INTERVAL_MS !== "number") {
    // A later Azurite moved it: fail loudly rather than measure the stalls again.
    throw new Error(`Azurite's ${service} DEFAULT_GC_INTERVAL_MS is gone; see EventRegistration.Benchmarks/azurite-bench.cjs`);
  }
  constants.DEFAULT_GC_INTERVAL_MS = postponed;
}
process.stderr.write(`evreg bench: Azurite's extent GC passes postponed to every ${postponed / 3600000} h\n`);
