package bench_test

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

func numCPU() int { return runtime.NumCPU() }

// table formats the rows: driftgate once per rate, each poller once.
func table(rows []row) string {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "resources\tstrategy\tchanges/min\tCPU-s/h\tapiserver+etcd CPU-s/h\tmedian latency\tlatency from\t")
	seen := map[string]bool{}
	for _, r := range sorted(rows) {
		rate := fmt.Sprintf("%g", r.rate)
		lat, from := "-", "-"
		switch {
		case r.strategy != stratDriftgate:
			key := fmt.Sprint(r.size, r.strategy)
			if seen[key] {
				continue
			}
			seen[key] = true
			rate, lat, from = "any", fmtDur(r.latency), "plan + period/2"
		case r.samples > 0:
			lat, from = fmtDur(r.latency), fmt.Sprintf("%d changes", r.samples)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%.1f\t%.1f\t%s\t%s\t\n", r.size, r.strategy, rate, r.cpuH, r.apiH, lat, from)
	}
	tw.Flush()
	// The goal, at 1 change per minute.
	for _, n := range sizes(rows) {
		dg, p1 := find(rows, n, stratDriftgate, 1), find(rows, n, stratPoll1m, 1)
		if dg == nil || p1 == nil || dg.samples == 0 {
			continue
		}
		fmt.Fprintf(&sb, "%d resources, 1 change/min: driftgate uses %.2f of a 1-minute poller's CPU (goal <= 0.33), median latency %.1fx lower (goal >= 20)\n",
			n, dg.cpuH/p1.cpuH, float64(p1.latency)/float64(dg.latency))
	}
	return strings.TrimRight(sb.String(), "\n")
}

func fmtDur(d time.Duration) string {
	if d >= 10*time.Second {
		return d.Round(time.Second).String()
	}
	return d.Round(10 * time.Millisecond).String()
}

func sorted(rows []row) []row {
	s := append([]row(nil), rows...)
	order := map[string]int{stratDriftgate: 0, stratPoll1m: 1, stratPoll10m: 2}
	sort.SliceStable(s, func(i, j int) bool {
		if s[i].size != s[j].size {
			return s[i].size < s[j].size
		}
		if s[i].strategy != s[j].strategy {
			return order[s[i].strategy] < order[s[j].strategy]
		}
		return s[i].rate < s[j].rate
	})
	return s
}

func sizes(rows []row) []int {
	var out []int
	for _, r := range sorted(rows) {
		if len(out) == 0 || out[len(out)-1] != r.size {
			out = append(out, r.size)
		}
	}
	return out
}

func find(rows []row, size int, strategy string, rate float64) *row {
	for i := range rows {
		if rows[i].size == size && rows[i].strategy == strategy && rows[i].rate == rate {
			return &rows[i]
		}
	}
	return nil
}

// dgCurve is driftgate's CPU per hour at each measured rate of one size.
func dgCurve(rows []row, size int) (rates, cpu []float64) {
	for _, r := range sorted(rows) {
		if r.size == size && r.strategy == stratDriftgate {
			rates, cpu = append(rates, r.rate), append(cpu, r.cpuH)
		}
	}
	return rates, cpu
}

// crossings says, for each size, at which change rate driftgate's CPU
// reaches each poller's: between measured rates by linear interpolation,
// beyond the highest one by extending its last segment (marked so).
func crossings(rows []row) []string {
	var out []string
	for _, n := range sizes(rows) {
		rates, cpu := dgCurve(rows, n)
		if len(rates) == 0 {
			continue
		}
		for _, p := range []string{stratPoll1m, stratPoll10m} {
			pr := find(rows, n, p, rates[0])
			if pr == nil {
				continue
			}
			out = append(out, fmt.Sprintf("%d resources: driftgate's CPU crosses the %s poller's (%.0f CPU-s/h) %s", n, strings.TrimPrefix(p, "poll "), pr.cpuH, cross(rates, cpu, pr.cpuH)))
		}
	}
	return out
}

func cross(rates, cpu []float64, level float64) string {
	if cpu[0] >= level {
		return fmt.Sprintf("never: driftgate costs more already at %g changes/min (%.0f CPU-s/h)", rates[0], cpu[0])
	}
	for i := 1; i < len(rates); i++ {
		if cpu[i] >= level {
			x := rates[i-1] + (level-cpu[i-1])*(rates[i]-rates[i-1])/(cpu[i]-cpu[i-1])
			return fmt.Sprintf("at about %.1f changes/min (measured between %g and %g)", x, rates[i-1], rates[i])
		}
	}
	if len(rates) < 2 {
		return "beyond the rates measured"
	}
	i := len(rates) - 1
	slope := (cpu[i] - cpu[i-1]) / (rates[i] - rates[i-1])
	if slope <= 0 {
		return fmt.Sprintf("not within the rates measured (up to %g/min), and the curve does not rise", rates[i])
	}
	return fmt.Sprintf("at about %.0f changes/min (extrapolated: %.1f CPU-s/h per change/min beyond %g/min)", rates[i]+(level-cpu[i])/slope, slope, rates[i])
}

// drawCost draws CPU per hour (top) and median latency (bottom) against
// the change rate: a solid line per size for driftgate, a dashed (1-minute)
// and a dotted (10-minute) line per size for the poller.
func drawCost(rows []row, out string) error {
	cpu, lat := plot.New(), plot.New()
	cpu.Title.Text = "CPU per hour: driftgate (safety net every 10m included) vs a full-plan poller"
	cpu.Y.Label.Text = "CPU-seconds per hour (log)"
	lat.Title.Text = "Median detection latency"
	lat.Y.Label.Text = "seconds (log)"
	for _, p := range []*plot.Plot{cpu, lat} {
		p.X.Label.Text = "changes per minute"
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
		p.Add(plotter.NewGrid())
		p.Legend.Top, p.Legend.Left = true, true
		p.Legend.TextStyle.Font.Size = vg.Points(9)
	}
	var maxRate float64
	for _, r := range rows {
		maxRate = math.Max(maxRate, r.rate)
	}
	for i, n := range sizes(rows) {
		col := plotutil.Color(i)
		var c, l plotter.XYs
		for _, r := range sorted(rows) {
			if r.size != n || r.strategy != stratDriftgate {
				continue
			}
			c = append(c, plotter.XY{X: r.rate, Y: math.Max(r.cpuH, 0.01)})
			if r.samples > 0 {
				l = append(l, plotter.XY{X: r.rate, Y: r.latency.Seconds()})
			}
		}
		if err := addLine(cpu, c, col, nil, fmt.Sprintf("driftgate, %d resources", n)); err != nil {
			return err
		}
		if len(l) > 0 {
			if err := addLine(lat, l, col, nil, fmt.Sprintf("driftgate, %d resources", n)); err != nil {
				return err
			}
		}
		for _, p := range []struct {
			name string
			dash []vg.Length
		}{{stratPoll1m, []vg.Length{vg.Points(6), vg.Points(3)}}, {stratPoll10m, []vg.Length{vg.Points(1), vg.Points(3)}}} {
			r := find(rows, n, p.name, 0)
			if r == nil {
				r = find(rows, n, p.name, 1)
			}
			if r == nil {
				continue
			}
			flat := func(y float64) plotter.XYs { return plotter.XYs{{X: 0, Y: y}, {X: maxRate, Y: y}} }
			label := fmt.Sprintf("%s, %d resources", p.name, n)
			if err := addLine(cpu, flat(r.cpuH), col, p.dash, label); err != nil {
				return err
			}
			if err := addLine(lat, flat(r.latency.Seconds()), col, p.dash, label); err != nil {
				return err
			}
		}
	}
	for _, p := range []*plot.Plot{cpu, lat} {
		// Room above and below the lines for the legend.
		p.Y.Min, p.Y.Max = p.Y.Min/3, p.Y.Max*8
	}
	img := vgimg.New(vg.Points(900), vg.Points(1100))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8), PadY: vg.Points(20)}
	canvases := plot.Align([][]*plot.Plot{{cpu}, {lat}}, tiles, dc)
	cpu.Draw(canvases[0][0])
	lat.Draw(canvases[1][0])
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func addLine(p *plot.Plot, xys plotter.XYs, col color.Color, dash []vg.Length, label string) error {
	line, points, err := plotter.NewLinePoints(xys)
	if err != nil {
		return err
	}
	line.Color, line.Dashes, line.Width = col, dash, vg.Points(1.5)
	points.Color = col
	if dash != nil {
		p.Add(line)
		p.Legend.Add(label, line)
		return nil
	}
	p.Add(line, points)
	p.Legend.Add(label, line, points)
	return nil
}
