package aggregate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/specialist"
)

// handSpecialists are specialists of two of the three combinations of handRuns, and of a
// combination that the runs did not evaluate.
func handSpecialists() *specialist.Set {
	return specialist.Collect(testModalities, map[string][]specialist.SeedResult{
		"strong": {{Seed: 1, Run: "sp/strong-1", Accuracy: 0.7}, {Seed: 2, Run: "sp/strong-2", Accuracy: 0.8}},
		"weak":   {{Seed: 1, Run: "sp/weak-1", Accuracy: 0.62}},
		"medium": {{Seed: 1, Run: "sp/medium-1", Accuracy: 0.4}},
	})
}

func specialistTable(t *testing.T) *Table {
	t.Helper()
	table := handTable(t, "accuracy")
	table.AddSpecialists(handSpecialists())
	return table
}

func TestAddSpecialists(t *testing.T) {
	const tol = 1e-12
	table := specialistTable(t)
	want := map[string]*Cell{
		// By hand: .7 .8 -> mean .75, deviations ±.05, std sqrt(.005).
		"strong":      {Mean: 0.75, Std: math.Sqrt(0.005), N: 2},
		"weak":        {Mean: 0.62, N: 1},
		"strong+weak": nil,
		"mean":        nil,
		"worst":       nil,
	}
	for _, r := range table.Rows {
		w := want[r.Combination]
		switch {
		case (r.Specialist == nil) != (w == nil):
			t.Errorf("row %s: specialist %+v, want %+v", r.Combination, r.Specialist, w)
		case w != nil && (r.Specialist.N != w.N || math.Abs(r.Specialist.Mean-w.Mean) > tol || math.Abs(r.Specialist.Std-w.Std) > tol):
			t.Errorf("row %s: specialist %+v, want %+v", r.Combination, *r.Specialist, *w)
		}
	}
	// dmrnet: strong .7 - .75 = -.05, weak .6 - .62 = -.02; no-dropout: .5 - .75 = -.25,
	// .6 - .62 = -.02.
	costs := []GroupCost{
		{Group: "dmrnet", MeanGap: -0.035, WorstGap: -0.05, WorstCombination: "strong", N: 2},
		{Group: "no-dropout", MeanGap: -0.135, WorstGap: -0.25, WorstCombination: "strong", N: 2},
	}
	gaps := map[string][]float64{"strong": {-0.05, -0.25}, "weak": {-0.02, -0.02}}
	for _, r := range table.Rows {
		w, ok := gaps[r.Combination]
		if !ok {
			if r.Gaps != nil {
				t.Errorf("row %s: gaps %v, want none", r.Combination, r.Gaps)
			}
			continue
		}
		if len(r.Gaps) != len(w) {
			t.Fatalf("row %s: %d gaps, want %d", r.Combination, len(r.Gaps), len(w))
		}
		for g, p := range r.Gaps {
			if p == nil || math.Abs(*p-w[g]) > tol {
				t.Errorf("row %s group %d: gap %v, want %v", r.Combination, g, p, w[g])
			}
		}
	}
	if len(table.Costs) != len(costs) {
		t.Fatalf("Costs = %+v, want %+v", table.Costs, costs)
	}
	for i, c := range table.Costs {
		w := costs[i]
		if c.Group != w.Group || c.WorstCombination != w.WorstCombination || c.N != w.N ||
			math.Abs(c.MeanGap-w.MeanGap) > tol || math.Abs(c.WorstGap-w.WorstGap) > tol {
			t.Errorf("Costs[%d] = %+v, want %+v", i, c, w)
		}
	}

	// Nothing else changes.
	orig := handTable(t, "accuracy")
	for i := range table.Rows {
		table.Rows[i].Specialist, table.Rows[i].Gaps = nil, nil
	}
	table.Costs = nil
	if !reflect.DeepEqual(table, orig) {
		t.Errorf("AddSpecialists changed more than the specialists:\n got %+v\nwant %+v", table, orig)
	}
}

func TestAddSpecialistsNone(t *testing.T) {
	tests := []struct {
		name   string
		metric string
		set    *specialist.Set
	}{
		{"nil set", "accuracy", nil},
		{"no matching combination", "accuracy", specialist.Collect(testModalities, map[string][]specialist.SeedResult{"medium": {{Accuracy: 0.4}}})},
		{"other metric", "macro_f1", handSpecialists()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			table := handTable(t, tt.metric)
			want := handTable(t, tt.metric)
			table.Metric = "accuracy"
			table.AddSpecialists(handSpecialists()) // filled before: AddSpecialists must clear
			table.Metric = tt.metric
			table.AddSpecialists(tt.set)
			if !reflect.DeepEqual(table, want) {
				t.Errorf("table = %+v, want it as without specialists", table)
			}
			var b bytes.Buffer
			if err := table.Write(&b, "table"); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b.String(), "specialist") || strings.Contains(b.String(), "cost of robustness") {
				t.Errorf("output mentions specialists:\n%s", b.String())
			}
		})
	}
}

func TestWriteSpecialists(t *testing.T) {
	table := specialistTable(t)
	tests := []struct {
		format string
		want   []string
	}{
		{"table", []string{
			"'specialist' = a model trained on that combination only, mean±std over its seeds; ",
			"(±g) after a cell = its gap to the specialist in points\n",
			"combination            dmrnet    no-dropout  specialist\n",
			"strong       70.0±26.5 (-5.0)  50.0 (-25.0)    75.0±7.1\n",
			"weak         60.0±10.0 (-2.0)   60.0 (-2.0)        62.0\n",
			"strong+weak          91.7±2.9          70.0           -\n",
			"-----------  ----------------  ------------  ----------\n",
			"mean                73.9±12.1          60.0\n",
			"worst               56.7±15.3          50.0\n",
			"\n\ncost of robustness (dmrnet): mean gap -3.50 points, worst strong -5.0 (2 combinations)\n" +
				"cost of robustness (no-dropout): mean gap -13.50 points, worst strong -25.0 (2 combinations)\n\n" +
				"n = seeds per group: dmrnet 3 (1, 2, 3); no-dropout 1 (1)\n",
		}},
		{"markdown", []string{
			"'specialist' = a model trained on that combination only",
			"| combination | dmrnet | no-dropout | specialist |\n|---|--:|--:|--:|\n",
			"| strong | 70.0±26.5 (-5.0) | 50.0 (-25.0) | 75.0±7.1 |\n",
			"| strong+weak | 91.7±2.9 | 70.0 | - |\n",
			"| **mean** | 73.9±12.1 | 60.0 |  |\n",
			"\n\ncost of robustness (dmrnet): mean gap -3.50 points, worst strong -5.0 (2 combinations)\n\n" +
				"cost of robustness (no-dropout): mean gap -13.50 points, worst strong -25.0 (2 combinations)\n\n",
		}},
		{"csv", []string{
			"combination,present,group,mean,std,n,gap\n",
			"strong,strong,no-dropout,0.5,0,1,-0.25\nstrong,strong,specialist,0.75,",
			"weak,weak,specialist,0.62,0,1,\nstrong+weak,strong+weak,dmrnet,0.9166666666666666,0.028867513459481253,3,\n",
		}},
		{"json", []string{`"specialist": {`, `"gaps": [`, `"costs": [`, `"worst_combination": "strong"`}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			var b bytes.Buffer
			if err := table.Write(&b, tt.format); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if tt.format == "table" {
				for line := range strings.Lines(out) {
					if strings.HasSuffix(strings.TrimSuffix(line, "\n"), " ") {
						t.Errorf("trailing blank in %q", line)
					}
				}
			}
		})
	}
}

func TestWriteSpecialistsCSVParsesBack(t *testing.T) {
	table := specialistTable(t)
	var b bytes.Buffer
	if err := table.Write(&b, "csv"); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range table.Rows {
		if r.Specialist != nil {
			n++
		}
	}
	if want := 1 + len(table.Rows)*len(table.Groups) + n; len(records) != want {
		t.Fatalf("%d records, want %d", len(records), want)
	}
	found := 0
	for _, rec := range records[1:] {
		if rec[2] != "specialist" {
			continue
		}
		found++
		var row *TableRow
		for i := range table.Rows {
			if table.Rows[i].Combination == rec[0] {
				row = &table.Rows[i]
			}
		}
		if row == nil || row.Specialist == nil {
			t.Errorf("specialist record %v for a row without a specialist", rec)
			continue
		}
		mean, err1 := strconv.ParseFloat(rec[3], 64)
		std, err2 := strconv.ParseFloat(rec[4], 64)
		cnt, err3 := strconv.Atoi(rec[5])
		if err1 != nil || err2 != nil || err3 != nil || mean != row.Specialist.Mean || std != row.Specialist.Std || cnt != row.Specialist.N {
			t.Errorf("specialist record %v, want %+v", rec, *row.Specialist)
		}
	}
	if found != n {
		t.Errorf("%d specialist records, want %d", found, n)
	}
}

func TestWriteSpecialistsJSONRoundTrip(t *testing.T) {
	table := specialistTable(t)
	var b bytes.Buffer
	if err := table.Write(&b, "json"); err != nil {
		t.Fatal(err)
	}
	var back Table
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, table) {
		t.Errorf("JSON round trip:\n got %+v\nwant %+v", back, *table)
	}
}

func TestPlotSpecialists(t *testing.T) {
	many := syntheticTable(6)
	runs := map[string][]specialist.SeedResult{}
	for _, r := range many.Rows[:10] {
		runs[r.Combination] = []specialist.SeedResult{{Seed: 1, Accuracy: r.Cells[0].Mean + 0.05}}
	}
	many.AddSpecialists(specialist.Collect(many.Modalities, runs))
	tests := []struct {
		name  string
		table *Table
	}{
		{"few combinations", specialistTable(t)},
		{"63 combinations", many},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.table.hasSpecialists() {
				t.Fatal("table has no specialists")
			}
			path := filepath.Join(t.TempDir(), "plot.png")
			if err := tt.table.Plot(path, "specialists"); err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			img, err := png.Decode(f)
			if err != nil {
				t.Fatal(err)
			}
			if b := img.Bounds(); tt.name == "few combinations" && (b.Dx() != 1200 || b.Dy() != 600) {
				t.Errorf("image is %dx%d, want 1200x600", b.Dx(), b.Dy())
			}
			if tt.name == "63 combinations" {
				// The heatmap has a specialist column.
				svg := filepath.Join(t.TempDir(), "plot.svg")
				if err := tt.table.Plot(svg, ""); err != nil {
					t.Fatal(err)
				}
				if data, _ := os.ReadFile(svg); !strings.Contains(string(data), ">specialist<") {
					t.Error("heatmap has no specialist column")
				}
			}
		})
	}
}
