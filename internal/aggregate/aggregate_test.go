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
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/report"
)

// testModalities are the modalities of config.Default()'s synthetic data set.
var testModalities = []string{"strong", "medium", "weak"}

// testCombos are the combinations of the hand-made sweeps.
var testCombos = [][]string{{"strong"}, {"weak"}, {"strong", "weak"}}

func ptr(v float64) *float64 { return &v }

// sweepOf returns a sweep of testCombos with the given accuracies; macro-F1 is the accuracy
// minus 0.1 and, when acer is not nil, ACER is acer[i].
func sweepOf(acc []float64, acer []float64) *report.Sweep {
	var rows []report.Row
	for i, present := range testCombos {
		r := report.Row{Present: present, Name: strings.Join(present, "+"), Accuracy: acc[i], MacroF1: acc[i] - 0.1, N: 100}
		if acer != nil {
			r.ACER = ptr(acer[i])
		}
		rows = append(rows, r)
	}
	return report.NewSweep(testModalities, nil, rows)
}

// spec describes a run written by writeRun.
type spec struct {
	name   string // directory below the test's root
	seed   int64
	set    func(*config.Config) // changes to config.Default(), may be nil
	acc    []float64            // accuracies of testCombos; nil: 0.9, 0.6, 0.95
	acer   []float64
	sweep  *report.Sweep // overrides acc and acer
	noSwep bool          // write config.yaml only (an unfinished run)
}

// writeRun writes the config.yaml and sweep.json of s into root/s.name and returns the
// directory.
func writeRun(t *testing.T, root string, s spec) string {
	t.Helper()
	dir := filepath.Join(root, s.name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Out = dir
	cfg.Train.Seed = s.seed
	if s.set != nil {
		s.set(&cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	data, err := cfg.YAML()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if s.noSwep {
		return dir
	}
	sw := s.sweep
	if sw == nil {
		acc := s.acc
		if acc == nil {
			acc = []float64{0.9, 0.6, 0.95}
		}
		sw = sweepOf(acc, s.acer)
	}
	data, err = json.Marshal(sw)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, SweepFile), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// loadSpecs writes the runs of specs into a temporary directory and discovers and loads them.
func loadSpecs(t *testing.T, specs []spec) (string, []Run) {
	t.Helper()
	root := t.TempDir()
	for _, s := range specs {
		writeRun(t, root, s)
	}
	dirs, _, err := Discover([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	runs, err := Load(dirs)
	if err != nil {
		t.Fatal(err)
	}
	return root, runs
}

func variant(v string) func(*config.Config) {
	return func(c *config.Config) { c.Variant = v }
}

func TestDiscover(t *testing.T) {
	root := t.TempDir()
	a := writeRun(t, root, spec{name: "a"})
	c := writeRun(t, root, spec{name: "b/deep/c"})
	d := writeRun(t, root, spec{name: "d", noSwep: true})
	writeRun(t, root, spec{name: ".hidden/h"})
	e := filepath.Join(root, "e")
	if err := os.MkdirAll(e, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e, "checkpoint.ckpt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "empty"), 0o755); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name           string
		paths          []string
		runs, unfinish []string
		err            string
	}{
		{name: "tree", paths: []string{root}, runs: []string{a, c}, unfinish: []string{d, e}},
		{name: "duplicates", paths: []string{c, root, a, filepath.Join(a, SweepFile)}, runs: []string{a, c}, unfinish: []string{d, e}},
		{name: "run dir", paths: []string{a}, runs: []string{a}},
		{name: "none", paths: []string{filepath.Join(root, "empty")}, err: "no finished runs"},
		{name: "only unfinished", paths: []string{d}, err: "1 unfinished run"},
		{name: "missing", paths: []string{filepath.Join(root, "nope")}, err: "nope"},
		{name: "no paths", err: "no paths"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, unfinished, err := Discover(tt.paths)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.err)
				}
				if tt.name == "none" && !strings.Contains(err.Error(), filepath.Join(root, "empty")) {
					t.Errorf("err = %v, want it to name the path", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(runs, tt.runs) {
				t.Errorf("runs = %v, want %v", runs, tt.runs)
			}
			if len(unfinished)+len(tt.unfinish) > 0 && !reflect.DeepEqual(unfinished, tt.unfinish) {
				t.Errorf("unfinished = %v, want %v", unfinished, tt.unfinish)
			}
		})
	}
}

func TestLoad(t *testing.T) {
	root := t.TempDir()
	good := writeRun(t, root, spec{name: "good", seed: 7})
	runs, err := Load([]string{good})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != 1 || runs[0].Dir != good || runs[0].Config.Train.Seed != 7 || len(runs[0].Sweep.Combinations) != 3 {
		t.Fatalf("Load = %+v", runs)
	}

	tests := []struct {
		name, file, content string
	}{
		{"bad sweep", SweepFile, "{not json"},
		{"empty sweep", SweepFile, `{"modalities": ["strong"], "combinations": []}`},
		{"bad config", ConfigFile, "train: {epochs: -3}\n"},
		{"missing sweep", SweepFile, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRun(t, root, spec{name: tt.name})
			path := filepath.Join(dir, tt.file)
			var err error
			if tt.content == "" {
				err = os.Remove(path)
			} else {
				err = os.WriteFile(path, []byte(tt.content), 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = Load([]string{good, dir})
			if err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("err = %v, want it to name %s", err, path)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q is not one line", err)
			}
		})
	}
}

func TestGroupRuns(t *testing.T) {
	type want struct {
		label string
		seeds []int64
	}
	tests := []struct {
		name   string
		specs  []spec
		groups []want
		err    []string // substrings of the error
	}{
		{
			name: "identical settings",
			specs: []spec{
				{name: "det1", seed: 1, set: variant("deterministic")},
				{name: "kl2", seed: 2, set: variant("no-kl")},
				{name: "d3", seed: 3},
				{name: "d1", seed: 1, set: variant("dmrnet")},
				{name: "d2", seed: 2},
				{name: "kl1", seed: 1, set: variant("no-kl")},
				{name: "nd1", seed: 1, set: variant("no-dropout")},
			},
			// An empty variant keeps the default hard.by=loss; variant dmrnet is the paper's
			// hard.by=variance, another model.
			groups: []want{{"dmrnet (hard.by=loss)", []int64{2, 3}}, {"dmrnet (hard.by=variance)", []int64{1}}, {"no-kl", []int64{1, 2}}, {"deterministic", []int64{1}}, {"no-dropout", []int64{1}}},
		},
		{
			name: "distinguishing settings",
			specs: []spec{
				{name: "a1", seed: 1, set: func(c *config.Config) { c.Loss.Beta = 0.5 }},
				{name: "a2", seed: 2, set: func(c *config.Config) { c.Loss.Beta = 0.5 }},
				{name: "b1", seed: 1},
				{name: "h1", seed: 1, set: variant("no-hcr")},
				{name: "c1", seed: 1, set: func(c *config.Config) { c.Loss.Beta = 0.5; c.Hard.WarmupEpochs = 3 }},
			},
			groups: []want{
				{"dmrnet (loss.beta=0.2, hard.warmup_epochs=5)", []int64{1}},
				{"dmrnet (loss.beta=0.5, hard.warmup_epochs=3)", []int64{1}},
				{"dmrnet (loss.beta=0.5, hard.warmup_epochs=5)", []int64{1, 2}},
				{"no-hcr", []int64{1}},
			},
		},
		{
			name: "map settings",
			specs: []spec{
				{name: "a", seed: 1},
				{name: "b", seed: 1, set: func(c *config.Config) {
					c.Dropout.Mode = "explicit"
					c.Dropout.Probs = map[string]float64{"strong": 1, "strong+weak": 2}
				}},
			},
			groups: []want{
				{"dmrnet (dropout.mode=explicit, dropout.probs={strong: 1, strong+weak: 2})", []int64{1}},
				{"dmrnet (dropout.mode=uniform, dropout.probs={})", []int64{1}},
			},
		},
		{
			name: "different data",
			specs: []spec{
				{name: "a", seed: 1},
				{name: "b", seed: 2, set: func(c *config.Config) { c.Data.Synthetic.Train = 1000 }},
			},
			err: []string{"differ in data.synthetic.train, \"2000\" vs \"1000\"", "aggregate runs of the same data and model only"},
		},
		{
			name: "different model",
			specs: []spec{
				{name: "a", seed: 1, set: variant("no-kl")},
				{name: "b", seed: 1, set: func(c *config.Config) { c.Model.Latent = 64 }},
			},
			err: []string{"differ in model.latent, \"128\" vs \"64\""},
		},
		{
			name: "pme outside the deterministic variant",
			specs: []spec{
				{name: "a", seed: 1, set: variant("deterministic")},
				{name: "b", seed: 1},
				{name: "c", seed: 1, set: func(c *config.Config) { c.Model.PME = false }},
			},
			err: []string{"differ in model.pme, \"true\" vs \"false\""},
		},
		{
			name: "different modalities",
			specs: []spec{
				{name: "a", seed: 1},
				{name: "b", seed: 2, sweep: report.NewSweep([]string{"x", "y"}, nil, []report.Row{{Present: []string{"x"}, Name: "x", Accuracy: 1}})},
			},
			err: []string{"different modalities"},
		},
		{
			name: "duplicate seed",
			specs: []spec{
				{name: "a", seed: 4},
				{name: "b", seed: 4},
				{name: "c", seed: 4, set: variant("no-kl")},
			},
			err: []string{"duplicate run", "seed 4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root, runs := loadSpecs(t, tt.specs)
			groups, err := GroupRuns(runs)
			if tt.err != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, s := range tt.err {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err = %v, want it to contain %q", err, s)
					}
				}
				if tt.name == "duplicate seed" {
					for _, d := range []string{"a", "b"} {
						if !strings.Contains(err.Error(), filepath.Join(root, d)) {
							t.Errorf("err = %v, want it to name run %s", err, d)
						}
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []want
			for _, g := range groups {
				got = append(got, want{g.Label, g.Seeds})
				for i, r := range g.Runs {
					if r.Config.Train.Seed != g.Seeds[i] {
						t.Errorf("group %s: run %s has seed %d, Seeds[%d] = %d", g.Label, r.Dir, r.Config.Train.Seed, i, g.Seeds[i])
					}
				}
			}
			if !reflect.DeepEqual(got, tt.groups) {
				t.Errorf("groups = %v, want %v", got, tt.groups)
			}
		})
	}
}

// handRuns are the runs whose summary TestSummarize computes by hand: three seeds of dmrnet
// and one of no-dropout.
func handRuns() []spec {
	return []spec{
		{name: "d1", seed: 1, acc: []float64{0.9, 0.6, 0.95}, acer: []float64{0.1, 0.3, 0.05}},
		{name: "d2", seed: 2, acc: []float64{0.8, 0.7, 0.9}, acer: []float64{0.2, 0.2, 0.1}},
		{name: "d3", seed: 3, acc: []float64{0.4, 0.5, 0.9}, acer: []float64{0.4, 0.3, 0.1}},
		{name: "n1", seed: 1, set: variant("no-dropout"), acc: []float64{0.5, 0.6, 0.7}, acer: []float64{0.5, 0.4, 0.3}},
	}
}

func handTable(t *testing.T, metric string) *Table {
	t.Helper()
	_, runs := loadSpecs(t, handRuns())
	groups, err := GroupRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	table, err := Summarize(groups, metric)
	if err != nil {
		t.Fatal(err)
	}
	return table
}

func TestSummarize(t *testing.T) {
	mean3 := func(a, b, c float64) float64 { return (a + b + c) / 3 }
	std3 := func(a, b, c float64) float64 {
		m := mean3(a, b, c)
		return math.Sqrt(((a-m)*(a-m) + (b-m)*(b-m) + (c-m)*(c-m)) / 2)
	}
	cell3 := func(a, b, c float64) Cell { return Cell{Mean: mean3(a, b, c), Std: std3(a, b, c), N: 3} }
	one := func(v float64) Cell { return Cell{Mean: v, N: 1} }
	tests := []struct {
		metric string
		rows   map[string][]Cell
		worst  [][]string
	}{
		{
			metric: "", // accuracy
			rows: map[string][]Cell{
				// By hand: strong .9 .8 .4 -> mean .7, deviations .2 .1 -.3, std sqrt(.14/2).
				"strong":      {{Mean: 0.7, Std: math.Sqrt(0.07), N: 3}, one(0.5)},
				"weak":        {{Mean: 0.6, Std: 0.1, N: 3}, one(0.6)},
				"strong+weak": {cell3(0.95, 0.9, 0.9), one(0.7)},
				// Per-run means .81667 .8 .6; worsts .6 .7 .4 (the lowest accuracy).
				"mean":  {cell3((0.9+0.6+0.95)/3, 0.8, 0.6), one(0.6)},
				"worst": {{Mean: 1.7 / 3, Std: math.Sqrt(0.07 / 3), N: 3}, one(0.5)},
			},
			worst: [][]string{{"weak", "weak", "strong"}, {"strong"}},
		},
		{
			metric: "macro_f1",
			rows: map[string][]Cell{
				"strong": {{Mean: 0.6, Std: math.Sqrt(0.07), N: 3}, one(0.4)},
				"worst":  {{Mean: 1.7/3 - 0.1, Std: math.Sqrt(0.07 / 3), N: 3}, one(0.4)},
			},
			worst: [][]string{{"weak", "weak", "strong"}, {"strong"}},
		},
		{
			metric: "acer",
			rows: map[string][]Cell{
				"weak": {{Mean: 0.8 / 3, Std: std3(0.3, 0.2, 0.3), N: 3}, one(0.4)},
				// The worst ACER is the highest: .3 (weak), .2 (strong, first of a tie), .4.
				"worst": {cell3(0.3, 0.2, 0.4), one(0.5)},
				"mean":  {cell3(0.45/3, 0.5/3, 0.8/3), one(0.4)},
			},
			worst: [][]string{{"weak", "strong", "strong"}, {"strong"}},
		},
	}
	for _, tt := range tests {
		t.Run("metric="+tt.metric, func(t *testing.T) {
			table := handTable(t, tt.metric)
			if want := cmpOr(tt.metric, "accuracy"); table.Metric != want {
				t.Errorf("Metric = %q, want %q", table.Metric, want)
			}
			if !reflect.DeepEqual(table.Groups, []string{"dmrnet", "no-dropout"}) {
				t.Errorf("Groups = %v", table.Groups)
			}
			if !reflect.DeepEqual(table.Seeds, [][]int64{{1, 2, 3}, {1}}) {
				t.Errorf("Seeds = %v", table.Seeds)
			}
			if !reflect.DeepEqual(table.Modalities, testModalities) {
				t.Errorf("Modalities = %v", table.Modalities)
			}
			var names []string
			for _, r := range table.Rows {
				names = append(names, r.Combination)
			}
			if want := []string{"strong", "weak", "strong+weak", "mean", "worst"}; !reflect.DeepEqual(names, want) {
				t.Fatalf("rows = %v, want %v", names, want)
			}
			for _, r := range table.Rows {
				want, ok := tt.rows[r.Combination]
				if !ok {
					continue
				}
				if len(r.Cells) != len(want) {
					t.Fatalf("row %s has %d cells, want %d", r.Combination, len(r.Cells), len(want))
				}
				for g, c := range r.Cells {
					w := want[g]
					if c.N != w.N || math.Abs(c.Mean-w.Mean) > 1e-12 || math.Abs(c.Std-w.Std) > 1e-12 {
						t.Errorf("row %s group %d = %+v, want %+v", r.Combination, g, c, w)
					}
				}
			}
			if !reflect.DeepEqual(table.WorstNames, tt.worst) {
				t.Errorf("WorstNames = %v, want %v", table.WorstNames, tt.worst)
			}
		})
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestSummarizeErrors(t *testing.T) {
	tests := []struct {
		name   string
		specs  []spec
		metric string
		err    string
	}{
		{name: "unknown metric", specs: []spec{{name: "a"}}, metric: "precision", err: `unknown metric "precision" (valid metrics: accuracy, macro_f1, acer, auc, eer, acer_threshold, bpcer_apcer_1, bpcer_apcer_5, bpcer_apcer_10)`},
		{name: "auc of a task without protocol metrics", specs: []spec{{name: "a"}}, metric: "auc", err: `has no AUC (two-class tasks only`},
		{name: "no acer", specs: []spec{{name: "a"}}, metric: "acer", err: "has no ACER"},
		{
			name: "different combinations",
			specs: []spec{
				{name: "a", seed: 1},
				{name: "b", seed: 2, sweep: report.NewSweep(testModalities, nil, []report.Row{{Present: []string{"strong"}, Name: "strong", Accuracy: 1}})},
			},
			err: "evaluated different combinations, weak only in",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, runs := loadSpecs(t, tt.specs)
			groups, err := GroupRuns(runs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Summarize(groups, tt.metric)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.err)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	table := handTable(t, "accuracy")
	tests := []struct {
		format string
		want   []string
	}{
		{"table", []string{
			"accuracy in %, mean±std over seeds",
			"combination  ", "dmrnet", "no-dropout",
			"strong       70.0±26.5        50.0",
			"weak         60.0±10.0        60.0",
			"strong+weak   91.7±2.9        70.0",
			"-----------  ---------  ----------",
			"mean         73.9±12.1        60.0",
			"worst        56.7±15.3        50.0",
			"n = seeds per group: dmrnet 3 (1, 2, 3); no-dropout 1 (1)",
			"worst combination per seed: dmrnet: weak, weak, strong; no-dropout: strong",
		}},
		{"markdown", []string{
			"| combination | dmrnet | no-dropout |",
			"|---|--:|--:|",
			"| strong | 70.0±26.5 | 50.0 |",
			"| **mean** | 73.9±12.1 | 60.0 |",
			"| **worst** | 56.7±15.3 | 50.0 |",
		}},
		{"csv", []string{"combination,present,group,mean,std,n,gap\n", "strong+weak,strong+weak,dmrnet,"}},
		{"json", []string{`"metric": "accuracy"`, `"worst_names": [`}},
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
	if !slices.Equal(Formats(), []string{"table", "markdown", "csv", "json", "latex"}) {
		t.Errorf("Formats() = %v", Formats())
	}
	var b bytes.Buffer
	err := table.Write(&b, "yaml")
	if err == nil || !strings.Contains(err.Error(), "table, markdown, csv, json") {
		t.Errorf("unknown format: err = %v", err)
	}
}

func TestWriteCSVParsesBack(t *testing.T) {
	table := handTable(t, "accuracy")
	var b bytes.Buffer
	if err := table.Write(&b, "csv"); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != 1+len(table.Rows)*len(table.Groups) {
		t.Fatalf("%d records, want %d", len(records), 1+len(table.Rows)*len(table.Groups))
	}
	i := 1
	for _, r := range table.Rows {
		for g, c := range r.Cells {
			rec := records[i]
			i++
			mean, err1 := strconv.ParseFloat(rec[3], 64)
			std, err2 := strconv.ParseFloat(rec[4], 64)
			n, err3 := strconv.Atoi(rec[5])
			if err1 != nil || err2 != nil || err3 != nil {
				t.Fatalf("record %v: %v %v %v", rec, err1, err2, err3)
			}
			want := []string{r.Combination, strings.Join(r.Present, "+"), table.Groups[g]}
			if !slices.Equal(rec[:3], want) || mean != c.Mean || std != c.Std || n != c.N {
				t.Errorf("record %v, want %v %+v", rec, want, c)
			}
		}
	}
}

func TestWriteJSONRoundTrip(t *testing.T) {
	table := handTable(t, "acer")
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

// syntheticTable returns a table of all combinations of m modalities and two groups.
func syntheticTable(m int) *Table {
	names := make([]string, m)
	for i := range names {
		names[i] = "m" + strconv.Itoa(i)
	}
	t := &Table{Metric: "accuracy", Modalities: names, Groups: []string{"dmrnet", "no-dropout"}, Seeds: [][]int64{{1, 2}, {1, 2}}}
	for s := 1; s < 1<<m; s++ {
		var present []string
		for i := range m {
			if s>>i&1 == 1 {
				present = append(present, names[i])
			}
		}
		acc := 0.5 + 0.08*float64(len(present))
		t.Rows = append(t.Rows, TableRow{Combination: strings.Join(present, "+"), Present: present,
			Cells: []Cell{{Mean: acc, Std: 0.01, N: 2}, {Mean: acc - 0.1, Std: 0.02, N: 2}}})
	}
	return t
}

func TestPlot(t *testing.T) {
	hand := handTable(t, "accuracy")
	tests := []struct {
		name  string
		table *Table
	}{
		{"few combinations", hand},
		{"63 combinations", syntheticTable(6)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "plot.png")
			if err := tt.table.Plot(path, "test"); err != nil {
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
			b := img.Bounds()
			if tt.name == "few combinations" && (b.Dx() != 1200 || b.Dy() != 600) {
				t.Errorf("image is %dx%d, want 1200x600", b.Dx(), b.Dy())
			}
			// The heatmap: a row of about 12 points per combination, at 100 dpi.
			if tt.name == "63 combinations" && (b.Dy() < 63*12*100/72 || b.Dx() >= b.Dy()) {
				t.Errorf("heatmap is %dx%d, want a tall image of 63 rows", b.Dx(), b.Dy())
			}
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil || len(entries) != 1 {
				t.Errorf("directory holds %v (%v), want only the plot", entries, err)
			}
		})
	}
	if err := hand.Plot(filepath.Join(t.TempDir(), "plot.jpg"), ""); err == nil || !strings.Contains(err.Error(), ".png, .svg or .pdf") {
		t.Errorf("Plot to .jpg: %v, want an error naming the formats", err)
	}
}

// TestPlotFormats checks that the extension chooses the format, for the chart and the
// heatmap, and that --baseline names a group.
func TestPlotFormats(t *testing.T) {
	magic := map[string]string{".png": "\x89PNG", ".svg": "<?xml", ".pdf": "%PDF"}
	for _, tt := range []struct {
		name  string
		table *Table
		opt   PlotOptions
	}{
		{"chart", handTable(t, "accuracy"), PlotOptions{}},
		{"heatmap", syntheticTable(6), PlotOptions{}},
		{"baseline", syntheticTable(3), PlotOptions{Baseline: "dmrnet"}},
	} {
		for _, ext := range []string{".png", ".svg", ".PDF"} {
			path := filepath.Join(t.TempDir(), "plot"+ext)
			if err := tt.table.PlotWith(path, "title", tt.opt); err != nil {
				t.Fatalf("%s %s: %v", tt.name, ext, err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := magic[strings.ToLower(ext)]; !bytes.HasPrefix(data, []byte(want)) {
				t.Errorf("%s %s starts with %q, want %q", tt.name, ext, data[:min(8, len(data))], want)
			}
		}
	}
	// Every combination is named in the heatmap.
	path := filepath.Join(t.TempDir(), "h.svg")
	if err := syntheticTable(6).Plot(path, ""); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, r := range syntheticTable(6).Rows {
		if !bytes.Contains(data, []byte(">"+r.Combination+"<")) {
			t.Errorf("heatmap does not name %s", r.Combination)
		}
	}
	err := syntheticTable(3).PlotWith(filepath.Join(t.TempDir(), "b.png"), "", PlotOptions{Baseline: "nope"})
	if err == nil || !strings.Contains(err.Error(), `"dmrnet", "no-dropout"`) {
		t.Errorf("unknown baseline: %v", err)
	}
}

func TestDirLabels(t *testing.T) {
	g := func(dirs ...string) Group {
		var rs []Run
		for _, d := range dirs {
			rs = append(rs, Run{Dir: d})
		}
		return Group{Runs: rs}
	}
	tests := []struct {
		groups []Group
		want   []string
	}{
		{[]Group{g("r/aux/seed0", "r/aux/seed1"), g("r/route/seed0")}, []string{"aux", "route"}},
		{[]Group{g("r/aux/seed0", "r/route/seed1")}, nil}, // one group, two names
		{[]Group{g("r/a/seed0"), g("s/a/seed0")}, nil},    // the names do not tell groups apart
		{[]Group{g("r/a/run0"), g("r/b/seed0")}, nil},     // not a seed directory
	}
	for i, tt := range tests {
		if got := dirLabels(tt.groups); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("case %d: %v, want %v", i, got, tt.want)
		}
	}
}

func TestCheckSeeds(t *testing.T) {
	run := func(dir string, seed int64, set func(*config.Config)) Run {
		cfg := config.Default()
		cfg.Out, cfg.Train.Seed = dir, seed
		if set != nil {
			set(&cfg)
		}
		return Run{Dir: dir, Config: &cfg}
	}
	tests := []struct {
		name string
		runs []Run
		want string // "" = accepted
	}{
		{"seeds", []Run{run("s0", 0, nil), run("s1", 1, nil), run("s2", 2, nil)}, ""},
		{"single", []Run{run("s0", 0, nil)}, ""},
		{"other model", []Run{run("s0", 0, nil), run("s1", 1, func(c *config.Config) { c.Model.Latent = 64 })},
			`runs s0 and s1 differ in model.latent, "128" vs "64" (give the seeds of one configuration`},
		{"other training", []Run{run("s0", 0, nil), run("s1", 1, func(c *config.Config) { c.Loss.Beta = 0.5 })},
			"differ in loss.beta"},
		{"other data", []Run{run("s0", 0, nil), run("s1", 1, func(c *config.Config) { c.Data.Synthetic.Test = 10 })},
			"differ in data.synthetic.test"},
		{"aux heads", []Run{run("s0", 0, nil), run("s1", 1, func(c *config.Config) { c.Model.AuxHeads.Weight = 1 })},
			"differ in model.aux_heads.weight"},
		{"duplicate seed", []Run{run("a", 1, nil), run("b", 1, nil)}, "runs a and b have the same configuration and seed 1"},
		{"none", nil, "no runs"},
	}
	for _, tt := range tests {
		err := CheckSeeds(tt.runs)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: error %v, want %q", tt.name, err, tt.want)
		}
	}
}

// TestSameSettings checks the warning on groups shown as different that are one model: an
// empty variant (shown as dmrnet) on the default hard.by=loss is dmrnet-loss; variant dmrnet
// (hard.by=variance) is not.
func TestSameSettings(t *testing.T) {
	_, runs := loadSpecs(t, []spec{
		{name: "empty/seed0", seed: 0},
		{name: "empty/seed1", seed: 1},
		{name: "loss/seed0", seed: 0, set: variant("dmrnet-loss")},
		{name: "loss/seed1", seed: 1, set: variant("dmrnet-loss")},
		{name: "nohcr/seed0", seed: 0, set: variant("no-hcr")},
	})
	groups, err := GroupRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	got := SameSettings(groups)
	if len(got) != 1 || !strings.HasPrefix(got[0], `groups "empty" and "loss" have identical settings apart from the variant name`) ||
		strings.Contains(got[0], "\n") {
		t.Fatalf("warnings %q, want one line on dmrnet and dmrnet-loss", got)
	}

	_, runs = loadSpecs(t, []spec{
		{name: "paper/seed0", seed: 0, set: variant("dmrnet")},
		{name: "loss/seed0", seed: 0, set: variant("dmrnet-loss")},
		{name: "nohcr/seed0", seed: 0, set: variant("no-hcr")},
	})
	groups, err = GroupRuns(runs)
	if err != nil {
		t.Fatal(err)
	}
	if got := SameSettings(groups); len(got) != 0 {
		t.Fatalf("warnings %q for different models", got)
	}
}
