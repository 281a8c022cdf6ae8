package aggregate

import (
	"strings"
	"testing"
)

// latexTable is a small table with a label and a combination that need escaping, a tie, a
// missing value and a cell over fewer runs.
func latexTable(metric string) *Table {
	return &Table{
		Metric:     metric,
		Modalities: []string{"rgb_a", "ir"},
		Groups:     []string{"dmrnet", "dmrnet (loss.beta=0.5, hard.warmup_epochs=3)"},
		Seeds:      [][]int64{{0, 1}, {0, 1}},
		Rows: []TableRow{
			{Combination: "rgb_a", Present: []string{"rgb_a"}, Cells: []Cell{{Mean: 0.981, Std: 0.004, N: 2}, {Mean: 0.9, Std: 0.01, N: 1}}},
			{Combination: "ir", Present: []string{"ir"}, Cells: []Cell{{Mean: 0.5, Std: 0.1, N: 2}, {N: 0}}},
			{Combination: "rgb_a+ir", Present: []string{"rgb_a", "ir"}, Cells: []Cell{{Mean: 0.95, Std: 0.01, N: 2}, {Mean: 0.9501, Std: 0.02, N: 2}}},
			{Combination: "mean", Summary: true, Cells: []Cell{{Mean: 0.81, Std: 0.02, N: 2}, {Mean: 0.925, Std: 0.01, N: 2}}},
			{Combination: "worst", Summary: true, Cells: []Cell{{Mean: 0.5, Std: 0.1, N: 2}, {Mean: 0.9, Std: 0, N: 2}}},
		},
	}
}

func TestWriteLatex(t *testing.T) {
	var b strings.Builder
	if err := latexTable("accuracy").Write(&b, "latex"); err != nil {
		t.Fatal(err)
	}
	want := `% accuracy in \%, mean$\pm$std over seeds (sample std, ddof=1); 'mean' = mean over combinations, 'worst' = worst combination of each run; best of each row in bold
% n = seeds per group: dmrnet 2 (0, 1); dmrnet (loss.beta=0.5, hard.warmup\_epochs=3) 2 (0, 1)
\begin{tabular}{lrr}
\toprule
combination & dmrnet & dmrnet (loss.beta=0.5, hard.warmup\_epochs=3) \\
\midrule
rgb\_a & \textbf{98.1 $\pm$ 0.4} & 90.0\,[1/2] \\
ir & \textbf{50.0 $\pm$ 10.0} & n/a \\
rgb\_a+ir & \textbf{95.0 $\pm$ 1.0} & \textbf{95.0 $\pm$ 2.0} \\
\midrule
mean & 81.0 $\pm$ 2.0 & \textbf{92.5 $\pm$ 1.0} \\
worst & 50.0 $\pm$ 10.0 & \textbf{90.0 $\pm$ 0.0} \\
\bottomrule
\end{tabular}
`
	if got := b.String(); got != want {
		t.Errorf("latex:\n%s\nwant:\n%s", got, want)
	}

	// For ACER lower is better.
	b.Reset()
	if err := latexTable("acer").Write(&b, "latex"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "\nmean & \\textbf{81.0 $\\pm$ 2.0} & 92.5 $\\pm$ 1.0 \\\\\n") {
		t.Errorf("acer: the lower mean is not bold:\n%s", b.String())
	}
}

func TestTexEscape(t *testing.T) {
	for in, want := range map[string]string{
		"fou+mor":     "fou+mor",
		"a_b":         `a\_b`,
		`50% & $x #1`: `50\% \& \$x \#1`,
		`{a}~^\`:      `\{a\}\textasciitilde{}\textasciicircum{}\textbackslash{}`,
		"98.1±0.4":    `98.1$\pm$0.4`,
	} {
		if got := texEscape(in); got != want {
			t.Errorf("texEscape(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestToCP1252 checks the PDF text encoding: "±" must be one byte, not "Â±".
func TestToCP1252(t *testing.T) {
	if got, want := toCP1252("98.1±0.4 −1.2 – é ✓"), "98.1\xb10.4 -1.2 \x96 \xe9 ?"; got != want {
		t.Errorf("toCP1252 = %q, want %q", got, want)
	}
}

// TestLatexBoldIsBest checks on many rows of close values that the bold cells are exactly
// those whose shown value is the row's best (values at rounding boundaries included).
func TestLatexBoldIsBest(t *testing.T) {
	tab := &Table{Metric: "accuracy", Groups: []string{"a", "b", "c"}, Seeds: [][]int64{{0, 1}, {0, 1}, {0, 1}}}
	for i := range 200 {
		base := 0.99 + float64(i%20)*0.00025
		tab.Rows = append(tab.Rows, TableRow{Combination: "r", Present: []string{"x"}, Cells: []Cell{
			{Mean: base, Std: 0.001, N: 2}, {Mean: base + 0.0005*float64(i%3), Std: 0.001, N: 2}, {Mean: base + 0.00025*float64(i%5), Std: 0.001, N: 2}}})
	}
	var b strings.Builder
	if err := tab.Write(&b, "latex"); err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(b.String()) {
		if !strings.HasPrefix(line, "r & ") {
			continue
		}
		cells := strings.Split(strings.TrimSuffix(strings.TrimPrefix(line, "r & "), " \\\\\n"), " & ")
		best := ""
		for _, c := range cells {
			v := strings.Fields(strings.TrimPrefix(c, `\textbf{`))[0]
			best = max(best, v)
		}
		for _, c := range cells {
			v := strings.Fields(strings.TrimPrefix(c, `\textbf{`))[0]
			if bold := strings.HasPrefix(c, `\textbf{`); bold != (v == best) {
				t.Fatalf("row %q: cell %q bold=%v, best %s", line, c, bold, best)
			}
		}
	}
}
