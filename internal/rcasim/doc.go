// Package rcasim is a deterministic, seeded fault simulator that emits OTLP
// pdata for training and testing root-cause ranking (gnn_root_cause).
//
// Config.Shape picks the system. The default, ShapeTrainTicket, models the
// Nezha TrainTicket data we evaluate on, so that a model trained here meets
// familiar input there (below). ShapeGRPCShop (an Online Boutique-style
// shop: a frontend fanning out to about ten gRPC services, short calls, at
// most two layers below the frontend, SERVER/CLIENT span kinds, no logs at
// all, status on failing SERVER spans only) and ShapeDeepChain (6-8
// service layers with a Kafka PRODUCER -> CONSUMER hop in the middle that
// the caller does not wait for, span kinds, text logs) share the fault
// kinds, the timing model and the metrics; see their constants. Their
// entry service (the frontend, the API gateway) runs code of its own and
// can be the culprit of a CPU, exception or return fault, as the Online
// Boutique frontend is in Nezha's data; TrainTicket's gateway only routes
// and never is. The TrainTicket shape:
//
//   - a gateway ("/*" entry, FilteringWebHandler.handle, exit spans) routing
//     to front services by a Zipf-skewed choice, and a layered DAG of Java-style
//     services below it (depth up to 5, shared leaves such as auth/config);
//   - per request handler an entry span ("/api/v1/<svc>service/<verb>"), a
//     controller span, optionally a repository and SQL span, and one exit span
//     ("HTTP GET"/"HTTP POST") per downstream call whose only child is the
//     callee's entry span; no span kind, status Unset unless a fault fails it;
//   - log-normal self times and network gaps, sequential and parallel calls;
//   - request logs in the TrainTicket layout carrying trace and span id (the
//     span id is the controller span, as in the data) and code.lineno: per
//     endpoint 1-5 statements in code order on every request's path or a
//     branch (two thirds of the services; the rest log a rare line at most),
//     which an exception or early return cuts short; traceless background
//     INFO and ERROR noise, and per-pod CPU/memory gauges driven by busy time;
//   - five fault kinds (see the Fault* constants) that act only on requests
//     starting at or after the injection time, so that fault-free steps are
//     byte-identical whatever fault a seed injects later.
//
// Each trace draws from its own random stream (seed, trace index), so output
// is reproducible for a Config on one platform; floating-point differences
// between architectures may change it elsewhere.
//
// It does not model: queueing or thread-pool saturation (load does not slow
// services down), retries other than in the timeout cascade, client-side load
// balancing effects, pod restarts, node-level metrics, metrics other than CPU
// and memory, or the SkyWalking-specific quirks of the data such as
// millisecond-rounded entry span starts. Traces that would end after the last
// batch are dropped rather than cut.
package rcasim // import "github.com/otelcol-biz/otelcol-biz/internal/rcasim"
