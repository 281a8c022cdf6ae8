package uncertainty

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

var nan = math.NaN()

// result builds a Result with one abstained fraction (0.1).
func result(n int, acc float64, auroc [NumMeasures]float64, retained [NumMeasures]float64) Result {
	return Result{N: n, Accuracy: acc, AUROC: auroc, Retained: [][NumMeasures]float64{retained}, Abstain: []float64{0.1}}
}

// twoRuns are two seeds on modalities a, b: in run 2 combination "a+b" has every prediction
// right (AUROC undefined), and neither run has a variance.
func twoRuns() []Run {
	mods := []string{"a", "b"}
	return []Run{
		{Dir: "r/seed0", Seed: 0, Modalities: mods, Combinations: []Combination{
			{Name: "a", Present: []string{"a"}, Result: result(10, 0.8, [3]float64{nan, 0.7, 0.6}, [3]float64{nan, 0.9, 0.8})},
			{Name: "b", Present: []string{"b"}, Result: result(10, 0.6, [3]float64{nan, 0.5, 0.6}, [3]float64{nan, 0.6, 0.7})},
			{Name: "a+b", Present: []string{"a", "b"}, Result: result(10, 0.9, [3]float64{nan, 0.9, 0.8}, [3]float64{nan, 1, 1})},
		}},
		{Dir: "r/seed1", Seed: 1, Modalities: mods, Combinations: []Combination{
			{Name: "a", Present: []string{"a"}, Result: result(10, 0.6, [3]float64{nan, 0.9, 0.8}, [3]float64{nan, 0.7, 0.6})},
			{Name: "b", Present: []string{"b"}, Result: result(10, 0.5, [3]float64{nan, 0.6, 0.7}, [3]float64{nan, 0.5, 0.5})},
			{Name: "a+b", Present: []string{"a", "b"}, Result: result(10, 1, [3]float64{nan, nan, nan}, [3]float64{nan, 1, 1})},
		}},
	}
}

func near(t *testing.T, what string, c Cell, mean, std float64, runs int) {
	t.Helper()
	if c.Runs != runs {
		t.Errorf("%s: runs %d, want %d", what, c.Runs, runs)
	}
	if math.IsNaN(mean) {
		if c.Mean != nil {
			t.Errorf("%s: mean %v, want undefined", what, *c.Mean)
		}
		return
	}
	if c.Mean == nil || math.Abs(*c.Mean-mean) > 1e-12 {
		t.Errorf("%s: mean %v, want %v", what, c.Mean, mean)
	}
	if math.IsNaN(std) {
		if c.Std != nil {
			t.Errorf("%s: std %v, want none", what, *c.Std)
		}
		return
	}
	if c.Std == nil || math.Abs(*c.Std-std) > 1e-12 {
		t.Errorf("%s: std %v, want %v", what, c.Std, std)
	}
}

func TestSummarize(t *testing.T) {
	tb, err := Summarize(twoRuns())
	if err != nil {
		t.Fatal(err)
	}
	if len(tb.Rows) != 3 || tb.Rows[2].Combination != "a+b" || tb.Rows[0].N != 10 {
		t.Fatalf("rows %+v", tb.Rows)
	}
	s2 := math.Sqrt2
	// a: accuracy 0.8, 0.6 -> 0.7 ± 0.1·√2; entropy AUROC 0.7, 0.9 -> 0.8 ± 0.1·√2
	near(t, "a accuracy", tb.Rows[0].Accuracy, 0.7, 0.1*s2, 2)
	near(t, "a AUROC entropy", tb.Rows[0].AUROC[Entropy], 0.8, 0.1*s2, 2)
	near(t, "a AUROC variance", tb.Rows[0].AUROC[Variance], nan, nan, 0)
	near(t, "a retained 1-maxp", tb.Rows[0].Retained[0].Accuracy[MaxProb], 0.7, 0.1*s2, 2)
	// a+b: AUROC defined in run 0 only
	near(t, "a+b AUROC entropy", tb.Rows[2].AUROC[Entropy], 0.9, nan, 1)
	// mean over combinations: run 0 entropy (0.7+0.5+0.9)/3 = 0.7, run 1 (0.9+0.6)/2 = 0.75
	near(t, "mean AUROC entropy", tb.Mean.AUROC[Entropy], 0.725, 0.025*s2, 2)
	// 1-maxp: run 0 (0.6+0.6+0.8)/3 = 2/3, run 1 (0.8+0.7)/2 = 0.75
	near(t, "mean AUROC 1-maxp", tb.Mean.AUROC[MaxProb], (2.0/3+0.75)/2, (0.75-2.0/3)/s2, 2)
	// accuracy: run 0 (0.8+0.6+0.9)/3, run 1 (0.6+0.5+1)/3 = 0.7
	near(t, "mean accuracy", tb.Mean.Accuracy, (2.3/3+0.7)/2, (2.3/3-0.7)/s2, 2)
	if best, ok := tb.BestMeasure(); !ok || best != Entropy || tb.Best == nil || *tb.Best != "entropy" {
		t.Errorf("best %v %v %v", best, ok, tb.Best)
	}

	// a single run: no standard deviations
	one, err := Summarize(twoRuns()[:1])
	if err != nil {
		t.Fatal(err)
	}
	near(t, "single run", one.Rows[0].Accuracy, 0.8, nan, 1)
	// run 0 alone: entropy (0.7+0.5+0.9)/3 = 0.7 against 1-maxp (0.6+0.6+0.8)/3
	if best, ok := one.BestMeasure(); !ok || best != Entropy {
		t.Errorf("single run best %v", best)
	}
}

func TestBestMeasure(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	tests := []struct {
		means [NumMeasures]*float64
		want  Measure
		ok    bool
	}{
		{[3]*float64{v(0.6), v(0.8), v(0.7)}, Entropy, true},
		{[3]*float64{v(0.9), v(0.8), v(0.7)}, Variance, true},
		{[3]*float64{nil, v(0.7), v(0.7)}, Entropy, true}, // tie: the earlier measure
		{[3]*float64{nil, nil, v(0.5)}, MaxProb, true},
		{[3]*float64{nil, nil, nil}, 0, false},
	}
	for i, tt := range tests {
		var tb Table
		for m, p := range tt.means {
			tb.Mean.AUROC[m] = Cell{Mean: p}
		}
		got, ok := tb.BestMeasure()
		if ok != tt.ok || ok && got != tt.want {
			t.Errorf("case %d: best %v, %v; want %v, %v", i, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSummarizeRefuses(t *testing.T) {
	tests := []struct {
		name   string
		change func([]Run)
		want   string
	}{
		{"modalities", func(r []Run) { r[1].Modalities = []string{"a", "c"} }, "different modalities"},
		{"combinations", func(r []Run) { r[1].Combinations = r[1].Combinations[:2] }, "3 and 2 combinations"},
		{"names", func(r []Run) { r[1].Combinations[0].Name = "b" }, "combination 0"},
		{"samples", func(r []Run) { r[1].Combinations[1].N = 9 }, "10 and 9 samples"},
		{"abstain", func(r []Run) { r[1].Combinations[1].Abstain = []float64{0.2} }, "abstains"},
	}
	for _, tt := range tests {
		runs := twoRuns()
		tt.change(runs)
		if _, err := Summarize(runs); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
	if _, err := Summarize(nil); err == nil {
		t.Error("no runs accepted")
	}
}

func TestWrite(t *testing.T) {
	tb, err := Summarize(twoRuns())
	if err != nil {
		t.Fatal(err)
	}
	tb.Split, tb.Inference = "test", "fused"
	render := func(format string) string {
		var b bytes.Buffer
		if err := tb.Write(&b, format); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		return b.String()
	}

	text := render("table")
	for _, want := range []string{
		"AUROC σ²", "AUROC entropy", "AUROC 1-maxp", "90% σ²", "90% 1-maxp",
		"70.00±14.14", "0.800±0.141", // combination a: accuracy, entropy AUROC
		"0.900 (1/2)", // a+b entropy AUROC, defined in one run
		"best measure by mean AUROC over combinations: entropy (σ² n/a, entropy 0.725±0.035, 1-maxp 0.708±0.059)",
		"runs: r/seed0 (seed 0), r/seed1 (seed 1)", "2 runs (seeds 0, 1) on the test split, fused inference",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("table lacks %q:\n%s", want, text)
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "a+b ") && !strings.Contains(line, "n/a") {
			t.Errorf("a+b has no n/a for the variance: %q", line)
		}
		if strings.HasPrefix(line, "a ") && strings.Contains(line, "0.000") {
			t.Errorf("an undefined value shows as 0: %q", line)
		}
	}

	md := render("markdown")
	for _, want := range []string{"| combination | n | acc % | AUROC σ² |", "|---|--:|", "| **mean** |  | **", "| a+b | 10 |", "**n/a**"} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}

	recs, err := csv.NewReader(strings.NewReader(render("csv"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	// header + 4 rows (3 combinations and the mean) × (1 accuracy + 3 AUROC + 3 retained)
	if len(recs) != 1+4*7 || strings.Join(recs[0], ",") != "combination,present,n,metric,measure,coverage,mean,std,runs" {
		t.Fatalf("csv: %d records, header %v", len(recs), recs[0])
	}
	for _, r := range recs[1:] {
		if r[3] == "auroc" && r[4] == "variance" && (r[6] != "" || r[8] != "0") {
			t.Errorf("undefined variance AUROC in csv: %v", r)
		}
		if r[0] == "a+b" && r[3] == "accuracy" && r[4] == "entropy" && r[5] != "0.9" {
			t.Errorf("coverage column: %v", r)
		}
	}

	js := render("json")
	var raw struct {
		Rows []struct {
			Combination string
			AUROC       map[string]*struct {
				Mean *float64 `json:"mean"`
				Std  *float64 `json:"std"`
				Runs int      `json:"runs"`
			} `json:"auroc"`
		} `json:"rows"`
		Best *string `json:"best"`
	}
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Rows) != 3 || raw.Best == nil || *raw.Best != "entropy" {
		t.Fatalf("json: %s", js)
	}
	if c := raw.Rows[0].AUROC["variance"]; c == nil || c.Mean != nil || c.Runs != 0 {
		t.Errorf("undefined variance AUROC is not null in JSON: %s", js)
	}
	if !strings.Contains(js, `"variance": {`) || strings.Index(js, `"variance"`) > strings.Index(js, `"1-maxprob": {`) {
		t.Errorf("measures out of order in JSON:\n%s", js)
	}
	var back Table
	if err := json.Unmarshal([]byte(js), &back); err != nil {
		t.Fatal(err)
	}
	if *back.Rows[0].AUROC[Entropy].Mean != *tb.Rows[0].AUROC[Entropy].Mean || back.Mean.AUROC[Variance].Mean != nil {
		t.Errorf("JSON round trip: %+v", back.Rows[0])
	}

	var b bytes.Buffer
	if err := tb.Write(&b, "xml"); err == nil {
		t.Error("format xml accepted")
	}
}
