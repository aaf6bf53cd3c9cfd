// plot.go: the study's figures as PNG (gonum.org/v1/plot): training and
// validation curves per activation and batch size, the activations compared
// at the chosen setting, the validation-accuracy heat map of lr × batch per
// activation, and, with folds, the fold spread as error bars.

package tune

import (
	"errors"
	"fmt"
	"image/color"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/palette/moreland"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// PlotsDir is the folder of figures inside a study folder.
const PlotsDir = "plots"

// dpi of the PNGs; sizes below are in points (1/72 inch).
const dpi = 96

// series colours (Tableau 10), one per learning rate or activation.
var series = []color.RGBA{
	{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255},
	{148, 103, 189, 255}, {140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255},
	{188, 189, 34, 255}, {23, 190, 207, 255},
}

// colour is the ith colour of n series: Tableau 10's for up to ten, and
// beyond that n steps along Kindlmann's sequential map (dark to light in
// the series' order, so that a grid of many learning rates reads as a
// gradient), where Tableau's would repeat and draw two rates alike.
func colour(i, n int) color.Color {
	if n <= len(series) {
		return series[i%len(series)]
	}
	cm := moreland.Kindlmann()
	cm.SetMin(0)
	cm.SetMax(1)
	c, err := cm.At(0.1 + 0.65*float64(i)/float64(n-1))
	if err != nil {
		return series[i%len(series)]
	}
	return c
}

// curve returns the finite points of ys against epochs 1..n.
func curve(ys []float64, scale float64) plotter.XYs {
	var pts plotter.XYs
	for i, y := range ys {
		if !math.IsNaN(y) && !math.IsInf(y, 0) {
			pts = append(pts, plotter.XY{X: float64(i + 1), Y: y * scale})
		}
	}
	return pts
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	p.X.Tick.Label.Font.Size = 10
	p.Y.Tick.Label.Font.Size = 10
	p.Y.Tick.Marker = plainTicks{}
	p.Add(plotter.NewGrid())
	return p
}

// plainTicks label a linear axis at 3 to 7 round values (1, 2, 2.5 or 5
// times a power of ten apart: "97.5 98 98.5 99", "60 80 100"), written
// with the decimals the step needs, with an unlabelled tick between each
// two; gonum's default picks values like 97.2 and 98.1 on short ranges
// and writes "75.00" on some others.
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	if !(max > min) || math.IsInf(max-min, 0) {
		return nil
	}
	raw := (max - min) / 6
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := 10 * mag
	for _, m := range []float64{1, 2, 2.5, 5} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	first := math.Ceil(min / step * 2)
	if math.Abs(first) > 1e12 {
		return nil // a range too narrow for its values to tell apart
	}
	dec := 0
	for f := step; math.Abs(f-math.Round(f)) > 1e-9*f && dec < 15; f *= 10 {
		dec++
	}
	var t []plot.Tick
	for i := 0; i <= 16; i++ {
		v := (first + float64(i)) / 2 * step
		if v > max {
			break
		}
		if v == 0 {
			v = 0 // not -0
		}
		tk := plot.Tick{Value: v}
		if math.Mod(first+float64(i), 2) == 0 {
			tk.Label = strconv.FormatFloat(v, 'f', dec, 64)
		}
		t = append(t, tk)
	}
	return t
}

// integerTicks puts ticks on whole epochs.
type integerTicks struct{}

func (integerTicks) Ticks(min, max float64) []plot.Tick {
	step := math.Max(1, math.Ceil((max-min)/10))
	var t []plot.Tick
	for v := math.Ceil(min); v <= max; v += step {
		t = append(t, plot.Tick{Value: v, Label: strconv.Itoa(int(v))})
	}
	return t
}

// addCurves draws one result's train (solid) and validation (dashed)
// curves in colour col, within v's ranges, with a cross where it diverged.
func addCurves(p *plot.Plot, leg *plot.Legend, v *view, r Result, label string, col color.Color, isLoss bool, train, val []float64) error {
	pts := v.accPts
	if isLoss {
		pts = v.lossPts
	}
	tr, va := pts(train), pts(val)
	for _, c := range []struct {
		pts    plotter.XYs
		name   string
		dashes []vg.Length
		shape  draw.GlyphDrawer
	}{
		{tr, " train", nil, draw.CircleGlyph{}},
		{va, " val", []vg.Length{vg.Points(5), vg.Points(3)}, draw.SquareGlyph{}},
	} {
		if len(c.pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(c.pts)
		if err != nil {
			return err
		}
		l.Color, l.Width, l.Dashes = col, vg.Points(1.8), c.dashes
		s.Color, s.Shape, s.Radius = col, c.shape, vg.Points(2.5)
		p.Add(l, s)
		if leg != nil {
			leg.Add(label+c.name, l, s)
		}
	}
	if r.Diverged {
		return v.crossAt(p, r, tr, isLoss, col)
	}
	return nil
}

// newLegend returns a legend for the strip beside the panels.
func newLegend() *plot.Legend {
	l := plot.NewLegend()
	l.Top, l.Left = true, true
	l.TextStyle.Font.Size = 11
	l.Padding = vg.Points(3)
	return &l
}

// legendWidth is the strip savePanels keeps for a legend.
const legendWidth = 2.3 * vg.Inch

// maxLegendEntries bounds a legend's lines for its series: past them, it
// lists every kth series (legendEvery; their colours run dark to light,
// so the rest read between), or a grid of 4,096 rates drew a figure
// 134,815 pixels tall.
const maxLegendEntries = 26

// legendEvery is k, for a legend listing every kth of n series with per
// lines each (and the last): 1 where all fit.
func legendEvery(n, per int) int {
	return max(1, (n*per+maxLegendEntries-1)/maxLegendEntries)
}

// listed tells whether series i of n is in a legend of every kth.
func listed(i, n, k int) bool { return i%k == 0 || i == n-1 }

// addEvery says in leg that it lists every kth of n series named what.
func addEvery(leg *plot.Legend, k, n int, what string) {
	if k > 1 {
		leg.Add(fmt.Sprintf("1 %s in %d listed,", what, k))
		leg.Add(fmt.Sprintf("of %d", n))
	}
}

// withLegend is the height of a figure whose panels take h and whose
// legend strip starts top below the figure's top: h, or more where leg
// needs more (a grid of many learning rates), the panels then keeping h
// at the top (panelsAt) rather than stretched.
func withLegend(leg *plot.Legend, h, top vg.Length) vg.Length {
	if leg == nil {
		return h
	}
	return max(h, top+leg.Rectangle(draw.Canvas{}).Size().Y+vg.Points(14))
}

// panelsAt is the part of c, which is h or taller, where panels of height
// h go: its top.
func panelsAt(c draw.Canvas, h vg.Length) draw.Canvas {
	return draw.Crop(c, 0, 0, c.Size().Y-h, 0)
}

// savePanels lays plots out in a grid, with leg (if any) in a strip on the
// right where it cannot hide a curve, and writes a PNG of w x h points
// (taller where the legend needs it: withLegend).
func savePanels(path string, plots [][]*plot.Plot, leg *plot.Legend, w, h vg.Length) error {
	const legTop = 40
	img, dc := whiteFigure(w, withLegend(leg, h, vg.Points(legTop)))
	if leg != nil {
		strip := draw.Crop(dc, w-legendWidth+vg.Points(12), 0, 0, -vg.Points(legTop))
		leg.Draw(strip)
		dc = draw.Crop(dc, 0, -legendWidth, 0, 0)
	}
	drawPanels(panelsAt(dc, h), plots)
	return writePNG(path, img.Image())
}

// whiteFigure is a figure of w x h points at dpi, white.
func whiteFigure(w, h vg.Length) (*vgimg.Canvas, draw.Canvas) {
	img := vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(dpi))
	dc := draw.New(img)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	return img, dc
}

// drawPanels draws plots in a grid of equal tiles over dc, their axes
// aligned, and returns each one's canvas.
func drawPanels(dc draw.Canvas, plots [][]*plot.Plot) [][]draw.Canvas {
	t := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Points(18), PadY: vg.Points(18),
		PadTop: vg.Points(8), PadBottom: vg.Points(8), PadLeft: vg.Points(8), PadRight: vg.Points(8)}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			if plots[i][j] != nil {
				plots[i][j].Draw(canvases[i][j])
			}
		}
	}
	return canvases
}

func fmtLR(lr float64) string { return strconv.FormatFloat(lr, 'g', -1, 64) }

// curvesFigure: accuracy and loss against epoch for every learning rate at
// one activation and batch size.
func curvesFigure(path string, spec *Spec, results []Result, act string, bs int) error {
	acc := newPlot(fmt.Sprintf("Accuracy: %s, batch %d", act, bs), "epoch", "accuracy (%)")
	loss := newPlot(fmt.Sprintf("Loss: %s, batch %d", act, bs), "epoch", "cross-entropy loss")
	leg := newLegend()
	var mine []Result
	var cols []int
	for i, lr := range spec.LRs {
		if r, ok := find(results, lr, bs, act); ok {
			mine, cols = append(mine, r), append(cols, i)
		}
	}
	if len(mine) == 0 {
		return nil
	}
	v := newView(mine)
	every := legendEvery(len(mine), 2)
	for k, r := range mine {
		label := "lr " + fmtLR(r.Config.LR)
		col := colour(cols[k], len(spec.LRs))
		l := leg
		if !listed(k, len(mine), every) {
			l = nil
		}
		if err := addCurves(acc, l, v, r, label, col, false, r.TrainAcc, r.ValAcc); err != nil {
			return err
		}
		if err := addCurves(loss, nil, v, r, label, col, true, r.TrainLoss, r.ValLoss); err != nil {
			return err
		}
	}
	addEvery(leg, every, len(mine), "learning rate")
	finish(acc, spec.Epochs)
	finish(loss, spec.Epochs)
	v.lossAxis(loss)
	v.notes(leg)
	shareY([]*plot.Plot{acc}, []*plot.Plot{loss})
	return savePanels(path, [][]*plot.Plot{{acc, loss}}, leg, 16*vg.Inch, 6*vg.Inch)
}

func finish(p *plot.Plot, epochs int) {
	p.X.Min, p.X.Max = 1, float64(max(epochs, 2))
	p.X.Tick.Marker = integerTicks{}
}

// activationsFigure: the activations compared at one lr and batch size.
func activationsFigure(path string, spec *Spec, results []Result, lr float64, bs int) error {
	acc := newPlot(fmt.Sprintf("Accuracy by activation: lr %s, batch %d", fmtLR(lr), bs), "epoch", "accuracy (%)")
	loss := newPlot(fmt.Sprintf("Loss by activation: lr %s, batch %d", fmtLR(lr), bs), "epoch", "cross-entropy loss")
	leg := newLegend()
	var mine []Result
	var cols []int
	for i, act := range spec.Acts {
		if r, ok := find(results, lr, bs, act); ok {
			mine, cols = append(mine, r), append(cols, i)
		}
	}
	v := newView(mine)
	for k, r := range mine {
		col := colour(cols[k], len(spec.Acts))
		if err := addCurves(acc, leg, v, r, r.Config.Act, col, false, r.TrainAcc, r.ValAcc); err != nil {
			return err
		}
		if err := addCurves(loss, nil, v, r, r.Config.Act, col, true, r.TrainLoss, r.ValLoss); err != nil {
			return err
		}
	}
	finish(acc, spec.Epochs)
	finish(loss, spec.Epochs)
	v.lossAxis(loss)
	v.notes(leg)
	shareY([]*plot.Plot{acc}, []*plot.Plot{loss})
	return savePanels(path, [][]*plot.Plot{{acc, loss}}, leg, 16*vg.Inch, 6*vg.Inch)
}

// grid is one activation's final validation accuracy over lr (columns) and
// batch size (rows), for plotter.HeatMap.
type grid struct {
	lrs []float64
	bss []int
	z   [][]float64 // [row][col], NaN where diverged or missing
}

func (g grid) Dims() (c, r int)   { return len(g.lrs), len(g.bss) }
func (g grid) Z(c, r int) float64 { return g.z[r][c] }
func (g grid) X(c int) float64    { return float64(c) }
func (g grid) Y(r int) float64    { return float64(r) }

// cellLabels writes each cell's value (or "diverged") at its centre; with
// marksOnly (cells too small for values), only "×" on a diverged run's
// and "-" on a missing one's, whose grey would read as a middling value.
type cellLabels struct {
	g         grid
	std       [][]float64
	div       [][]bool
	marksOnly bool
}

func (l cellLabels) Len() int { return len(l.g.lrs) * len(l.g.bss) }
func (l cellLabels) XY(i int) (x, y float64) {
	return float64(i % len(l.g.lrs)), float64(i / len(l.g.lrs))
}
func (l cellLabels) Label(i int) string {
	c, r := i%len(l.g.lrs), i/len(l.g.lrs)
	v := l.g.z[r][c]
	switch {
	case l.div[r][c] && l.marksOnly:
		return "×"
	case l.div[r][c]:
		return "diverged"
	case math.IsNaN(v):
		return "-"
	case l.marksOnly:
		return ""
	case l.std != nil:
		return fmt.Sprintf("%.2f±%.2f", 100*v, 100*l.std[r][c])
	}
	return fmt.Sprintf("%.2f", 100*v)
}

type namedTicks []string

func (n namedTicks) Ticks(min, max float64) []plot.Tick {
	var t []plot.Tick
	for i, s := range n {
		t = append(t, plot.Tick{Value: float64(i), Label: s})
	}
	return t
}

// heatScale is the heat map's colour scale for results: from the lowest
// to the highest final validation accuracy of the runs that did not
// diverge.
func heatScale(results []Result) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, r := range results {
		if !r.Diverged && !math.IsNaN(r.FinalValAcc) {
			lo, hi = math.Min(lo, r.FinalValAcc), math.Max(hi, r.FinalValAcc)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	// The scale spans at least half a point, so that one value (or a few
	// nearly equal) gets a bar with distinct ticks and a middle colour,
	// not a full red-to-blue range over differences of a few images.
	if minSpan := 0.005; hi-lo < minSpan {
		mid := (lo + hi) / 2
		lo, hi = mid-minSpan/2, mid+minSpan/2
		if lo < 0 {
			lo, hi = 0, minSpan
		}
		if hi > 1 {
			lo, hi = 1-minSpan, 1
		}
	}
	return lo, hi
}

// heatmapFigure: one heat-map panel per activation on a shared colour scale.
func heatmapFigure(path string, spec *Spec, results []Result) error {
	lo, hi := heatScale(results)
	cm := moreland.SmoothBlueRed()
	cm.SetMin(lo)
	cm.SetMax(hi)
	pal := cm.Palette(64)
	cells := newHeatCells(len(spec.LRs), len(spec.BatchSizes), spec.Folds > 0)
	var row []*plot.Plot
	for _, act := range spec.Acts {
		g := grid{lrs: spec.LRs, bss: spec.BatchSizes}
		lab := cellLabels{}
		if spec.Folds > 0 {
			lab.std = make([][]float64, len(g.bss))
		}
		lab.div = make([][]bool, len(g.bss))
		for ri, bs := range g.bss {
			g.z = append(g.z, make([]float64, len(g.lrs)))
			lab.div[ri] = make([]bool, len(g.lrs))
			if lab.std != nil {
				lab.std[ri] = make([]float64, len(g.lrs))
			}
			for ci, lr := range g.lrs {
				g.z[ri][ci] = math.NaN()
				for _, r := range results {
					if r.Config.Act == act && r.Config.BatchSize == bs && r.Config.LR == lr {
						g.z[ri][ci] = r.FinalValAcc
						lab.div[ri][ci] = r.Diverged
						if lab.std != nil {
							lab.std[ri][ci] = r.FinalValStd
						}
					}
				}
			}
		}
		lab.g, lab.marksOnly = g, !cells.labelled
		p := newPlot("Validation accuracy (%): "+act, "learning rate", "batch size")
		h := plotter.NewHeatMap(g, pal)
		h.Min, h.Max = lo, hi
		h.NaN = color.RGBA{200, 200, 200, 255}
		p.Add(h)
		labels, err := plotter.NewLabels(lab)
		if err != nil {
			return err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign = draw.XCenter
			labels.TextStyle[i].YAlign = draw.YCenter
			labels.TextStyle[i].Font.Size = 11
		}
		p.Add(labels)
		lrNames := make(namedTicks, len(g.lrs))
		for i, lr := range g.lrs {
			lrNames[i] = fmtLR(lr)
		}
		bsNames := make(namedTicks, len(g.bss))
		for i, b := range g.bss {
			bsNames[i] = strconv.Itoa(b)
		}
		cells.fitTicks(p, lrNames, bsNames)
		p.X.Tick.Marker, p.Y.Tick.Marker = lrNames, bsNames
		p.X.Min, p.X.Max = -0.5, float64(len(g.lrs))-0.5
		p.Y.Min, p.Y.Max = -0.5, float64(len(g.bss))-0.5
		row = append(row, p)
	}
	// The colour bar, drawn beside the maps.
	pcm := moreland.SmoothBlueRed()
	pcm.SetMin(lo * 100)
	pcm.SetMax(hi * 100)
	cb := &plotter.ColorBar{ColorMap: pcm, Vertical: true, Colors: 64}
	bar := plot.New()
	bar.Title.Text = "val acc (%)"
	bar.Title.TextStyle.Font.Size = 11
	bar.Add(cb)
	bar.HideX()
	bar.Y.Tick.Label.Font.Size = 10
	bar.Y.Tick.Marker = plainTicks{}
	bar.Y.Min, bar.Y.Max = lo*100, hi*100
	// The panels side by side, the bar in a strip of its own beside them
	// (as a panel, it took as much width as each map).
	const barW = 1.5 * vg.Inch
	w := vg.Length(len(spec.Acts))*cells.panelW + barW
	img, dc := whiteFigure(w, cells.panelH)
	canvases := drawPanels(draw.Crop(dc, 0, -barW, 0, 0), [][]*plot.Plot{row})
	// The bar's colours span the maps' data area, as drawn, its title
	// above them.
	data := row[0].DataCanvas(canvases[0][0])
	side := draw.Crop(dc, w-barW+vg.Points(18), -vg.Points(10), 0, 0)
	side.Rectangle.Min.Y, side.Rectangle.Max.Y = data.Min.Y, data.Max.Y
	in := bar.DataCanvas(side)
	side.Rectangle.Min.Y -= in.Min.Y - data.Min.Y
	side.Rectangle.Max.Y += data.Max.Y - in.Max.Y
	bar.Draw(side)
	return writePNG(path, img.Image())
}

// heatCells is a heat map panel's layout for nc learning rates (columns)
// and nr batch sizes (rows): 5 x 4.5 inches for the reference's grid, and
// wider and taller for more, each cell wide enough for its value (and
// std, with folds) up to 12 columns and 40 rows, and a coloured square
// of 0.22 inch beyond (the values are in report.md), up to 40 inches a
// side (4,096 rates: a pixel a cell).
type heatCells struct {
	labelled       bool
	cellW, cellH   vg.Length // the room for each
	panelW, panelH vg.Length
}

func newHeatCells(nc, nr int, folds bool) heatCells {
	const axesW, axesH, most = 1.4 * vg.Inch, 1.3 * vg.Inch, 40 * vg.Inch
	c := heatCells{labelled: nc <= 12 && nr <= 40, cellW: 0.22 * vg.Inch, cellH: 0.22 * vg.Inch}
	if c.labelled {
		c.cellW, c.cellH = 0.72*vg.Inch, 0.42*vg.Inch
		if folds {
			c.cellW = 1.05 * vg.Inch
		}
	}
	c.panelW = min(max(5*vg.Inch, axesW+vg.Length(nc)*c.cellW), most)
	c.panelH = min(max(4.5*vg.Inch, axesH+vg.Length(nr)*c.cellH), most)
	c.cellW, c.cellH = (c.panelW-axesW)/vg.Length(nc), (c.panelH-axesH)/vg.Length(nr)
	return c
}

// fitTicks turns p's learning-rate labels upright where one is wider than
// its cell, and names only every kth column and row where the labels
// would otherwise overlap (the others get an unnamed tick).
func (c heatCells) fitTicks(p *plot.Plot, lrs, bss namedTicks) {
	wide := vg.Length(0)
	for _, s := range lrs {
		wide = max(wide, p.X.Tick.Label.Rectangle(s).Size().X)
	}
	tall := p.X.Tick.Label.Rectangle("0").Size().Y + vg.Points(2)
	if wide > c.cellW-vg.Points(4) {
		p.X.Tick.Label.Rotation = math.Pi / 2
		p.X.Tick.Label.XAlign, p.X.Tick.Label.YAlign = draw.XRight, draw.YCenter
		thin(lrs, tall, c.cellW)
	}
	thin(bss, tall, c.cellH)
}

// thin keeps every kth of names, k the fewest cells of room that hold need.
func thin(names namedTicks, need, room vg.Length) {
	k := max(1, int(math.Ceil(float64(need/room))))
	for i := range names {
		if i%k != 0 {
			names[i] = ""
		}
	}
}

// foldsFigure: mean validation accuracy of every configuration with the
// spread over folds (± one standard deviation) as error bars, and each
// fold's value as a ring beside it.
func foldsFigure(path string, spec *Spec, results []Result) error {
	p := newPlot(fmt.Sprintf("Validation accuracy over %d folds (mean ± std)", spec.Folds), "configuration", "validation accuracy (%)")
	leg := newLegend()
	var names namedTicks
	ringSeen := false
	for ai, act := range spec.Acts {
		var pts, folds plotter.XYs
		var errs plotter.YErrors
		for _, r := range results {
			x := float64(len(names))
			if r.Config.Act != act {
				continue
			}
			names = append(names, fmt.Sprintf("%s/%d", fmtLR(r.Config.LR), r.Config.BatchSize))
			if r.Diverged || math.IsNaN(r.FinalValAcc) {
				continue
			}
			pts = append(pts, plotter.XY{X: x, Y: 100 * r.FinalValAcc})
			low, high := foldBar(100*r.FinalValAcc, 100*r.FinalValStd)
			errs = append(errs, struct{ Low, High float64 }{low, high})
			for _, v := range r.RoundValAcc {
				folds = append(folds, plotter.XY{X: x + 0.12, Y: 100 * v})
			}
		}
		if len(pts) == 0 {
			continue
		}
		s, err := plotter.NewScatter(pts)
		if err != nil {
			return err
		}
		s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = colour(ai, len(spec.Acts)), draw.CircleGlyph{}, vg.Points(3.5)
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYs
			plotter.YErrors
		}{pts, errs})
		if err != nil {
			return err
		}
		eb.Color = colour(ai, len(spec.Acts))
		eb.LineStyle.Width = vg.Points(1.5)
		p.Add(eb, s)
		leg.Add(act, s)
		// Each fold's own value, as a ring beside the mean.
		fs, err := plotter.NewScatter(folds)
		if err != nil {
			return err
		}
		fs.GlyphStyle = draw.GlyphStyle{Color: colour(ai, len(spec.Acts)), Shape: draw.RingGlyph{}, Radius: vg.Points(2.5)}
		p.Add(fs)
		ringSeen = true
	}
	if ringSeen {
		leg.Add("one fold", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: color.Gray{Y: 90}, Shape: draw.RingGlyph{}, Radius: vg.Points(2.5)}})
	}
	// Room above and below the error bars.
	pad := 0.06 * math.Max(p.Y.Max-p.Y.Min, 0.1)
	p.Y.Min, p.Y.Max = math.Max(p.Y.Min-pad, -1), math.Min(p.Y.Max+pad, 101)
	p.X.Tick.Marker = names
	p.X.Tick.Label.Rotation = math.Pi / 3
	p.X.Tick.Label.XAlign = draw.XRight
	p.X.Tick.Label.YAlign = draw.YCenter
	p.X.Min, p.X.Max = -0.5, float64(len(names))-0.5
	p.X.Label.Text = "configuration (lr / batch size)"
	w := vg.Length(max(8, len(names)/3+4))*vg.Inch + legendWidth
	return savePanels(path, [][]*plot.Plot{{p}}, leg, w, 5.5*vg.Inch)
}

// foldBar is the extent below and above mean of a ± std bar in percent,
// kept within 0–100: folds split between learning and not (97%, 96%,
// 11%) have a std of half the range, and no accuracy lies outside it.
func foldBar(mean, std float64) (low, high float64) {
	return math.Max(0, math.Min(std, mean)), math.Max(0, math.Min(std, 100-mean))
}

// Figure is one written plot, for the report.
type Figure struct {
	File, Caption string
}

// figureName matches the names of the figures drawPlots writes (in
// PlotsDir), and no other file's.
var figureName = regexp.MustCompile(`^((heatmap|folds|activations|folds_curves)|(lr|act)_bs[0-9]+|curves_[a-z]+_bs[0-9]+)\.png$`)

// maxFigureRows bounds a figure's rows of panels: the figures with a row
// per learning rate (act_bs*.png) are drawn for grids of at most that
// many rates (300 rates made a figure of 1488x73483 pixels, and plot took
// 1.7 GB).
const maxFigureRows = 16

// drawPlots writes every figure into dir/plots and returns them in report
// order. chosen is the selected configuration, if any.
func drawPlots(dir string, spec *Spec, results []Result, chosen *Config) (figs []Figure, err error) {
	pd := filepath.Join(dir, PlotsDir)
	if err := os.MkdirAll(pd, 0o755); err != nil {
		return nil, err
	}
	// A figure with nothing to show now (its runs gone, no setting
	// chosen) is not drawn, and an earlier drawing of it must be neither
	// kept nor listed as if current: those go once the rest are drawn,
	// each figure replacing its earlier drawing whole (atomically), so
	// that a plot interrupted midway leaves the report's figures there.
	// Only the figures' own names: the user's other files there stay.
	drawn := map[string]bool{}
	add := func(name, caption string, draw func(string) error) error {
		p := filepath.Join(pd, name)
		before, _ := os.Stat(p) // a link's target: the file drawn over
		if err := draw(p); err != nil {
			return err
		}
		if after, err := os.Stat(p); err == nil && (before == nil || !os.SameFile(before, after)) {
			figs = append(figs, Figure{filepath.Join(PlotsDir, name), caption})
			drawn[name] = true
		}
		return nil
	}
	defer func() {
		if err != nil {
			return
		}
		ents, rerr := os.ReadDir(pd)
		if rerr != nil {
			figs, err = nil, rerr
			return
		}
		for _, e := range ents {
			if figureName.MatchString(e.Name()) && !drawn[e.Name()] {
				if rerr := os.Remove(filepath.Join(pd, e.Name())); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
					figs, err = nil, rerr
					return
				}
			}
		}
	}()
	if err := add("heatmap.png", "Final validation accuracy for every learning rate and batch size, one panel per activation (grey: diverged or missing; where the cells are too small for their values, × marks a diverged run and - a missing one).",
		func(p string) error { return heatmapFigure(p, spec, results) }); err != nil {
		return nil, err
	}
	if spec.Folds > 0 {
		if err := add("folds.png", fmt.Sprintf("Mean validation accuracy over %d folds with ± one standard deviation, and each fold's own (rings).", spec.Folds),
			func(p string) error { return foldsFigure(p, spec, results) }); err != nil {
			return nil, err
		}
	}
	if chosen != nil {
		if err := add("activations.png", fmt.Sprintf("The activations at the chosen learning rate %s and batch size %d: training (solid) and validation (dashed).", fmtLR(chosen.LR), chosen.BatchSize),
			func(p string) error { return activationsFigure(p, spec, results, chosen.LR, chosen.BatchSize) }); err != nil {
			return nil, err
		}
	}
	mean := ""
	if spec.Folds > 0 {
		mean = fmt.Sprintf(" Each curve is the mean over the %d folds.", spec.Folds)
	}
	for _, bs := range spec.BatchSizes {
		if err := add(fmt.Sprintf("lr_bs%d.png", bs), fmt.Sprintf("Batch size %d: training and validation accuracy and loss per epoch, one curve per learning rate, a row per activation.%s", bs, mean),
			func(p string) error { return byLRFigure(p, spec, results, bs) }); err != nil {
			return nil, err
		}
	}
	for _, bs := range spec.BatchSizes {
		if len(spec.LRs) > maxFigureRows {
			break // (the report says why)
		}
		if err := add(fmt.Sprintf("act_bs%d.png", bs), fmt.Sprintf("Batch size %d: training and validation accuracy and loss per epoch, one curve per activation, a row per learning rate.%s", bs, mean),
			func(p string) error { return byActFigure(p, spec, results, bs) }); err != nil {
			return nil, err
		}
	}
	if spec.Folds > 0 && chosen != nil {
		if err := add("folds_curves.png", fmt.Sprintf("Each fold's training and validation curves at the chosen learning rate %s and batch size %d, a row per activation.", fmtLR(chosen.LR), chosen.BatchSize),
			func(p string) error { return foldCurvesFigure(p, dir, spec, results, *chosen) }); err != nil {
			return nil, err
		}
	}
	for _, act := range spec.Acts {
		for _, bs := range spec.BatchSizes {
			name := fmt.Sprintf("curves_%s_bs%d.png", act, bs)
			if err := add(name, fmt.Sprintf("%s, batch size %d: accuracy and loss per epoch for each learning rate, training solid, validation dashed.", act, bs),
				func(p string) error { return curvesFigure(p, spec, results, act, bs) }); err != nil {
				return nil, err
			}
		}
	}
	return figs, nil
}

// The reference's figure set: for each batch size, training and validation
// accuracy and loss against epochs with one curve per learning rate (a row
// per activation), the same with one curve per activation (a row per
// learning rate), and with folds each fold's curves.

// metricPanels are the four columns of a reference figure.
var metricPanels = []struct {
	title, ylabel string
	get           func(Result) []float64
	scale         float64
}{
	{"training accuracy", "accuracy (%)", func(r Result) []float64 { return r.TrainAcc }, 100},
	{"validation accuracy", "accuracy (%)", func(r Result) []float64 { return r.ValAcc }, 100},
	{"training loss", "cross-entropy loss", func(r Result) []float64 { return r.TrainLoss }, 1},
	{"validation loss", "cross-entropy loss", func(r Result) []float64 { return r.ValLoss }, 1},
}

// addLine draws one curve with round markers.
func addLine(p *plot.Plot, pts plotter.XYs, col color.Color) error {
	l, s, err := plotter.NewLinePoints(pts)
	if err != nil {
		return err
	}
	l.Color, l.Width = col, vg.Points(1.6)
	s.Color, s.Shape, s.Radius = col, draw.CircleGlyph{}, vg.Points(2.2)
	p.Add(l, s)
	return nil
}

// shareY gives every plot of each group the union of their y ranges, so
// that panels side by side or above each other compare at a glance.
func shareY(groups ...[]*plot.Plot) {
	for _, g := range groups {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, p := range g {
			if p.Y.Min <= p.Y.Max && !math.IsInf(p.Y.Min, 0) && !math.IsInf(p.Y.Max, 0) {
				lo, hi = math.Min(lo, p.Y.Min), math.Max(hi, p.Y.Max)
			}
		}
		if math.IsInf(lo, 0) {
			continue
		}
		for _, p := range g {
			if _, log := p.Y.Scale.(plot.LogScale); log {
				p.Y.Min, p.Y.Max = lo/1.25, hi*1.25
				continue
			}
			// At least one percentage point in view: runs all at 100%
			// would otherwise get an axis of 1e-4.
			lo := math.Min(lo, hi-1)
			pad := 0.04 * (hi - lo)
			p.Y.Min, p.Y.Max = lo-pad, math.Min(hi+pad, 100.5)
		}
	}
}

// view holds a figure's y ranges, chosen so that the runs that learned
// stay readable next to those that did not. Accuracy axes start at
// floor, just under the lowest value of any run that learned (reached 50%),
// so that a run stuck at chance (10%) does not squeeze 97% and 99% into one
// line; its points are drawn on the bottom edge. Loss axes are
// logarithmic (0.03 and 0.05 apart, 2.3 still in view) and stop at cap, a
// hundred times the median loss but never below four times the loss of
// guessing (4 ln 10, about 9.2), so a run on its way to diverging (losses
// of 1e4) is drawn on the top edge. The legend says when either happens.
type view struct {
	floor, cap        float64 // accuracy in %, loss
	floored, capped   bool    // whether some point was moved to an edge
	divergedSomewhere bool
}

// newView looks at every result a figure draws.
func newView(results []Result) *view {
	v := &view{cap: math.Inf(1)}
	var losses []float64
	lo := math.Inf(1)
	for _, r := range results {
		learned := false
		for _, a := range append(slices.Clone(r.TrainAcc), r.ValAcc...) {
			if a >= 0.5 {
				learned = true
			}
		}
		for _, a := range append(slices.Clone(r.TrainAcc), r.ValAcc...) {
			if learned && !math.IsNaN(a) && !math.IsInf(a, 0) {
				lo = math.Min(lo, 100*a)
			}
		}
		for _, l := range append(slices.Clone(r.TrainLoss), r.ValLoss...) {
			if !math.IsNaN(l) && !math.IsInf(l, 0) {
				losses = append(losses, l)
			}
		}
	}
	if !math.IsInf(lo, 1) {
		v.floor = math.Max(0, lo-0.05*(100-lo))
	}
	if len(losses) > 0 {
		slices.Sort(losses)
		v.cap = math.Max(4*math.Ln10, 100*losses[len(losses)/2])
	}
	return v
}

// minLoss keeps the log axis finite.
const minLoss = 1e-4

// accPts and lossPts are a curve's points with those outside the view moved
// to its edge.
func (v *view) accPts(ys []float64) plotter.XYs {
	pts := curve(ys, 100)
	for i := range pts {
		if pts[i].Y < v.floor {
			pts[i].Y, v.floored = v.floor, true
		}
	}
	return pts
}

func (v *view) lossPts(ys []float64) plotter.XYs {
	pts := curve(ys, 1)
	for i := range pts {
		if pts[i].Y > v.cap {
			pts[i].Y, v.capped = v.cap, true
		}
		pts[i].Y = math.Max(pts[i].Y, minLoss)
	}
	return pts
}

// lossAxis makes a panel's y axis logarithmic.
func (v *view) lossAxis(p *plot.Plot) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logTicks{}
}

// notes adds the legend's lines on points moved to an edge.
func (v *view) notes(leg *plot.Legend) {
	if v.divergedSomewhere {
		leg.Add("diverged (loss NaN)", &plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: color.Black, Shape: draw.CrossGlyph{}, Radius: vg.Points(5)}})
	}
	if v.floored {
		leg.Add(fmt.Sprintf("accuracy below %.3g%%", v.floor))
		leg.Add("is drawn at the bottom")
	}
	if v.capped {
		leg.Add(fmt.Sprintf("losses above %.3g", v.cap))
		leg.Add("are drawn at the top")
	}
}

// logTicks labels a log axis at 1, 2 and 5 times the powers of ten in
// range, at 1 and 3 times them over more than 1.5 decades, and at the
// powers alone over more than 3.5.
type logTicks struct{}

func (logTicks) Ticks(min, max float64) []plot.Tick {
	if !(min > 0) || !(max > min) {
		return nil
	}
	steps := []float64{1, 2, 5}
	switch d := math.Log10(max / min); {
	case d > 3.5:
		steps = []float64{1}
	case d > 1.5:
		steps = []float64{1, 3}
	}
	var t []plot.Tick
	for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
		for _, m := range steps {
			v := m * math.Pow(10, e)
			if v >= min && v <= max {
				t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 6, 64)})
			}
		}
	}
	return t
}

// seriesRef is one curve of a grid figure: its legend name, its colour
// and the result it draws.
type seriesRef struct {
	name string
	col  color.Color
	res  Result
}

// gridFigure draws a row of the four metric panels per entry of rows
// (titled rowTitles), the curves of one series in one colour, and a legend
// of legendNames beside them.
func gridFigure(path string, spec *Spec, title string, rowTitles []string, rows [][]seriesRef, legendTitle string, legendNames []string) error {
	var all []Result
	for _, row := range rows {
		for _, s := range row {
			all = append(all, s.res)
		}
	}
	if len(all) == 0 {
		return nil
	}
	v := newView(all)
	inLegend := map[string]color.Color{} // series name -> colour
	var plots [][]*plot.Plot
	var accPanels, lossPanels []*plot.Plot
	for ri, row := range rows {
		var line []*plot.Plot
		for mi, m := range metricPanels {
			t := m.title
			if rowTitles[ri] != "" {
				t = rowTitles[ri] + ": " + m.title
			}
			p := newPlot(t, "epoch", m.ylabel)
			p.Title.TextStyle.Font.Size = 11
			// Drawn by savePanelsHead at the same height over every
			// panel of a row (gonum would put it at the top of each
			// panel's own canvas, whose height differs with the axes).
			p.Title.TextStyle.Color = color.Transparent
			isLoss := mi >= 2
			for _, s := range row {
				var pts plotter.XYs
				if isLoss {
					pts = v.lossPts(m.get(s.res))
				} else {
					pts = v.accPts(m.get(s.res))
				}
				if len(pts) == 0 && !s.res.Diverged {
					continue
				}
				inLegend[s.name] = s.col
				if len(pts) > 0 {
					if err := addLine(p, pts, s.col); err != nil {
						return err
					}
				}
				if s.res.Diverged {
					if err := v.crossAt(p, s.res, pts, isLoss, s.col); err != nil {
						return err
					}
				}
			}
			finish(p, spec.Epochs)
			if isLoss {
				v.lossAxis(p)
				lossPanels = append(lossPanels, p)
			} else {
				accPanels = append(accPanels, p)
			}
			line = append(line, p)
		}
		plots = append(plots, line)
	}
	// The legend lists the series in their order, whether or not the first
	// row has them all.
	ordered := newLegend()
	if legendTitle != "" {
		ordered.Add(legendTitle)
	}
	every := legendEvery(len(legendNames), 1)
	for i, name := range legendNames {
		if col, ok := inLegend[name]; ok && listed(i, len(legendNames), every) {
			ordered.Add(name, &plotter.Line{LineStyle: draw.LineStyle{Color: col, Width: vg.Points(1.6)}},
				&plotter.Scatter{GlyphStyle: draw.GlyphStyle{Color: col, Shape: draw.CircleGlyph{}, Radius: vg.Points(2.2)}})
		}
	}
	addEvery(ordered, every, len(legendNames), legendTitle)
	v.notes(ordered)
	shareY(accPanels, lossPanels)
	w := 4*3.3*vg.Inch + legendWidth
	h := vg.Length(len(rows))*2.55*vg.Inch + 0.45*vg.Inch
	return saveTitled(path, title, plots, ordered, w, h)
}

// crossAt marks where a diverged run stopped: a cross at its divergence
// epoch, at its last drawn value (on the bottom edge of an accuracy panel
// or the top edge of a loss panel when it has none).
func (v *view) crossAt(p *plot.Plot, r Result, pts plotter.XYs, isLoss bool, col color.Color) error {
	y := v.floor
	if isLoss {
		y = math.Min(v.cap, 4*math.Ln10)
	}
	if len(pts) > 0 {
		y = pts[len(pts)-1].Y
	}
	sc, err := plotter.NewScatter(plotter.XYs{{X: float64(r.DivergedEpoch), Y: y}})
	if err != nil {
		return err
	}
	sc.GlyphStyle = draw.GlyphStyle{Color: col, Shape: draw.CrossGlyph{}, Radius: vg.Points(5)}
	p.Add(sc)
	v.divergedSomewhere = true
	return nil
}

// saveTitled is savePanels with a title line over the whole figure.
func saveTitled(path, title string, plots [][]*plot.Plot, leg *plot.Legend, w, h vg.Length) error {
	head := plot.New()
	head.HideAxes()
	head.Title.Text = title
	head.Title.TextStyle.Font.Size = 14
	return savePanelsHead(path, head, plots, leg, w, h)
}

// savePanelsHead lays out a title strip of 0.4 inch over the panels (the
// figure taller where the legend needs it: withLegend).
func savePanelsHead(path string, head *plot.Plot, plots [][]*plot.Plot, leg *plot.Legend, w, h vg.Length) error {
	const headH, legTop = 0.4 * vg.Inch, 30
	img, dc := whiteFigure(w, withLegend(leg, h, headH+vg.Points(legTop)))
	head.Draw(draw.Crop(dc, 0, 0, dc.Size().Y-headH, 0))
	dc = draw.Crop(dc, 0, 0, 0, -headH)
	if leg != nil {
		strip := draw.Crop(dc, w-legendWidth+vg.Points(12), 0, 0, -vg.Points(legTop))
		leg.Draw(strip)
		dc = draw.Crop(dc, 0, -legendWidth, 0, 0)
	}
	dc = panelsAt(dc, h-headH)
	t := draw.Tiles{Rows: len(plots), Cols: len(plots[0]), PadX: vg.Points(16), PadY: vg.Points(14),
		PadTop: vg.Points(4), PadBottom: vg.Points(6), PadLeft: vg.Points(6), PadRight: vg.Points(6)}
	canvases := plot.Align(plots, t, dc)
	for i := range plots {
		for j := range plots[i] {
			p := plots[i][j]
			if p == nil {
				continue
			}
			p.Draw(canvases[i][j])
			if p.Title.TextStyle.Color == color.Transparent {
				st := p.Title.TextStyle
				st.Color, st.XAlign, st.YAlign = color.Black, draw.XCenter, draw.YBottom
				data := p.DataCanvas(canvases[i][j])
				canvases[i][j].FillText(st, vg.Point{X: (data.Min.X + data.Max.X) / 2, Y: data.Max.Y + vg.Points(6)}, p.Title.Text)
			}
		}
	}
	return writePNG(path, img.Image())
}

func find(results []Result, lr float64, bs int, act string) (Result, bool) {
	for _, r := range results {
		if r.Config.LR == lr && r.Config.BatchSize == bs && r.Config.Act == act {
			return r, true
		}
	}
	return Result{}, false
}

// byLRFigure: batch size bs, a row per activation, a curve per learning rate.
func byLRFigure(path string, spec *Spec, results []Result, bs int) error {
	var titles, names []string
	var rows [][]seriesRef
	for _, lr := range spec.LRs {
		names = append(names, "lr "+fmtLR(lr))
	}
	for _, act := range spec.Acts {
		var row []seriesRef
		for li, lr := range spec.LRs {
			if r, ok := find(results, lr, bs, act); ok {
				row = append(row, seriesRef{"lr " + fmtLR(lr), colour(li, len(spec.LRs)), r})
			}
		}
		titles = append(titles, act)
		rows = append(rows, row)
	}
	return gridFigure(path, spec, fmt.Sprintf("Batch size %d: one curve per learning rate", bs), titles, rows, "learning rate", names)
}

// byActFigure: batch size bs, a row per learning rate, a curve per
// activation.
func byActFigure(path string, spec *Spec, results []Result, bs int) error {
	var titles []string
	var rows [][]seriesRef
	for _, lr := range spec.LRs {
		var row []seriesRef
		for ai, act := range spec.Acts {
			if r, ok := find(results, lr, bs, act); ok {
				row = append(row, seriesRef{act, colour(ai, len(spec.Acts)), r})
			}
		}
		titles = append(titles, "lr "+fmtLR(lr))
		rows = append(rows, row)
	}
	return gridFigure(path, spec, fmt.Sprintf("Batch size %d: one curve per activation", bs), titles, rows, "activation", spec.Acts)
}

// foldCurvesFigure: at the chosen learning rate and batch size, a row per
// activation and a curve per fold.
func foldCurvesFigure(path, dir string, spec *Spec, results []Result, chosen Config) error {
	var titles, names []string
	var rows [][]seriesRef
	for k := 0; k < spec.Folds; k++ {
		names = append(names, fmt.Sprintf("fold %d", k+1))
	}
	for _, act := range spec.Acts {
		c := Config{LR: chosen.LR, BatchSize: chosen.BatchSize, Act: act}
		if _, ok := find(results, c.LR, c.BatchSize, act); !ok {
			continue
		}
		var row []seriesRef
		for k := 0; k < spec.Folds; k++ {
			run, err := LoadRunOf(dir, spec, c, k)
			if err != nil {
				return err
			}
			if run == nil || !run.Done {
				continue
			}
			row = append(row, seriesRef{fmt.Sprintf("fold %d", k+1), colour(k, spec.Folds), Summarise(c, []*Run{run})})
		}
		titles = append(titles, act)
		rows = append(rows, row)
	}
	return gridFigure(path, spec, fmt.Sprintf("%d-fold cross-validation at lr %s, batch %d: one curve per fold", spec.Folds, fmtLR(chosen.LR), chosen.BatchSize),
		titles, rows, "fold", names)
}
