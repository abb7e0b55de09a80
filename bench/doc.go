// Package bench is the benchmark program of `eventops bench`. Run measures
// the machine's ceilings that EventOps's figures are compared against — a
// raw produce-and-consume round trip through the broker with franz-go, a
// bare goka processor that only counts per key, and a raw COPY into
// PostgreSQL — then a replica of every stage but notify (replica.New, in
// this process): its sustained rate over a backlog, then alert and row
// latency at half that rate. RunStage measures a replica of the features
// stage alone beside a bare goka processor over the same signals. Soak runs
// the same pipeline under a steady live load for a long time while hosts
// come and go (loadgen's churn), and reports its memory by quarter of the
// run, whether it stayed flat, and that every event sent reached
// PostgreSQL. Backtest writes a history to PostgreSQL (WriteHistory: a
// function of source, series and step, so the same shape is the same
// data) and replays it with backtest.Run through store.ScanSignals,
// reporting samples/s, the ratio to real time and the peak heap.
//
// Every ceiling runs on the same broker and database as the pipeline it is
// compared with, in the same run, so that ratios are meaningful on a noisy
// machine. The broker runs as its own process (eventops broker), so that
// the pipeline's CPU and memory are its own.
//
// It also holds what the harnesses share: process CPU time, memory and
// percentiles, and FreshDatabase, a database of their own for a run.
package bench
