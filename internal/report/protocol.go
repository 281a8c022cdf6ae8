package report

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/dmrnet/dmrnet/internal/metrics"
)

// APCERTargets are the APCER levels at which BPCER is reported (1 %, 5 % and 10 %).
var APCERTargets = []float64{0.01, 0.05, 0.10}

// Protocol holds the threshold-based face anti-spoofing metrics of one combination of a
// two-class task, computed from the probability of the live class (see metrics.ROC: live when
// p_live >= threshold, attack = positive class). A metric without a value (the split has no
// live sample or no attack; a threshold that could not be chosen) is null in JSON, never 0.
type Protocol struct {
	// AUC is the area under the ROC (1 - BPCER against APCER).
	AUC *float64 `json:"auc"`
	// EER is the equal error rate (APCER = BPCER, interpolated between operating points).
	EER *float64 `json:"eer"`
	// EERThreshold is the threshold of the operating point closest to the EER.
	EERThreshold *float64 `json:"eer_threshold"`
	// BPCERAt holds the smallest BPCER with APCER <= each of APCERTargets.
	BPCERAt []BPCERAt `json:"bpcer_at_apcer"`
	// Threshold is the decision threshold on p_live that APCER, BPCER and ACER below are
	// measured at (chosen by the sweep's threshold rule); null for the arg-max rule.
	Threshold *float64 `json:"threshold"`
	// APCER, BPCER and ACER at Threshold (at the predicted class for the arg-max rule).
	APCER *float64 `json:"apcer"`
	BPCER *float64 `json:"bpcer"`
	ACER  *float64 `json:"acer"`
	// Rule says how Threshold was chosen, e.g. "eer on val", "argmax (no validation split)",
	// "fixed".
	Rule string `json:"threshold_rule"`
	// ROC is the curve (for plots); not written to JSON.
	ROC []metrics.ROCPoint `json:"-"`
}

// BPCERAt is the BPCER at an APCER target.
type BPCERAt struct {
	APCER     float64  `json:"apcer"`
	BPCER     *float64 `json:"bpcer"`
	Threshold *float64 `json:"threshold"`
}

// ProtocolSummary describes how a sweep's protocol metrics were measured and their means over
// the combinations that have them.
type ProtocolSummary struct {
	// Rule is metrics.threshold: "eer", "argmax" or a number.
	Rule string `json:"threshold_rule"`
	// Applied is the rule actually used: "eer" (per combination, the EER threshold of
	// ThresholdSplit), "argmax", or "fixed".
	Applied string `json:"threshold_applied"`
	// ThresholdSplit is the split the thresholds were chosen on ("val"), empty otherwise.
	ThresholdSplit string `json:"threshold_split,omitempty"`
	// Note explains a fallback (e.g. no validation split: arg-max instead of eer).
	Note     string   `json:"note,omitempty"`
	MeanAUC  *float64 `json:"mean_auc"`
	MeanEER  *float64 `json:"mean_eer"`
	MeanACER *float64 `json:"mean_acer"`
}

// Ptr returns a pointer to v, or nil when v is NaN or infinite (n/a).
func Ptr(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// Summarise sets the means of s.Protocol over the rows that have a value; it does nothing when
// s.Protocol is nil.
func (s *Sweep) Summarise() {
	p := s.Protocol
	if p == nil {
		return
	}
	mean := func(get func(*Protocol) *float64) *float64 {
		sum, n := 0.0, 0
		for _, r := range s.Combinations {
			if r.Protocol == nil {
				continue
			}
			if v := get(r.Protocol); v != nil {
				sum += *v
				n++
			}
		}
		if n == 0 {
			return nil
		}
		m := sum / float64(n)
		return &m
	}
	p.MeanAUC = mean(func(q *Protocol) *float64 { return q.AUC })
	p.MeanEER = mean(func(q *Protocol) *float64 { return q.EER })
	p.MeanACER = mean(func(q *Protocol) *float64 { return q.ACER })
}

// hasProtocol reports whether any row has protocol metrics.
func (s *Sweep) hasProtocol() bool {
	for _, r := range s.Combinations {
		if r.Protocol != nil {
			return true
		}
	}
	return false
}

// ruleText describes the threshold rule in words.
func (p *ProtocolSummary) ruleText(split string) string {
	switch p.Applied {
	case "eer":
		if split == "" {
			split = "evaluated"
		}
		return fmt.Sprintf("threshold: each combination's EER threshold on the %s split, applied to the %s split", p.ThresholdSplit, split)
	case "fixed":
		return "threshold: fixed, " + p.Rule
	}
	return "threshold: arg-max (the predicted class)"
}

func na(v *float64) string {
	if v == nil {
		return notAvailable
	}
	return pct(*v)
}

// frac formats an AUC as a fraction with four decimals.
func frac(v *float64) string { return thr(v) }

func thr(v *float64) string {
	if v == nil {
		return notAvailable
	}
	return strconv.FormatFloat(*v, 'f', 4, 64)
}

// protocolRows returns the header and rows of the protocol table.
func (s *Sweep) protocolRows() (header []string, rows [][]string) {
	header = []string{"combination", "AUC", "EER %", "threshold", "APCER %", "BPCER %", "ACER %"}
	for _, t := range APCERTargets {
		header = append(header, fmt.Sprintf("BPCER@APCER%s%%", strconv.FormatFloat(100*t, 'f', -1, 64)))
	}
	for _, r := range s.Combinations {
		p := r.Protocol
		if p == nil {
			p = &Protocol{}
		}
		row := []string{r.Name, frac(p.AUC), na(p.EER), thr(p.Threshold), na(p.APCER), na(p.BPCER), na(p.ACER)}
		if s.Protocol != nil && s.Protocol.Applied == "argmax" {
			row[3] = "argmax"
		}
		for i := range APCERTargets {
			if i < len(p.BPCERAt) {
				row = append(row, na(p.BPCERAt[i].BPCER))
			} else {
				row = append(row, notAvailable)
			}
		}
		rows = append(rows, row)
	}
	if sp := s.Protocol; sp != nil {
		mean := []string{"mean", frac(sp.MeanAUC), na(sp.MeanEER), "", "", "", na(sp.MeanACER)}
		for range APCERTargets {
			mean = append(mean, "")
		}
		rows = append(rows, mean)
	}
	return header, rows
}

// protocolText is the protocol section of the table rendering, or "" without protocol metrics.
func (s *Sweep) protocolText() (string, error) {
	if !s.hasProtocol() || s.Protocol == nil {
		return "", nil
	}
	var buf bytes.Buffer
	buf.WriteString("\nprotocol (" + s.Protocol.ruleText(s.Split) + "; live when p_live >= threshold):\n")
	if s.Protocol.Note != "" {
		buf.WriteString("note: " + s.Protocol.Note + "\n")
	}
	buf.WriteString("\n")
	header, rows := s.protocolRows()
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range append([][]string{header}, rows...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return "", err
	}
	return buf.String(), nil
}

// protocolMarkdown is the protocol section of the Markdown rendering.
func (s *Sweep) protocolMarkdown() string {
	if !s.hasProtocol() || s.Protocol == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("\n" + mdEscape("protocol ("+s.Protocol.ruleText(s.Split)+"; live when p_live >= threshold)") + "\n")
	if s.Protocol.Note != "" {
		b.WriteString("\n" + mdEscape("note: "+s.Protocol.Note) + "\n")
	}
	b.WriteString("\n")
	header, rows := s.protocolRows()
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + mdEscape(c) + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	align := []string{"---"}
	for range header[1:] {
		align = append(align, "--:")
	}
	b.WriteString("|" + strings.Join(align, "|") + "|\n")
	for _, r := range rows {
		line(r)
	}
	return b.String()
}

// protocolCSVHeader are the CSV columns of the protocol metrics.
func protocolCSVHeader() []string {
	h := []string{"auc", "eer", "eer_threshold", "threshold", "apcer_at_threshold", "bpcer_at_threshold", "acer_at_threshold"}
	for _, t := range APCERTargets {
		h = append(h, "bpcer_at_apcer_"+strconv.FormatFloat(t, 'g', -1, 64))
	}
	return h
}

// protocolCSV are the CSV fields of p (empty for n/a).
func protocolCSV(p *Protocol) []string {
	if p == nil {
		p = &Protocol{}
	}
	rec := []string{fullFloatPtr(p.AUC), fullFloatPtr(p.EER), fullFloatPtr(p.EERThreshold), fullFloatPtr(p.Threshold),
		fullFloatPtr(p.APCER), fullFloatPtr(p.BPCER), fullFloatPtr(p.ACER)}
	for i := range APCERTargets {
		if i < len(p.BPCERAt) {
			rec = append(rec, fullFloatPtr(p.BPCERAt[i].BPCER))
		} else {
			rec = append(rec, "")
		}
	}
	return rec
}

// writeProtocolText writes the protocol lines of a single row's text rendering.
func writeProtocolText(tw *tabwriter.Writer, p *Protocol) {
	rule := p.Rule
	fmt.Fprintf(tw, "  AUC:\t%s\n", frac(p.AUC))
	fmt.Fprintf(tw, "  EER:\t%s%% (threshold %s)\n", na(p.EER), thr(p.EERThreshold))
	for _, b := range p.BPCERAt {
		fmt.Fprintf(tw, "  BPCER@APCER<=%s%%:\t%s%%\n", strconv.FormatFloat(100*b.APCER, 'f', -1, 64), na(b.BPCER))
	}
	t := thr(p.Threshold)
	if rule != "" {
		t += " (" + rule + ")"
	}
	fmt.Fprintf(tw, "  threshold:\t%s\n", t)
	fmt.Fprintf(tw, "  APCER@threshold:\t%s%%\n", na(p.APCER))
	fmt.Fprintf(tw, "  BPCER@threshold:\t%s%%\n", na(p.BPCER))
	fmt.Fprintf(tw, "  ACER@threshold:\t%s%%\n", na(p.ACER))
}
