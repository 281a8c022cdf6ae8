package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/specialist"
)

// specialists returns specialists of the single modalities of binarySweep, and of a
// combination that the sweep lacks.
func specialists() *specialist.Set {
	return specialist.Collect([]string{"rgb", "depth", "ir"}, map[string][]specialist.SeedResult{
		"rgb":   {{Seed: 1, Run: "sp/rgb-1", Accuracy: 0.91}, {Seed: 2, Run: "sp/rgb-2", Accuracy: 0.93}},
		"depth": {{Seed: 1, Run: "sp/depth-1", Accuracy: 0.78}},
		"ir":    {{Seed: 1, Run: "sp/ir-1", Accuracy: 0.745}},
		"x":     {{Seed: 1, Run: "sp/x-1", Accuracy: 0.5}},
	})
}

// specialistSweep returns binarySweep compared with specialists.
func specialistSweep() *Sweep {
	s := binarySweep()
	s.AddSpecialists(specialists())
	return s
}

func TestAddSpecialists(t *testing.T) {
	const tol = 1e-12
	s := specialistSweep()
	// By hand: rgb .9 - .92 = -.02, depth .8 - .78 = +.02, ir .7 - .745 = -.045.
	want := map[string][2]float64{"rgb": {0.92, -0.02}, "depth": {0.78, 0.02}, "ir": {0.745, -0.045}}
	for _, r := range s.Combinations {
		w, ok := want[r.Name]
		if !ok {
			if r.Specialist != nil || r.Gap != nil {
				t.Errorf("row %s without a specialist has specialist %v, gap %v", r.Name, r.Specialist, r.Gap)
			}
			continue
		}
		if r.Specialist == nil || r.Gap == nil {
			t.Errorf("row %s: specialist %v, gap %v; want %v", r.Name, r.Specialist, r.Gap, w)
			continue
		}
		if math.Abs(*r.Specialist-w[0]) > tol || math.Abs(*r.Gap-w[1]) > tol {
			t.Errorf("row %s: specialist %v, gap %v; want %v", r.Name, *r.Specialist, *r.Gap, w)
		}
	}
	c := s.Cost
	if c == nil {
		t.Fatal("Cost is nil")
	}
	// Mean gap (-.02 + .02 - .045) / 3 = -.015; the worst gap is ir's.
	if c.N != 3 || math.Abs(c.MeanGap-(-0.015)) > tol {
		t.Errorf("Cost N, MeanGap = %d, %v; want 3, -0.015", c.N, c.MeanGap)
	}
	if c.Worst.Name != "ir" || !reflect.DeepEqual(c.Worst.Present, []string{"ir"}) || math.Abs(c.Worst.Accuracy-(-0.045)) > tol {
		t.Errorf("Cost.Worst = %+v, want ir with gap -0.045", c.Worst)
	}

	// Nothing else changes.
	orig := binarySweep()
	for i := range s.Combinations {
		s.Combinations[i].Specialist, s.Combinations[i].Gap = nil, nil
	}
	s.Cost = nil
	if !reflect.DeepEqual(s, orig) {
		t.Errorf("AddSpecialists changed more than the specialist fields:\n got %+v\nwant %+v", s, orig)
	}
}

func TestAddSpecialistsNone(t *testing.T) {
	tests := []struct {
		name string
		set  *specialist.Set
	}{
		{"nil set", nil},
		{"empty set", &specialist.Set{}},
		{"no matching combination", specialist.Collect([]string{"a"}, map[string][]specialist.SeedResult{"a": {{Accuracy: 1}}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := specialistSweep() // filled before: AddSpecialists must clear
			s.AddSpecialists(tt.set)
			if !reflect.DeepEqual(s, binarySweep()) {
				t.Errorf("sweep = %+v, want it as without specialists", s)
			}
		})
	}
}

func TestAddSpecialistsTies(t *testing.T) {
	rows := []Row{
		{Present: []string{"a"}, Name: "a", Accuracy: 0.5},
		{Present: []string{"b"}, Name: "b", Accuracy: 0.6},
		{Present: []string{"a", "b"}, Name: "a+b", Accuracy: 0.9},
	}
	s := NewSweep([]string{"a", "b"}, nil, rows)
	s.AddSpecialists(specialist.Collect([]string{"a", "b"}, map[string][]specialist.SeedResult{
		"a":   {{Accuracy: 0.75}},
		"b":   {{Accuracy: 0.85}},
		"a+b": {{Accuracy: 0.5}},
	}))
	// Gaps -.25, -.25, +.4: the first of the tied worst wins; the mean is -.1/3.
	if c := s.Cost; c == nil || c.Worst.Name != "a" || c.N != 3 || math.Abs(c.MeanGap+0.1/3) > 1e-12 {
		t.Errorf("Cost = %+v, want worst a, n 3, mean gap %v", c, -0.1/3)
	}
}

func TestSpecialistWriteGolden(t *testing.T) {
	s := specialistSweep()
	exts := map[string]string{"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := s.Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "specialist."+exts[format], buf.Bytes())
		})
	}

	// Without binary columns and hard set.
	m := multiSweep()
	m.AddSpecialists(specialist.Collect(m.Modalities, map[string][]specialist.SeedResult{"rgb": {{Accuracy: 0.52}}}))
	for _, format := range []string{"table", "markdown", "csv"} {
		t.Run("multi/"+format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := m.Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "multi_specialist."+exts[format], buf.Bytes())
		})
	}
}

func TestSpecialistWriteRowGolden(t *testing.T) {
	r := specialistSweep().Combinations[2] // ir
	for _, tt := range []struct{ name, format string }{
		{"row_specialist.txt", "text"},
		{"row_specialist.json", "json"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteRow(&buf, r, []string{"spoof", "live"}, tt.format); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestRowAddSpecialist(t *testing.T) {
	set := specialists()
	r := Row{Name: "ir", Accuracy: 0.7}
	if !r.AddSpecialist(set) || r.Specialist == nil || *r.Specialist != 0.745 || r.Gap == nil || math.Abs(*r.Gap+0.045) > 1e-12 {
		t.Fatalf("AddSpecialist: specialist %v, gap %v", r.Specialist, r.Gap)
	}
	var buf bytes.Buffer
	if err := WriteRow(&buf, r, nil, "text"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"specialist:   74.50%\n", "gap:          -4.50 points\n"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, buf.String())
		}
	}
	r.Name = "rgb+ir"
	if r.AddSpecialist(set) || r.Specialist != nil || r.Gap != nil {
		t.Errorf("AddSpecialist without a specialist: %v, specialist %v, gap %v", true, r.Specialist, r.Gap)
	}
}

func TestSpecialistJSON(t *testing.T) {
	s := specialistSweep()
	var buf bytes.Buffer
	if err := s.Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var back Sweep
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&back, s) {
		t.Errorf("round trip changed the sweep:\n got %+v\nwant %+v", back, *s)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	var cost map[string]json.RawMessage
	if err := json.Unmarshal(top["cost_of_robustness"], &cost); err != nil {
		t.Fatalf("cost_of_robustness: %v", err)
	}
	for _, k := range []string{"mean_gap", "worst", "n"} {
		if _, ok := cost[k]; !ok {
			t.Errorf("cost_of_robustness lacks field %q", k)
		}
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(top["combinations"], &rows); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"specialist_accuracy", "gap"} {
		if _, ok := rows[0][k]; !ok {
			t.Errorf("row JSON lacks field %q", k)
		}
		if _, ok := rows[3][k]; ok {
			t.Errorf("row JSON of a combination without a specialist has field %q", k)
		}
	}
}

func TestSpecialistCSVParseBack(t *testing.T) {
	s := specialistSweep()
	var buf bytes.Buffer
	if err := s.Write(&buf, "csv"); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"combination", "present", "n", "accuracy", "macro_f1", "apcer", "bpcer", "acer", "specialist_accuracy", "gap", "hard"}
	if !reflect.DeepEqual(recs[0], want) {
		t.Fatalf("header = %q, want %q", recs[0], want)
	}
	const sp, gap = 8, 9
	body := recs[1:]
	if len(body) != len(s.Combinations)+3 {
		t.Fatalf("%d records after the header, want %d", len(body), len(s.Combinations)+3)
	}
	for i, r := range s.Combinations {
		rec := body[i]
		if r.Specialist == nil {
			if rec[sp] != "" || rec[gap] != "" {
				t.Errorf("record %s: specialist, gap = %q, %q; want empty", r.Name, rec[sp], rec[gap])
			}
			continue
		}
		if rec[sp] != strconv.FormatFloat(*r.Specialist, 'g', -1, 64) || rec[gap] != strconv.FormatFloat(*r.Gap, 'g', -1, 64) {
			t.Errorf("record %s: specialist, gap = %q, %q; want %v, %v", r.Name, rec[sp], rec[gap], *r.Specialist, *r.Gap)
		}
	}
	mean, worst, worstGap := body[len(body)-3], body[len(body)-2], body[len(body)-1]
	if mean[0] != "mean" || mean[gap] != strconv.FormatFloat(s.Cost.MeanGap, 'g', -1, 64) {
		t.Errorf("mean record = %q", mean)
	}
	if worst[0] != "worst" || worst[gap] != "" {
		t.Errorf("worst record = %q", worst)
	}
	if worstGap[0] != "worst_gap" || worstGap[1] != "ir" || worstGap[gap] != strconv.FormatFloat(s.Cost.Worst.Accuracy, 'g', -1, 64) {
		t.Errorf("worst_gap record = %q", worstGap)
	}
}
