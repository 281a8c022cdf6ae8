package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/evaluate"
	"github.com/dmrnet/dmrnet/internal/export"
	"github.com/dmrnet/dmrnet/internal/model"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/train"
)

// dataRoot is the shared real-data folder: $DMRNET_DATA_ROOT or ../shared/data of the
// repository root.
func dataRoot() string {
	if r := os.Getenv("DMRNET_DATA_ROOT"); r != "" {
		return r
	}
	return filepath.Join("..", "..", "..", "shared", "data")
}

// torchPython returns a Python that imports torch and numpy ($PYTHON, python3 or
// /usr/bin/python3), or skips the test (fails it when DMRNET_REQUIRE_TORCH is set, as CI
// does).
func torchPython(t *testing.T) string {
	t.Helper()
	candidates := []string{"python3", "/usr/bin/python3"}
	if p := os.Getenv("PYTHON"); p != "" {
		candidates = []string{p}
	}
	for _, p := range candidates {
		if exec.Command(p, "-c", "import torch, numpy").Run() == nil {
			return p
		}
	}
	msg := fmt.Sprintf("no Python with torch and numpy among %v (apt-get install python3-torch python3-numpy)", candidates)
	if os.Getenv("DMRNET_REQUIRE_TORCH") != "" {
		t.Fatal(msg + "; DMRNET_REQUIRE_TORCH is set")
	}
	t.Skip(msg)
	return ""
}

// TestExportMatchesPyTorch trains small models, exports them as safetensors and npz with the
// test split's inputs, rebuilds them in PyTorch with scripts/dmrnet_torch.py and checks that
// every combination's logits (and auxiliary heads' logits) agree with dmrnet's own within
// 1e-4, and that the predictions and accuracies of the fused, route and ensemble modes are
// dmrnet's.
func TestExportMatchesPyTorch(t *testing.T) {
	python := torchPython(t)
	root := dataRoot()
	configs := filepath.Join("..", "..", "configs")
	tests := []struct {
		name   string
		config string // in configs/
		data   string // "shared" (../shared/data), "repo" (the repository root) or "" (none)
		sets   []string
		// modes are the inference modes the safetensors and the npz export are run with
		// ("" = the model's)
		modes [2]string
	}{
		{"quickstart float64 aux", "quickstart.yaml", "", []string{"train.epochs=3", "model.dtype=float64", "model.aux_heads.weight=1", "model.inference=route"}, [2]string{"", "ensemble"}},
		{"manifest with missing cells, aux", "manifest-example.yaml", "repo", []string{"train.epochs=4", "model.aux_heads.weight=1", "model.inference=ensemble"}, [2]string{"", "route"}},
		{"mfeat", "mfeat.yaml", "shared", []string{"train.epochs=2"}, [2]string{"", "fused"}},
		{"mfeat aux", "mfeat.yaml", "shared", []string{"train.epochs=2", "model.aux_heads.weight=1", "model.inference=ensemble"}, [2]string{"", "route"}},
		// a specialist of two of the six views: the other four have no encoder (absent)
		{"mfeat specialist", "mfeat.yaml", "shared", []string{"train.epochs=2", "variant=deterministic", "dropout.mode=explicit", "dropout.probs={fou+kar: 1}"}, [2]string{"", "fused"}},
		{"avmnist", "avmnist.yaml", "shared", []string{"train.epochs=2"}, [2]string{"", "fused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			dir := t.TempDir()
			out := filepath.Join(dir, "run")
			args := []string{"train", "--quiet", "--out", out, "--config", filepath.Join(configs, tt.config)}
			switch tt.data {
			case "shared":
				if _, err := os.Stat(root); err != nil {
					t.Skipf("no data under %s (set DMRNET_DATA_ROOT): %v", root, err)
				}
				args = append(args, "--data-root", root)
			case "repo":
				args = append(args, "--data-root", filepath.Join("..", ".."))
			}
			for _, s := range tt.sets {
				args = append(args, "--set", s)
			}
			if code, _, stderr := runCLI(t, nil, args...); code != 0 {
				t.Fatalf("train: exit %d: %s", code, stderr)
			}
			inputs := filepath.Join(dir, "test.npz")
			formats := export.Formats()
			for i, format := range formats {
				args := []string{"export", "--checkpoint", out, "--format", format, "--output", filepath.Join(dir, "model."+format)}
				if i == 0 {
					args = append(args, "--inputs", inputs)
				}
				if code, _, stderr := runCLI(t, nil, args...); code != 0 {
					t.Fatalf("export %s: exit %d: %s", format, code, stderr)
				}
			}
			want := goOutputs(t, out, inputs)
			// the two runs overlap: most of each is importing torch
			type run struct {
				mode, logits string
				stdout       []byte
				err          error
			}
			runs := make([]*run, len(formats))
			var wg sync.WaitGroup
			for i, format := range formats {
				r := &run{mode: tt.modes[i], logits: filepath.Join(dir, "logits-"+format+".npz")}
				if r.mode == "" {
					r.mode = want.mode
				}
				runs[i] = r
				wg.Go(func() {
					cmd := exec.Command(python, filepath.Join("..", "..", "scripts", "dmrnet_torch.py"), filepath.Join(dir, "model."+format),
						"--inputs", inputs, "--logits-out", r.logits, "--inference", r.mode)
					r.stdout, r.err = cmd.Output()
					if ee, ok := r.err.(*exec.ExitError); ok {
						r.err = fmt.Errorf("%w\n%s", r.err, ee.Stderr)
					}
				})
			}
			wg.Wait()
			for i, r := range runs {
				if r.err != nil {
					t.Fatalf("dmrnet_torch.py %s: %v", formats[i], r.err)
				}
				diff := compareOutputs(t, want, r.logits, r.mode)
				compareTable(t, string(r.stdout), sweepFor(t, out, r.mode, want.mode), r.mode)
				t.Logf("%s (%s, inference %s): max |logit difference| %.3g over %d combinations", formats[i], want.dtype, r.mode, diff, len(want.combos))
			}
			t.Logf("%.1f s", time.Since(start).Seconds())
		})
	}
}

// goResult is dmrnet's own inference on the test split, per combination.
type goResult struct {
	mode, dtype string
	classes     int
	combos      []string
	sets        map[string]combo.Set
	index       map[string][]int
	logits      map[string][]float64
	aux         map[string][][]float64 // per modality, nil for absent ones
	wf, wa      float64
}

// goOutputs evaluates the model of run directory dir with its own inference graph on the
// inputs file the export wrote.
func goOutputs(t *testing.T, dir, inputs string) *goResult {
	t.Helper()
	l, err := train.OpenModel(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(inputs)
	if err != nil {
		t.Fatal(err)
	}
	in, err := export.ReadNPZ(b)
	if err != nil {
		t.Fatal(err)
	}
	names := modalityNames(l.Modalities)
	sp, err := combo.NewSpace(names)
	if err != nil {
		t.Fatal(err)
	}
	eg, err := l.Model.NewEvalGraph(256)
	if err != nil {
		t.Fatal(err)
	}
	cfg := l.Config
	r := &goResult{mode: cfg.Model.Inference, dtype: cfg.Model.DType, classes: len(l.Classes),
		sets: map[string]combo.Set{}, index: map[string][]int{}, logits: map[string][]float64{},
		aux: map[string][][]float64{}, wf: cfg.Model.Ensemble.Fused, wa: cfg.Model.Ensemble.Aux}
	if r.mode == "" {
		r.mode = "fused"
	}
	avail := in["avail"].Data.([]uint8)
	n := len(in["y"].Data.([]int64))
	for _, set := range sp.All() {
		name := sp.Name(set)
		var idx []int
		for i := 0; i < n; i++ {
			has := true
			for m := range names {
				has = has && (!set.Has(m) || avail[i*len(names)+m] == 1)
			}
			if has {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			continue
		}
		r.combos = append(r.combos, name)
		r.sets[name], r.index[name] = set, idx
		if l.Model.HasAux() {
			r.aux[name] = make([][]float64, sp.M())
		}
		for lo := 0; lo < len(idx); lo += eg.BatchSize() {
			rows := idx[lo:min(lo+eg.BatchSize(), len(idx))]
			bt := &model.Batch{}
			for _, mod := range l.Modalities {
				bt.X = append(bt.X, gatherRows(in["x."+mod.Name].Data.([]float32), mod.Size(), rows))
			}
			for range rows {
				bt.Present = append(bt.Present, set)
			}
			o, err := eg.Forward(bt)
			if err != nil {
				t.Fatal(err)
			}
			r.logits[name] = append(r.logits[name], o.Logits...)
			for m, a := range o.Aux {
				if set.Has(m) {
					r.aux[name][m] = append(r.aux[name][m], a...)
				}
			}
		}
	}
	return r
}

func gatherRows(x []float32, size int, rows []int) []float32 {
	out := make([]float32, 0, len(rows)*size)
	for _, j := range rows {
		out = append(out, x[j*size:(j+1)*size]...)
	}
	return out
}

// compareOutputs checks the script's saved logits, auxiliary logits, sample indices and
// predictions against dmrnet's, and returns the largest absolute logit difference.
func compareOutputs(t *testing.T, want *goResult, path, mode string) float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := export.ReadNPZ(b)
	if err != nil {
		t.Fatal(err)
	}
	var maxDiff float64
	check := func(key string, w []float64) {
		a, ok := got[key]
		if !ok {
			t.Errorf("%s: no %s", path, key)
			return
		}
		g := a.Float64s()
		if len(g) != len(w) || len(a.Shape) != 2 || a.Shape[1] != want.classes {
			t.Errorf("%s: shape %v, want (%d, %d)", key, a.Shape, len(w)/want.classes, want.classes)
			return
		}
		for i := range g {
			d := math.Abs(g[i] - w[i])
			if !(d <= 1e-4) {
				t.Errorf("%s[%d, %d] = %v, dmrnet %v", key, i/want.classes, i%want.classes, g[i], w[i])
				return
			}
			maxDiff = math.Max(maxDiff, d)
		}
	}
	for _, name := range want.combos {
		check("logits."+name, want.logits[name])
		set := want.sets[name]
		for m, a := range want.aux[name] {
			if set.Has(m) {
				check(fmt.Sprintf("aux.%s.%s", modName(name, set, m), name), a)
			}
		}
		idx := got["index."+name].Float64s()
		if len(idx) != len(want.index[name]) {
			t.Fatalf("index.%s: %d samples, dmrnet %d", name, len(idx), len(want.index[name]))
		}
		for i, j := range want.index[name] {
			if int(idx[i]) != j {
				t.Fatalf("index.%s[%d] = %v, dmrnet %d", name, i, idx[i], j)
			}
		}
		// the script's predictions equal dmrnet's rule applied to dmrnet's logits
		for _, md := range slices.Compact([]string{"fused", mode}) {
			pred := got["pred."+md+"."+name].Float64s()
			for i := range want.index[name] {
				w := evaluate.Predict(md, want.wf, want.wa, want.logits[name], want.aux[name], set, i, want.classes)
				if int(pred[i]) != w {
					t.Errorf("pred.%s.%s[%d] = %v, dmrnet %d", md, name, i, pred[i], w)
					break
				}
			}
		}
	}
	return maxDiff
}

// modName returns the name of modality m of combination name (set).
func modName(name string, set combo.Set, m int) string {
	parts := strings.Split(name, "+")
	k := 0
	for i := 0; i < m; i++ {
		if set.Has(i) {
			k++
		}
	}
	return parts[k]
}

// sweepFor returns dmrnet's sweep of the run in dir under an inference mode: train's
// sweep.json for the trained mode, else sweep-missing --inference.
func sweepFor(t *testing.T, dir, mode, trained string) report.Sweep {
	t.Helper()
	var b []byte
	if mode == trained {
		var err error
		if b, err = os.ReadFile(filepath.Join(dir, "sweep.json")); err != nil {
			t.Fatal(err)
		}
	} else {
		code, stdout, stderr := runCLI(t, nil, "sweep-missing", "--checkpoint", dir, "--format", "json", "--inference", mode)
		if code != 0 {
			t.Fatalf("sweep-missing --inference %s: exit %d: %s", mode, code, stderr)
		}
		b = []byte(stdout)
	}
	var sw report.Sweep
	if err := json.Unmarshal(b, &sw); err != nil {
		t.Fatal(err)
	}
	return sw
}

// compareTable checks the script's printed table: one row per combination with n and the
// accuracy of the mode (last column) equal to dmrnet's.
func compareTable(t *testing.T, table string, sw report.Sweep, mode string) {
	t.Helper()
	rows := map[string][]string{}
	lines := 0
	for _, line := range strings.Split(strings.TrimSpace(table), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 {
			rows[f[0]] = f
		}
		lines++
	}
	if h := rows["combination"]; h == nil || (mode != "fused" && !strings.Contains(table, mode+" %")) {
		t.Fatalf("table has no header with the %s column:\n%s", mode, table)
	}
	for _, r := range sw.Combinations {
		f := rows[r.Name]
		if f == nil {
			t.Errorf("table has no row %s:\n%s", r.Name, table)
			continue
		}
		if want := strconv.Itoa(r.N); f[1] != want {
			t.Errorf("%s: n %s, dmrnet %s", r.Name, f[1], want)
		}
		if want := fmt.Sprintf("%.2f", 100*r.Accuracy); f[len(f)-1] != want {
			t.Errorf("%s: %s accuracy %s %%, dmrnet %s %%", r.Name, mode, f[len(f)-1], want)
		}
	}
	if lines != len(sw.Combinations)+2 || rows["mean"] == nil {
		t.Errorf("table has %d lines, want the header, %d combinations and the mean:\n%s", lines, len(sw.Combinations), table)
	}
}

// TestExportErrors checks the command's usage and data errors: one line, the documented
// exit status, and no file left behind.
func TestExportErrors(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=1"); code != 0 {
		t.Fatal(stderr)
	}
	dir := t.TempDir()
	model := filepath.Join(dir, "m.safetensors")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--checkpoint", out}, 2, "needs --output"},
		{[]string{"--checkpoint", out, "--output", model, "--format", "onnx"}, 2, "--format=onnx: not supported (want safetensors or npz)"},
		{[]string{"--checkpoint", out, "--output", filepath.Join(dir, "m.bin")}, 2, "cannot tell the format"},
		{[]string{"--checkpoint", out, "--output", model, "--split", "val"}, 2, "applies to --inputs only"},
		{[]string{"--checkpoint", out, "--output", model, "--inputs", filepath.Join(dir, "i.npz"), "--split", "dev"}, 2, "--split=dev: not a split"},
		{[]string{"--checkpoint", out, "--output", model, "--inputs", filepath.Join(dir, "i.npz"), "--split", "val"}, 2, "no validation split"},
		{[]string{"--checkpoint", out, "--output", model, "--inputs", model}, 2, "the same file as --output"},
		{[]string{"--output", model}, 2, "export: no finished run under ./runs"},
		{[]string{"--checkpoint", filepath.Join(dir, "nope"), "--output", model}, 1, "does not exist"},
		{[]string{"--checkpoint", out, "--output", filepath.Join(dir, "missing", "m.npz")}, 1, "no such file or directory"},
	}
	for _, tt := range tests {
		code, _, stderr := runCLI(t, nil, append([]string{"export"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stderr, tt.want) || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !errorFormat.MatchString(strings.TrimSpace(stderr)) {
			t.Errorf("export %v: exit %d, stderr %q; want exit %d with %q", tt.args, code, stderr, tt.code, tt.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Fatalf("export %v left %v behind", tt.args, ents)
		}
	}
}

// TestExportWritesModelAndInputs checks the files of an export of the tiny synthetic model:
// the tensors and metadata of both formats agree, and the inputs hold the test split.
func TestExportWritesModelAndInputs(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=1", "--set", "model.aux_heads.weight=0.5"); code != 0 {
		t.Fatal(stderr)
	}
	dir := t.TempDir()
	st, npz, inputs := filepath.Join(dir, "m.safetensors"), filepath.Join(dir, "m.npz"), filepath.Join(dir, "in.npz")
	if code, _, stderr := runCLI(t, nil, "export", "--config", cfg, "--output", st, "--inputs", inputs); code != 0 || !strings.Contains(stderr, "wrote "+st) {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "export", "--checkpoint", filepath.Join(out, "final.ckpt"), "--output", npz); code != 0 {
		t.Fatalf("export npz: exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(st)
	if err != nil {
		t.Fatal(err)
	}
	arrays, meta, err := export.ReadSafetensors(b)
	if err != nil {
		t.Fatal(err)
	}
	var md export.Metadata
	if err := json.Unmarshal([]byte(meta[export.MetadataKey]), &md); err != nil {
		t.Fatal(err)
	}
	if md.Format != "dmrnet-model" || md.DType != "float32" || !md.AuxHeads || len(md.Modalities) != 3 || md.Modalities[0].Name != "rgb" ||
		!slices.Equal(md.Classes, []string{"live", "spoof"}) || len(md.Combinations) != 7 || !strings.Contains(md.Config, "aux_heads") {
		t.Errorf("metadata: %+v", md)
	}
	b, err = os.ReadFile(npz)
	if err != nil {
		t.Fatal(err)
	}
	z, err := export.ReadNPZ(b)
	if err != nil {
		t.Fatal(err)
	}
	var md2 export.Metadata
	if err := json.Unmarshal(z[export.MetadataArray].Data.([]uint8), &md2); err != nil {
		t.Fatal(err)
	}
	if md2.Checkpoint != md.Checkpoint || len(md2.Tensors) != len(md.Tensors) || len(z) != len(arrays)+1 {
		t.Errorf("npz: %d arrays, metadata %+v; safetensors: %d tensors", len(z), md2, len(arrays))
	}
	for _, a := range arrays {
		if g := z[a.Name]; !slices.Equal(g.Shape, a.Shape) || !slices.Equal(g.Float64s(), a.Float64s()) {
			t.Errorf("%s differs between safetensors %v and npz %v", a.Name, a.Shape, g.Shape)
		}
	}
	if w := z["aux.ir.weight"].Shape; !slices.Equal(w, []int{2, 8}) {
		t.Errorf("aux.ir.weight shape %v, want [2 8] (classes, features)", w)
	}
	b, err = os.ReadFile(inputs)
	if err != nil {
		t.Fatal(err)
	}
	in, err := export.ReadNPZ(b)
	if err != nil {
		t.Fatal(err)
	}
	for name, shape := range map[string][]int{"x.rgb": {80, 8}, "x.depth": {80, 6}, "x.ir": {80, 4}, "y": {80}, "avail": {80, 3}} {
		if !slices.Equal(in[name].Shape, shape) {
			t.Errorf("inputs %s: shape %v, want %v", name, in[name].Shape, shape)
		}
	}
	// the inputs are exactly the data dmrnet evaluates
	tr, err := train.Open(out, "")
	if err != nil {
		t.Fatal(err)
	}
	for m, mod := range tr.Data.Modalities {
		if got, ok := in["x."+mod.Name].Data.([]float32); !ok || !slices.Equal(got, tr.Data.Test.X[m]) {
			t.Errorf("inputs x.%s differ from the test split dmrnet evaluates", mod.Name)
		}
	}
	y, ok := in["y"].Data.([]int64)
	if !ok || len(y) != len(tr.Data.Test.Y) {
		t.Fatalf("y holds %T of %d values, want int64 labels of the %d test samples", in["y"].Data, len(y), len(tr.Data.Test.Y))
	}
	for i, v := range tr.Data.Test.Y {
		if y[i] != int64(v) {
			t.Fatalf("y[%d] = %d, dmrnet %d", i, y[i], v)
		}
	}
	if a := in["avail"].Data.([]uint8); slices.Min(a) != 1 {
		t.Errorf("avail has zeros for a data set without missing modalities")
	}
}
