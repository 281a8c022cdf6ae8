package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/runlock"
)

// errorLine is the documented error format: one line, "dmrnet: <what>: <why> (<hint>)".
var errorLine = regexp.MustCompile(`^dmrnet: [^\n]+: [^\n]+ \([^\n]+\)$`)

// TestBadInputCatalogue walks a catalogue of bad inputs across configuration, table,
// manifest, avmnist, checkpoint and flags. For each it checks the exit status, that stderr is
// one line in the documented format naming the file, row or key, and that no artefact of an
// earlier good run changed: the commands that write are pointed at that run with --force.
func TestBadInputCatalogue(t *testing.T) {
	cfg, good := writeConfig(t)
	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet"); code != 0 {
		t.Fatalf("train: %s", stderr)
	}
	before := dirFiles(t, good)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	force := func(args ...string) []string {
		return append([]string{"train", "--out", good, "--force", "--quiet"}, args...)
	}
	// a table data set under dir/t with overrides of its files
	rows := func(n, cols int, cell string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			for j := 0; j < cols; j++ {
				if j > 0 {
					b.WriteByte(',')
				}
				b.WriteString(cell)
			}
			b.WriteByte('\n')
		}
		return b.String()
	}
	labels := strings.Repeat("0\n1\n", 20)
	table := func(name, view, lab string) []string {
		root := filepath.Join(dir, name)
		os.MkdirAll(root, 0o755)
		os.WriteFile(filepath.Join(root, "a.csv"), []byte(view), 0o644)
		os.WriteFile(filepath.Join(root, "labels.csv"), []byte(lab), 0o644)
		c := filepath.Join(root, "table.yaml")
		os.WriteFile(c, []byte("data:\n  kind: table\n  root: "+root+"\n  table:\n    views: [{name: a, file: a.csv}]\n    labels: labels.csv\n    test_fraction: 0.25\n"+
			"model: {encoder: {layers: [4]}, latent: 4}\nhard: {warmup_epochs: 1}\ntrain: {epochs: 1, batch_size: 8}\n"), 0o644)
		return force("--config", c)
	}
	goodView := rows(40, 3, "0.5")
	manifest := func(edit func(rec []string), files ...string) []string {
		d := copyManifestFixture(t, edit)
		for i := 0; i+1 < len(files); i += 2 { // name, content: overwrite a file of the copy
			os.WriteFile(filepath.Join(d, files[i]), []byte(files[i+1]), 0o644)
		}
		return append(manifestArgs(d, good), "--force")
	}
	editRow := func(id string, col int, value string) func(rec []string) {
		return func(rec []string) {
			if rec[0] == id {
				rec[col] = value
			}
		}
	}
	// avmnist: one correctly named clip and truncated MNIST files
	av := filepath.Join(dir, "av")
	os.MkdirAll(filepath.Join(av, "fsdd", "recordings"), 0o755)
	os.MkdirAll(filepath.Join(av, "mnist"), 0o755)
	os.WriteFile(filepath.Join(av, "fsdd", "recordings", "0_x_0.wav"), []byte("RIFF"), 0o644)
	for _, f := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		os.WriteFile(filepath.Join(av, "mnist", f), []byte{0, 0, 8, 3, 0, 0, 0, 9}, 0o644)
	}
	avBadName := filepath.Join(dir, "avbad")
	os.MkdirAll(filepath.Join(avBadName, "fsdd", "recordings"), 0o755)
	os.MkdirAll(filepath.Join(avBadName, "mnist"), 0o755)
	os.WriteFile(filepath.Join(avBadName, "fsdd", "recordings", "hello.wav"), []byte("RIFF"), 0o644)
	avmnist := "../../configs/avmnist.yaml"

	// checkpoints: copies of the good run, damaged
	damaged := func(name string, edit func([]byte) []byte) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		for f, b := range before {
			if !strings.HasSuffix(f, "/") {
				if f == "final.ckpt" {
					b = edit(append([]byte(nil), b...))
				}
				os.WriteFile(filepath.Join(d, f), b, 0o644)
			}
		}
		return d
	}
	truncated := damaged("truncated", func(b []byte) []byte { return b[:len(b)/2] })
	flipped := damaged("flipped", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b })
	hugeLen := damaged("huge", func(b []byte) []byte { binary.LittleEndian.PutUint64(b[10:18], ^uint64(0)); return b })
	foreign := damaged("foreign", func([]byte) []byte { return []byte("PK\x03\x04 not a checkpoint") })
	changed := filepath.Join(dir, "changed-run")
	tableRun := table("tgood", goodView, labels)
	tableRun[2] = changed // --out
	if code, _, stderr := runCLI(t, nil, tableRun...); code != 0 {
		t.Fatalf("table run: %s", stderr)
	}
	os.WriteFile(filepath.Join(dir, "tgood", "a.csv"), []byte(rows(40, 3, "0.25")), 0o644)

	predRows := write("pred/rgb.csv", rows(2, 8, "1"))

	tests := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		// configuration
		{"unknown key", nil, force("--config", write("c1.yaml", "trian: {epochs: 3}\n")), exitUsage, `unknown key "trian"`},
		{"wrong type", nil, force("--config", write("c2.yaml", "train: {epochs: many}\n")), exitUsage, "train.epochs"},
		{"empty config", nil, force("--config", write("c3.yaml", "\n# nothing\n")), exitUsage, "c3.yaml: the configuration file is empty"},
		{"missing config", nil, force("--config", filepath.Join(dir, "none.yaml")), exitUsage, "none.yaml"},
		{"yaml syntax", nil, force("--config", write("c4.yaml", "train: [epochs: 3\n")), exitUsage, "c4.yaml"},
		{"--set unknown key", nil, force("--config", cfg, "--set", "train.epoch=3"), exitUsage, `did you mean "train.epochs"?`},
		{"--set bad value", nil, force("--config", cfg, "--set", "train.batch_size=x"), exitUsage, "train.batch_size"},
		{"negative epochs", nil, force("--config", cfg, "--set", "train.epochs=-1"), exitUsage, "train.epochs"},
		{"unknown variant", nil, force("--config", cfg, "--set", "variant=magic"), exitUsage, "variant"},
		{"unknown data kind", nil, force("--config", cfg, "--set", "data.kind=parquet"), exitUsage, "data.kind"},
		{"environment", []string{"DMRNET_TRAIN_EPOCHS=abc"}, force("--config", cfg), exitUsage, "DMRNET_TRAIN_EPOCHS"},
		{"too many classes", nil, force("--config", cfg, "--set", "data.synthetic.classes=20000"), exitUsage, "data.synthetic.classes"},
		{"diverging loss", nil, force("--config", cfg, "--set", "train.max_loss=1e-9"), exitFailure, "loss"},
		// table data
		{"ragged row", nil, table("t1", goodView+"1,2\n", labels+"0\n"), exitFailure, "a.csv: line 41"},
		{"not a number", nil, table("t2", strings.Replace(goodView, "0.5", "abc", 1), labels), exitFailure, `a.csv: line 1, column 1: cannot parse "abc"`},
		{"NaN", nil, table("t3", strings.Replace(goodView, "0.5", "nan", 1), labels), exitFailure, "a.csv: line 1, column 1"},
		{"beyond float32", nil, table("t4", strings.Replace(goodView, "0.5", "1e39", 1), labels), exitFailure, "row 1, column 1: value 1e+39 is beyond the float32 range"},
		{"stray label", nil, table("t5", goodView, strings.Replace(labels, "1\n", "999999\n", 1)), exitFailure, "labels.csv row 2: label 999999"},
		{"labels from 1", nil, table("t6", goodView, strings.Repeat("1\n2\n", 20)), exitFailure, "labels.csv"},
		{"rows differ", nil, table("t7", rows(39, 3, "0.5"), labels), exitFailure, "labels.csv"},
		{"missing view", nil, func() []string {
			a := table("t8", goodView, labels)
			os.Remove(filepath.Join(dir, "t8", "a.csv"))
			return a
		}(), exitFailure, "data.table.views[0].file"},
		{"two label columns", nil, table("t9", goodView, strings.Repeat("0,1\n", 40)), exitFailure, "labels.csv"},
		// manifest data
		{"bad split", nil, manifest(editRow("s00", 2, "training")), exitFailure, `manifest.csv line 2: split "training"`},
		{"duplicate id", nil, manifest(editRow("s01", 0, "s00")), exitFailure, `id "s00" already used on line 2`},
		{"missing image", nil, manifest(editRow("s00", 3, "rgb/none.png")), exitFailure, "manifest.csv line 2 (id s00), column rgb"},
		{"path outside", nil, manifest(editRow("s00", 3, "../../../../etc/passwd")), exitFailure, "lies outside the manifest's folder"},
		{"no modality", nil, manifest(func(rec []string) {
			if rec[0] == "s00" {
				rec[3], rec[4], rec[5] = "", "", ""
			}
		}), exitFailure, "line 2 (id s00): every modality is missing"},
		{"label typo", nil, manifest(editRow("s00", 1, "lvie")), exitFailure, `did you mean "live"?`},
		{"wrong channels", nil, manifest(editRow("s00", 3, "depth/s00.png")), exitFailure, "line 2 (id s00), column rgb"},
		{"corrupt png", nil, manifest(func(rec []string) {}, "rgb/s00.png", "\x89PNG\r\n\x1a\n garbage"), exitFailure, "line 2 (id s00), column rgb"},
		{"corrupt wav", nil, manifest(editRow("s00", 5, "rgb/s00.png")), exitFailure, "line 2 (id s00), column audio"},
		// avmnist data
		{"avmnist no data", nil, force("--config", avmnist, "--data-root", filepath.Join(dir, "nowhere")), exitFailure, "data.avmnist.audio"},
		{"avmnist clip name", nil, force("--config", avmnist, "--data-root", avBadName), exitFailure, "hello.wav"},
		{"avmnist truncated idx", nil, force("--config", avmnist, "--data-root", av), exitFailure, "-idx"},
		// checkpoints
		{"truncated checkpoint", nil, []string{"eval", "--checkpoint", truncated, "--missing", "ir"}, exitFailure, filepath.Join(truncated, "final.ckpt")},
		{"flipped bit", nil, []string{"sweep-missing", "--checkpoint", flipped}, exitFailure, filepath.Join(flipped, "final.ckpt")},
		{"huge length", nil, []string{"eval", "--checkpoint", hugeLen, "--missing", "ir"}, exitFailure, filepath.Join(hugeLen, "final.ckpt")},
		{"not a checkpoint", nil, []string{"predict", "--checkpoint", foreign, "--view", "rgb=" + predRows}, exitFailure, filepath.Join(foreign, "final.ckpt")},
		{"no run", nil, []string{"eval", "--checkpoint", filepath.Join(dir, "norun"), "--missing", "ir"}, exitFailure, "norun"},
		{"changed data", nil, []string{"sweep-missing", "--checkpoint", changed}, exitFailure, "a.csv: changed since training"},
		// flags
		{"mistyped command", nil, []string{"trian", "--config", cfg}, exitUsage, `did you mean "train"?`},
		{"--missing=,", nil, []string{"eval", "--checkpoint", good, "--missing=,"}, exitUsage, "--missing=,"},
		{"unknown modality", nil, []string{"eval", "--checkpoint", good, "--missing", "thermal"}, exitUsage, `"thermal"`},
		{"nothing left", nil, []string{"eval", "--checkpoint", good, "--missing", "rgb,depth,ir"}, exitUsage, "no modality left"},
		{"missing and present", nil, []string{"eval", "--checkpoint", good, "--missing", "ir", "--present", "rgb"}, exitUsage, "--missing"},
		{"bad format", nil, []string{"sweep-missing", "--checkpoint", good, "--format", "xml"}, exitUsage, "--format=xml"},
		{"bad split", nil, []string{"eval", "--checkpoint", good, "--missing", "ir", "--split", "dev"}, exitUsage, "--split=dev"},
		{"route without heads", nil, []string{"eval", "--checkpoint", good, "--missing", "ir", "--inference", "route"}, exitUsage, "--inference=route"},
		{"--set eval cannot honour", nil, []string{"eval", "--config", cfg, "--missing", "ir", "--set", "model.latent=3"}, exitUsage, "--set model.latent=3"},
		{"predict NaN row", nil, []string{"predict", "--checkpoint", good, "--view", "rgb=" + write("pred/nan.csv", "1,2,nan,4,5,6,7,8\n")}, exitFailure, "nan.csv: line 1, column 3"},
		{"predict wrong width", nil, []string{"predict", "--checkpoint", good, "--view", "rgb=" + write("pred/w.csv", "1,2\n")}, exitFailure, "w.csv line 1"},
		{"predict unknown view", nil, []string{"predict", "--checkpoint", good, "--view", "thermal=" + predRows}, exitUsage, `"thermal" is not a modality`},
		{"export format", nil, []string{"export", "--checkpoint", good, "--output", filepath.Join(dir, "m.onnx"), "--format", "onnx"}, exitUsage, "--format"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tc.env, tc.args...)
			line := strings.TrimSuffix(stderr, "\n")
			if code != tc.code || !strings.Contains(line, tc.want) {
				t.Errorf("exit %d (want %d), stderr %q, want it to contain %q", code, tc.code, stderr, tc.want)
			}
			if !errorLine.MatchString(line) || strings.Contains(line, "\n") {
				t.Errorf("not one line in the format dmrnet: <what>: <why> (<hint>): %q", stderr)
			}
			if after := dirFiles(t, good); !equalFiles(before, after) {
				t.Errorf("the good run changed: %v -> %v", keysOf(before), keysOf(after))
			}
		})
	}

	// A writer while another holds the run directory.
	l, err := runlock.Acquire(good, "test")
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCLI(t, nil, "train", "--resume", good, "--set", "train.epochs=9")
	l.Release()
	if code != exitFailure || !strings.Contains(stderr, "run directory is in use by dmrnet pid") || !errorLine.MatchString(strings.TrimSpace(stderr)) {
		t.Errorf("locked run: exit %d, %q", code, stderr)
	}
	if after := dirFiles(t, good); !equalFiles(before, after) {
		t.Errorf("the good run changed under the lock")
	}
}
