package report

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/metrics"
	"github.com/dmrnet/dmrnet/internal/specialist"
)

// confusion returns a two-class matrix with the given counts [true][pred].
func confusion(m00, m01, m10, m11 int) *metrics.Confusion {
	c := metrics.NewConfusion(2)
	for _, s := range []struct{ y, pred, n int }{{0, 0, m00}, {0, 1, m01}, {1, 0, m10}, {1, 1, m11}} {
		for range s.n {
			c.Add(s.y, s.pred)
		}
	}
	return c
}

// naSweep is a two-class sweep of a test split in which no sample has depth: the four
// combinations with depth have no samples.
func naSweep() *Sweep {
	empty := metrics.NewConfusion(2)
	rows := []Row{
		FromConfusion([]string{"rgb"}, confusion(40, 10, 5, 45), 0),
		FromConfusion([]string{"depth"}, empty, 0),
		FromConfusion([]string{"ir"}, confusion(30, 20, 20, 30), 0),
		FromConfusion([]string{"rgb", "depth"}, empty, 0),
		FromConfusion([]string{"rgb", "ir"}, confusion(45, 5, 5, 45), 0),
		FromConfusion([]string{"depth", "ir"}, empty, 0),
		FromConfusion([]string{"rgb", "depth", "ir"}, empty, 0),
	}
	rows[1].Hard = true
	s := NewSweep([]string{"rgb", "depth", "ir"}, []string{"live", "spoof"}, rows)
	s.Split = "test"
	return s
}

// TestSweepWithoutSamples checks that combinations without samples have n 0 and n/a
// metrics and are left out of the mean and the worst, which a 0 % row would pull down.
func TestSweepWithoutSamples(t *testing.T) {
	s := naSweep()
	for _, r := range s.Combinations {
		hasDepth := strings.Contains(r.Name, "depth")
		if r.Evaluated() == hasDepth || hasDepth && (r.N != 0 || !math.IsNaN(r.MacroF1) || r.ACER != nil || r.APCER != nil || r.BPCER != nil) {
			t.Errorf("%s: %+v", r.Name, r)
		}
	}
	if want := (0.85 + 0.6 + 0.9) / 3; math.Abs(s.MeanAccuracy-want) > 1e-12 {
		t.Errorf("mean accuracy %v, want %v (over the 3 combinations with samples)", s.MeanAccuracy, want)
	}
	if s.Worst.Name != "ir" || s.Worst.Accuracy != 0.6 {
		t.Errorf("worst %+v, want ir 0.6", s.Worst)
	}
	if want := (0.15 + 0.4 + 0.1) / 3; s.MeanACER == nil || math.Abs(*s.MeanACER-want) > 1e-12 {
		t.Errorf("mean ACER %v, want %v", s.MeanACER, want)
	}
	none := NewSweep([]string{"a"}, nil, []Row{FromConfusion([]string{"a"}, metrics.NewConfusion(2), 0)})
	if !math.IsNaN(none.MeanAccuracy) || !math.IsNaN(none.Worst.Accuracy) || none.Worst.Name != "" {
		t.Errorf("no evaluated row: %+v", none)
	}
	if _, err := json.Marshal(none); err != nil {
		t.Errorf("NaN means do not encode: %v", err)
	}
}

func TestSweepWithoutSamplesGolden(t *testing.T) {
	exts := map[string]string{"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}
	for _, format := range Formats() {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := naSweep().Write(&buf, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "na."+exts[format], buf.Bytes())
		})
	}
	row := naSweep().Combinations[1]
	for _, format := range RowFormats() {
		t.Run("row/"+format, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteRow(&buf, row, []string{"live", "spoof"}, format); err != nil {
				t.Fatal(err)
			}
			golden(t, "row_na."+map[string]string{"text": "txt", "json": "json"}[format], buf.Bytes())
		})
	}
}

// TestJSONNullRoundTrip checks that n/a metrics are null in JSON, read back as NaN, and that
// field names and order are those of the types (the public contract).
func TestJSONNullRoundTrip(t *testing.T) {
	s := naSweep()
	data, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if !strings.Contains(text, `"combination":"depth","accuracy":null,"macro_f1":null,"n":0,`) {
		t.Errorf("depth row is not null: %s", text)
	}
	var back Sweep
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	for i, r := range back.Combinations {
		w := s.Combinations[i]
		if r.Evaluated() != w.Evaluated() || r.Evaluated() && (r.Accuracy != w.Accuracy || r.MacroF1 != w.MacroF1 || *r.ACER != *w.ACER) || r.N != w.N {
			t.Errorf("row %d: %+v, want %+v", i, r, w)
		}
	}
	if back.MeanAccuracy != s.MeanAccuracy || back.Worst.Name != s.Worst.Name || back.Worst.Accuracy != s.Worst.Accuracy {
		t.Errorf("summary %v %+v, want %v %+v", back.MeanAccuracy, back.Worst, s.MeanAccuracy, s.Worst)
	}
	again, err := json.Marshal(&back)
	if err != nil || !bytes.Equal(again, data) {
		t.Errorf("re-encoding differs:\n%s\n%s (%v)", again, data, err)
	}
	// A sweep.json written before n/a rows existed has n 0 and accuracy 0: read as n/a.
	var legacy Row
	if err := json.Unmarshal([]byte(`{"present":["depth"],"combination":"depth","accuracy":0,"macro_f1":0,"n":0,"apcer":0,"bpcer":0,"acer":0}`), &legacy); err != nil {
		t.Fatal(err)
	}
	if legacy.Evaluated() || legacy.ACER != nil {
		t.Errorf("legacy n 0 row: %+v, want n/a", legacy)
	}
	// Missing fields keep their zero value, as before.
	var partial Row
	if err := json.Unmarshal([]byte(`{"combination":"rgb","n":3}`), &partial); err != nil || partial.Accuracy != 0 || partial.N != 3 {
		t.Errorf("partial row: %+v, %v", partial, err)
	}
	var bad Row
	if err := json.Unmarshal([]byte(`{"combination":"rgb","accuracy":"high","n":3}`), &bad); err == nil {
		t.Errorf("a string accuracy decoded: %+v", bad)
	}
}

// TestSpecialistsSkipRowsWithoutSamples checks that an n/a row gets the specialist's accuracy
// but no gap, and stays out of the cost of robustness.
func TestSpecialistsSkipRowsWithoutSamples(t *testing.T) {
	s := naSweep()
	set := specialist.Collect(s.Modalities, map[string][]specialist.SeedResult{
		"rgb":   {{Seed: 0, Run: "r", Accuracy: 0.9}},
		"depth": {{Seed: 0, Run: "d", Accuracy: 0.8}},
	})
	s.AddSpecialists(set)
	d := s.Combinations[1]
	if d.Specialist == nil || *d.Specialist != 0.8 || d.Gap != nil {
		t.Errorf("depth: specialist %v gap %v", d.Specialist, d.Gap)
	}
	if s.Cost == nil || s.Cost.N != 1 || s.Cost.Worst.Name != "rgb" {
		t.Errorf("cost %+v, want rgb alone", s.Cost)
	}
	var buf bytes.Buffer
	if err := s.Write(&buf, "table"); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == "depth" && strings.Join(f, " ") != "depth 0 n/a n/a n/a n/a n/a 80.00 - *" {
			t.Errorf("depth line %q, want n/a metrics, the specialist and no gap", line)
		}
	}
}
