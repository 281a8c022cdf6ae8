package aggregate

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgpdf"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/dmrnet/dmrnet/internal/atomicfile"
)

// PlotFormats are the file name extensions Plot writes, the format chosen by the extension.
func PlotFormats() []string { return []string{".png", ".svg", ".pdf"} }

// PlotOptions changes what Plot draws.
type PlotOptions struct {
	// Baseline, when not empty, is the label of a group: the plot is a heatmap whose cells
	// of the other groups hold their difference to it in points (diverging colours), the
	// baseline's own column its values.
	Baseline string
}

// plotFormat returns the format of path from its extension, or an error that names the
// accepted ones.
func plotFormat(path string) (string, error) {
	ext := strings.ToLower(filepath.Ext(path))
	if !slices.Contains(PlotFormats(), ext) {
		return "", fmt.Errorf("aggregate: --plot %s: not a .png, .svg or .pdf file name (the extension chooses the format)", path)
	}
	return ext, nil
}

// newCanvas returns a w×h canvas of format (an extension of PlotFormats) with a white
// background.
func newCanvas(format string, w, h vg.Length) vg.CanvasWriterTo {
	var c vg.CanvasWriterTo
	switch format {
	case ".svg":
		// Embedded fonts: text is laid out with the metrics of gonum's Liberation fonts, so
		// a viewer that substitutes another font would misplace it.
		c = vgsvg.NewWith(vgsvg.UseWH(w, h), vgsvg.EmbedFonts(true))
	case ".pdf":
		pc := vgpdf.New(w, h)
		pc.EmbedFonts(true)
		c = pdfCanvas{pc}
	default:
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(plotDPI))}
	}
	dc := draw.New(c)
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())
	return c
}

// writeCanvas writes c to path atomically.
func writeCanvas(path string, c vg.CanvasWriterTo) error {
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		_, err := c.WriteTo(w)
		return err
	})
}

// Heatmap geometry.
const (
	heatRowHeight = 13 * vg.Millimeter / 3 // about 12.3 pt
	heatFontSize  = 8.5
	heatPad       = 10 // points around labels
	heatBarWidth  = 12 // points, the colour bar
	heatSizeGap   = 4  // points between blocks of combinations of different sizes
)

// textStyle returns a text style of the default font at size points.
func textStyle(size float64) draw.TextStyle {
	return draw.TextStyle{
		Color:   color.Black,
		Font:    font.From(plot.DefaultFont, vg.Points(size)),
		Handler: plot.DefaultTextHandler,
	}
}

// heatmap draws the table as combinations (rows, ordered by the number of present
// modalities, every one named) × groups (columns), each cell coloured by its value and
// holding it in text: mean±std in percent, or with opt.Baseline the difference of the means
// to the baseline group in points. The "mean" and "worst" rows close the map.
func (t *Table) heatmap(path, format, title string, rows []plotRow, opt PlotOptions) error {
	base := -1
	if opt.Baseline != "" {
		base = slices.Index(t.Groups, opt.Baseline)
		if base < 0 {
			return fmt.Errorf("aggregate: --baseline %s: not a group of the table (use one of %s)", opt.Baseline, quoteAll(t.Groups))
		}
	}
	// The columns: the groups, then the specialists (see AddSpecialists) if any.
	cols := slices.Clone(t.Groups)
	cellOf := func(r TableRow, g int) Cell {
		if g < len(t.Groups) {
			if g < len(r.Cells) {
				return r.Cells[g]
			}
			return Cell{}
		}
		if r.Specialist != nil {
			return *r.Specialist
		}
		return Cell{}
	}
	if t.hasSpecialists() {
		cols = append(cols, "specialist")
	}
	var summary []TableRow
	for _, r := range t.Rows {
		if r.Summary {
			summary = append(summary, r)
		}
	}
	all := make([]TableRow, 0, len(rows)+len(summary))
	for _, r := range rows {
		all = append(all, r.row)
	}
	all = append(all, summary...)
	// gapBefore[i]: a gap separates row i from the one above.
	gapBefore := make([]bool, len(all))
	for i := 1; i < len(rows); i++ {
		gapBefore[i] = rows[i].size != rows[i-1].size
	}
	if len(summary) > 0 {
		gapBefore[len(rows)] = true
	}

	// Values: percent, or differences in points for non-baseline cells.
	type cellVal struct {
		ok   bool
		v    float64 // colour value
		text string
		base bool // the baseline column
	}
	vals := make([][]cellVal, len(all))
	lo, hi, maxAbs := math.Inf(1), math.Inf(-1), 0.0
	for i, r := range all {
		vals[i] = make([]cellVal, len(cols))
		for g := range cols {
			c := cellOf(r, g)
			if c.N == 0 {
				text := "n/a"
				if g >= len(t.Groups) {
					text = "–" // no specialist for this row
				}
				vals[i][g] = cellVal{text: text}
				continue
			}
			m, s := 100*c.Mean, 100*c.Std
			text := strconv.FormatFloat(m, 'f', 1, 64)
			if c.N > 1 {
				text += "±" + strconv.FormatFloat(s, 'f', 1, 64)
			}
			switch {
			case base < 0:
				vals[i][g] = cellVal{ok: true, v: m, text: text}
				lo, hi = math.Min(lo, m), math.Max(hi, m)
			case g == base:
				vals[i][g] = cellVal{ok: true, v: m, text: text, base: true}
			default:
				if b := cellOf(r, base); b.N == 0 {
					vals[i][g] = cellVal{text: "n/a"}
					continue
				}
				d := m - 100*cellOf(r, base).Mean
				dt := strconv.FormatFloat(d, 'f', 1, 64)
				if dt == "-0.0" {
					dt = "0.0"
				}
				if d > 0 && dt != "0.0" {
					dt = "+" + dt
				}
				vals[i][g] = cellVal{ok: true, v: d, text: strings.Replace(dt, "-", "−", 1)}
				maxAbs = math.Max(maxAbs, math.Abs(d))
			}
		}
	}
	if base < 0 && math.IsInf(lo, 0) {
		return fmt.Errorf("aggregate: plot %s: the table has no values", path)
	}
	if hi-lo < 1e-9 {
		lo, hi = lo-0.5, hi+0.5
	}
	if maxAbs < 0.05 {
		maxAbs = 0.05
	}
	higherBetter := !higherIsWorse(t.Metric)
	colour := func(c cellVal) color.Color {
		switch {
		case !c.ok:
			return color.Gray{Y: 235}
		case c.base:
			return color.Gray{Y: 215}
		case base < 0:
			f := (c.v - lo) / (hi - lo)
			if !higherBetter {
				f = 1 - f
			}
			return sequential(f)
		}
		f := c.v / maxAbs
		if !higherBetter {
			f = -f
		}
		return diverging(f)
	}

	// Layout in points.
	cellSty := textStyle(heatFontSize)
	labelSty := textStyle(heatFontSize + 0.5)
	headSty := textStyle(heatFontSize + 0.5)
	titleSty := textStyle(12)
	pad := vg.Points(heatPad)
	rowH := heatRowHeight
	labelW := vg.Length(0)
	for _, r := range all {
		labelW = max(labelW, labelSty.Width(r.Combination))
	}
	cellW := vg.Length(0)
	for _, row := range vals {
		for _, c := range row {
			cellW = max(cellW, cellSty.Width(c.text))
		}
	}
	// 20 % slack: an SVG viewer that ignores the embedded font (librsvg does) substitutes a
	// wider one.
	labelW *= 1.2
	cellW = cellW*1.2 + vg.Points(8)
	headW := vg.Length(0)
	for _, g := range cols {
		headW = max(headW, headSty.Width(g))
	}
	rotate := headW > cellW-vg.Points(4)
	headH := headSty.Height("Xg") + vg.Points(4)
	if rotate {
		headH = headW*vg.Length(math.Sin(math.Pi/4)) + headSty.Height("Xg") + vg.Points(4)
	}
	titleH := vg.Length(0)
	if title != "" {
		titleH = titleSty.Height(title) + pad
	}
	gaps := 0
	for _, g := range gapBefore {
		if g {
			gaps++
		}
	}
	gridW := vg.Length(len(cols)) * cellW
	gridH := vg.Length(len(all))*rowH + vg.Length(gaps)*vg.Points(heatSizeGap)
	barLabel := metricName(t.Metric) + " (%)"
	if base >= 0 {
		barLabel = "difference to " + opt.Baseline + " (points)"
	}
	barSty := textStyle(heatFontSize)
	barTickW := barSty.Width("−100.0")
	barW := vg.Points(heatBarWidth) + vg.Points(4) + barTickW + barSty.Height("X") + pad
	width := pad + labelW + vg.Points(6) + gridW + 2*pad + barW
	width = max(width, titleSty.Width(title)+2*pad)
	// Rotated headers may reach left of the grid; they start at the column centre.
	height := pad + titleH + headH + gridH + pad

	c := newCanvas(format, width, height)
	dc := draw.New(c)
	if title != "" {
		ts := titleSty
		ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
		dc.FillText(ts, vg.Point{X: width / 2, Y: height - pad}, title)
	}
	x0 := pad + labelW + vg.Points(6)
	yTop := height - pad - titleH - headH
	// Column headers.
	for g, label := range cols {
		hs := headSty
		cx := x0 + vg.Length(g)*cellW + cellW/2
		if rotate {
			hs.Rotation = math.Pi / 4
			hs.XAlign, hs.YAlign = draw.XLeft, draw.YCenter
			dc.FillText(hs, vg.Point{X: cx - vg.Points(3), Y: yTop + vg.Points(6)}, label)
		} else {
			hs.XAlign, hs.YAlign = draw.XCenter, draw.YBottom
			dc.FillText(hs, vg.Point{X: cx, Y: yTop + vg.Points(3)}, label)
		}
	}
	// Rows.
	y := yTop
	for i, r := range all {
		if gapBefore[i] {
			y -= vg.Points(heatSizeGap)
		}
		ls := labelSty
		ls.XAlign, ls.YAlign = draw.XRight, draw.YCenter
		dc.FillText(ls, vg.Point{X: x0 - vg.Points(6), Y: y - rowH/2}, r.Combination)
		for g := range cols {
			cv := vals[i][g]
			rect := []vg.Point{
				{X: x0 + vg.Length(g)*cellW, Y: y}, {X: x0 + vg.Length(g+1)*cellW, Y: y},
				{X: x0 + vg.Length(g+1)*cellW, Y: y - rowH}, {X: x0 + vg.Length(g)*cellW, Y: y - rowH},
			}
			fill := colour(cv)
			dc.FillPolygon(fill, rect)
			cs := cellSty
			cs.Color = textOn(fill)
			cs.XAlign, cs.YAlign = draw.XCenter, draw.YCenter
			dc.FillText(cs, vg.Point{X: x0 + vg.Length(g)*cellW + cellW/2, Y: y - rowH/2}, cv.text)
		}
		// A thin white line between rows and columns keeps the cells apart.
		y -= rowH
	}
	white := draw.LineStyle{Color: color.White, Width: vg.Points(0.6)}
	for g := 1; g < len(cols); g++ {
		x := x0 + vg.Length(g)*cellW
		dc.StrokeLine2(white, x, yTop, x, y)
	}
	// Colour bar.
	bx := x0 + gridW + 2*pad
	bTop, bBot := yTop, yTop-min(gridH, 3*vg.Inch)
	const steps = 64
	for k := range steps {
		f0 := float64(k) / steps
		ya := bBot + vg.Length(f0)*(bTop-bBot)
		yb := bBot + vg.Length(float64(k+1)/steps)*(bTop-bBot) + vg.Points(0.3)
		var fill color.Color
		if base < 0 {
			v := lo + (f0+0.5/steps)*(hi-lo)
			fill = colour(cellVal{ok: true, v: v})
		} else {
			v := (2*(f0+0.5/steps) - 1) * maxAbs
			fill = colour(cellVal{ok: true, v: v})
		}
		dc.FillPolygon(fill, []vg.Point{{X: bx, Y: ya}, {X: bx + vg.Points(heatBarWidth), Y: ya}, {X: bx + vg.Points(heatBarWidth), Y: yb}, {X: bx, Y: yb}})
	}
	bs := barSty
	bs.XAlign, bs.YAlign = draw.XLeft, draw.YCenter
	ticks := []float64{lo, (lo + hi) / 2, hi}
	if base >= 0 {
		ticks = []float64{-maxAbs, 0, maxAbs}
	}
	for k, v := range ticks {
		ty := bBot + vg.Length(float64(k)/2)*(bTop-bBot)
		dc.StrokeLine2(draw.LineStyle{Color: color.Black, Width: vg.Points(0.6)}, bx+vg.Points(heatBarWidth), ty, bx+vg.Points(heatBarWidth+3), ty)
		txt := strconv.FormatFloat(v, 'f', 1, 64)
		if base >= 0 && v > 0 {
			txt = "+" + txt
		}
		dc.FillText(bs, vg.Point{X: bx + vg.Points(heatBarWidth+4), Y: ty}, strings.Replace(txt, "-", "−", 1))
	}
	ts := barSty
	ts.Rotation = math.Pi / 2
	ts.XAlign, ts.YAlign = draw.XCenter, draw.YTop
	dc.FillText(ts, vg.Point{X: bx + vg.Points(heatBarWidth+8) + barTickW, Y: (bTop + bBot) / 2}, barLabel)
	return writeCanvas(path, c)
}

// sequential maps f in [0, 1] to a light-to-dark blue (ColorBrewer Blues, interpolated).
func sequential(f float64) color.Color {
	stops := []color.RGBA{
		{247, 251, 255, 255}, {198, 219, 239, 255}, {107, 174, 214, 255},
		{33, 113, 181, 255}, {8, 48, 107, 255},
	}
	return interpolate(stops, f)
}

// diverging maps f in [-1, 1] to red (negative, worse) through white to blue (positive,
// better) (ColorBrewer RdBu, interpolated).
func diverging(f float64) color.Color {
	stops := []color.RGBA{
		{178, 24, 43, 255}, {239, 138, 98, 255}, {253, 219, 199, 255}, {247, 247, 247, 255},
		{209, 229, 240, 255}, {103, 169, 207, 255}, {33, 102, 172, 255},
	}
	return interpolate(stops, (f+1)/2)
}

func interpolate(stops []color.RGBA, f float64) color.Color {
	f = math.Max(0, math.Min(1, f))
	pos := f * float64(len(stops)-1)
	i := min(int(pos), len(stops)-2)
	w := pos - float64(i)
	a, b := stops[i], stops[i+1]
	mix := func(x, y uint8) uint8 { return uint8(math.Round(float64(x)*(1-w) + float64(y)*w)) }
	return color.RGBA{mix(a.R, b.R), mix(a.G, b.G), mix(a.B, b.B), 255}
}

// textOn returns black or white, whichever reads better on fill.
func textOn(fill color.Color) color.Color {
	r, g, b, _ := fill.RGBA()
	lum := (0.2126*float64(r) + 0.7152*float64(g) + 0.0722*float64(b)) / 65535
	if lum < 0.45 {
		return color.White
	}
	return color.Black
}

func quoteAll(s []string) string {
	q := make([]string, len(s))
	for i, v := range s {
		q[i] = strconv.Quote(v)
	}
	return strings.Join(q, ", ")
}

// pdfCanvas is a vgpdf canvas whose text is converted to the Windows-1252 encoding of its
// fonts: vgpdf writes the bytes of the UTF-8 text, which shows "±" as "Â±".
type pdfCanvas struct{ *vgpdf.Canvas }

// FillString implements vg.Canvas.
func (c pdfCanvas) FillString(f font.Face, pt vg.Point, text string) {
	c.Canvas.FillString(f, pt, toCP1252(text))
}

// toCP1252 encodes s in Windows-1252: Latin-1 as is, the minus sign as "-", the en dash as
// 0x96, other characters as "?".
func toCP1252(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r < 0x80 || (r >= 0xA0 && r <= 0xFF):
			b = append(b, byte(r))
		case r == '−':
			b = append(b, '-')
		case r == '–':
			b = append(b, 0x96)
		default:
			b = append(b, '?')
		}
	}
	return string(b)
}
