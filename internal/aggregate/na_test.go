package aggregate

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
)

// naSweepOf is sweepOf with the combinations in na having no samples (n 0, n/a metrics).
func naSweepOf(acc []float64, na ...string) *report.Sweep {
	var rows []report.Row
	for i, present := range testCombos {
		name := strings.Join(present, "+")
		r := report.Row{Present: present, Name: name, Accuracy: acc[i], MacroF1: acc[i] - 0.1, N: 100, ACER: ptr(1 - acc[i])}
		for _, n := range na {
			if n == name {
				r.Accuracy, r.MacroF1, r.N, r.ACER = math.NaN(), math.NaN(), 0, nil
			}
		}
		rows = append(rows, r)
	}
	return report.NewSweep(testModalities, nil, rows)
}

// TestSummarizeWithoutSamples checks that a combination without test samples is n/a in the
// table, that the mean and worst of each run leave it out, and that a cell over fewer runs
// than its group has says so.
func TestSummarizeWithoutSamples(t *testing.T) {
	_, runs := loadSpecs(t, []spec{
		{name: "s1", seed: 1, sweep: naSweepOf([]float64{0.9, 0.1, 0.8}, "weak")},
		{name: "s2", seed: 2, sweep: naSweepOf([]float64{0.7, 0.1, 0.6}, "weak")},
		{name: "n1", seed: 1, set: variant("no-hcr"), sweep: naSweepOf([]float64{0.9, 0.5, 0.8}, "weak")},
		{name: "n2", seed: 2, set: variant("no-hcr"), sweep: naSweepOf([]float64{0.7, 0.3, 0.6})},
	})
	groups, err := GroupRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Summarize(groups, "accuracy")
	if err != nil {
		t.Fatal(err)
	}
	row := func(name string) TableRow {
		for _, r := range tab.Rows {
			if r.Combination == name {
				return r
			}
		}
		t.Fatalf("no row %s", name)
		return TableRow{}
	}
	near := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-12 {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	// group 0 is dmrnet (weak never evaluated), group 1 no-hcr (weak in seed 2 only)
	if c := row("weak").Cells[0]; c.N != 0 {
		t.Errorf("dmrnet weak: %+v, want no value", c)
	}
	if c := row("weak").Cells[1]; c.N != 1 || c.Mean != 0.3 {
		t.Errorf("no-hcr weak: %+v, want seed 2's 0.3 alone", c)
	}
	near("dmrnet mean", row("mean").Cells[0].Mean, ((0.9+0.8)/2+(0.7+0.6)/2)/2)
	near("no-hcr mean", row("mean").Cells[1].Mean, ((0.9+0.8)/2+(0.7+0.3+0.6)/3)/2)
	near("dmrnet worst", row("worst").Cells[0].Mean, (0.8+0.6)/2)
	near("no-hcr worst", row("worst").Cells[1].Mean, (0.8+0.3)/2)
	if got := strings.Join(tab.WorstNames[0], ","); got != "strong+weak,strong+weak" {
		t.Errorf("worst names %s", got)
	}

	var text bytes.Buffer
	if err := tab.Write(&text, "table"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"n/a",
		"30.0 [1/2]",
		"[k/n]: weak has test samples in k of the group's n runs only",
	} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, text.String())
		}
	}
	var csvOut bytes.Buffer
	if err := tab.Write(&csvOut, "csv"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(csvOut.String(), "\nweak,weak,dmrnet,,,0,\n") {
		t.Errorf("csv has no empty n/a record for weak:\n%s", csvOut.String())
	}
	if err := tab.Plot(filepath.Join(t.TempDir(), "p.png"), ""); err != nil {
		t.Errorf("plot: %v", err)
	}

	// the same, with no run evaluating weak: the note names it as n/a for every group
	_, runs = loadSpecs(t, []spec{{name: "s1", seed: 1, sweep: naSweepOf([]float64{0.9, 0.1, 0.8}, "weak")}})
	groups, _ = GroupRuns(runs)
	// ACER: the n/a row has none, which is no error, and the worst is the highest
	tab, err = Summarize(groups, "acer")
	if err != nil {
		t.Fatal(err)
	}
	if w := tab.Rows[len(tab.Rows)-1].Cells[0]; math.Abs(w.Mean-0.2) > 1e-12 {
		t.Errorf("worst ACER %+v, want strong+weak's 0.2", w)
	}
	tab, err = Summarize(groups, "macro_f1")
	if err != nil {
		t.Fatal(err)
	}
	text.Reset()
	tab.Write(&text, "markdown")
	if !strings.Contains(text.String(), "n/a: no test sample has every modality of weak; left out of the mean and the worst") {
		t.Errorf("markdown:\n%s", text.String())
	}
}

// TestLoadLegacyZeroRow checks that a sweep.json written before n/a rows existed, whose
// combination without samples says n 0 and accuracy 0, is aggregated as n/a, not 0 %.
func TestLoadLegacyZeroRow(t *testing.T) {
	root := t.TempDir()
	dir := writeRun(t, root, spec{name: "a", seed: 1})
	legacy := `{"modalities":["strong","medium","weak"],"combinations":[` +
		`{"present":["strong"],"combination":"strong","accuracy":0.9,"macro_f1":0.8,"n":100},` +
		`{"present":["weak"],"combination":"weak","accuracy":0,"macro_f1":0,"n":0},` +
		`{"present":["strong","weak"],"combination":"strong+weak","accuracy":0.95,"macro_f1":0.9,"n":100}],` +
		`"mean_accuracy":0.6166,"mean_macro_f1":0.5666,"worst":{"present":["weak"],"combination":"weak","accuracy":0}}`
	if err := os.WriteFile(filepath.Join(dir, SweepFile), []byte(legacy), 0o644); err != nil {
		t.Fatal(err)
	}
	runs, err := Load([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := GroupRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Summarize(groups, "accuracy")
	if err != nil {
		t.Fatal(err)
	}
	last := len(tab.Rows)
	if m, w := tab.Rows[last-2].Cells[0].Mean, tab.Rows[last-1].Cells[0].Mean; math.Abs(m-0.925) > 1e-12 || w != 0.9 {
		t.Errorf("mean %v worst %v, want 0.925 and 0.9 (weak left out)", m, w)
	}
}
