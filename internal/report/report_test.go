package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/metrics"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func ptr(v float64) *float64 { return &v }

// binarySweep returns a two-class (spoof=0, live=1) sweep over all seven
// combinations of three modalities, built by hand.
func binarySweep() *Sweep {
	rows := []Row{
		{Present: []string{"rgb"}, Name: "rgb", Accuracy: 0.9, MacroF1: 0.89, N: 100,
			APCER: ptr(0.12), BPCER: ptr(0.08), ACER: ptr(0.1), Confusion: [][]int{{44, 6}, {4, 46}}},
		{Present: []string{"depth"}, Name: "depth", Accuracy: 0.8, MacroF1: 0.79, N: 100,
			APCER: ptr(0.2), BPCER: ptr(0.2), ACER: ptr(0.2), Confusion: [][]int{{40, 10}, {10, 40}}, Hard: true},
		{Present: []string{"ir"}, Name: "ir", Accuracy: 0.7, MacroF1: 0.69, N: 100,
			APCER: ptr(0.3), BPCER: ptr(0.3), ACER: ptr(0.3), Confusion: [][]int{{35, 15}, {15, 35}}, Hard: true},
		{Present: []string{"rgb", "depth"}, Name: "rgb+depth", Accuracy: 0.95, MacroF1: 0.95, N: 100,
			APCER: ptr(0.06), BPCER: ptr(0.04), ACER: ptr(0.05), Confusion: [][]int{{47, 3}, {2, 48}}},
		{Present: []string{"rgb", "ir"}, Name: "rgb+ir", Accuracy: 0.7, MacroF1: 0.7, N: 100,
			APCER: ptr(0.3), BPCER: ptr(0.3), ACER: ptr(0.3), Confusion: [][]int{{35, 15}, {15, 35}}},
		{Present: []string{"depth", "ir"}, Name: "depth+ir", Accuracy: 0.85, MacroF1: 0.85, N: 100,
			APCER: ptr(0.16), BPCER: ptr(0.14), ACER: ptr(0.15), Confusion: [][]int{{42, 8}, {7, 43}}},
		{Present: []string{"rgb", "depth", "ir"}, Name: "rgb+depth+ir", Accuracy: 0.98, MacroF1: 0.98, N: 100,
			APCER: ptr(0.02), BPCER: ptr(0.02), ACER: ptr(0.02), Confusion: [][]int{{49, 1}, {1, 49}}},
	}
	s := NewSweep([]string{"rgb", "depth", "ir"}, []string{"spoof", "live"}, rows)
	s.Split = "test"
	s.Checkpoint = "runs/best.ckpt"
	return s
}

// multiSweep returns a three-class sweep over three combinations with no
// binary metrics and no hard set.
func multiSweep() *Sweep {
	rows := []Row{
		{Present: []string{"rgb"}, Name: "rgb", Accuracy: 0.5, MacroF1: 1.0 / 3, N: 12},
		{Present: []string{"rgb", "ir"}, Name: "rgb+ir", Accuracy: 0.75, MacroF1: 0.7, N: 12},
		{Present: []string{"rgb", "depth", "ir"}, Name: "rgb+depth+ir", Accuracy: 11.0 / 12, MacroF1: 0.9, N: 12},
	}
	return NewSweep([]string{"rgb", "depth", "ir"}, []string{"cat", "dog", "bird"}, rows)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s\n--- got:\n%s\n--- want:\n%s", path, got, want)
	}
}

func TestSweepWriteGolden(t *testing.T) {
	sweeps := []struct {
		name string
		s    *Sweep
	}{
		{"binary", binarySweep()},
		{"multi", multiSweep()},
	}
	exts := map[string]string{"table": "txt", "json": "json", "csv": "csv", "markdown": "md"}
	for _, sw := range sweeps {
		for _, format := range Formats() {
			t.Run(sw.name+"/"+format, func(t *testing.T) {
				var buf bytes.Buffer
				if err := sw.s.Write(&buf, format); err != nil {
					t.Fatal(err)
				}
				golden(t, sw.name+"."+exts[format], buf.Bytes())
			})
		}
	}
}

func TestWriteRowGolden(t *testing.T) {
	c := metrics.NewConfusion(2)
	for _, s := range []struct{ y, pred, n int }{{0, 0, 47}, {0, 1, 3}, {1, 0, 2}, {1, 1, 48}} {
		for range s.n {
			c.Add(s.y, s.pred)
		}
	}
	binary := FromConfusion([]string{"rgb", "depth"}, c, 1)
	binary.Hard = true

	c3 := metrics.NewConfusion(3)
	for _, s := range []struct{ y, pred, n int }{
		{0, 0, 5}, {0, 1, 1}, {1, 0, 2}, {1, 1, 3}, {1, 2, 1}, {2, 1, 1}, {2, 2, 4},
	} {
		for range s.n {
			c3.Add(s.y, s.pred)
		}
	}
	multi := FromConfusion([]string{"rgb", "ir"}, c3, 0)

	tests := []struct {
		name    string
		r       Row
		classes []string
		format  string
	}{
		{"row_binary.txt", binary, []string{"spoof", "live"}, "text"},
		{"row_binary.json", binary, []string{"spoof", "live"}, "json"},
		{"row_multi.txt", multi, []string{"cat", "dog"}, "text"}, // class 2 unnamed
		{"row_multi.json", multi, nil, "json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteRow(&buf, tt.r, tt.classes, tt.format); err != nil {
				t.Fatal(err)
			}
			golden(t, tt.name, buf.Bytes())
		})
	}
}

func TestUnknownFormat(t *testing.T) {
	tests := []struct {
		name  string
		write func() error
		valid []string
	}{
		{"sweep", func() error { return multiSweep().Write(&bytes.Buffer{}, "xml") }, Formats()},
		{"row", func() error { return WriteRow(&bytes.Buffer{}, Row{}, nil, "table") }, RowFormats()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.write()
			if err == nil {
				t.Fatal("want error, got nil")
			}
			for _, f := range tt.valid {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not list format %q", err, f)
				}
			}
		})
	}
}

func TestNewSweep(t *testing.T) {
	tests := []struct {
		name      string
		rows      []Row
		meanAcc   float64
		meanF1    float64
		meanACER  *float64
		worstName string
		worstAcc  float64
	}{
		{name: "empty"},
		{
			// Accuracies 0.9 0.8 0.7 0.95 0.7 0.85 0.98 sum to 5.88;
			// macro-F1s 0.89 0.79 0.69 0.95 0.7 0.85 0.98 sum to 5.85;
			// ACERs 0.1 0.2 0.3 0.05 0.3 0.15 0.02 sum to 1.12.
			// "ir" and "rgb+ir" tie at 0.7: the first one wins.
			name:      "binary",
			rows:      binarySweep().Combinations,
			meanAcc:   5.88 / 7,
			meanF1:    5.85 / 7,
			meanACER:  ptr(1.12 / 7),
			worstName: "ir",
			worstAcc:  0.7,
		},
		{
			name:      "multi",
			rows:      multiSweep().Combinations,
			meanAcc:   (0.5 + 0.75 + 11.0/12) / 3,
			meanF1:    (1.0/3 + 0.7 + 0.9) / 3,
			worstName: "rgb",
			worstAcc:  0.5,
		},
		{
			// Only rows with an ACER count towards its mean.
			name: "partial ACER",
			rows: []Row{
				{Name: "a", Accuracy: 1, ACER: ptr(0.2)},
				{Name: "b", Accuracy: 0.5},
				{Name: "c", Accuracy: 0.5, ACER: ptr(0.4)},
			},
			meanAcc:   2.0 / 3,
			meanACER:  ptr(0.3),
			worstName: "b",
			worstAcc:  0.5,
		},
	}
	const tol = 1e-12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewSweep([]string{"rgb", "depth", "ir"}, nil, tt.rows)
			if math.Abs(s.MeanAccuracy-tt.meanAcc) > tol {
				t.Errorf("MeanAccuracy = %v, want %v", s.MeanAccuracy, tt.meanAcc)
			}
			if math.Abs(s.MeanMacroF1-tt.meanF1) > tol {
				t.Errorf("MeanMacroF1 = %v, want %v", s.MeanMacroF1, tt.meanF1)
			}
			switch {
			case (s.MeanACER == nil) != (tt.meanACER == nil):
				t.Errorf("MeanACER = %v, want %v", s.MeanACER, tt.meanACER)
			case s.MeanACER != nil && math.Abs(*s.MeanACER-*tt.meanACER) > tol:
				t.Errorf("MeanACER = %v, want %v", *s.MeanACER, *tt.meanACER)
			}
			if s.Worst.Name != tt.worstName || s.Worst.Accuracy != tt.worstAcc {
				t.Errorf("Worst = %+v, want %s with accuracy %v", s.Worst, tt.worstName, tt.worstAcc)
			}
			if len(s.Combinations) != len(tt.rows) || s.Combinations == nil {
				t.Errorf("Combinations has %d rows (nil: %v), want %d", len(s.Combinations), s.Combinations == nil, len(tt.rows))
			}
		})
	}
}

func TestFromConfusion(t *testing.T) {
	tests := []struct {
		name       string
		m          [][]int
		live       int
		wantBinary bool
		apcer      float64
		bpcer      float64
	}{
		{
			// Spoof (0): 3 of 50 accepted; live (1): 2 of 50 rejected.
			name: "binary", m: [][]int{{47, 3}, {2, 48}}, live: 1,
			wantBinary: true, apcer: 0.06, bpcer: 0.04,
		},
		{name: "binary bad live", m: [][]int{{47, 3}, {2, 48}}, live: 5},
		{name: "three classes", m: [][]int{{5, 1, 0}, {2, 3, 1}, {0, 1, 4}}, live: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := metrics.NewConfusion(len(tt.m))
			for y, row := range tt.m {
				for p, n := range row {
					for range n {
						c.Add(y, p)
					}
				}
			}
			r := FromConfusion([]string{"rgb", "ir"}, c, tt.live)
			if r.Name != "rgb+ir" || !reflect.DeepEqual(r.Present, []string{"rgb", "ir"}) {
				t.Errorf("Name, Present = %q, %q", r.Name, r.Present)
			}
			if r.N != c.N() || r.Accuracy != c.Accuracy() || r.MacroF1 != c.MacroF1() {
				t.Errorf("N, Accuracy, MacroF1 = %d, %v, %v; want %d, %v, %v",
					r.N, r.Accuracy, r.MacroF1, c.N(), c.Accuracy(), c.MacroF1())
			}
			if !reflect.DeepEqual(r.Confusion, tt.m) {
				t.Errorf("Confusion = %v, want %v", r.Confusion, tt.m)
			}
			c.Add(0, 0)
			if reflect.DeepEqual(r.Confusion, c.M) {
				t.Error("Confusion aliases the matrix it was built from")
			}
			if got := r.APCER != nil && r.BPCER != nil && r.ACER != nil; got != tt.wantBinary {
				t.Fatalf("binary metrics set = %v, want %v", got, tt.wantBinary)
			}
			if tt.wantBinary {
				const tol = 1e-12
				if math.Abs(*r.APCER-tt.apcer) > tol || math.Abs(*r.BPCER-tt.bpcer) > tol ||
					math.Abs(*r.ACER-(tt.apcer+tt.bpcer)/2) > tol {
					t.Errorf("APCER, BPCER, ACER = %v, %v, %v", *r.APCER, *r.BPCER, *r.ACER)
				}
			}
		})
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, s := range []*Sweep{binarySweep(), multiSweep()} {
		var buf bytes.Buffer
		if err := s.Write(&buf, "json"); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasSuffix(buf.Bytes(), []byte("}\n")) {
			t.Error("JSON output lacks a trailing newline")
		}
		var got Sweep
		if err := json.Unmarshal(buf.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(&got, s) {
			t.Errorf("round trip changed the sweep:\n got %+v\nwant %+v", got, *s)
		}
	}
}

func TestJSONFieldNames(t *testing.T) {
	var buf bytes.Buffer
	if err := binarySweep().Write(&buf, "json"); err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"modalities", "classes", "combinations", "mean_accuracy",
		"mean_macro_f1", "mean_acer", "worst", "split", "checkpoint"} {
		if _, ok := top[k]; !ok {
			t.Errorf("sweep JSON lacks field %q", k)
		}
	}
	var rows []map[string]json.RawMessage
	if err := json.Unmarshal(top["combinations"], &rows); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"present", "combination", "accuracy", "macro_f1", "n",
		"apcer", "bpcer", "acer", "confusion", "hard"} {
		if _, ok := rows[1][k]; !ok {
			t.Errorf("row JSON lacks field %q", k)
		}
	}
	if _, ok := rows[0]["hard"]; ok {
		t.Error("row JSON has \"hard\" for a row outside the hard set")
	}
}

func TestCSVParseBack(t *testing.T) {
	tests := []struct {
		name   string
		s      *Sweep
		header []string
	}{
		{"binary", binarySweep(), []string{"combination", "present", "n", "accuracy", "macro_f1", "apcer", "bpcer", "acer", "hard"}},
		{"multi", multiSweep(), []string{"combination", "present", "n", "accuracy", "macro_f1", "hard"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tt.s.Write(&buf, "csv"); err != nil {
				t.Fatal(err)
			}
			recs, err := csv.NewReader(&buf).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(recs[0], tt.header) {
				t.Fatalf("header = %q, want %q", recs[0], tt.header)
			}
			col := map[string]int{}
			for i, h := range recs[0] {
				col[h] = i
			}
			parse := func(s string) float64 {
				t.Helper()
				v, err := strconv.ParseFloat(s, 64)
				if err != nil {
					t.Fatal(err)
				}
				return v
			}
			body := recs[1:]
			if len(body) != len(tt.s.Combinations)+2 {
				t.Fatalf("%d records after the header, want %d", len(body), len(tt.s.Combinations)+2)
			}
			for i, r := range tt.s.Combinations {
				rec := body[i]
				if rec[col["combination"]] != r.Name || rec[col["present"]] != strings.Join(r.Present, "+") {
					t.Errorf("record %d names %q, %q; want %q", i, rec[0], rec[1], r.Name)
				}
				if n, _ := strconv.Atoi(rec[col["n"]]); n != r.N {
					t.Errorf("record %d: n = %d, want %d", i, n, r.N)
				}
				// Full precision: values parse back exactly.
				if got := parse(rec[col["accuracy"]]); got != r.Accuracy {
					t.Errorf("record %d: accuracy = %v, want %v", i, got, r.Accuracy)
				}
				if got := parse(rec[col["macro_f1"]]); got != r.MacroF1 {
					t.Errorf("record %d: macro_f1 = %v, want %v", i, got, r.MacroF1)
				}
				if r.ACER != nil {
					if got := parse(rec[col["acer"]]); got != *r.ACER {
						t.Errorf("record %d: acer = %v, want %v", i, got, *r.ACER)
					}
				}
				if got := rec[col["hard"]]; got != strconv.FormatBool(r.Hard) {
					t.Errorf("record %d: hard = %q, want %v", i, got, r.Hard)
				}
			}
			mean, worst := body[len(body)-2], body[len(body)-1]
			if mean[0] != "mean" || parse(mean[col["accuracy"]]) != tt.s.MeanAccuracy ||
				parse(mean[col["macro_f1"]]) != tt.s.MeanMacroF1 {
				t.Errorf("mean record = %q", mean)
			}
			if tt.s.MeanACER != nil && parse(mean[col["acer"]]) != *tt.s.MeanACER {
				t.Errorf("mean record acer = %q, want %v", mean[col["acer"]], *tt.s.MeanACER)
			}
			if worst[0] != "worst" || worst[1] != strings.Join(tt.s.Worst.Present, "+") ||
				parse(worst[col["accuracy"]]) != tt.s.Worst.Accuracy {
				t.Errorf("worst record = %q", worst)
			}
		})
	}
}
