package specialist

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var modalities = []string{"rgb", "depth", "ir"}

func TestCollect(t *testing.T) {
	tests := []struct {
		name string
		runs map[string][]SeedResult
		want []Entry
	}{
		{name: "empty", runs: nil, want: []Entry{}},
		{
			name: "order, mean and std",
			runs: map[string][]SeedResult{
				"rgb+ir": {{Seed: 1, Run: "ri1", Accuracy: 0.9}},
				"ir":     {{Seed: 3, Run: "i3", Accuracy: 0.7}, {Seed: 1, Run: "i1", Accuracy: 0.6}, {Seed: 2, Run: "i2", Accuracy: 0.8}},
				"depth":  {},
				"rgb":    {{Seed: 2, Run: "r2", Accuracy: 0.5}, {Seed: 1, Run: "r1", Accuracy: 0.75}},
			},
			want: []Entry{
				// By hand: .75 .5 -> mean .625, deviations ±.125, std sqrt(2*.015625/1).
				{Combination: "rgb", Present: []string{"rgb"}, Accuracy: 0.625, Std: math.Sqrt(0.03125),
					Seeds: []int64{1, 2}, Runs: []string{"r1", "r2"}},
				// .6 .7 .8 -> mean .7, deviations -.1 0 .1, std sqrt(.02/2) = .1.
				{Combination: "ir", Present: []string{"ir"}, Accuracy: 0.7, Std: 0.1,
					Seeds: []int64{1, 2, 3}, Runs: []string{"i1", "i2", "i3"}},
				{Combination: "rgb+ir", Present: []string{"rgb", "ir"}, Accuracy: 0.9,
					Seeds: []int64{1}, Runs: []string{"ri1"}},
			},
		},
		{
			name: "names out of order and unknown",
			runs: map[string][]SeedResult{
				"zz":       {{Seed: 1, Run: "z", Accuracy: 0.1}},
				"ir+depth": {{Seed: 1, Run: "di1", Accuracy: 0.4}},
				"depth+ir": {{Seed: 2, Run: "di2", Accuracy: 0.6}},
				"rgb+rgb":  {{Seed: 1, Run: "rr", Accuracy: 0.2}},
				"depth":    {{Seed: 1, Run: "d", Accuracy: 0.3}},
			},
			want: []Entry{
				{Combination: "depth", Present: []string{"depth"}, Accuracy: 0.3, Seeds: []int64{1}, Runs: []string{"d"}},
				{Combination: "depth+ir", Present: []string{"depth", "ir"}, Accuracy: 0.5, Std: math.Sqrt(0.02),
					Seeds: []int64{1, 2}, Runs: []string{"di1", "di2"}},
				{Combination: "rgb+rgb", Present: []string{"rgb", "rgb"}, Accuracy: 0.2, Seeds: []int64{1}, Runs: []string{"rr"}},
				{Combination: "zz", Present: []string{"zz"}, Accuracy: 0.1, Seeds: []int64{1}, Runs: []string{"z"}},
			},
		},
	}
	const tol = 1e-12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Collect(modalities, tt.runs)
			if !reflect.DeepEqual(s.Modalities, modalities) {
				t.Errorf("Modalities = %v", s.Modalities)
			}
			if len(s.Entries) != len(tt.want) {
				t.Fatalf("%d entries %+v, want %d", len(s.Entries), s.Entries, len(tt.want))
			}
			for i, e := range s.Entries {
				w := tt.want[i]
				if math.Abs(e.Accuracy-w.Accuracy) > tol || math.Abs(e.Std-w.Std) > tol {
					t.Errorf("entry %s: accuracy, std = %v, %v; want %v, %v", e.Combination, e.Accuracy, e.Std, w.Accuracy, w.Std)
				}
				e.Accuracy, e.Std, w.Accuracy, w.Std = 0, 0, 0, 0
				if !reflect.DeepEqual(e, w) {
					t.Errorf("entry %d = %+v, want %+v", i, e, w)
				}
			}
		})
	}
}

func TestCollectCopiesModalities(t *testing.T) {
	m := []string{"a", "b"}
	s := Collect(m, map[string][]SeedResult{"a": {{Accuracy: 1}}})
	m[0] = "x"
	if s.Modalities[0] != "a" {
		t.Error("Modalities aliases the caller's slice")
	}
}

func TestSaveLoad(t *testing.T) {
	s := Collect(modalities, map[string][]SeedResult{
		"rgb":   {{Seed: 1, Run: "runs/rgb-1", Accuracy: 0.723}, {Seed: 2, Run: "runs/rgb-2", Accuracy: 0.7}},
		"depth": {{Seed: 1, Run: "runs/depth-1", Accuracy: 1.0 / 3}},
	})
	dir := filepath.Join(t.TempDir(), "new", "specialists")
	if err := s.Save(dir); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"{\n  \"modalities\": [", "\"specialists\": [", "\"combination\": \"rgb\"", "\"seeds\": [", "\"runs\": ["} {
		if !strings.Contains(string(data), want) {
			t.Errorf("%s lacks %q:\n%s", File, want, data)
		}
	}
	if !strings.HasSuffix(string(data), "}\n") {
		t.Error("file lacks a trailing newline")
	}
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, s)
	}
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) != 1 {
		t.Errorf("directory holds %v (%v), want only %s", entries, err, File)
	}
}

func TestLookup(t *testing.T) {
	s := Collect(modalities, map[string][]SeedResult{
		"rgb":    {{Seed: 1, Accuracy: 0.8}},
		"rgb+ir": {{Seed: 1, Accuracy: 0.9}},
	})
	tests := []struct {
		name string
		acc  float64
		ok   bool
	}{
		{"rgb", 0.8, true},
		{"rgb+ir", 0.9, true},
		{"ir+rgb", 0, false}, // names are in modality order
		{"depth", 0, false},
		{"", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, ok := s.Lookup(tt.name)
			if ok != tt.ok || e.Accuracy != tt.acc || (ok && e.Combination != tt.name) {
				t.Errorf("Lookup(%q) = %+v, %v; want accuracy %v, %v", tt.name, e, ok, tt.acc, tt.ok)
			}
		})
	}
	var none *Set
	if _, ok := none.Lookup("rgb"); ok {
		t.Error("nil set: Lookup found an entry")
	}
}

func TestCheck(t *testing.T) {
	s := &Set{Modalities: modalities}
	if err := s.Check([]string{"rgb", "depth", "ir"}); err != nil {
		t.Error(err)
	}
	err := s.Check([]string{"rgb", "ir"})
	if err == nil || !strings.Contains(err.Error(), "[rgb, depth, ir]") || !strings.Contains(err.Error(), "[rgb, ir]") {
		t.Errorf("err = %v, want it to list both modality lists", err)
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		content string // "" leaves the file out
		want    []string
	}{
		{name: "missing", want: []string{": no specialists.json (train them with dmrnet specialists --config FILE --out "}},
		{name: "bad json", content: "{not json", want: []string{File + ": decode: "}},
		{name: "duplicate", content: `{"specialists": [{"combination": "rgb", "accuracy": 0.5}, {"combination": "rgb", "accuracy": 0.6}]}`,
			want: []string{File + `: combination "rgb" appears twice`}},
		{name: "unnamed", content: `{"specialists": [{"accuracy": 0.5}]}`, want: []string{File + ": specialist 0 has no combination name"}},
		{name: "accuracy", content: `{"specialists": [{"combination": "ir", "accuracy": 72.3}]}`,
			want: []string{File + `: combination "ir": accuracy 72.3 outside [0, 1]`}},
		{name: "std", content: `{"specialists": [{"combination": "ir", "accuracy": 0.7, "std": -1}]}`,
			want: []string{File + `: combination "ir": invalid std -1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.content != "" {
				if err := os.WriteFile(filepath.Join(dir, File), []byte(tt.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := Load(dir)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, dir) {
				t.Errorf("err = %q does not start with the directory %s", msg, dir)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("err = %q, want it to contain %q", msg, w)
				}
			}
			if strings.Contains(msg, "\n") {
				t.Errorf("err = %q is not one line", msg)
			}
		})
	}
	t.Run("missing names the directory twice", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "sp")
		_, err := Load(dir)
		want := dir + ": no specialists.json (train them with dmrnet specialists --config FILE --out " + dir + ")"
		if err == nil || err.Error() != want {
			t.Errorf("err = %v, want %s", err, want)
		}
	})
}
