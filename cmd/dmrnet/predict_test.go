package main

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/dataset"
	"github.com/dmrnet/dmrnet/internal/idx"
	"github.com/dmrnet/dmrnet/internal/report"
	"github.com/dmrnet/dmrnet/internal/train"
)

// predRecord is one JSON line of predict.
type predRecord struct {
	ID       string             `json:"id"`
	Present  []string           `json:"present"`
	Class    string             `json:"class"`
	Probs    map[string]float64 `json:"probs"`
	Variance *float64           `json:"variance"`
	Entropy  float64            `json:"entropy"`
	MaxProb  float64            `json:"max_prob"`
	Abstain  *bool              `json:"abstain"`
	Error    string             `json:"error"`
}

func parseRecords(t *testing.T, out string) []predRecord {
	t.Helper()
	var recs []predRecord
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r predRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		recs = append(recs, r)
	}
	return recs
}

// writeViews writes split s (raw values) as predict input, one block of rows per
// combination with the absent views' rows left empty, and the labels; it returns the files
// as --view arguments, the labels file and the block order.
func writeViews(t *testing.T, dir string, mods []dataset.Modality, classes []string, s *dataset.Split, sets []combo.Set) ([]string, string) {
	t.Helper()
	files := make([]*bufio.Writer, len(mods))
	var args []string
	for m, mod := range mods {
		path := filepath.Join(dir, mod.Name+".csv")
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files[m] = bufio.NewWriter(f)
		defer files[m].Flush()
		args = append(args, "--view", mod.Name+"="+path)
	}
	labels := filepath.Join(dir, "labels.csv")
	lf, err := os.Create(labels)
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	lw := bufio.NewWriter(lf)
	defer lw.Flush()
	for _, set := range sets {
		for i := 0; i < s.Len(); i++ {
			if s.AvailOf(i, len(mods))&set != set {
				continue
			}
			for m, mod := range mods {
				if set.Has(m) {
					row := s.X[m][i*mod.Size() : (i+1)*mod.Size()]
					for j, v := range row {
						if j > 0 {
							files[m].WriteByte(',')
						}
						files[m].WriteString(strconv.FormatFloat(float64(v), 'g', -1, 64))
					}
				}
				files[m].WriteByte('\n')
			}
			fmt.Fprintln(lw, classes[s.Y[i]])
		}
	}
	return args, labels
}

func readSweep(t *testing.T, path string) *report.Sweep {
	t.Helper()
	var sw report.Sweep
	if err := json.Unmarshal(readBytes(t, path), &sw); err != nil {
		t.Fatal(err)
	}
	return &sw
}

func readBytes(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkPredictMatchesSweep runs predict on every combination block of views and checks each
// block's accuracy against the sweep row; then sweep-missing on the full samples alone
// (fullArgs, fullLabels) against every row of the sweep (n and accuracy).
func checkPredictMatchesSweep(t *testing.T, run string, args []string, labels string, fullArgs []string, fullLabels string, sw *report.Sweep, blocks []combo.Set, names []string, env []string) {
	t.Helper()
	code, stdout, stderr := runCLI(t, env, append([]string{"predict", "--checkpoint", run}, args...)...)
	if code != 0 {
		t.Fatalf("predict exit %d: %s", code, stderr)
	}
	recs := parseRecords(t, stdout)
	var want []string
	sc := bufio.NewScanner(strings.NewReader(string(readBytes(t, labels))))
	for sc.Scan() {
		want = append(want, sc.Text())
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records for %d samples", len(recs), len(want))
	}
	sp, _ := combo.NewSpace(names)
	k := 0
	for _, row := range sw.Combinations {
		set, err := sp.ParseCombination(strings.Join(row.Present, ","))
		if err != nil {
			t.Fatal(err)
		}
		if !containsSet(blocks, set) {
			continue
		}
		correct := 0
		for i := 0; i < row.N; i++ {
			r := recs[k+i]
			if strings.Join(r.Present, "+") != row.Name {
				t.Fatalf("record %d: present %v, want %s", k+i, r.Present, row.Name)
			}
			if r.Class == want[k+i] {
				correct++
			}
		}
		k += row.N
		if acc := float64(correct) / float64(row.N); acc != row.Accuracy {
			t.Errorf("%s: predict accuracy %v, sweep-missing %v", row.Name, acc, row.Accuracy)
		}
	}
	if k != len(recs) {
		t.Fatalf("compared %d of %d records", k, len(recs))
	}
	code, stdout, stderr = runCLI(t, env, append([]string{"sweep-missing", "--checkpoint", run, "--format", "json", "--labels", fullLabels}, fullArgs...)...)
	if code != 0 {
		t.Fatalf("sweep-missing --view exit %d: %s", code, stderr)
	}
	var got report.Sweep
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Combinations) != len(sw.Combinations) || got.MeanAccuracy != sw.MeanAccuracy {
		t.Errorf("sweep-missing on new data: %d rows, mean %v; want %d, %v", len(got.Combinations), got.MeanAccuracy, len(sw.Combinations), sw.MeanAccuracy)
	}
	for j, row := range sw.Combinations {
		if g := got.Combinations[min(j, len(got.Combinations)-1)]; g.Name != row.Name || g.N != row.N || g.Accuracy != row.Accuracy {
			t.Errorf("sweep-missing on new data: %s n %d acc %v, want %s n %d acc %v", g.Name, g.N, g.Accuracy, row.Name, row.N, row.Accuracy)
		}
	}
}

func containsSet(v []combo.Set, s combo.Set) bool {
	for _, x := range v {
		if x == s {
			return true
		}
	}
	return false
}

// TestPredictMatchesSweepSynthetic: the synthetic test split written out as views, one block
// per combination; predict's accuracy per block and eval on that data equal sweep-missing.
func TestPredictMatchesSweepSynthetic(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	tr, err := train.Open(out, "")
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := combo.NewSpace(tr.Data.Names())
	args, labels := writeViews(t, t.TempDir(), tr.Data.Modalities, tr.Data.Classes, tr.Data.Test, sp.All())
	full := []combo.Set{combo.Full(sp.M())}
	fullArgs, fullLabels := writeViews(t, t.TempDir(), tr.Data.Modalities, tr.Data.Classes, tr.Data.Test, full)
	checkPredictMatchesSweep(t, out, args, labels, fullArgs, fullLabels, readSweep(t, filepath.Join(out, train.SweepFile)), sp.All(), tr.Data.Names(), nil)

	// eval --view on one combination equals its row.
	code, stdout, stderr := runCLI(t, nil, append([]string{"eval", "--checkpoint", out, "--present", "rgb,ir", "--labels", fullLabels, "--format", "json"}, fullArgs...)...)
	if code != 0 {
		t.Fatalf("eval --view exit %d: %s", code, stderr)
	}
	var row report.Row
	if err := json.Unmarshal([]byte(stdout), &row); err != nil {
		t.Fatal(err)
	}
	for _, r := range readSweep(t, filepath.Join(out, train.SweepFile)).Combinations {
		if r.Name == "rgb+ir" && (r.N != row.N || r.Accuracy != row.Accuracy) {
			t.Errorf("eval --view rgb+ir: n %d acc %v, sweep %d %v", row.N, row.Accuracy, r.N, r.Accuracy)
		}
	}
}

// TestPredictMatchesSweepMfeat does the same on the real mfeat data with all 63
// combinations, from the raw (unstandardised) feature files.
func TestPredictMatchesSweepMfeat(t *testing.T) {
	root := sharedData(t)
	if testing.Short() {
		t.Skip("trains on mfeat")
	}
	out := filepath.Join(t.TempDir(), "run")
	env := []string{"DMRNET_DATA_ROOT=" + root}
	if code, _, stderr := runCLI(t, env, "train", "--config", "../../configs/mfeat.yaml", "--set", "out="+out, "--set", "train.epochs=3", "--set", "hard.warmup_epochs=1"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	spec := dataset.TableSpec{Labels: filepath.Join(root, "mfeat/labels.csv"), SplitFile: filepath.Join(root, "mfeat/tmc_split.csv")}
	for _, v := range []string{"pix", "fou", "fac", "zer", "kar", "mor"} {
		spec.Views = append(spec.Views, dataset.TableView{Name: v, Path: filepath.Join(root, "mfeat", v+".csv")})
	}
	raw, _, err := dataset.LoadTable(spec) // not standardised: what a user has
	if err != nil {
		t.Fatal(err)
	}
	sp, _ := combo.NewSpace(raw.Names())
	args, labels := writeViews(t, t.TempDir(), raw.Modalities, raw.Classes, raw.Test, sp.All())
	fullArgs, fullLabels := writeViews(t, t.TempDir(), raw.Modalities, raw.Classes, raw.Test, []combo.Set{combo.Full(sp.M())})
	checkPredictMatchesSweep(t, out, args, labels, fullArgs, fullLabels, readSweep(t, filepath.Join(out, train.SweepFile)), sp.All(), raw.Names(), env)
}

// sharedData returns ../shared/data (absolute), or skips the test without it.
func sharedData(t *testing.T) string {
	t.Helper()
	root := os.Getenv("DMRNET_DATA_ROOT")
	if root == "" {
		root = "../../../shared/data"
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(abs, "mfeat", "pix.csv")); err != nil {
		t.Skipf("no data at %s (set DMRNET_DATA_ROOT)", abs)
	}
	return abs
}

// TestPredictOutputs checks the records' fields: probabilities sum to 1, entropy and
// max_prob agree with them, the variance is a number, CSV carries the same values, and
// --abstain-above marks exactly the samples above the threshold.
func TestPredictOutputs(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	dir := t.TempDir()
	rgb := filepath.Join(dir, "rgb.csv")
	os.WriteFile(rgb, []byte("1,2,3,4,5,6,7,8\n\n-1,0,1,0,-1,0,1,0.5\n"), 0o644)
	depth := filepath.Join(dir, "depth.npy")
	writeNPYFloat64(t, depth, 3, 6, []float64{0, 1, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN(), math.NaN()})
	code, stdout, stderr := runCLI(t, nil, "predict", "--checkpoint", out, "--view", "rgb="+rgb, "--view", "depth="+depth, "--abstain-above", "0.3")
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	recs := parseRecords(t, stdout)
	wantPresent := []string{"rgb+depth", "depth", "rgb"}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if strings.Join(r.Present, "+") != wantPresent[i] || r.ID != strconv.Itoa(i+1) {
			t.Errorf("record %d: id %s present %v", i, r.ID, r.Present)
		}
		var sum, h, mx float64
		for _, p := range r.Probs {
			sum += p
			h -= p * math.Log(p)
			mx = math.Max(mx, p)
		}
		if math.Abs(sum-1) > 1e-5 || math.Abs(h-r.Entropy) > 1e-4 || math.Abs(mx-r.MaxProb) > 1e-5 || r.Probs[r.Class] != mx {
			t.Errorf("record %d: probs %v (sum %v), entropy %v (want %v), max %v", i, r.Probs, sum, r.Entropy, h, r.MaxProb)
		}
		if r.Variance == nil || *r.Variance <= 0 {
			t.Errorf("record %d: variance %v", i, r.Variance)
		}
		if r.Abstain == nil || *r.Abstain != (1-r.MaxProb > 0.3) {
			t.Errorf("record %d: abstain %v with max prob %v", i, r.Abstain, r.MaxProb)
		}
	}
	csvOut := filepath.Join(dir, "pred.csv")
	code, _, stderr = runCLI(t, nil, "predict", "--checkpoint", out, "--view", "rgb="+rgb, "--view", "depth="+depth, "--format", "csv", "--output", csvOut)
	if code != 0 || !strings.Contains(stderr, "predicted 3 samples") {
		t.Fatalf("predict csv: %d %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(string(readBytes(t, csvOut))), "\n")
	if lines[0] != "id,present,class,p_live,p_spoof,variance,entropy,max_prob" || len(lines) != 4 {
		t.Fatalf("csv:\n%s", strings.Join(lines, "\n"))
	}
	f := strings.Split(lines[1], ",")
	if f[1] != "rgb+depth" || f[2] != recs[0].Class || f[3] != strconv.FormatFloat(recs[0].Probs["live"], 'g', 6, 64) {
		t.Errorf("csv row %v, json %+v", f, recs[0])
	}

	// A model without a logvar head has no variance: null, never 0.
	cfg2, out2 := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg2, "--set", "model.pme=false"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	rgbOnly := filepath.Join(dir, "rgb-only.csv")
	os.WriteFile(rgbOnly, []byte("1,2,3,4,5,6,7,8\n"), 0o644)
	code, stdout, stderr = runCLI(t, nil, "predict", "--checkpoint", out2, "--view", "rgb="+rgbOnly)
	if recs := parseRecords(t, stdout); code != 0 || recs[0].Variance != nil || !strings.Contains(stdout, `"variance":null`) {
		t.Errorf("deterministic model: exit %d, %s %s", code, stdout, stderr)
	}
	if code, _, stderr := runCLI(t, nil, "predict", "--checkpoint", out2, "--view", "rgb="+rgbOnly, "--abstain-above", "1", "--abstain-measure", "variance"); code != exitUsage || !strings.Contains(stderr, "no logvar head") {
		t.Errorf("abstain on variance without a logvar head: %d %s", code, stderr)
	}
}

func writeNPYFloat64(t *testing.T, path string, rows, cols int, v []float64) {
	t.Helper()
	h := fmt.Sprintf("{'descr': '<f8', 'fortran_order': False, 'shape': (%d, %d), }", rows, cols)
	pad := 64 - (10+len(h)+1)%64
	h += strings.Repeat(" ", pad%64) + "\n"
	b := []byte("\x93NUMPY\x01\x00")
	b = append(b, byte(len(h)), byte(len(h)>>8))
	b = append(b, h...)
	for _, x := range v {
		u := math.Float64bits(x)
		for k := 0; k < 8; k++ {
			b = append(b, byte(u>>(8*k)))
		}
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPredictBadInput: each bad input gives one line in the error format naming the file
// and row (or flag), a non-zero exit, and no output file.
func TestPredictBadInput(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("rgb.csv", "1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,8\n")
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown modality", []string{"--view", "thermal=" + good}, exitUsage, `--view=thermal=` + good + `: "thermal" is not a modality of the model (its modalities are rgb, depth, ir)`},
		{"wrong width", []string{"--view", "rgb=" + write("w.csv", "1,2,3\n")}, exitFailure, `w.csv line 1: modality "rgb": 3 values, the model takes 8`},
		{"missing file", []string{"--view", "rgb=" + filepath.Join(dir, "nope.csv")}, exitFailure, "nope.csv: no such file"},
		{"empty row", []string{"--view", "rgb=" + write("e.csv", "1,2,3,4,5,6,7,8\n\n")}, exitFailure, "e.csv line 2: no modality is present"},
		{"nan in row", []string{"--view", "rgb=" + write("n.csv", "1,2,3,4,nan,6,7,8\n")}, exitFailure, `n.csv: line 1, column 5: value "nan" is missing while the row's other values are present`},
		{"beyond float32", []string{"--view", "rgb=" + write("b.csv", "1,2,3,4,1e39,6,7,8\n")}, exitFailure, `b.csv line 1: modality "rgb": column 5: value 1e+39 is not a finite float32 number`},
		{"ragged views", []string{"--view", "rgb=" + good, "--view", "ir=" + write("ir.csv", "1,2,3,4\n")}, exitFailure, "ir.csv: 1 rows, " + good + " has more"},
		{"manifest for vectors", []string{"--input", good}, exitUsage, "this model takes rows of numbers"},
		{"no input", nil, exitUsage, "--view: no input given (give --view NAME=FILE"},
		{"format", []string{"--view", "rgb=" + good, "--format", "xml"}, exitUsage, "--format=xml: not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			outFile := filepath.Join(t.TempDir(), "pred.jsonl")
			code, stdout, stderr := runCLI(t, nil, append([]string{"predict", "--checkpoint", out, "--output", outFile}, tc.args...)...)
			if code != tc.code || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d (want %d), stderr %q, want %q", code, tc.code, stderr, tc.want)
			}
			if lines := strings.Split(strings.TrimSpace(stderr), "\n"); len(lines) != 1 || !errorFormat.MatchString(lines[0]) || !strings.HasSuffix(lines[0], ")") {
				t.Errorf("not one error line \"dmrnet: <what>: <why> (<hint>)\": %q", stderr)
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			ents, _ := os.ReadDir(filepath.Dir(outFile))
			if len(ents) != 0 {
				t.Errorf("left %v behind", ents)
			}
		})
	}

	// --skip-bad records the bad sample and goes on.
	code, stdout, stderr := runCLI(t, nil, "predict", "--checkpoint", out, "--view", "rgb="+write("s.csv", "1,2,3,4,5,6,7,8\n\n1,2,3,4,5,6,7,8\n"), "--skip-bad")
	recs := parseRecords(t, stdout)
	if code != 0 || len(recs) != 3 || recs[1].Error == "" || recs[1].Class != "" || recs[2].Class == "" || !strings.Contains(stderr, "1 could not be scored") {
		t.Fatalf("--skip-bad: exit %d, %+v, %s", code, recs, stderr)
	}
}

// TestEvalRefusesSetsItCannotHonour: --set keys that would change the trained model or its
// data are refused; keys equal to the trained values and out/data.root are accepted.
func TestEvalRefusesSetsItCannotHonour(t *testing.T) {
	cfg, out := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	code, _, stderr := runCLI(t, nil, "eval", "--config", cfg, "--missing", "ir", "--set", "data.synthetic.test=10")
	if code != exitUsage || !strings.Contains(stderr, "--set data.synthetic.test=10: eval cannot change the trained model's data.synthetic.test, trained as 80 (to evaluate other data give it with --data FILE") {
		t.Errorf("data key: %d %s", code, stderr)
	}
	code, _, stderr = runCLI(t, nil, "sweep-missing", "--config", cfg, "--set", "model.latent=4")
	if code != exitUsage || !strings.Contains(stderr, "model.latent") {
		t.Errorf("model key: %d %s", code, stderr)
	}
	if code, _, stderr = runCLI(t, nil, "eval", "--config", cfg, "--missing", "ir", "--set", "train.epochs=4", "--set", "out="+out); code != 0 {
		t.Errorf("keys equal to the trained values: %d %s", code, stderr)
	}
	if code, _, stderr = runCLI(t, nil, "eval", "--checkpoint", out, "--missing", "ir", "--split", "val", "--view", "rgb=x.csv"); code != exitUsage || !strings.Contains(stderr, "--split=val") {
		t.Errorf("--split with --view: %d %s", code, stderr)
	}
}

// TestPredictMatchesSweepManifest: the manifest example's test rows (images, 16-bit depth,
// audio, genuinely missing cells) written as a predict manifest, one block per combination;
// predict's accuracy per block equals sweep-missing, and eval --data on the test rows alone
// gives sweep-missing's table.
func TestPredictMatchesSweepManifest(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "train", "--config", filepath.Join(root, "configs", "manifest-example.yaml"),
		"--data-root", root, "--out", out, "--quiet", "--set", "train.epochs=4")
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	sw := readSweep(t, filepath.Join(out, train.SweepFile))
	f, err := os.Open(filepath.Join(root, "testdata", "manifest", "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	mods := []string{"rgb", "depth", "audio"}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	abs := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.Join(root, "testdata", "manifest", p)
	}
	dir := t.TempDir()
	var pred, data strings.Builder
	pred.WriteString("id,rgb,depth,audio\n")
	data.WriteString("id,label,rgb,depth,audio\n")
	var labels []string
	for _, r := range recs[1:] {
		if r[col["split"]] == "test" {
			fmt.Fprintf(&data, "%s,%s,%s,%s,%s\n", r[col["id"]], r[col["label"]], abs(r[col["rgb"]]), abs(r[col["depth"]]), abs(r[col["audio"]]))
		}
	}
	for _, row := range sw.Combinations {
		for _, r := range recs[1:] {
			if r[col["split"]] != "test" {
				continue
			}
			ok := true
			for _, m := range row.Present {
				ok = ok && r[col[m]] != ""
			}
			if !ok {
				continue
			}
			cells := []string{r[col["id"]] + "-" + row.Name}
			for _, m := range mods {
				if contains(row.Present, m) {
					cells = append(cells, abs(r[col[m]]))
				} else {
					cells = append(cells, "")
				}
			}
			pred.WriteString(strings.Join(cells, ",") + "\n")
			labels = append(labels, r[col["label"]])
		}
	}
	predPath, dataPath := filepath.Join(dir, "new.csv"), filepath.Join(dir, "labelled.csv")
	os.WriteFile(predPath, []byte(pred.String()), 0o644)
	os.WriteFile(dataPath, []byte(data.String()), 0o644)

	code, stdout, stderr := runCLI(t, nil, "predict", "--checkpoint", out, "--input", predPath)
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	got := parseRecords(t, stdout)
	if len(got) != len(labels) {
		t.Fatalf("%d records for %d samples", len(got), len(labels))
	}
	k := 0
	for _, row := range sw.Combinations {
		correct := 0
		for i := 0; i < row.N; i++ {
			if !strings.HasSuffix(got[k+i].ID, "-"+row.Name) || strings.Join(got[k+i].Present, "+") != row.Name {
				t.Fatalf("record %+v in block %s", got[k+i], row.Name)
			}
			if got[k+i].Class == labels[k+i] {
				correct++
			}
		}
		k += row.N
		if acc := float64(correct) / float64(row.N); acc != row.Accuracy {
			t.Errorf("%s: predict accuracy %v, sweep-missing %v", row.Name, acc, row.Accuracy)
		}
	}
	code, stdout, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--data", dataPath, "--format", "json")
	if code != 0 {
		t.Fatalf("sweep-missing --data: %s", stderr)
	}
	var sw2 report.Sweep
	if err := json.Unmarshal([]byte(stdout), &sw2); err != nil {
		t.Fatal(err)
	}
	if len(sw2.Combinations) != len(sw.Combinations) || sw2.MeanAccuracy != sw.MeanAccuracy {
		t.Fatalf("sweep-missing --data: %+v\nwant %+v", sw2, sw)
	}
	for i, r := range sw.Combinations {
		if g := sw2.Combinations[i]; g.Name != r.Name || g.N != r.N || g.Accuracy != r.Accuracy {
			t.Errorf("--data %s: n %d acc %v, want %d %v", r.Name, g.N, g.Accuracy, r.N, r.Accuracy)
		}
	}

	// Bad manifests: an unknown column, a missing file, a row without any modality; the
	// error names the file and line, and --output is not written.
	bad := []struct{ name, content, want string }{
		{"unknown column", "id,rgb,thermal\na," + abs("rgb/s00.png") + ",x\n", `column "thermal" is not a modality of the model`},
		{"missing file", "id,rgb\na," + filepath.Join(dir, "none.png") + "\n", "bad.csv line 2 (id a): modality \"rgb\": " + filepath.Join(dir, "none.png") + ": no such file (check the path)"},
		{"empty row", "id,rgb,depth\na,,\n", "bad.csv line 2 (id a): no modality is present"},
		{"empty manifest", "", "the file is empty"},
	}
	for _, b := range bad {
		p := filepath.Join(dir, "bad.csv")
		os.WriteFile(p, []byte(b.content), 0o644)
		o := filepath.Join(t.TempDir(), "p.jsonl")
		code, _, stderr := runCLI(t, nil, "predict", "--checkpoint", out, "--input", p, "--output", o)
		if code == 0 || !strings.Contains(stderr, b.want) || strings.Count(stderr, "\n") != 1 {
			t.Errorf("%s: exit %d, %q, want %q", b.name, code, stderr, b.want)
		}
		if _, err := os.Stat(o); err == nil {
			t.Errorf("%s: wrote %s", b.name, o)
		}
	}
	// Unlabelled or test-only data is fine for predict, and eval --data says what is wrong.
	code, _, stderr = runCLI(t, nil, "eval", "--checkpoint", out, "--data", predPath, "--missing", "audio")
	if code == 0 || !strings.Contains(stderr, `no "label" column`) {
		t.Errorf("eval --data without labels: %d %s", code, stderr)
	}
}

// TestPredictMatchesSweepAVMNIST: the avmnist test split as files a user would have (the
// FSDD WAV clips and the paired MNIST test digits written as PNG images, paired by the
// benchmark's rule), one block per combination; predict's accuracy per block equals
// sweep-missing's row.
func TestPredictMatchesSweepAVMNIST(t *testing.T) {
	root := sharedData(t)
	if testing.Short() {
		t.Skip("trains on avmnist")
	}
	out := filepath.Join(t.TempDir(), "run")
	env := []string{"DMRNET_DATA_ROOT=" + root}
	if code, _, stderr := runCLI(t, env, "train", "--config", "../../configs/avmnist.yaml", "--set", "out="+out, "--set", "train.epochs=1", "--set", "hard.warmup_epochs=1", "--quiet"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	sw := readSweep(t, filepath.Join(out, train.SweepFile))
	// The pairing rule of benchmarks.md: test clips (take <= 4) of digit d, sorted by name,
	// with the MNIST test images of digit d in file order.
	imgs, err := idx.ReadFile(filepath.Join(root, "mnist", "t10k-images-idx3-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	lbls, err := idx.ReadFile(filepath.Join(root, "mnist", "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(root, "fsdd", "recordings"))
	if err != nil {
		t.Fatal(err)
	}
	var clips []string
	for _, e := range ents {
		parts := strings.Split(strings.TrimSuffix(e.Name(), ".wav"), "_")
		if take, err := strconv.Atoi(parts[len(parts)-1]); err == nil && take <= 4 {
			clips = append(clips, e.Name())
		}
	}
	sort.Strings(clips)
	dir := t.TempDir()
	type sample struct{ wav, png, label string }
	var samples []sample
	used := map[int]int{}
	for d := 0; d <= 9; d++ {
		for _, c := range clips {
			if int(c[0]-'0') != d {
				continue
			}
			k := -1
			for i, seen := 0, 0; i < lbls.Dims[0]; i++ {
				if int(lbls.U8[i]) == d {
					if seen == used[d] {
						k = i
						break
					}
					seen++
				}
			}
			used[d]++
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			copy(img.Pix, imgs.U8[k*784:(k+1)*784])
			pngPath := filepath.Join(dir, fmt.Sprintf("%d-%s.png", d, c))
			f, err := os.Create(pngPath)
			if err != nil {
				t.Fatal(err)
			}
			if err := png.Encode(f, img); err != nil {
				t.Fatal(err)
			}
			f.Close()
			samples = append(samples, sample{filepath.Join(root, "fsdd", "recordings", c), pngPath, strconv.Itoa(d)})
		}
	}
	var b strings.Builder
	var labels []string
	b.WriteString("id,audio,image\n")
	for _, row := range sw.Combinations {
		for i, s := range samples {
			a, im := "", ""
			if contains(row.Present, "audio") {
				a = s.wav
			}
			if contains(row.Present, "image") {
				im = s.png
			}
			fmt.Fprintf(&b, "%d-%s,%s,%s\n", i, row.Name, a, im)
			labels = append(labels, s.label)
		}
	}
	manifest := filepath.Join(dir, "new.csv")
	os.WriteFile(manifest, []byte(b.String()), 0o644)
	code, stdout, stderr := runCLI(t, env, "predict", "--checkpoint", out, "--input", manifest)
	if code != 0 {
		t.Fatalf("predict: %s", stderr)
	}
	got := parseRecords(t, stdout)
	k := 0
	for _, row := range sw.Combinations {
		if row.N != len(samples) {
			t.Fatalf("%s: sweep n %d, %d samples paired here", row.Name, row.N, len(samples))
		}
		correct := 0
		for i := 0; i < row.N; i++ {
			if got[k+i].Class == labels[k+i] {
				correct++
			}
		}
		k += row.N
		if acc := float64(correct) / float64(row.N); acc != row.Accuracy {
			t.Errorf("%s: predict accuracy %v, sweep-missing %v", row.Name, acc, row.Accuracy)
		}
	}
}
