// Package bench measures the machine's ceilings that EventOps's figures are
// compared against — a raw produce-and-consume round trip through the
// broker with franz-go, a bare goka processor that only counts per key, and
// a raw COPY into PostgreSQL — and provides the measuring tools the
// benchmark command uses: process CPU time, peak memory, percentiles.
//
// Every ceiling runs on the same broker and database as the pipeline it is
// compared with, in the same run, so that ratios are meaningful on a noisy
// machine.
package bench
