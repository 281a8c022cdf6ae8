package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dmrnet/dmrnet/internal/report"
)

// copyManifestFixture copies testdata/manifest into a fresh directory and rewrites its
// manifest.csv with edit applied to every data row (fields: id, label, split, rgb, depth,
// audio). It returns the directory.
func copyManifestFixture(t *testing.T, edit func(rec []string)) string {
	t.Helper()
	src := filepath.Join("..", "..", "testdata", "manifest")
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dst, "manifest.csv"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for i := 1; i < len(lines); i++ {
		rec := strings.Split(lines[i], ",")
		edit(rec)
		lines[i] = strings.Join(rec, ",")
	}
	if err := os.WriteFile(filepath.Join(dst, "manifest.csv"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// manifestArgs are the train arguments of the manifest example on the manifest in dir.
func manifestArgs(dir, out string, sets ...string) []string {
	args := []string{"train", "--config", filepath.Join("..", "..", "configs", "manifest-example.yaml"),
		"--data-root", dir, "--out", out, "--quiet", "--set", "data.manifest.file=manifest.csv", "--set", "train.epochs=2",
		"--set", "hard.warmup_epochs=1"}
	for _, s := range sets {
		args = append(args, "--set", s)
	}
	return args
}

// TestCombinationWithoutTestSamples trains on a manifest whose test split has no audio: the
// four combinations with audio are n/a (n 0, JSON null), not 0 %, and the mean and the worst
// are over the other three.
func TestCombinationWithoutTestSamples(t *testing.T) {
	dir := copyManifestFixture(t, func(rec []string) {
		if rec[2] == "test" {
			rec[5] = ""
			if rec[3] == "" && rec[4] == "" {
				rec[3] = "rgb/s00.png"
			}
		}
	})
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, stderr := runCLI(t, nil, manifestArgs(dir, out)...)
	if code != 0 {
		t.Fatalf("train: exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, "n/a: no test sample has every modality of audio, rgb+audio, depth+audio, rgb+depth+audio; left out of the mean and the worst") {
		t.Errorf("train's table lacks the n/a note:\n%s", stdout)
	}
	data, err := os.ReadFile(filepath.Join(out, "sweep.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"combination": "audio",
      "accuracy": null,
      "macro_f1": null,
      "n": 0,`) {
		t.Errorf("sweep.json: the audio row is not null:\n%s", data)
	}
	var sw report.Sweep
	if err := json.Unmarshal(data, &sw); err != nil {
		t.Fatal(err)
	}
	var sum float64
	n := 0
	for _, r := range sw.Combinations {
		if strings.Contains(r.Name, "audio") {
			if r.N != 0 || r.Evaluated() || r.ACER != nil {
				t.Errorf("%s: %+v, want n/a", r.Name, r)
			}
			continue
		}
		if r.N == 0 || !r.Evaluated() {
			t.Errorf("%s: %+v", r.Name, r)
		}
		sum += r.Accuracy
		n++
	}
	if math.Abs(sw.MeanAccuracy-sum/float64(n)) > 1e-12 || strings.Contains(sw.Worst.Name, "audio") {
		t.Errorf("mean %v (want %v over %d rows), worst %s", sw.MeanAccuracy, sum/float64(n), n, sw.Worst.Name)
	}
	code, stdout, stderr = runCLI(t, nil, "sweep-missing", "--checkpoint", out, "--format", "csv")
	if code != 0 || !strings.Contains(stdout, "\naudio,audio,0,,,,,,") {
		t.Errorf("sweep-missing --format csv: exit %d %s\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = runCLI(t, nil, "eval", "--checkpoint", out, "--present", "audio")
	if code != 0 || !strings.Contains(stdout, "accuracy:     n/a (no sample has every modality of audio)") {
		t.Errorf("eval --present audio: exit %d %s\n%s", code, stderr, stdout)
	}
	code, stdout, stderr = runCLI(t, nil, "aggregate", out)
	if code != 0 || !strings.Contains(stdout, "n/a: no test sample has every modality of audio, rgb+audio, depth+audio, rgb+depth+audio") {
		t.Errorf("aggregate: exit %d %s\n%s", code, stderr, stdout)
	}
}

// TestManifestDataErrors checks the manifest rules end to end: one-line errors naming the
// line, exit status 1, no run directory, and data.manifest.allow_outside.
func TestManifestDataErrors(t *testing.T) {
	typo := copyManifestFixture(t, func(rec []string) {
		if rec[0] == "s07" {
			rec[1] = "lvie"
		}
	})
	escape := copyManifestFixture(t, func(rec []string) {
		if rec[0] == "s05" {
			rec[3] = "../../../../../../../../etc/passwd"
		}
	})
	outside := copyManifestFixture(t, func(rec []string) {
		if rec[0] == "s05" {
			rec[3] = "../" + filepath.Base(typo) + "/rgb/s05.png"
		}
	})
	tests := []struct {
		name string
		dir  string
		sets []string
		code int
		want string
	}{
		{"label typo", typo, []string{"data.manifest.class_names=[]"}, 1, `manifest.csv line 9: label "lvie" occurs on this row only; did you mean "live"?`},
		{"label typo with class names", typo, nil, 1, `manifest.csv line 9: label "lvie" is not one of the classes live, spoof (did you mean "live"?`},
		{"path escapes", escape, nil, 1, `manifest.csv line 7 (id s05), column rgb: path "../../../../../../../../etc/passwd" lies outside the manifest's folder`},
		{"path escapes, allowed", escape, []string{"data.manifest.allow_outside=true"}, 1, "passwd: not a PNG or JPEG image (its first bytes match no image format; convert it to PNG)"},
		{"outside", outside, nil, 1, `manifest.csv line 7 (id s05), column rgb: path "../`},
		{"outside but allowed", outside, []string{"data.manifest.allow_outside=true"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "run")
			code, _, stderr := runCLI(t, nil, manifestArgs(tt.dir, out, tt.sets...)...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, stderr)
			}
			if tt.code == 0 {
				return
			}
			msg := strings.TrimSpace(stderr)
			if !strings.Contains(msg, tt.want) || strings.Contains(msg, "\n") || !errorFormat.MatchString(msg) {
				t.Errorf("stderr %q, want one line containing %q", msg, tt.want)
			}
			if strings.Contains(msg, "root:") {
				t.Errorf("stderr %q quotes /etc/passwd", msg)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("the run directory was created")
			}
		})
	}
}
