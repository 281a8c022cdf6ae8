package uncertainty

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"github.com/dmrnet/dmrnet/internal/texttable"
	"io"
	"math"
	"strconv"
	"strings"
)

// Formats returns the output formats accepted by Table.Write.
func Formats() []string { return []string{"table", "markdown", "csv", "json"} }

// Write renders t to w in the given format:
//
//   - "table": a description, then aligned text with one row per combination and a "mean"
//     row after a separator, columns n, accuracy in %, the AUROC of each measure (three
//     decimals) and, per abstained fraction, the accuracy in % on the samples each measure
//     keeps; then the line naming the best measure and the runs. A cell is mean±std over the
//     runs, a single run's value alone, "n/a" where the value is undefined in every run
//     (never 0), and gets " (k/n)" when it is defined in only k of the n runs (the mean is
//     over those k).
//   - "markdown": the same as a GitHub-flavoured Markdown table, the "mean" row in bold.
//   - "csv": long format, one record per row and value with the columns
//     combination,present,n,metric,measure,coverage,mean,std,runs: metric is "accuracy" or
//     "auroc"; measure is empty for the accuracy at full coverage; coverage is the retained
//     fraction (1 for full coverage, empty for AUROC); mean and std are fractions in full
//     precision, empty where undefined; present joins the present modalities with '+'
//     (empty, like n, in the "mean" row).
//   - "json": t as indented JSON with a trailing newline; undefined values are null.
func (t *Table) Write(w io.Writer, format string) error {
	var err error
	switch format {
	case "table":
		err = t.writeText(w)
	case "markdown":
		err = t.writeMarkdown(w)
	case "csv":
		err = t.writeCSV(w)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		err = enc.Encode(t)
	default:
		return fmt.Errorf("uncertainty: unknown format %q (valid formats: %s)", format, strings.Join(Formats(), ", "))
	}
	if err != nil {
		return fmt.Errorf("uncertainty: %w", err)
	}
	return nil
}

// coverageLabel returns the coverage of abstaining on fraction f in percent, e.g. "90%".
func coverageLabel(f float64) string {
	return strconv.FormatFloat(math.Round(1000*(1-f))/10, 'f', -1, 64) + "%"
}

// cellText formats c, scaled by scale, with the given decimals (see Write).
func (t *Table) cellText(c Cell, scale float64, decimals int) string {
	if c.Mean == nil {
		return "n/a"
	}
	f := func(v float64) string { return strconv.FormatFloat(scale*v, 'f', decimals, 64) }
	s := f(*c.Mean)
	if c.Std != nil {
		s += "±" + f(*c.Std)
	}
	if c.Runs < len(t.Runs) {
		s += fmt.Sprintf(" (%d/%d)", c.Runs, len(t.Runs))
	}
	return s
}

// abstained returns the abstained fractions of t's columns.
func (t *Table) abstained() []float64 {
	var out []float64
	for _, c := range t.Mean.Retained {
		out = append(out, c.Abstain)
	}
	return out
}

// cells returns the header and the formatted rows of t, the "mean" row last.
func (t *Table) cells() (header []string, rows [][]string) {
	header = []string{"combination", "n", "acc %"}
	for _, m := range Measures() {
		header = append(header, "AUROC "+m.Label())
	}
	for _, f := range t.abstained() {
		for _, m := range Measures() {
			header = append(header, coverageLabel(f)+" "+m.Label())
		}
	}
	for _, r := range append(append([]Row(nil), t.Rows...), t.Mean) {
		n := strconv.Itoa(r.N)
		if r.Summary {
			n = ""
		}
		cells := []string{r.Combination, n, t.cellText(r.Accuracy, 100, 2)}
		for _, m := range Measures() {
			cells = append(cells, t.cellText(r.AUROC[m], 1, 3))
		}
		for _, cov := range r.Retained {
			for _, m := range Measures() {
				cells = append(cells, t.cellText(cov.Accuracy[m], 100, 2))
			}
		}
		rows = append(rows, cells)
	}
	return header, rows
}

// description returns the lines above the table that say what it shows.
func (t *Table) description() []string {
	var seeds []string
	for _, r := range t.Runs {
		seeds = append(seeds, strconv.FormatInt(r.Seed, 10))
	}
	what := fmt.Sprintf("Uncertainty of %d %s (%s %s)", len(t.Runs), plural(len(t.Runs), "run", "runs"),
		plural(len(t.Runs), "seed", "seeds"), strings.Join(seeds, ", "))
	if t.Split != "" {
		what += " on the " + t.Split + " split"
	}
	if t.Inference != "" {
		what += ", " + t.Inference + " inference"
	}
	var covs []string
	for _, f := range t.abstained() {
		covs = append(covs, coverageLabel(f))
	}
	lines := []string{
		what + ".",
		"AUROC: probability that a wrong prediction is more uncertain than a right one (ties 1/2; 0.5 = chance, 1 = perfect; n/a when every prediction is right or every one wrong, or the measure is undefined).",
		fmt.Sprintf("acc %%: accuracy in %%; %s: accuracy in %% on that share of the samples that the measure calls most certain (the rest abstained).", strings.Join(covs, ", ")),
		"Measures: σ² = mean predicted variance of the embedding (n/a without a logvar head), entropy = entropy of the class probabilities, 1-maxp = 1 − the largest class probability.",
		"Cells: mean±std over runs (sample std); (k/n) = defined in k of the n runs only, mean over those; 'mean' = mean over runs of each run's mean over the combinations where the value is defined.",
	}
	return lines
}

// bestLine names the best measure and the mean AUROC of every measure.
func (t *Table) bestLine() string {
	var parts []string
	for _, m := range Measures() {
		parts = append(parts, m.Label()+" "+t.cellText(t.Mean.AUROC[m], 1, 3))
	}
	all := strings.Join(parts, ", ")
	best, ok := t.BestMeasure()
	if !ok {
		return "best measure: none (no AUROC is defined: " + all + ")"
	}
	return fmt.Sprintf("best measure by mean AUROC over combinations: %s (%s)", best.String(), all)
}

// runsLine lists the runs.
func (t *Table) runsLine() string {
	var parts []string
	for _, r := range t.Runs {
		parts = append(parts, fmt.Sprintf("%s (seed %d)", r.Dir, r.Seed))
	}
	return "runs: " + strings.Join(parts, ", ")
}

func (t *Table) writeText(w io.Writer) error {
	header, rows := t.cells()
	var buf bytes.Buffer
	buf.WriteString(strings.Join(t.description(), "\n") + "\n\n")
	// a rule before the last row, the mean over combinations
	if err := texttable.Write(&buf, header, rows, func(i int) bool { return i == len(rows)-1 }); err != nil {
		return err
	}
	buf.WriteString("\n" + t.bestLine() + "\n" + t.runsLine() + "\n")
	_, err := w.Write(buf.Bytes())
	return err
}

func (t *Table) writeMarkdown(w io.Writer) error {
	header, rows := t.cells()
	var b strings.Builder
	desc := t.description()
	b.WriteString(mdEscape(desc[0]) + "\n\n")
	for _, l := range desc[1:] {
		b.WriteString("- " + mdEscape(l) + "\n")
	}
	b.WriteString("\n")
	line := func(cells []string, bold bool) {
		b.WriteString("|")
		for _, c := range cells {
			c = mdEscape(c)
			if bold && c != "" {
				c = "**" + c + "**"
			}
			b.WriteString(" " + c + " |")
		}
		b.WriteString("\n")
	}
	line(header, false)
	b.WriteString("|---|" + strings.Repeat("--:|", len(header)-1) + "\n")
	for i, r := range rows {
		line(r, i == len(rows)-1)
	}
	b.WriteString("\n" + mdEscape(t.bestLine()) + "\n\n" + mdEscape(t.runsLine()) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape escapes the characters of s that Markdown would otherwise interpret.
func mdEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `|`, `\|`, `*`, `\*`, `_`, `\_`).Replace(s)
}

func (t *Table) writeCSV(w io.Writer) error {
	records := [][]string{{"combination", "present", "n", "metric", "measure", "coverage", "mean", "std", "runs"}}
	full := func(p *float64) string {
		if p == nil {
			return ""
		}
		return strconv.FormatFloat(*p, 'g', -1, 64)
	}
	for _, r := range append(append([]Row(nil), t.Rows...), t.Mean) {
		n := strconv.Itoa(r.N)
		if r.Summary {
			n = ""
		}
		present := strings.Join(r.Present, "+")
		add := func(metric, measure, coverage string, c Cell) {
			records = append(records, []string{r.Combination, present, n, metric, measure, coverage, full(c.Mean), full(c.Std), strconv.Itoa(c.Runs)})
		}
		add("accuracy", "", "1", r.Accuracy)
		for _, m := range Measures() {
			add("auroc", m.String(), "", r.AUROC[m])
		}
		for _, cov := range r.Retained {
			for _, m := range Measures() {
				add("accuracy", m.String(), strconv.FormatFloat(1-cov.Abstain, 'g', 6, 64), cov.Accuracy[m])
			}
		}
	}
	cw := csv.NewWriter(w)
	return cw.WriteAll(records)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
