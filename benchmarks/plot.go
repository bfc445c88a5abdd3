package benchmarks

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// chart is one plot a run's results are drawn as.
type chart struct {
	section string // the report section that shows it
	file    string // PNG file name in the plots directory
	title   string
	draw    func() (*plot.Plot, error)
}

// The size of every plot.
const (
	plotWidth  = 8 * vg.Inch
	plotHeight = 5 * vg.Inch
)

// WritePlots draws r's plots into dir as PNG files - per-packet cost
// against rules, throughput per contender at each size, load time against
// rules per family - the ones WriteMarkdown's report shows. A plot with no
// figures is not drawn.
func WritePlots(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, c := range charts(r) {
		p, err := c.draw()
		if err != nil {
			return fmt.Errorf("plot %s: %w", c.file, err)
		}
		if err := p.Save(plotWidth, plotHeight, filepath.Join(dir, c.file)); err != nil {
			return fmt.Errorf("plot %s: %w", c.file, err)
		}
	}
	return nil
}

// charts lists the plots r has figures for.
func charts(r *Results) []chart {
	var cs []chart
	if slices.ContainsFunc(r.Cost, func(c CostResult) bool { return c.N > 0 && c.Error == "" }) {
		cs = append(cs, chart{"cost", "cost.png", "Per-packet cost against rules", func() (*plot.Plot, error) { return costPlot(r) }})
	}
	var sizes []int
	for _, t := range r.Throughput {
		if t.Error == "" && !slices.Contains(sizes, t.N) {
			sizes = append(sizes, t.N)
		}
	}
	slices.Sort(sizes)
	for _, n := range sizes {
		cs = append(cs, chart{"throughput", fmt.Sprintf("throughput-%d.png", n), fmt.Sprintf("Throughput at %s rules", thousands(n)),
			func() (*plot.Plot, error) { return throughputPlot(r, n) }})
	}
	var families []string
	for _, l := range r.Load {
		if l.Error == "" && l.N > 0 && l.Ms > 0 {
			families = append(families, l.Family)
		}
	}
	for _, f := range firstSeen(families) {
		cs = append(cs, chart{"load", "load-" + f + ".png", "Load time against rules, " + f,
			func() (*plot.Plot, error) { return loadPlot(r, f) }})
	}
	return cs
}

// spreadXYs are medians with the min–max of their rounds, as error bars
// draw them.
type spreadXYs struct {
	plotter.XYs
	plotter.YErrors
}

func (s *spreadXYs) add(x, median float64, rounds []float64) {
	s.XYs = append(s.XYs, plotter.XY{X: x, Y: median})
	lo, hi := median, median
	if len(rounds) > 0 {
		lo, hi = slices.Min(rounds), slices.Max(rounds)
	}
	s.YErrors = append(s.YErrors, struct{ Low, High float64 }{median - lo, hi - median})
}

// addLine draws the points joined, with their spread, in the i-th colour.
func addLine(p *plot.Plot, name string, i int, s *spreadXYs) error {
	line, points, err := plotter.NewLinePoints(s.XYs)
	if err != nil {
		return err
	}
	line.Color = plotutil.Color(i)
	points.Color = plotutil.Color(i)
	points.Shape = plotutil.Shape(i)
	bars, err := plotter.NewYErrorBars(s)
	if err != nil {
		return err
	}
	bars.Color = plotutil.Color(i)
	p.Add(line, points, bars)
	p.Legend.Add(name, line, points)
	return nil
}

// logRange sets a log axis to span the values with some room: a log axis
// cannot start at the library's default of zero, nor span one value.
func logRange(a *plot.Axis, lo, hi float64) {
	a.Scale = plot.LogScale{}
	a.Tick.Marker = logTicks{}
	a.Min, a.Max = lo/1.5, hi*1.5
}

// logTicks marks a log axis at every digit of each power of ten and labels
// 1, 2 and 5 times it, so that a range of less than a decade still reads
// (plot.LogTicks labels the powers of ten only).
type logTicks struct{}

func (logTicks) Ticks(lo, hi float64) []plot.Tick {
	var ts []plot.Tick
	for p := math.Floor(math.Log10(lo)); p <= math.Ceil(math.Log10(hi)); p++ {
		for d := 1.0; d <= 9; d++ {
			v := d * math.Pow(10, p)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if d == 1 || d == 2 || d == 5 {
				t.Label = strconv.FormatFloat(v, 'g', -1, 64)
			}
			ts = append(ts, t)
		}
	}
	return ts
}

func costPlot(r *Results) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Per-packet cost (BPF_PROG_TEST_RUN)"
	p.X.Label.Text = "rules"
	p.Y.Label.Text = "ns per packet"
	p.Legend.Top, p.Legend.Left = true, true
	lines := map[string]*spreadXYs{}
	var families []string
	lo, hi, top := math.Inf(1), 0.0, 0.0
	for _, c := range r.Cost {
		if c.N == 0 || c.Error != "" {
			continue
		}
		if lines[c.Family] == nil {
			lines[c.Family] = &spreadXYs{}
			families = append(families, c.Family)
		}
		lines[c.Family].add(float64(c.N), c.NsPkt, c.Rounds)
		lo, hi = min(lo, float64(c.N)), max(hi, float64(c.N))
		top = max(top, c.NsPkt, slices.Max(append([]float64{0}, c.Rounds...)))
	}
	for i, f := range families {
		if err := addLine(p, f, i, lines[f]); err != nil {
			return nil, err
		}
	}
	if floor, ok := costFloor(r); ok {
		l, err := plotter.NewLine(plotter.XYs{{X: lo / 1.5, Y: floor}, {X: hi * 1.5, Y: floor}})
		if err != nil {
			return nil, err
		}
		l.Color = color.Gray{Y: 96}
		l.Dashes = []vg.Length{vg.Points(6), vg.Points(4)}
		p.Add(l)
		p.Legend.Add("empty program (floor)", l)
		top = max(top, floor)
	}
	logRange(&p.X, lo, hi)
	p.Y.Min, p.Y.Max = 0, top*1.3 // room for the legend
	p.Add(plotter.NewGrid())
	return p, nil
}

// throughputPlot draws, at n rules, a group of bars per family with a bar
// per contender. A contender that could not run a family has no bar.
func throughputPlot(r *Results, n int) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("Forwarding throughput, %s rules, 64-byte frames", thousands(n))
	p.Y.Label.Text = "million packets per second"
	p.Legend.Top = true
	var families, contenders []string
	mpps := map[[2]string]float64{}
	failed := map[[2]string]bool{}
	top := 0.0
	for _, t := range r.Throughput {
		if t.N != n {
			continue
		}
		families = append(families, t.Family)
		contenders = append(contenders, t.Contender)
		if t.Error != "" {
			failed[[2]string{t.Family, t.Contender}] = true
			continue
		}
		mpps[[2]string{t.Family, t.Contender}] = t.PPS / 1e6
		top = max(top, t.PPS/1e6)
	}
	families, contenders = firstSeen(families), firstSeen(contenders)
	width := min(vg.Points(16), vg.Points(float64(plotWidth)*0.7/float64(len(families)*len(contenders))))
	for i, c := range contenders {
		vs := make(plotter.Values, len(families))
		var missing plotter.XYLabels
		for j, f := range families {
			vs[j] = mpps[[2]string{f, c}]
			if failed[[2]string{f, c}] {
				missing.XYs = append(missing.XYs, plotter.XY{X: float64(j), Y: 0})
				missing.Labels = append(missing.Labels, "did not run")
			}
		}
		bars, err := plotter.NewBarChart(vs, width)
		if err != nil {
			return nil, err
		}
		bars.Color = plotutil.Color(contenderColor(c))
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(i)-float64(len(contenders)-1)/2) * width
		p.Add(bars)
		p.Legend.Add(c, bars)
		if len(missing.XYs) > 0 {
			// a contender that did not run is marked where its bar
			// would be, so that no bar reads as zero packets
			labels, err := plotter.NewLabels(missing)
			if err != nil {
				return nil, err
			}
			for k := range labels.TextStyle {
				labels.TextStyle[k].Rotation = math.Pi / 2
				labels.TextStyle[k].Color = plotutil.Color(contenderColor(c))
			}
			labels.Offset = vg.Point{X: bars.Offset + width/4, Y: vg.Points(4)}
			p.Add(labels)
		}
	}
	p.NominalX(families...)
	p.Y.Min, p.Y.Max = 0, top*1.4 // room for the legend
	p.Add(plotter.NewGrid())
	return p, nil
}

// loadPlot draws the family's load time against rules, log-log, a line
// per contender.
func loadPlot(r *Results, family string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Time to load the whole ruleset, " + family
	p.X.Label.Text = "rules"
	p.Y.Label.Text = "ms"
	p.Legend.Top, p.Legend.Left = true, true
	lines := map[string]*spreadXYs{}
	var contenders []string
	xlo, xhi, ylo, yhi := math.Inf(1), 0.0, math.Inf(1), 0.0
	for _, l := range r.Load {
		if l.Family != family || l.Error != "" || l.N <= 0 || l.Ms <= 0 {
			continue
		}
		if lines[l.Contender] == nil {
			lines[l.Contender] = &spreadXYs{}
			contenders = append(contenders, l.Contender)
		}
		lines[l.Contender].add(float64(l.N), l.Ms, l.Rounds)
		xlo, xhi = min(xlo, float64(l.N)), max(xhi, float64(l.N))
		ylo, yhi = min(ylo, l.Ms), max(yhi, l.Ms)
		for _, v := range l.Rounds {
			if v > 0 { // a log axis has no room for zero
				ylo, yhi = min(ylo, v), max(yhi, v)
			}
		}
	}
	for _, c := range contenders {
		if err := addLine(p, c, contenderColor(c), lines[c]); err != nil {
			return nil, err
		}
	}
	logRange(&p.X, xlo, xhi)
	logRange(&p.Y, ylo, yhi)
	p.Add(plotter.NewGrid())
	return p, nil
}

// contenderColor is the contender's place in Contenders, so that a
// contender has the same colour in every plot.
func contenderColor(name string) int {
	for i, c := range Contenders("") {
		if c.Name == name {
			return i
		}
	}
	return len(Contenders(""))
}
