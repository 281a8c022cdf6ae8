package aggregate

import (
	"cmp"
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Plot geometry.
const (
	plotWidth  = 12 * vg.Inch
	plotHeight = 6 * vg.Inch
	plotDPI    = 100
	// maxNamedTicks is the most combinations whose names label the x axis; with more, the
	// axis labels the groups of combinations with the same number of modalities.
	maxNamedTicks = 15
	// maxLegendShare is the largest fraction of the width a legend right of the plot may
	// take; a wider legend goes below the plot.
	maxLegendShare = 0.3
)

// groupColor returns the colour of group i: the Okabe-Ito palette, which colour-blind readers
// can tell apart, without its yellow.
func groupColor(i int) color.RGBA {
	palette := []color.RGBA{
		{0, 114, 178, 255},   // blue
		{213, 94, 0, 255},    // vermillion
		{0, 158, 115, 255},   // bluish green
		{204, 121, 167, 255}, // reddish purple
		{230, 159, 0, 255},   // orange
		{86, 180, 233, 255},  // sky blue
		{0, 0, 0, 255},       // black
	}
	return palette[i%len(palette)]
}

// groupGlyph returns the marker shape of group i.
func groupGlyph(i int) draw.GlyphDrawer {
	glyphs := []draw.GlyphDrawer{
		draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}, draw.RingGlyph{},
		draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{},
	}
	return glyphs[i%len(glyphs)]
}

// groupDashes returns the line dashes of group i: solid, dashed, dotted, dash-dotted, long
// dashes, ..., so that lines differ even in grey print.
func groupDashes(i int) []vg.Length {
	pt := vg.Points
	patterns := [][]vg.Length{
		nil, {pt(6), pt(3)}, {pt(1.5), pt(2)}, {pt(6), pt(2), pt(1.5), pt(2)},
		{pt(10), pt(3)}, {pt(3), pt(3)}, {pt(10), pt(2), pt(2), pt(2), pt(2), pt(2)},
	}
	return patterns[i%len(patterns)]
}

// plotRow is a combination row of a Table placed on the x axis.
type plotRow struct {
	row  TableRow
	size int // number of present modalities
}

// Plot draws the table to path, atomically, in the format of its extension: .png (at 100
// dpi), .svg or .pdf (see PlotWith).
func (t *Table) Plot(path string, title string) error {
	return t.PlotWith(path, title, PlotOptions{})
}

// PlotWith draws the table to path, atomically, in the format of its extension: .png (at 100
// dpi), .svg or .pdf. An empty title leaves the plot untitled.
//
// With more than 15 combinations, or with opt.Baseline, it draws a heatmap of combinations
// (rows, named, ordered by their number of present modalities, a gap between sizes, then
// the "mean" and "worst" rows) × groups (columns), each cell coloured by its value and
// holding it as text (mean±std in percent; with opt.Baseline the other groups' difference
// to the baseline in points, on a diverging scale). Otherwise it draws a 12x6 inch chart: the
// combinations on the x axis, named, each group one line of its mean over seeds in percent
// with error bars of ±1 standard deviation, groups told apart by colour (Okabe-Ito), marker
// and dashes, the legend outside the data area. Specialists (see AddSpecialists) are black
// crosses at the combinations that have one, labelled "specialist" in the legend.
func (t *Table) PlotWith(path string, title string, opt PlotOptions) error {
	format, err := plotFormat(path)
	if err != nil {
		return err
	}
	var rows []plotRow
	for _, r := range t.Rows {
		if !r.Summary {
			rows = append(rows, plotRow{r, len(r.Present)})
		}
	}
	if len(rows) == 0 || len(t.Groups) == 0 {
		return fmt.Errorf("aggregate: plot %s: the table has no combinations or no groups", path)
	}
	slices.SortStableFunc(rows, func(a, b plotRow) int { return cmp.Compare(a.size, b.size) })
	if len(rows) > maxNamedTicks || opt.Baseline != "" {
		return t.heatmap(path, format, title, rows, opt)
	}

	p := plot.New()
	p.Title.Text = title
	p.Title.TextStyle.Font.Size = vg.Points(14)
	p.Title.Padding = vg.Points(8)
	p.Y.Label.Text = metricName(t.Metric) + " (%), mean ± std over seeds"
	p.Y.Label.TextStyle.Font.Size = vg.Points(12)
	p.Y.Tick.Label.Font.Size = vg.Points(11)
	p.Y.Tick.Marker = plot.TickerFunc(percentTicks)
	p.X.Tick.Label.Font.Size = vg.Points(11)
	p.X.Label.TextStyle.Font.Size = vg.Points(12)
	p.X.Min, p.X.Max = -0.6, float64(len(rows))-0.4
	p.X.Padding, p.Y.Padding = 0, 0

	named := len(rows) <= maxNamedTicks
	ymin, ymax := math.Inf(1), math.Inf(-1)
	grid := plotter.NewGrid()
	grid.Vertical.Width = 0
	grid.Horizontal.Color = color.Gray{Y: 225}
	p.Add(grid, separators{rows: rows})

	legend := plot.NewLegend()
	legend.TextStyle.Font.Size = vg.Points(11)
	legend.Top, legend.Left = true, true
	legend.Padding = vg.Points(4)
	legend.ThumbnailWidth = vg.Points(28)
	nGroups := len(t.Groups)
	for g, label := range t.Groups {
		col := groupColor(g)
		// With error bars, groups are spread around each combination so that their bars
		// do not hide each other.
		dodge := 0.0
		if named && nGroups > 1 {
			dodge = (float64(g) - float64(nGroups-1)/2) * math.Min(0.08, 0.6/float64(nGroups))
		}
		var pts plotter.XYs
		var errs plotter.YErrors
		for i, r := range rows {
			if g >= len(r.row.Cells) || r.row.Cells[g].N == 0 {
				continue
			}
			c := r.row.Cells[g]
			m, s := 100*c.Mean, 100*c.Std
			pts = append(pts, plotter.XY{X: float64(i) + dodge, Y: m})
			errs = append(errs, struct{ Low, High float64 }{s, s})
			ymin, ymax = math.Min(ymin, m-s), math.Max(ymax, m+s)
		}
		if len(pts) == 0 {
			continue
		}
		var thumbs []plot.Thumbnailer
		hasStd := slices.ContainsFunc(errs, func(e struct{ Low, High float64 }) bool { return e.High > 0 })
		if hasStd {
			if named {
				bars, err := plotter.NewYErrorBars(errorBars{pts, errs})
				if err != nil {
					return fmt.Errorf("aggregate: plot %s: %w", path, err)
				}
				bars.Color = col
				bars.Width = vg.Points(1.2)
				bars.CapWidth = vg.Points(6)
				p.Add(bars)
			} else {
				ring := make(plotter.XYs, 0, 2*len(pts))
				for i, pt := range pts {
					ring = append(ring, plotter.XY{X: pt.X, Y: pt.Y + errs[i].High})
				}
				for i := len(pts) - 1; i >= 0; i-- {
					ring = append(ring, plotter.XY{X: pts[i].X, Y: pts[i].Y - errs[i].Low})
				}
				band, err := plotter.NewPolygon(ring)
				if err != nil {
					return fmt.Errorf("aggregate: plot %s: %w", path, err)
				}
				band.Color = color.NRGBA{R: col.R, G: col.G, B: col.B, A: 46}
				band.LineStyle.Width = 0
				p.Add(band)
				thumbs = append(thumbs, band)
			}
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("aggregate: plot %s: %w", path, err)
		}
		line.Color = col
		line.Width = vg.Points(1.5)
		line.Dashes = groupDashes(g)
		points.Color = col
		points.Shape = groupGlyph(g)
		points.Radius = vg.Points(2.5)
		if named {
			points.Radius = vg.Points(4)
		}
		p.Add(line, points)
		legend.Add(label, append(thumbs, line, points)...)
	}
	if t.hasSpecialists() {
		var pts plotter.XYs
		for i, r := range rows {
			if c := r.row.Specialist; c != nil {
				m := 100 * c.Mean
				pts = append(pts, plotter.XY{X: float64(i), Y: m})
				ymin, ymax = math.Min(ymin, m), math.Max(ymax, m)
			}
		}
		marks, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("aggregate: plot %s: %w", path, err)
		}
		marks.Color = color.Black
		marks.Shape = boldCross{width: vg.Points(2)}
		marks.Radius = vg.Points(4)
		if named {
			marks.Radius = vg.Points(6)
		}
		p.Add(marks)
		legend.Add("specialist", marks)
	}
	if math.IsInf(ymin, 0) {
		return fmt.Errorf("aggregate: plot %s: the table has no values", path)
	}
	pad := math.Max(0.04*(ymax-ymin), 0.5)
	p.Y.Min, p.Y.Max = math.Max(ymin-pad, 0), math.Min(ymax+pad, 100)
	if p.Y.Max-p.Y.Min < 1 {
		p.Y.Min, p.Y.Max = p.Y.Min-0.5, p.Y.Max+0.5
	}

	img := newCanvas(format, plotWidth, plotHeight)
	dc := draw.New(img)
	margin := vg.Points(10)
	outer := draw.Crop(dc, margin, -margin, margin/2, -margin)
	lr := legend.Rectangle(outer)
	legendW, legendH := lr.Size().X, lr.Size().Y
	plotArea, legendArea := outer, outer
	if legendW <= maxLegendShare*plotWidth {
		plotArea = draw.Crop(outer, 0, -(legendW + 2*margin), 0, 0)
		legendArea = draw.Crop(outer, outer.Size().X-legendW, 0, 0, -(p.Title.TextStyle.Height(title) + p.Title.Padding))
	} else {
		plotArea = draw.Crop(outer, 0, 0, legendH+2*margin, 0)
		legendArea = draw.Crop(outer, 0, 0, 0, -(outer.Size().Y - legendH))
	}
	t.setXTicks(p, rows, plotArea.Size().X-vg.Inch)
	p.Draw(plotArea)
	legend.Draw(legendArea)

	return writeCanvas(path, img)
}

// setXTicks labels the x axis of p, about dataWidth wide, for rows.
func (t *Table) setXTicks(p *plot.Plot, rows []plotRow, dataWidth vg.Length) {
	slot := dataWidth / vg.Length(len(rows))
	sty := p.X.Tick.Label
	if len(rows) <= maxNamedTicks {
		p.X.Label.Text = "modality combination"
		var ticks []plot.Tick
		widest := vg.Length(0)
		for i, r := range rows {
			ticks = append(ticks, plot.Tick{Value: float64(i), Label: r.row.Combination})
			widest = max(widest, sty.Width(r.row.Combination))
		}
		if widest > 0.95*slot {
			p.X.Tick.Label.Rotation = math.Pi / 6
			p.X.Tick.Label.XAlign = draw.XRight
			p.X.Tick.Label.YAlign = draw.YTop
		}
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
		return
	}
	p.X.Label.Text = "modality combinations, grouped by the number of present modalities"
	var ticks []plot.Tick
	for i := range rows {
		ticks = append(ticks, plot.Tick{Value: float64(i)}) // minor tick per combination
	}
	// One label per block of combinations with the same number of modalities, at its
	// centre: "k modalities" where it fits, "k" where that does not, none where neither does.
	lastRight := vg.Length(math.Inf(-1))
	gap := vg.Points(4)
	for start := 0; start < len(rows); {
		end := start
		for end < len(rows) && rows[end].size == rows[start].size {
			end++
		}
		centre := (float64(start) + float64(end-1)) / 2
		x := vg.Length(centre+0.6) * slot
		nextX := vg.Length(math.Inf(1))
		if end < len(rows) {
			nextEnd := end
			for nextEnd < len(rows) && rows[nextEnd].size == rows[end].size {
				nextEnd++
			}
			nextX = vg.Length((float64(end)+float64(nextEnd-1))/2+0.6) * slot
		}
		k := rows[start].size
		for _, label := range []string{modalitiesLabel(k), strconv.Itoa(k)} {
			half := sty.Width(label) / 2
			// Leave room for the next block's short label too.
			if x-half >= lastRight+gap && x+half+gap <= nextX-sty.Width(strconv.Itoa(k+1))/2 {
				ticks = append(ticks, plot.Tick{Value: centre, Label: label})
				lastRight = x + half
				break
			}
		}
		start = end
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
}

// percentTicks returns labelled ticks at a round step that gives five to ten of them between
// min and max, with an unlabelled tick halfway between each.
func percentTicks(min, max float64) []plot.Tick {
	if !(max > min) {
		return []plot.Tick{{Value: min, Label: strconv.FormatFloat(min, 'g', -1, 64)}}
	}
	step := 0.0
	for _, mag := range []float64{0.01, 0.1, 1, 10, 100} {
		for _, m := range []float64{1, 2, 2.5, 5} {
			if step == 0 && (max-min)/(m*mag) <= 10 {
				step = m * mag
			}
		}
	}
	if step == 0 {
		step = max - min
	}
	decimals := 0
	for s := step; math.Abs(s-math.Round(s)) > 1e-9 && decimals < 6; s *= 10 {
		decimals++
	}
	var ticks []plot.Tick
	for i := math.Ceil(min / step * 2); i/2*step <= max; i++ {
		v := i / 2 * step
		if math.Mod(i, 2) == 0 {
			ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', decimals, 64)})
		} else {
			ticks = append(ticks, plot.Tick{Value: v})
		}
	}
	return ticks
}

// modalitiesLabel is the axis label of the combinations with k present modalities.
func modalitiesLabel(k int) string {
	if k == 1 {
		return "1 modality"
	}
	return strconv.Itoa(k) + " modalities"
}

// separators draws a vertical line between combinations with different numbers of present
// modalities.
type separators struct{ rows []plotRow }

// Plot implements plot.Plotter.
func (s separators) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	sty := draw.LineStyle{Color: color.Gray{Y: 150}, Width: vg.Points(1), Dashes: []vg.Length{vg.Points(4), vg.Points(3)}}
	for i := 1; i < len(s.rows); i++ {
		if s.rows[i].size != s.rows[i-1].size {
			x := trX(float64(i) - 0.5)
			c.StrokeLine2(sty, x, c.Min.Y, x, c.Max.Y)
		}
	}
}

// errorBars pairs points with their symmetric errors for plotter.NewYErrorBars.
type errorBars struct {
	plotter.XYs
	plotter.YErrors
}

// boldCross is draw.CrossGlyph (an "x") with lines of the given width.
type boldCross struct{ width vg.Length }

// DrawGlyph implements draw.GlyphDrawer.
func (g boldCross) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	c.SetLineStyle(draw.LineStyle{Color: sty.Color, Width: g.width})
	r := sty.Radius * math.Sqrt2 / 2
	for _, dy := range []vg.Length{r, -r} {
		var p vg.Path
		p.Move(vg.Point{X: pt.X - r, Y: pt.Y - dy})
		p.Line(vg.Point{X: pt.X + r, Y: pt.Y + dy})
		c.Stroke(p)
	}
}
