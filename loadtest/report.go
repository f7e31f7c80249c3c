package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// row is one line of the report: one operation of one scenario against
// one server. Server-side figures are -1 where they do not apply.
type row struct {
	Scenario string        `json:"scenario"`
	Server   string        `json:"server"`
	Op       string        `json:"op"`
	N        int           `json:"n"`
	Ops      uint64        `json:"ops"`
	Rate     float64       `json:"rate"`
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
	Max      time.Duration `json:"max"`
	Errors   int           `json:"errors"`
	// BytesPerOp is the average answer's size.
	BytesPerOp int64 `json:"bytesPerOp"`
	// RSSPerConn and HeapPerConn are the server's growth over the run
	// divided by the connections (visitors, chats and agents) it holds.
	RSSPerConn  int64         `json:"rssPerConn"`
	HeapPerConn int64         `json:"heapPerConn"`
	CPUPerOp    time.Duration `json:"cpuPerOp"`
	// CPUPct is the server's CPU time over the phase, in % of one core.
	CPUPct   float64           `json:"cpuPct"`
	Note     string            `json:"note,omitempty"`
	Examples map[string]string `json:"examples,omitempty"`
}

func blankRow(scenario, server, op string, n int) row {
	return row{Scenario: scenario, Server: server, Op: op, N: n, RSSPerConn: -1, HeapPerConn: -1, CPUPerOp: -1, CPUPct: -1}
}

// opRow is the row of one operation of snap over a phase of length took.
func (r *runner) opRow(op string, n int, snap snapshot, took time.Duration) row {
	rw := blankRow(r.o.scenario, r.s.name, op, n)
	name := op
	if i := strings.IndexByte(op, '@'); i >= 0 {
		name = op[:i]
	}
	rw.fill(snap.Ops[name], took)
	rw.Errors = snap.errors(name)
	if rw.Errors > 0 {
		rw.Examples = map[string]string{}
		for k, v := range snap.Examples {
			if strings.HasPrefix(k, name+" ") {
				rw.Examples[k] = v
			}
		}
	}
	return rw
}

func (rw *row) fill(o *opStats, took time.Duration) {
	if o == nil {
		return
	}
	rw.Ops = o.Hist.N
	if took > 0 {
		rw.Rate = float64(o.Hist.N) / took.Seconds()
	}
	rw.P50, rw.P99, rw.Max = o.Hist.Quantile(0.50), o.Hist.Quantile(0.99), o.Hist.MaxDuration()
	if o.Hist.N > 0 {
		rw.BytesPerOp = o.Bytes / int64(o.Hist.N)
	}
}

func (rw *row) setMemory(before, after procSample, conns int) {
	if conns <= 0 {
		return
	}
	if before.rssKB >= 0 && after.rssKB >= 0 {
		rw.RSSPerConn = (after.rssKB - before.rssKB) * 1024 / int64(conns)
	}
	if before.heap >= 0 && after.heap >= 0 {
		rw.HeapPerConn = (after.heap - before.heap) / int64(conns)
	}
}

func cpuPct(before, after procSample) float64 {
	wall := after.at.Sub(before.at)
	if wall <= 0 || before.rssKB < 0 || after.rssKB < 0 {
		return -1
	}
	return 100 * float64(after.cpu-before.cpu) / float64(wall)
}

func cpuPerOp(before, after procSample, o *opStats) time.Duration {
	if o == nil || o.Hist.N == 0 || before.rssKB < 0 || after.rssKB < 0 {
		return -1
	}
	return (after.cpu - before.cpu) / time.Duration(o.Hist.N)
}

// printReport prints the table, the ratios Parley/baseline and any error
// examples.
func printReport(w io.Writer, rep report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\top\tN\tops\tops/s\tp50\tp99\tmax\terrors\tbytes/op\tRSS/conn\theap/conn\tCPU/op\tCPU %\t")
	for _, r := range rep.Rows {
		lat := func(d time.Duration) string {
			if r.Ops == 0 || r.Max == 0 || strings.HasSuffix(r.Op, "-frame") {
				return "-"
			}
			return fmtDur(d)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Server, r.Op, r.N, fmtCount(r.Ops, r.Op), fmtRate(r.Rate, r.Ops), lat(r.P50), lat(r.P99), lat(r.Max), r.Errors,
			fmtBytes(r.BytesPerOp, r.Ops > 0 && r.BytesPerOp > 0), fmtBytes(r.RSSPerConn, r.RSSPerConn >= 0), fmtBytes(r.HeapPerConn, r.HeapPerConn >= 0),
			fmtCPU(r.CPUPerOp), fmtPct(r.CPUPct))
	}
	tw.Flush()

	// Ratios, for each operation both servers did.
	type key struct{ scenario, op string }
	byServer := map[string]map[key]row{}
	var order []key
	for _, r := range rep.Rows {
		if byServer[r.Server] == nil {
			byServer[r.Server] = map[key]row{}
		}
		k := key{r.Scenario, r.Op}
		if _, seen := byServer["parley"][k]; !seen && r.Server == "parley" {
			order = append(order, k)
		}
		byServer[r.Server][k] = r
	}
	var lines []string
	for _, k := range order {
		p, okP := byServer["parley"][k]
		b, okB := byServer["baseline"][k]
		if !okP || !okB {
			continue
		}
		lines = append(lines, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t",
			k.scenario, k.op, ratio(float64(p.P50), float64(b.P50), p.Ops > 0 && b.Ops > 0), ratio(float64(p.P99), float64(b.P99), p.Ops > 0 && b.Ops > 0),
			ratio(p.Rate, b.Rate, p.Ops > 0 && b.Ops > 0), ratio(float64(p.RSSPerConn), float64(b.RSSPerConn), p.RSSPerConn >= 0 && b.RSSPerConn >= 0),
			ratio(float64(p.HeapPerConn), float64(b.HeapPerConn), p.HeapPerConn >= 0 && b.HeapPerConn >= 0),
			ratio(float64(p.CPUPerOp), float64(b.CPUPerOp), p.CPUPerOp >= 0 && b.CPUPerOp >= 0), ratio(p.CPUPct, b.CPUPct, p.CPUPct >= 0 && b.CPUPct >= 0)))
	}
	if len(lines) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Parley / baseline:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "scenario\top\tp50\tp99\tops/s\tRSS/conn\theap/conn\tCPU/op\tCPU %\t")
		for _, l := range lines {
			fmt.Fprintln(tw, l)
		}
		tw.Flush()
	}
	for _, server := range slices.Sorted(maps.Keys(rep.Held)) {
		fmt.Fprintf(w, "\nlargest load held (%s): %d active chats\n", server, rep.Held[server])
	}
	notes := map[string]bool{}
	for _, r := range rep.Rows {
		if r.Note != "" && !notes[r.Note] {
			notes[r.Note] = true
			fmt.Fprintf(w, "note (%s %s): %s\n", r.Scenario, r.Op, r.Note)
		}
	}
	printed := map[string]bool{}
	for _, r := range rep.Rows {
		for _, k := range slices.Sorted(maps.Keys(r.Examples)) {
			if !printed[r.Server+k] {
				printed[r.Server+k] = true
				fmt.Fprintf(w, "error (%s, %s): %s\n", r.Server, k, r.Examples[k])
			}
		}
	}
}

func ratio(a, b float64, ok bool) string {
	if !ok || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.0fs", d.Seconds())
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dµs", d/time.Microsecond)
}

func fmtCount(n uint64, op string) string {
	if n == 0 && op == "hold" {
		return "-"
	}
	return fmt.Sprint(n)
}

func fmtRate(r float64, n uint64) string {
	if n == 0 || r == 0 {
		return "-"
	}
	if r >= 100 {
		return fmt.Sprintf("%.0f", r)
	}
	return fmt.Sprintf("%.1f", r)
}

func fmtBytes(n int64, ok bool) string {
	if !ok {
		return "-"
	}
	switch {
	case n >= 10<<20 || n <= -10<<20:
		return fmt.Sprintf("%.0fMB", float64(n)/(1<<20))
	case n >= 10<<10 || n <= -10<<10:
		return fmt.Sprintf("%.1fKB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

func fmtCPU(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return fmtDur(d)
}

func fmtPct(p float64) string {
	if p < 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", p)
}
