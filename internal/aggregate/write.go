package aggregate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/dmrnet/dmrnet/internal/texttable"
	"io"
	"strconv"
	"strings"
)

// Formats returns the output formats accepted by Table.Write.
func Formats() []string { return []string{"table", "markdown", "csv", "json", "latex"} }

// metricName returns the display name of metric.
func metricName(metric string) string {
	switch metric {
	case "macro_f1":
		return "macro-F1"
	case "acer":
		return "ACER"
	case "auc":
		return "AUC"
	case "eer":
		return "EER"
	case "acer_threshold":
		return "ACER at the protocol threshold"
	case "bpcer_apcer_1":
		return "BPCER at APCER 1%"
	case "bpcer_apcer_5":
		return "BPCER at APCER 5%"
	case "bpcer_apcer_10":
		return "BPCER at APCER 10%"
	}
	return "accuracy"
}

// Write renders t to w in the given format:
//
//   - "table": aligned text with a column per group; cells are mean±std over seeds in percent
//     with one decimal (a single run shows its value alone; a combination without test
//     samples shows "n/a", and a cell over fewer runs than its group has is followed by
//     "[k/n]", k of the n runs; a note below explains both); a separator
//     precedes the "mean" and "worst" rows; lines below give the seeds of each group and the
//     worst combination of each seed. When a row has a specialist (see AddSpecialists), a
//     last column "specialist" holds the specialists' cells ("-" for combinations without
//     one), each group's cell of that row is followed by its gap to the specialist in
//     points with a sign and one decimal, "98.0±0.9 (-0.3)", and below the table one line per group gives its cost of robustness: "cost of
//     robustness (LABEL): mean gap G points, worst NAME G (N combinations)", the mean gap
//     with two decimals, the worst with one, both in percentage points with a sign.
//   - "markdown": the same as a GitHub-flavoured Markdown table, the "mean" and "worst" rows
//     in bold, with a description above and the cost of robustness and the worst
//     combinations below.
//   - "csv": long format, one record per row and group with the columns
//     combination,present,group,mean,std,n,gap; present joins the present modalities with
//     '+' (empty for the summary rows); mean, std and gap are fractions in full precision;
//     gap, the group's mean minus the specialist's, is empty without a specialist. A
//     combination with a specialist has one more record, after those of the groups, with
//     the group "specialist". The cost of robustness is left out (see "json").
//   - "json": t as indented JSON, with a trailing newline; it includes the specialists and
//     Costs.
//   - "latex": a booktabs tabular (\toprule, \midrule, \bottomrule; needs
//     \usepackage{booktabs}) with a column per group, cells "98.1 $\pm$ 0.4" in percent,
//     the best cell of each row (highest mean; lowest for ACER; ties at the shown precision
//     all) in \textbf, a \midrule before the "mean" and "worst" rows, and the description
//     and seeds as % comments above. Group labels and combination names are escaped.
func (t *Table) Write(w io.Writer, format string) error {
	switch format {
	case "table":
		return t.writeText(w)
	case "markdown":
		return t.writeMarkdown(w)
	case "csv":
		return t.writeCSV(w)
	case "latex":
		return t.writeLatex(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		if err := enc.Encode(t); err != nil {
			return fmt.Errorf("aggregate: %w", err)
		}
		return nil
	}
	return fmt.Errorf("aggregate: unknown format %q (valid formats: %s)", format, strings.Join(Formats(), ", "))
}

// cellText formats c in percent with one decimal: "n/a" without a value, and "[k/n]" after
// a cell over k of the runs' runs when k < runs (runs 0: unknown).
func cellText(c Cell, runs int) string { return formatCell(c, runs, "±", " [%d/%d]") }

// formatCell formats c in percent with one decimal, mean and std joined by pm, "n/a" without
// a value, and partial (a format of k and runs) after a cell over k < runs runs.
func formatCell(c Cell, runs int, pm, partial string) string {
	var text string
	switch c.N {
	case 0:
		return "n/a"
	case 1:
		text = pct(c.Mean)
	default:
		text = pct(c.Mean) + pm + pct(c.Std)
	}
	if c.N < runs {
		text += fmt.Sprintf(partial, c.N, runs)
	}
	return text
}

// naLines are the notes on cells without a value ("n/a") or over fewer runs than their
// group has ("[k/n]"); none when every cell has all its runs.
func (t *Table) naLines() []string {
	var none, partial []string
	for _, r := range t.Rows {
		if r.Summary {
			continue
		}
		all, some := true, false
		for g, c := range r.Cells {
			if c.N > 0 {
				some = true
			}
			if c.N < t.runs(g) {
				all = false
			}
		}
		switch {
		case !some:
			none = append(none, r.Combination)
		case !all:
			partial = append(partial, r.Combination)
		}
	}
	var lines []string
	if len(none) > 0 {
		lines = append(lines, fmt.Sprintf("n/a: no test sample has every modality of %s; left out of the mean and the worst", strings.Join(none, ", ")))
	}
	if len(partial) > 0 {
		lines = append(lines, fmt.Sprintf("[k/n]: %s has test samples in k of the group's n runs only; the cell is over those runs, the others leave it out of their mean and worst", strings.Join(partial, ", ")))
	}
	return lines
}

// runs is the number of runs of group g, 0 when unknown.
func (t *Table) runs(g int) int {
	if g < len(t.Seeds) {
		return len(t.Seeds[g])
	}
	return 0
}

func pct(v float64) string { return strconv.FormatFloat(100*v, 'f', 1, 64) }

// description is the line above the table that says what the cells are.
func (t *Table) description() string {
	d := fmt.Sprintf("%s in %%, mean±std over seeds (sample std, ddof=1); 'mean' = mean over combinations, 'worst' = worst combination of each run",
		metricName(t.Metric))
	if t.hasSpecialists() {
		d += specialistNote
	}
	return d
}

// seedsLine lists the number of seeds and the seeds of each group.
func (t *Table) seedsLine() string {
	parts := make([]string, len(t.Groups))
	for g, label := range t.Groups {
		var seeds []string
		if g < len(t.Seeds) {
			for _, s := range t.Seeds[g] {
				seeds = append(seeds, strconv.FormatInt(s, 10))
			}
		}
		parts[g] = fmt.Sprintf("%s %d (%s)", label, len(seeds), strings.Join(seeds, ", "))
	}
	return "n = seeds per group: " + strings.Join(parts, "; ")
}

// worstLine lists the worst combination of each seed of each group.
func (t *Table) worstLine() string {
	parts := make([]string, len(t.Groups))
	for g, label := range t.Groups {
		var names []string
		if g < len(t.WorstNames) {
			names = t.WorstNames[g]
		}
		parts[g] = label + ": " + strings.Join(names, ", ")
	}
	return "worst combination per seed: " + strings.Join(parts, "; ")
}

// cells returns the header and the formatted rows of t.
func (t *Table) cells() (header []string, rows [][]string) {
	header = append([]string{"combination"}, t.Groups...)
	spec := t.hasSpecialists()
	if spec {
		header = append(header, "specialist")
	}
	for _, r := range t.Rows {
		row := []string{r.Combination}
		for g, c := range r.Cells {
			runs := t.runs(g)
			if r.Summary {
				runs = 0
			}
			cell := cellText(c, runs)
			if g < len(r.Gaps) && r.Gaps[g] != nil {
				cell += fmt.Sprintf(" (%+.1f)", 100**r.Gaps[g])
			}
			row = append(row, cell)
		}
		if spec {
			// Pad rows with fewer cells so that the specialist stays in its column.
			for len(row) < len(header)-1 {
				row = append(row, "")
			}
			row = append(row, specialistText(r))
		}
		rows = append(rows, row)
	}
	return header, rows
}

func (t *Table) writeText(w io.Writer) error {
	header, rows := t.cells()
	var buf bytes.Buffer
	buf.WriteString(t.description() + "\n\n")
	// a rule before the first summary row (mean, worst)
	ruleBefore := func(i int) bool { return t.Rows[i].Summary && (i == 0 || !t.Rows[i-1].Summary) }
	if err := texttable.Write(&buf, header, rows, ruleBefore); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	if len(t.Costs) > 0 {
		buf.WriteString("\n" + joinLines(t.costLines(), "\n"))
	}
	if na := t.naLines(); len(na) > 0 {
		buf.WriteString("\n" + joinLines(na, "\n"))
	}
	buf.WriteString("\n" + t.seedsLine() + "\n" + t.worstLine() + "\n")
	// Trim trailing spaces of the lines below the table too.
	var out bytes.Buffer
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

func (t *Table) writeMarkdown(w io.Writer) error {
	header, rows := t.cells()
	var b strings.Builder
	b.WriteString(mdEscape(t.description()) + ".\n\n")
	line := func(cells []string) {
		b.WriteString("|")
		for _, c := range cells {
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	for i := range header {
		header[i] = mdEscape(header[i])
	}
	line(header)
	b.WriteString("|---|" + strings.Repeat("--:|", len(header)-1) + "\n")
	for i, r := range rows {
		for j := range r {
			r[j] = mdEscape(r[j])
		}
		if t.Rows[i].Summary {
			r[0] = "**" + r[0] + "**"
		}
		line(r)
	}
	for _, l := range append(t.costLines(), t.naLines()...) {
		b.WriteString("\n" + mdEscape(l) + "\n")
	}
	b.WriteString("\n" + mdEscape(t.seedsLine()) + "\n\n" + mdEscape(t.worstLine()) + "\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

// mdEscape escapes the characters of s that Markdown would otherwise interpret.
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, `*`, `\*`, `_`, `\_`).Replace(s)
}

func (t *Table) writeCSV(w io.Writer) error {
	records := [][]string{{"combination", "present", "group", "mean", "std", "n", "gap"}}
	full := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, r := range t.Rows {
		for g, c := range r.Cells {
			label := ""
			if g < len(t.Groups) {
				label = t.Groups[g]
			}
			mean, std, gap := "", "", ""
			if c.N > 0 {
				mean, std = full(c.Mean), full(c.Std)
			}
			if g < len(r.Gaps) && r.Gaps[g] != nil {
				gap = full(*r.Gaps[g])
			}
			records = append(records, []string{r.Combination, strings.Join(r.Present, "+"), label, mean, std, strconv.Itoa(c.N), gap})
		}
		if c := r.Specialist; c != nil {
			records = append(records, []string{r.Combination, strings.Join(r.Present, "+"), "specialist", full(c.Mean), full(c.Std), strconv.Itoa(c.N), ""})
		}
	}
	cw := csv.NewWriter(w)
	if err := cw.WriteAll(records); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}

// texEscape escapes the characters of s that are special in LaTeX text mode. "+" and "-"
// need no escape in text mode; "±" is written as $\pm$ by the caller.
func texEscape(s string) string {
	return strings.NewReplacer(
		`\`, `\textbackslash{}`, `&`, `\&`, `%`, `\%`, `$`, `\$`, `#`, `\#`, `_`, `\_`,
		`{`, `\{`, `}`, `\}`, `~`, `\textasciitilde{}`, `^`, `\textasciicircum{}`,
		`±`, `$\pm$`,
	).Replace(s)
}

// latexCell formats c for writeLatex: "98.1 $\pm$ 0.4", a single run's value alone, "n/a"
// without a value, and "\,[k/n]" after a cell over k of runs runs.
func latexCell(c Cell, runs int) string { return formatCell(c, runs, ` $\pm$ `, `\,[%d/%d]`) }

// shown is v as shown in percent with one decimal, so that the best cells are those that
// read best (rounding 0.9925 by hand and by strconv may disagree).
func shown(v float64) float64 {
	f, _ := strconv.ParseFloat(pct(v), 64)
	return f
}

func (t *Table) writeLatex(w io.Writer) error {
	var b strings.Builder
	b.WriteString("% " + texEscape(t.description()) + "; best of each row in bold\n")
	b.WriteString("% " + texEscape(t.seedsLine()) + "\n")
	spec := t.hasSpecialists()
	cols := "l" + strings.Repeat("r", len(t.Groups))
	header := []string{"combination"}
	for _, g := range t.Groups {
		header = append(header, texEscape(g))
	}
	if spec {
		cols += "r"
		header = append(header, "specialist")
	}
	b.WriteString(`\begin{tabular}{` + cols + "}\n\\toprule\n")
	b.WriteString(strings.Join(header, " & ") + ` \\` + "\n\\midrule\n")
	for i, r := range t.Rows {
		if r.Summary && (i == 0 || !t.Rows[i-1].Summary) {
			b.WriteString("\\midrule\n")
		}
		// The best mean at the shown precision.
		best, have := 0.0, false
		for _, c := range r.Cells {
			if c.N == 0 {
				continue
			}
			v := shown(c.Mean)
			if !have || (higherIsWorse(t.Metric) && v < best) || (!higherIsWorse(t.Metric) && v > best) {
				best, have = v, true
			}
		}
		row := []string{texEscape(r.Combination)}
		for g, c := range r.Cells {
			runs := t.runs(g)
			if r.Summary {
				runs = 0
			}
			cell := latexCell(c, runs)
			if c.N > 0 && len(r.Cells) > 1 && shown(c.Mean) == best {
				cell = `\textbf{` + cell + `}`
			}
			row = append(row, cell)
		}
		if spec {
			for len(row) < len(header)-1 {
				row = append(row, "")
			}
			cell := "--"
			if c := r.Specialist; c != nil {
				cell = latexCell(*c, 0)
			}
			row = append(row, cell)
		}
		b.WriteString(strings.Join(row, " & ") + ` \\` + "\n")
	}
	b.WriteString("\\bottomrule\n\\end{tabular}\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("aggregate: %w", err)
	}
	return nil
}
