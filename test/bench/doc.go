// Package bench holds lab benchmarks that compare driftgate with the way
// other tools detect drift. BenchmarkCost (cost_lab_test.go) puts driftgate
// (`driftgate run` as its own process) side by side with a full-plan poller
// on the same lab workspace: CPU-seconds per hour and detection latency, at
// several workspace sizes and change rates; it prints the table and draws
// docs/img/performance-cost.png. See docs/performance.md.
package bench
