package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkError fails unless a command exited with code and printed exactly one line in the
// format "dmrnet: <what>: <why> (<hint>)" that contains want.
func checkError(t *testing.T, args []string, code int, stderr string, wantCode int, want string) {
	t.Helper()
	line := strings.TrimSpace(stderr)
	if code != wantCode || !strings.Contains(line, want) || strings.Contains(line, "\n") ||
		!errorFormat.MatchString(line) || !strings.HasSuffix(line, ")") {
		t.Errorf("%v: exit %d, stderr %q; want exit %d, one line \"dmrnet: <what>: <why> (<hint>)\" containing %q", args, code, stderr, wantCode, want)
	}
}

// TestMessages checks the messages of the reliability issue, each in the one error format.
func TestMessages(t *testing.T) {
	cfg, out := writeConfig(t)
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	os.WriteFile(empty, []byte("# to be written\n"), 0o644)
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		// a mistyped command, even with the flags of the command meant
		{[]string{"trian", "--config", cfg}, 2, `dmrnet: trian: unknown command (did you mean "train"?)`},
		{[]string{"trian"}, 2, `dmrnet: trian: unknown command (did you mean "train"?)`},
		{[]string{"evl", "--missing=depth"}, 2, `dmrnet: evl: unknown command (did you mean "eval"?)`},
		{[]string{"config", "prnt", "--config", cfg}, 2, `dmrnet: config prnt: unknown command (did you mean "print"?)`},
		{[]string{"frobnicate"}, 2, "dmrnet: frobnicate: unknown command (run dmrnet --help to see the commands)"},
		{[]string{"eval", "extra", "--missing=depth"}, 2, "dmrnet: eval extra: unexpected argument (eval takes only flags, see dmrnet eval --help)"},
		// an empty configuration file would silently train the synthetic default
		{[]string{"train", "--config", empty}, 2, "dmrnet: " + empty + ": the configuration file is empty (check the file name"},
		{[]string{"config", "validate", "--config", empty}, 2, empty + ": the configuration file is empty"},
	} {
		code, _, stderr := runCLI(t, nil, tt.args...)
		checkError(t, tt.args, code, stderr, tt.code, tt.want)
	}
	if _, err := os.Stat(filepath.Join("runs", "default")); err == nil {
		t.Error("a command above trained into runs/default")
	}

	if code, _, stderr := runCLI(t, nil, "train", "--config", cfg, "--quiet", "--set", "train.epochs=1"); code != 0 {
		t.Fatal(stderr)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		// a stray separator is not "nothing is missing"
		{[]string{"--missing=,"}, `dmrnet: --missing=,: empty modality name in "," (separate the names by single commas, e.g. rgb,depth)`},
		{[]string{"--missing=depth,"}, `empty modality name in "depth,"`},
		{[]string{"--missing= "}, "names no modality (name the missing ones, e.g. rgb,depth)"},
		{[]string{"--present=rgb,,ir"}, `empty modality name in "rgb,,ir"`},
	} {
		args := append([]string{"eval", "--checkpoint", out}, tt.args...)
		code, stdout, stderr := runCLI(t, nil, args...)
		checkError(t, args, code, stderr, 2, tt.want)
		if stdout != "" {
			t.Errorf("%v evaluated something:\n%s", args, stdout)
		}
	}
	// a checkpoint file works as --checkpoint, and a missing one is one line
	final := filepath.Join(out, "final.ckpt")
	for _, args := range [][]string{
		{"eval", "--checkpoint", final, "--missing=depth"},
		{"sweep-missing", "--checkpoint", final},
		{"predict", "--checkpoint", final, "--view", "rgb=" + writeRows(t, 8, 2)},
	} {
		if code, _, stderr := runCLI(t, nil, args...); code != 0 {
			t.Errorf("%v: exit %d: %s", args, code, stderr)
		}
	}
	args := []string{"eval", "--checkpoint", filepath.Join(out, "nope.ckpt"), "--missing=depth"}
	code, _, stderr := runCLI(t, nil, args...)
	checkError(t, args, code, stderr, 1, "nope.ckpt: no checkpoint")
}

// writeRows writes n CSV rows of dim zeros and returns the file.
func writeRows(t *testing.T, dim, n int) string {
	t.Helper()
	row := strings.TrimSuffix(strings.Repeat("0,", dim), ",") + "\n"
	p := filepath.Join(t.TempDir(), "rows.csv")
	if err := os.WriteFile(p, []byte(strings.Repeat(row, n)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMissingDataFileHint checks that a data file that is not there is reported with the key
// that names it and the data root it was looked for under.
func TestMissingDataFileHint(t *testing.T) {
	data := t.TempDir()
	out := filepath.Join(t.TempDir(), "run")
	table := []string{"--set", "data.kind=table", "--set", "data.table.views=[{name: a, file: t/a.csv}]", "--set", "data.table.labels=t/labels.csv"}
	for _, tt := range []struct {
		root string
		want string
	}{
		{data, filepath.Join(data, "t", "labels.csv") + `: no such file (data.table.labels is "t/labels.csv" under data.root ` + data +
			": correct the key, or point --data-root, DMRNET_DATA_ROOT or data.root at the directory that holds it)"},
		{filepath.Join(data, "nope"), filepath.Join(data, "nope", "t", "labels.csv") + ": no such file, and data.root " + filepath.Join(data, "nope") +
			" does not exist (point --data-root, DMRNET_DATA_ROOT or data.root at the directory that holds t/labels.csv, the data.table.labels)"},
	} {
		args := append([]string{"train", "--out", out, "--data-root", tt.root}, table...)
		code, _, stderr := runCLI(t, nil, args...)
		checkError(t, args, code, stderr, 1, "dmrnet: "+tt.want)
	}
	// the views are checked too, after the labels
	os.MkdirAll(filepath.Join(data, "t"), 0o755)
	os.WriteFile(filepath.Join(data, "t", "labels.csv"), []byte("0\n1\n"), 0o644)
	args := append([]string{"train", "--out", out, "--data-root", data}, table...)
	code, _, stderr := runCLI(t, nil, args...)
	checkError(t, args, code, stderr, 1, `(data.table.views[0].file is "t/a.csv" under data.root`)
}

// TestDataRootPrecedence checks that an exported DMRNET_DATA_ROOT does not break a
// configuration that sets its own data.root (the manifest example, whose data is in the
// repository), in training and in evaluation, while it still locates the data of a
// configuration without data.root, and the data of a saved run whose data.root is gone.
func TestDataRootPrecedence(t *testing.T) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile(filepath.Join(repo, "configs", "manifest-example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(example), "\n  root: .\n") {
		t.Fatal("configs/manifest-example.yaml no longer sets data.root: .")
	}
	// the example as run from the repository root: its "." is the repository
	cfg := filepath.Join(t.TempDir(), "manifest.yaml")
	os.WriteFile(cfg, []byte(strings.Replace(string(example), "\n  root: .\n", "\n  root: "+repo+"\n", 1)), 0o644)
	out := filepath.Join(t.TempDir(), "run")
	env := []string{"DMRNET_DATA_ROOT=" + filepath.Join(t.TempDir(), "shared-data")}
	if code, _, stderr := runCLI(t, env, "train", "--config", cfg, "--out", out, "--quiet", "--set", "train.epochs=1", "--set", "hard.warmup_epochs=1"); code != 0 {
		t.Fatalf("train with DMRNET_DATA_ROOT exported: exit %d: %s", code, stderr)
	}
	for _, args := range [][]string{{"eval", "--checkpoint", out, "--missing=depth"}, {"sweep-missing", "--checkpoint", out}} {
		if code, _, stderr := runCLI(t, env, args...); code != 0 {
			t.Fatalf("%v with DMRNET_DATA_ROOT exported: exit %d: %s", args, code, stderr)
		}
	}

	// a configuration without data.root takes DMRNET_DATA_ROOT
	data := t.TempDir()
	os.MkdirAll(filepath.Join(data, "t"), 0o755)
	var a, labels strings.Builder
	for i := range 40 {
		a.WriteString(strings.Repeat("0.5,", 2) + []string{"1", "-1"}[i%2] + "\n")
		labels.WriteString([]string{"0", "1"}[i%2] + "\n")
	}
	os.WriteFile(filepath.Join(data, "t", "a.csv"), []byte(a.String()), 0o644)
	os.WriteFile(filepath.Join(data, "t", "labels.csv"), []byte(labels.String()), 0o644)
	table := filepath.Join(t.TempDir(), "table.yaml")
	os.WriteFile(table, []byte("data:\n  kind: table\n  table:\n    views: [{name: a, file: t/a.csv}]\n    labels: t/labels.csv\n"+
		"model: {encoder: {layers: [4]}, latent: 4}\nhard: {warmup_epochs: 1}\ntrain: {epochs: 1, batch_size: 8}\n"), 0o644)
	out = filepath.Join(t.TempDir(), "table-run")
	env = []string{"DMRNET_DATA_ROOT=" + data}
	if code, _, stderr := runCLI(t, env, "train", "--config", table, "--out", out, "--quiet"); code != 0 {
		t.Fatalf("train from DMRNET_DATA_ROOT: exit %d: %s", code, stderr)
	}
	// the data moves: the saved data.root is gone, and DMRNET_DATA_ROOT says where it is now
	moved := filepath.Join(t.TempDir(), "moved")
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := runCLI(t, nil, "eval", "--checkpoint", out, "--missing=a"); code == 0 || !strings.Contains(stderr, "--data-root") {
		t.Fatalf("eval of moved data without a hint: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, []string{"DMRNET_DATA_ROOT=" + moved}, "sweep-missing", "--checkpoint", out); code != 0 {
		t.Fatalf("sweep-missing with DMRNET_DATA_ROOT at the moved data: exit %d: %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, []string{"DMRNET_DATA_ROOT=" + moved}, "train", "--resume", out, "--quiet", "--set", "train.epochs=2"); code != 0 {
		t.Fatalf("resume with DMRNET_DATA_ROOT at the moved data: exit %d: %s", code, stderr)
	}
}

// TestGEMMKernelEnv checks that a DMRNET_GEMM_KERNEL this machine cannot honour stops any
// command with one line naming the variable and the kernels it may be set to.
func TestGEMMKernelEnv(t *testing.T) {
	for _, tt := range []struct {
		value, want string
	}{
		{"avx9", `dmrnet: DMRNET_GEMM_KERNEL=avx9: unknown GEMM kernel "avx9" (use auto, `},
		{"AUTO", `dmrnet: DMRNET_GEMM_KERNEL=AUTO: unknown GEMM kernel "AUTO" (use auto, `},
	} {
		for _, args := range [][]string{{"version"}, {"config", "print"}} {
			code, _, stderr := runCLI(t, []string{"DMRNET_GEMM_KERNEL=" + tt.value}, args...)
			checkError(t, args, code, stderr, exitUsage, tt.want)
		}
	}
}
