package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"
)

// Formats returns the output formats accepted by Sweep.Write.
func Formats() []string { return []string{"table", "json", "csv", "markdown"} }

// RowFormats returns the output formats accepted by WriteRow.
func RowFormats() []string { return []string{"text", "json"} }

const hardLegend = "* combination is in the hard set"

// Write renders s to w in the given format:
//
//   - "table": aligned human-readable text with one line per combination
//     (combination, n, accuracy %, macro-F1 % and, when any row has them,
//     APCER %, BPCER % and ACER %), followed by a separator and the
//     "mean" and "worst (<name>)" lines. When any row is in the hard set
//     a "hard" column marks such rows with '*' and a legend line follows.
//     When any row has a specialist (see AddSpecialists), the columns
//     "specialist %" and "gap" (accuracy minus specialist accuracy in
//     percentage points, with a sign) precede "hard", with "-" for rows
//     without one, and the line "cost of robustness: mean gap G points over
//     N combinations, worst NAME G" follows the table.
//     Split and Checkpoint, when set, are printed on a line above. A
//     combination without samples (see Row.Evaluated) shows n 0 and "n/a"
//     in its metric columns, and the line "n/a: no <split> sample has every
//     modality of NAME, ...; left out of the mean and the worst" follows.
//   - "json": s as indented JSON, with a trailing newline.
//   - "csv": a header row "combination,present,n,accuracy,macro_f1",
//     then ",apcer,bpcer,acer" when any row has them, then ",hard"; one
//     record per combination, with present joined by '+' and floats in
//     full precision; then a "mean" record and a "worst" record. The
//     summary records leave empty the fields they have no value for, and
//     so do the records of combinations without samples (n 0: the metric
//     fields are empty, which pandas and R read as NaN/NA).
//     When any row has a specialist, the columns "specialist_accuracy,gap"
//     precede "hard" (empty for rows without one), the "mean" record's gap
//     is Cost.MeanGap, and a "worst_gap" record follows with the present
//     modalities and the gap of Cost.Worst.
//   - "markdown": a GitHub-flavoured Markdown table with the columns of
//     "table", the mean and worst rows in bold, and the cost of robustness
//     and n/a lines below.
//
// In "json" the metrics of a combination without samples are null.
//
// Percentages in "table" and "markdown" have two decimals.
func (s *Sweep) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return s.writeTable(w)
	case "json":
		return writeJSON(w, s)
	case "csv":
		return s.writeCSV(w)
	case "markdown":
		return s.writeMarkdown(w)
	}
	return fmt.Errorf("report: unknown format %q (valid formats: %s)", format, strings.Join(Formats(), ", "))
}

// WriteRow renders the evaluation r of a single combination to w in the
// given format (a combination without samples shows "n/a" metrics, JSON
// null):
//
//   - "text": the combination, n, accuracy, the specialist's accuracy and
//     the gap in percentage points when present, macro-F1, the binary error
//     rates when present, and the confusion matrix with rows for the true
//     classes and columns for the predicted classes, labelled with the
//     names in classes (the label index where classes has no name).
//   - "json": r as indented JSON at the top level, with a trailing newline.
func WriteRow(w io.Writer, r Row, classes []string, format string) error {
	switch format {
	case "text":
		return writeRowText(w, r, classes)
	case "json":
		return writeJSON(w, r)
	}
	return fmt.Errorf("report: unknown format %q (valid formats: %s)", format, strings.Join(RowFormats(), ", "))
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// layout describes which optional columns a rendering of s has.
type layout struct {
	binary     bool // APCER, BPCER and ACER columns
	specialist bool // specialist accuracy and gap columns
	hard       bool // hard-set marker column
}

func (s *Sweep) layout() layout {
	var l layout
	for _, r := range s.Combinations {
		l.binary = l.binary || r.APCER != nil || r.BPCER != nil || r.ACER != nil
		l.specialist = l.specialist || r.Specialist != nil || r.Gap != nil
		l.hard = l.hard || r.Hard
	}
	l.binary = l.binary || s.MeanACER != nil
	l.specialist = l.specialist || s.Cost != nil
	return l
}

// notAvailable is the text of a metric that has no value: the combination has no samples.
const notAvailable = "n/a"

func pct(v float64) string {
	if math.IsNaN(v) {
		return notAvailable
	}
	return strconv.FormatFloat(100*v, 'f', 2, 64)
}

func pctPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return pct(*v)
}

// points formats the accuracy difference v in percentage points with a sign.
func points(v float64) string { return fmt.Sprintf("%+.2f", 100*v) }

func pointsPtr(v *float64) string {
	if v == nil {
		return "-"
	}
	return points(*v)
}

// costLine is the summary line of s.Cost, which must not be nil.
func (s *Sweep) costLine() string {
	c := s.Cost
	noun := "combinations"
	if c.N == 1 {
		noun = "combination"
	}
	return fmt.Sprintf("cost of robustness: mean gap %s points over %d %s, worst %s %s",
		points(c.MeanGap), c.N, noun, c.Worst.Name, points(c.Worst.Accuracy))
}

// textRows returns the header, the combination rows and the summary
// rows of the human-readable renderings.
func (s *Sweep) textRows(l layout) (header []string, rows, summary [][]string) {
	header = []string{"combination", "n", "accuracy %", "macro-F1 %"}
	if l.binary {
		header = append(header, "APCER %", "BPCER %", "ACER %")
	}
	if l.specialist {
		header = append(header, "specialist %", "gap")
	}
	if l.hard {
		header = append(header, "hard")
	}
	for _, r := range s.Combinations {
		row := []string{r.Name, strconv.Itoa(r.N), pct(r.Accuracy), pct(r.MacroF1)}
		if l.binary && !r.Evaluated() {
			row = append(row, notAvailable, notAvailable, notAvailable)
		} else if l.binary {
			row = append(row, pctPtr(r.APCER), pctPtr(r.BPCER), pctPtr(r.ACER))
		}
		if l.specialist {
			row = append(row, pctPtr(r.Specialist), pointsPtr(r.Gap))
		}
		if l.hard {
			mark := ""
			if r.Hard {
				mark = "*"
			}
			row = append(row, mark)
		}
		rows = append(rows, row)
	}
	mean := []string{"mean", "", pct(s.MeanAccuracy), pct(s.MeanMacroF1)}
	worstLabel := "worst"
	if s.Worst.Name != "" {
		worstLabel += " (" + s.Worst.Name + ")"
	}
	worst := []string{worstLabel, "", pct(s.Worst.Accuracy), ""}
	if l.binary {
		acer := ""
		if s.MeanACER != nil {
			acer = pct(*s.MeanACER)
		}
		mean = append(mean, "", "", acer)
		worst = append(worst, "", "", "")
	}
	if l.specialist {
		mean = append(mean, "", "")
		worst = append(worst, "", "")
	}
	if l.hard {
		mean = append(mean, "")
		worst = append(worst, "")
	}
	return header, rows, [][]string{mean, worst}
}

// naLine is the note on the combinations without samples, or "" when there are none.
func (s *Sweep) naLine() string {
	var names []string
	for _, r := range s.Combinations {
		if !r.Evaluated() {
			names = append(names, r.Name)
		}
	}
	if len(names) == 0 {
		return ""
	}
	split := ""
	if s.Split != "" {
		split = s.Split + " "
	}
	return fmt.Sprintf("n/a: no %ssample has every modality of %s; left out of the mean and the worst", split, strings.Join(names, ", "))
}

func (s *Sweep) info() string {
	var parts []string
	if s.Split != "" {
		parts = append(parts, "split: "+s.Split)
	}
	if s.Checkpoint != "" {
		parts = append(parts, "checkpoint: "+s.Checkpoint)
	}
	if s.Inference != "" && s.Inference != "fused" {
		parts = append(parts, "inference: "+s.Inference)
	}
	return strings.Join(parts, "  ")
}

func (s *Sweep) writeTable(w io.Writer) error {
	l := s.layout()
	header, rows, summary := s.textRows(l)
	sep := make([]string, len(header))
	for i := range sep {
		width := utf8.RuneCountInString(header[i])
		for _, r := range append(rows[:len(rows):len(rows)], summary...) {
			width = max(width, utf8.RuneCountInString(r[i]))
		}
		sep[i] = strings.Repeat("-", width)
	}
	var buf bytes.Buffer
	if info := s.info(); info != "" {
		buf.WriteString(info + "\n\n")
	}
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	for _, r := range append(append(append([][]string{header}, rows...), sep), summary...) {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Cost != nil {
		buf.WriteString("\n" + s.costLine() + "\n")
	}
	if na := s.naLine(); na != "" {
		buf.WriteString("\n" + na + "\n")
	}
	if l.hard {
		buf.WriteString("\n" + hardLegend + "\n")
	}
	pt, err := s.protocolText()
	if err != nil {
		return err
	}
	buf.WriteString(pt)
	return writeTrimmed(w, buf.Bytes())
}

// writeTrimmed writes text to w with trailing blanks removed from each line.
func writeTrimmed(w io.Writer, text []byte) error {
	lines := bytes.SplitAfter(text, []byte("\n"))
	var out bytes.Buffer
	for _, line := range lines {
		nl := bytes.HasSuffix(line, []byte("\n"))
		out.Write(bytes.TrimRight(line, " \t\n"))
		if nl {
			out.WriteByte('\n')
		}
	}
	_, err := w.Write(out.Bytes())
	return err
}

func (s *Sweep) writeMarkdown(w io.Writer) error {
	l := s.layout()
	header, rows, summary := s.textRows(l)
	var b strings.Builder
	if info := s.info(); info != "" {
		b.WriteString(info + "\n\n")
	}
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(header)
	align := make([]string, len(header))
	for i, h := range header {
		switch h {
		case "combination", "hard":
			align[i] = "---"
		default:
			align[i] = "--:"
		}
	}
	line(align)
	for _, r := range rows {
		for i := range r {
			r[i] = mdEscape(r[i])
		}
		line(r)
	}
	for _, r := range summary {
		for i := range r {
			if r[i] != "" {
				r[i] = "**" + mdEscape(r[i]) + "**"
			}
		}
		line(r)
	}
	if s.Cost != nil {
		b.WriteString("\n" + mdEscape(s.costLine()) + "\n")
	}
	if na := s.naLine(); na != "" {
		b.WriteString("\n" + mdEscape(na) + "\n")
	}
	if l.hard {
		b.WriteString("\n" + mdEscape(hardLegend) + "\n")
	}
	b.WriteString(s.protocolMarkdown())
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape escapes the characters of s that Markdown table cells would
// otherwise interpret.
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, `*`, `\*`, `_`, `\_`).Replace(s)
}

// fullFloat formats v in full precision; NaN (a metric without a value) is empty.
func fullFloat(v float64) string {
	if math.IsNaN(v) {
		return ""
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func fullFloatPtr(v *float64) string {
	if v == nil {
		return ""
	}
	return fullFloat(*v)
}

func (s *Sweep) writeCSV(w io.Writer) error {
	l := s.layout()
	header := []string{"combination", "present", "n", "accuracy", "macro_f1"}
	if l.binary {
		header = append(header, "apcer", "bpcer", "acer")
	}
	if l.specialist {
		header = append(header, "specialist_accuracy", "gap")
	}
	header = append(header, "hard")
	proto := s.hasProtocol()
	if proto {
		header = append(header, protocolCSVHeader()...)
	}
	records := [][]string{header}
	for _, r := range s.Combinations {
		rec := []string{r.Name, strings.Join(r.Present, "+"), strconv.Itoa(r.N), fullFloat(r.Accuracy), fullFloat(r.MacroF1)}
		if l.binary {
			rec = append(rec, fullFloatPtr(r.APCER), fullFloatPtr(r.BPCER), fullFloatPtr(r.ACER))
		}
		if l.specialist {
			rec = append(rec, fullFloatPtr(r.Specialist), fullFloatPtr(r.Gap))
		}
		rec = append(rec, strconv.FormatBool(r.Hard))
		if proto {
			rec = append(rec, protocolCSV(r.Protocol)...)
		}
		records = append(records, rec)
	}
	mean := []string{"mean", "", "", fullFloat(s.MeanAccuracy), fullFloat(s.MeanMacroF1)}
	worst := []string{"worst", strings.Join(s.Worst.Present, "+"), "", fullFloat(s.Worst.Accuracy), ""}
	if l.binary {
		mean = append(mean, "", "", fullFloatPtr(s.MeanACER))
		worst = append(worst, "", "", "")
	}
	var worstGap []string
	if l.specialist {
		var meanGap *float64
		if s.Cost != nil {
			meanGap = &s.Cost.MeanGap
			worstGap = []string{"worst_gap", strings.Join(s.Cost.Worst.Present, "+"), "", "", ""}
			if l.binary {
				worstGap = append(worstGap, "", "", "")
			}
			worstGap = append(worstGap, "", fullFloat(s.Cost.Worst.Accuracy), "")
		}
		mean = append(mean, "", fullFloatPtr(meanGap))
		worst = append(worst, "", "")
	}
	mean, worst = append(mean, ""), append(worst, "")
	if proto {
		pm := protocolCSV(nil)
		pw := protocolCSV(nil)
		if sp := s.Protocol; sp != nil {
			pm[0], pm[1], pm[6] = fullFloatPtr(sp.MeanAUC), fullFloatPtr(sp.MeanEER), fullFloatPtr(sp.MeanACER)
		}
		mean, worst = append(mean, pm...), append(worst, pw...)
		if worstGap != nil {
			worstGap = append(worstGap, protocolCSV(nil)...)
		}
	}
	records = append(records, mean, worst)
	if worstGap != nil {
		records = append(records, worstGap)
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

func writeRowText(w io.Writer, r Row, classes []string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "combination:\t%s\n", r.Name)
	if r.Hard {
		fmt.Fprintf(tw, "hard set:\tyes\n")
	}
	fmt.Fprintf(tw, "n:\t%d\n", r.N)
	if !r.Evaluated() {
		fmt.Fprintf(tw, "accuracy:\t%s (no sample has every modality of %s)\n", notAvailable, r.Name)
		if r.Specialist != nil {
			fmt.Fprintf(tw, "specialist:\t%s%%\n", pct(*r.Specialist))
		}
		fmt.Fprintf(tw, "macro-F1:\t%s\n", notAvailable)
		if err := tw.Flush(); err != nil {
			return err
		}
		return writeTrimmed(w, buf.Bytes())
	}
	fmt.Fprintf(tw, "accuracy:\t%s%%\n", pct(r.Accuracy))
	if r.Specialist != nil {
		fmt.Fprintf(tw, "specialist:\t%s%%\n", pct(*r.Specialist))
	}
	if r.Gap != nil {
		fmt.Fprintf(tw, "gap:\t%s points\n", points(*r.Gap))
	}
	fmt.Fprintf(tw, "macro-F1:\t%s%%\n", pct(r.MacroF1))
	if r.APCER != nil {
		fmt.Fprintf(tw, "APCER:\t%s%%\n", pct(*r.APCER))
	}
	if r.BPCER != nil {
		fmt.Fprintf(tw, "BPCER:\t%s%%\n", pct(*r.BPCER))
	}
	if r.ACER != nil {
		fmt.Fprintf(tw, "ACER:\t%s%%\n", pct(*r.ACER))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Protocol != nil {
		buf.WriteString("\nprotocol (p_live = probability of the live class; live when p_live >= threshold):\n")
		ptw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
		writeProtocolText(ptw, r.Protocol)
		if err := ptw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Confusion) > 0 {
		buf.WriteString("\nconfusion matrix (rows: true class, columns: predicted class):\n")
		writeMatrix(&buf, r.Confusion, classes)
	}
	return writeTrimmed(w, buf.Bytes())
}

// writeMatrix writes m indented by two spaces, with the class names as
// left-aligned row labels and right-aligned column headers and counts.
func writeMatrix(buf *bytes.Buffer, m [][]int, classes []string) {
	name := func(i int) string {
		if i < len(classes) && classes[i] != "" {
			return classes[i]
		}
		return strconv.Itoa(i)
	}
	const corner = "true \\ pred"
	labelWidth := utf8.RuneCountInString(corner)
	for i := range m {
		labelWidth = max(labelWidth, utf8.RuneCountInString(name(i)))
	}
	cols := 0
	for _, row := range m {
		cols = max(cols, len(row))
	}
	widths := make([]int, cols)
	for j := range cols {
		widths[j] = utf8.RuneCountInString(name(j))
	}
	for _, row := range m {
		for j, v := range row {
			widths[j] = max(widths[j], len(strconv.Itoa(v)))
		}
	}
	fmt.Fprintf(buf, "  %-*s", labelWidth, corner)
	for j := range cols {
		fmt.Fprintf(buf, "  %*s", widths[j], name(j))
	}
	buf.WriteByte('\n')
	for i, row := range m {
		fmt.Fprintf(buf, "  %-*s", labelWidth, name(i))
		for j, v := range row {
			fmt.Fprintf(buf, "  %*d", widths[j], v)
		}
		buf.WriteByte('\n')
	}
}
