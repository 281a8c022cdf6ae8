package report

import (
	"bytes"
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// rocColor is the colour of curve i: the Okabe-Ito palette without its yellow.
func rocColor(i int) color.RGBA {
	palette := []color.RGBA{
		{0, 114, 178, 255}, {213, 94, 0, 255}, {0, 158, 115, 255}, {204, 121, 167, 255},
		{230, 159, 0, 255}, {86, 180, 233, 255}, {0, 0, 0, 255},
	}
	return palette[i%len(palette)]
}

// PlotROC renders the ROC of every combination of s that has one (APCER on the x axis, BPCER
// on the y axis, both in %) as one figure with a curve per combination; the legend names each
// combination with its AUC and EER, and a marker shows the operating point at the chosen
// threshold. The format follows path's extension (.svg, .pdf, .png, .eps, .jpg, .tif). It
// returns the encoded figure; it is an error when no combination has a ROC.
func (s *Sweep) PlotROC(path string) ([]byte, error) {
	p := plot.New()
	p.Title.Text = "ROC per combination"
	if s.Split != "" {
		p.Title.Text += " (" + s.Split + " split)"
	}
	p.X.Label.Text = "APCER % (attacks accepted as live)"
	p.Y.Label.Text = "BPCER % (live rejected)"
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = 0, 100, 0, 100
	var ticks []plot.Tick
	for v := 0; v <= 100; v += 10 {
		ticks = append(ticks, plot.Tick{Value: float64(v), Label: fmt.Sprint(v)})
	}
	p.X.Tick.Marker, p.Y.Tick.Marker = plot.ConstantTicks(ticks), plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	// Room to spare on the right: an SVG viewer without the embedded font may use a wider one.
	p.Legend.XOffs = -vg.Inch / 2
	p.Legend.YOffs = -4
	p.Legend.TextStyle.Font.Size = vg.Points(10)
	diag, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 0}, {X: 100, Y: 100}})
	if err != nil {
		return nil, err
	}
	diag.Color = color.Gray{Y: 150}
	diag.Dashes = []vg.Length{vg.Points(2), vg.Points(2)}
	p.Add(diag)
	n := 0
	for _, r := range s.Combinations {
		if r.Protocol == nil || len(r.Protocol.ROC) == 0 {
			continue
		}
		xy := make(plotter.XYs, len(r.Protocol.ROC))
		for k, pt := range r.Protocol.ROC {
			xy[k].X, xy[k].Y = 100*pt.APCER, 100*pt.BPCER
		}
		l, err := plotter.NewLine(xy)
		if err != nil {
			return nil, err
		}
		l.Color = rocColor(n)
		l.Width = vg.Points(1.5)
		if n >= 7 {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(2)}
		}
		p.Add(l)
		auc := notAvailable
		if r.Protocol.AUC != nil {
			auc = fmt.Sprintf("%.3f", *r.Protocol.AUC)
		}
		label := fmt.Sprintf("%s: AUC %s, EER %s%%", r.Name, auc, na(r.Protocol.EER))
		if r.Protocol.APCER != nil && r.Protocol.BPCER != nil {
			sc, err := plotter.NewScatter(plotter.XYs{{X: 100 * *r.Protocol.APCER, Y: 100 * *r.Protocol.BPCER}})
			if err != nil {
				return nil, err
			}
			sc.GlyphStyle = draw.GlyphStyle{Color: rocColor(n), Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
			p.Add(sc)
			p.Legend.Add(label, l, sc)
		} else {
			p.Legend.Add(label, l)
		}
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("no combination has a ROC (ROC curves need a two-class task with live samples and attacks)")
	}
	// A note on the markers under the legend.
	p.X.Label.Text += "\n• threshold: " + s.Protocol.shortRule()
	ext := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	switch ext {
	case "svg", "pdf", "png", "eps", "jpg", "jpeg", "tif", "tiff":
	default:
		return nil, fmt.Errorf("unknown plot format %q (use .svg, .pdf, .png, .eps, .jpg or .tif)", filepath.Ext(path))
	}
	const size = 7 * vg.Inch
	var buf bytes.Buffer
	if ext == "svg" {
		// Embedded fonts: a viewer without Liberation Serif would substitute a wider font
		// and the legend would overflow.
		c := vgsvg.NewWith(vgsvg.UseWH(size, size), vgsvg.EmbedFonts(true))
		p.Draw(draw.New(c))
		if _, err := c.WriteTo(&buf); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	wt, err := p.WriterTo(size, size, ext)
	if err != nil {
		return nil, err
	}
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// shortRule names the threshold rule briefly.
func (p *ProtocolSummary) shortRule() string {
	if p == nil {
		return "arg-max"
	}
	switch p.Applied {
	case "eer":
		return "EER of the " + p.ThresholdSplit + " split"
	case "fixed":
		return "fixed threshold " + p.Rule
	}
	return "arg-max"
}
