// Package features is the pure windowed-feature engine: the state of one
// series (a metric of one source with one set of tags: a Series; the tags
// themselves are its owner's business), fed with event-time samples, and the
// features read from it over sliding event-time windows. It owns the window
// math, the update, the snapshots and the binary encoding of that state. It
// is stdlib only, never reads the clock (time is always a parameter), starts
// no goroutine and does no I/O. A Series is not safe for concurrent use: one
// actor owns it.
//
// # Features
//
// Per configured window (default 1m, 5m, 15m, 1h): count, sum, avg, min,
// max, population stddev, first and last (value and event time), rate (the
// least-squares slope per second, PromQL deriv), delta (last - first),
// z-score of the last value ((last - avg) / stddev; NOT AVAILABLE, reported
// as 0 with ok=false from Stat, when stddev is 0), p50/p95/p99 from a
// DDSketch-style sketch and, for Counter configs, PromQL increase() and
// rate() ("increase", "counter_rate": a drop is a reset and the new value
// counts in full; extrapolated to the window edges exactly as Prometheus'
// extrapolatedRate does). Per half-life (default 1m, 10m): an event-time
// EWMA mean and variance. Series-wide: the last sample and
// SecondsSinceLast(now).
//
// # Windows and the bucket layout
//
// A window ends at the newest event time T seen by the series and covers
// (T - W, T] (left-open, as PromQL ranges). Window i owns level i, whose
// buckets are W_i/30 wide; levels are disjoint in time, the finest newest:
// with the defaults level 0 has 2 s buckets for the newest minute, level 1
// 10 s buckets back to 5 m, level 2 30 s buckets back to 15 m and level 3
// 120 s buckets back to 1 h (each level's lower edge is rounded down to the
// next level's width, so buckets move down whole). As T advances, buckets
// leaving a level merge into the coarser one; past the last level they
// expire. A window reads all finer levels and its own, so its start is
// resolved to a bucket of width W/30. At most 113 buckets are live.
//
// A bucket with at most 16 samples keeps them exactly, in one sorted
// per-series buffer of two packed columns (raw.go): times as 2- or 4-byte
// offsets (whole seconds when every time is one), values as 2- or 4-byte
// decimal mantissas when they are short decimals, else 8 bytes, each
// column as narrow as its live samples allow; a value is read back as the
// very double it was. A 17th sample folds the bucket into an aggregate: n,
// first/last (value and time), sum, min, max, M2, the time sums Σt' and
// Σt'² (whole milliseconds from the bucket start), the time-value
// comoment, the counter increase inside the bucket and a sketch of at most
// 32 bins. Aggregates merge with Chan's formulas, in time order. A level
// keeps its aggregates in a ring of slots, allocated while it holds one; a
// raw bucket's samples are counted from the sorted buffer, so the levels
// of a sparse stream hold no slots at all.
//
// # Late and out-of-order samples
//
// Lateness (default 1m, at most the smallest window) bounds how far behind
// T a sample may be: older ones are not folded in and Add returns TooLate
// (reason "too_late"). Accepted samples always land in level 0 at 2 s
// resolution. Raw buckets are sorted, so every feature, the order-dependent
// ones included (first/last, counter increase across resets), equals
// in-order arrival. An aggregate keeps first/last exact for late samples and
// its counter increase exact unless a late sample lands strictly inside its
// [first, last] time span next to a counter reset (only possible in dense
// streams, >16 samples per 2 s): the increase is then left unchanged, which
// is exact for a monotone stretch. NaN and ±Inf values and timestamps beyond
// ±2^53 ms are Rejected with an error. A jump far ahead expires old buckets
// in work bounded by the bucket count.
//
// # Clocks running ahead
//
// T is the newest event time of the series, whatever the wall clock says: a
// sample from a clock running ahead would move T and make the metric's
// on-time samples look late. The series does not know when a sample
// arrived, so its callers bound how far ahead of its record's receive time
// a sample may be before it reaches Add: the ingest stage refuses one ahead
// by more than max_future (30 s, reason "future"), and a source's actor one
// ahead by more than half the metric's Lateness (same reason). A sample
// that passes moves T by less than Lateness/2, so an on-time sample, behind
// its own receive time by less than the other half, is still accepted.
// The source's clock that rules read (a separate thing: see actors) is
// capped at the receive time, so such a sample does not advance no-data
// timers either.
//
// # Resends
//
// A series holds at most one sample per event time: a sample at an event
// time already applied is a resend (a client or agent retry, a replay) and
// Add returns Duplicate (reason "duplicate") without changing anything; the
// first one stays, whatever the values (a resend older than the lateness
// bound is TooLate, as the sample would be). A stream with resends leaves
// exactly the state of the same stream without them (TestResendsChangeNothing
// compares the encodings byte for byte). This is exact for every sample Add
// can still accept: a raw bucket holds its samples' times already, and an
// aggregated bucket of level 0 that reaches into the lateness horizon
// [T - Lateness, T] keeps the exact set of its times (times.go): a list of
// one-byte gaps, or a bitmap of ceil(width/8) bytes once smaller (above
// about 125 samples/s with 2 s buckets). The set is dropped as soon as T
// moves the bucket out of the horizon. A state decoded from the version 1
// layout has no such sets: a resend landing in an aggregated bucket it
// brought is applied again, until that bucket leaves the horizon (at most
// Lateness of event time after the upgrade; sparse streams, whose buckets
// are raw, are not affected).
//
// # Tolerances (checked against a naive reference in reference_test.go)
//
//   - Sparse streams (every bucket raw, e.g. one sample per 10 s): exact up
//     to float rounding. count, min, max, first, last and their times are
//     bit-exact; sum, avg, delta, increase, counter_rate within 1e-9 of Σ|v|;
//     stddev, z-score and rate within 1e-6 relative.
//   - Dense streams: the same, except that an aggregated bucket straddling a
//     window's start (its first sample at or before T-W, its last after) is
//     left out whole: the window then covers (end of that bucket, T], missing
//     at most W/30 of time at its start (2 s of 1m, 10 s of 5m, 30 s of 15m,
//     120 s of 1h). Aggregates wholly inside are exact.
//   - Quantiles: the value of rank floor(q*(n-1)) within 2% relative error
//     (SketchRelativeError), clamped to [min, max]. Raw samples enter the
//     sketch exactly; an aggregate whose values spread over more than
//     γ^32 ≈ 3.6x folds its bins nearest zero upward, so only its lowest
//     values can be read larger than they were.
//   - EWMA: the weight of a sample is 2^(-(T - ts)/half-life), normalised by
//     the total weight (a bias-corrected EWMA: after one sample the mean is
//     that sample; for regular samples it converges to the classic
//     α = 1 - 2^(-Δt/h) recurrence). It is order-independent: within 1e-9.
//   - Extreme magnitudes: squares overflow for |v| > ~1e154, so stddev (and
//     ewmvar) become +Inf and z-score not available; they underflow to 0 for
//     |v| < ~1e-154. Everything else is exact from 1e-300 to 1e300. The JSON
//     snapshot writes non-finite numbers as null.
//
// # Encoding
//
// AppendBinary writes a versioned binary state (see encode.go): a config
// fingerprint, T, the last value, the EWMAs, the raw samples
// (delta-of-delta times, values as short decimals when exact, else 8
// bytes), the aggregates and the time sets of the aggregates in the
// lateness horizon. DecodeSeries reads this layout (version 2) and the
// previous one (version 1, without time sets), checks every length against
// the layout and the remaining input before allocating, every invariant
// (ordering, bucket membership, counts, sketch totals, a time set holding
// exactly its aggregate's n times from first to last), and returns an
// error for corrupt or truncated input, never panics; decode(encode(s))
// encodes to the same bytes and gives bit-identical features (fuzzed).
//
// Measured sizes with the default windows after 2 h of event time
// (go test -run TestEncodedSize -v ./features/); the time sets cost about
// one byte per sample of the last minute in dense streams, nothing in
// sparse ones:
//
//	one sample / 10 s, cpu-like gauge (2 decimals):   ~1.85 KB (bound 2 KiB, asserted)
//	one sample / 10 s, integer counter:               ~1.55 KB
//	one sample / 10 s, full-precision random doubles: ~4.15 KB
//	10 samples / s: counter ~6.7 KB, 2-decimal gauge ~11.5 KB, random doubles ~14.5 KB
//	  (bound 16 KiB, asserted; each ~0.6 KB more than without time sets)
//	50 samples / s spread over 12 decades (TestEncodedSizeWorstCase): ~18 KB (~3 KB of time sets)
//
// In memory the time sets of a 10 samples / s series take about 2.4 KB (30
// sets), 5.3 KB at 50 / s and at most about 17 KB (30 bitmaps) whatever the
// rate.
//
// The layout's hard ceiling, whatever the rate: 113 live buckets, each
// either ≤16 raw samples (≤12 B each) or one aggregate of ≤304 B (11 floats
// of ≤9 B, counts and offsets, ≤32 sketch bins of ≤6 B), plus ≤60 B of
// header and EWMA, plus at most 31 time sets of ≤251 B: about 42 KiB. It
// never grows with time or rate beyond that.
//
// # Memory
//
// Heap per series with the default config after 2 h of event time (go test
// -run '^$' -bench SeriesHeap -benchtime 1x ./features/; a series with its
// source's state and the rules' index of it: go test -bench SeriesMemory
// ./tables/):
//
//	one sample / 10 s on whole seconds, 2-decimal gauge: ~2.3 KB (was ~11 KB)
//	  (~370 raw samples of 4 B: 1.5 KB; Series 288 B, levels 320 B,
//	  EWMAs 96 B, config 48 B; no slots, no query buffers)
//	  with its source's state and rule index: ~2.6 KB (was ~11.4 KB)
//	the same with millisecond times:                     ~3.1 KB
//	the same, integer counter on whole seconds:          ~2.3 KB
//	one sample / 10 s of full-precision doubles, ms:     ~5.6 KB
//	a series with 10 samples:                            ~0.8 KB (was ~3.2 KB)
//	10 samples / s:                                      ~75 KB (was ~111 KB):
//	  113 aggregates of 136 B with sketches of up to 33 bins of 16 B
//
// Reading a window allocates nothing per series: the buffers live in the
// owner's Scratch (without one a series keeps its own: then a read of its
// quantiles costs up to 16 B per raw sample of its windows). What stands
// between a sparse series and ~1 KB is its raw samples: 4 bytes each is the
// least a column of fixed width can give while keeping them searchable by
// time; delta-of-delta times and XOR'd values (~1.5 B a sample) would need
// a block decoded sequentially on every window read.
//
// # Reading a window
//
// A window's raw samples are contiguous in the sorted raw buffer, unpacked
// into the scratch: their moments come from one pass of sums shifted by
// the window's first sample (no division per sample; the shift keeps the
// cancellation far inside the tolerances above), its aggregates are merged
// with Chan's formulas, and the two are combined. Stats are cached per state version, so several reads
// after one Add compute each window once. What a series keeps across Adds
// is exact, never a running float sum: a running sum would depend on the
// order of past Adds, and a decoded series (or a replay started elsewhere)
// would read features that differ in the last bits. So each level counts
// its aggregates (windows skip the levels without) and its raw samples
// (TestLevelRawCounts), each window's raw
// values are kept sorted for the quantiles (updated by dropping what its
// start passed and inserting what was appended, sorted again when a late
// sample or a fold changes the raw samples; with no aggregate in the
// window the quantile is the key of one value of the right rank), and an
// EWMA reuses its decay factor when the newest time moves by the same step
// again. TestIncrementalStateMatchesRecompute checks all of it against a
// decoded copy after every Add of random streams.
//
// The buffers of a read (the cached stats, the sorted values, the merged
// sketch) are not state: they live in a Scratch that the series of one
// owner share (Series.UseScratch; rules.SourceFeatures gives its series
// one), each entry marked with the series it belongs to, so a series
// costs no query memory of its own. A window read last by another series
// is computed again: its values are sorted from scratch rather than
// updated (TestSharedScratchChangesNothing checks that sharing changes no
// read).
//
// Speed (go test -run '^$' -bench . ./features/, 2-core AMD EPYC, quiet
// machine; sparse = one sample / 10 s, dense = 10 / s, after 2 h), as
// measured before the raw samples were packed, then the instructions per
// operation before and after (valgrind --tool=callgrind, deterministic on a
// shared machine; sparse, dense):
//
//	Add in order              ~65 ns sparse, ~140 ns dense, 0 allocs (TestAddDoesNotAllocate)
//	                          1.16k -> 2.15k, 1.64k -> 1.98k instructions
//	Add out of order (≤50 s)  ~100 ns sparse, ~130 ns dense, 0 allocs
//	                          1.28k -> 2.34k, 1.56k -> 2.19k
//	AppendBinary              ~8 µs sparse, ~23 µs dense, 0 allocs
//	                          116k -> 134k, 324k -> 323k
//	DecodeSeries              ~15 µs sparse, ~55 µs dense
//	                          203k -> 283k, 905k -> 1,020k
//	Add + 4 Stat reads        ~0.75 µs sparse, ~6.7 µs dense, 0 allocs
//	                          8.9k -> 17.2k, 102k -> 104k
//	Add + Snapshot            ~4 µs sparse, ~12 µs dense, 14 allocs
//	                          42k -> 69k, 435k -> 432k
//
// The packed raw samples cost sparse streams: a window read unpacks its
// samples (a division per decimal value) and moving buckets down reads
// packed times. A source of 100 series all reading their 5m p99 in turn
// (BenchmarkSourceUpdate/sparse) goes from 5.7k to 11.7k instructions per
// sample, partly because a window another series read last is sorted again.
//
// Time sets cost dense streams a few ns in order (the newest bucket's set
// grows by about a byte) and about 25 ns out of order (a late sample's time
// is looked up, then inserted), nothing in sparse ones.
//
// A source's whole per-sample path (rules.RuleSet.AdvanceUntil, Add, then
// rules.RuleSet.AdvanceAt over the built-in rules, 10 metrics at one sample
// / 10 s) is measured by rules' BenchmarkSourcePath: ~0.32 µs, 0 allocs.
package features
