package train

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// snapshot reads the regular files of dir (not its subdirectories).
func snapshot(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			out[e.Name()] = readFile(t, filepath.Join(dir, e.Name()))
		}
	}
	return out
}

// sameFiles fails unless dir holds exactly the files of want, byte for byte.
func sameFiles(t *testing.T, dir string, want map[string][]byte) {
	t.Helper()
	got := snapshot(t, dir)
	if len(got) != len(want) {
		t.Fatalf("%s holds %d files, want %d: %v", dir, len(got), len(want), keys(got))
	}
	for name, b := range want {
		if !bytes.Equal(got[name], b) {
			t.Fatalf("%s/%s differs from the previous run's", dir, name)
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// asides lists the set-aside directories in dir.
func asides(t *testing.T, dir string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(dir, asidePrefix+"*"))
	return m
}

// TestReplace replaces a finished run: Replace leaves it alone, a run that fails before its
// first checkpoint puts it back byte for byte, and a run that succeeds leaves nothing of it.
func TestReplace(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=3")
	trainRun(t, cfg)
	old := snapshot(t, cfg.Out)

	// diverges in its first step: the previous run comes back
	bad := tinyConfig(t, "out="+cfg.Out, "optim.name=sgd", "optim.lr=1e6", "optim.momentum=0", "train.max_loss=50")
	tr, err := Replace(bad, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	sameFiles(t, cfg.Out, old) // Replace itself touches nothing
	err = tr.Run(context.Background())
	if !errors.Is(err, ErrDiverged) || !tr.Restored() {
		t.Fatalf("Run = %v, Restored %v; want ErrDiverged and the previous run restored", err, tr.Restored())
	}
	sameFiles(t, cfg.Out, old)
	if a := asides(t, cfg.Out); len(a) != 0 {
		t.Fatalf("left behind: %v", a)
	}
	if _, err := Open(cfg.Out, ""); err != nil {
		t.Fatalf("the restored run does not open: %v", err)
	}

	// succeeds: the previous run is gone, only the new one's files remain
	good := tinyConfig(t, "out="+cfg.Out, "train.epochs=2", "train.seed=5", "hard.warmup_epochs=3")
	tr, err = Replace(good, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil || tr.Restored() {
		t.Fatalf("Run = %v, Restored %v", err, tr.Restored())
	}
	if _, err := tr.Evaluate(); err != nil {
		t.Fatal(err)
	}
	if a := asides(t, cfg.Out); len(a) != 0 {
		t.Fatalf("left behind: %v", a)
	}
	if ms := losses(t, cfg.Out); len(ms) != 2 || ms[0].Epoch != 1 || ms[1].Epoch != 2 {
		t.Fatalf("metrics after the replacement: %+v", ms)
	}
	if c := readFile(t, filepath.Join(cfg.Out, ConfigFile)); !strings.Contains(string(c), "seed: 5") {
		t.Fatalf("config.yaml is not the new run's:\n%s", c)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, HardSetFile)); err == nil {
		t.Fatal("the previous run's hardset.json survived (the new run's 2 epochs are all warm-up)")
	}
}

// TestReplaceInterrupted checks an interruption (Ctrl-C) of a replacement: before the new
// run's first epoch ends, the previous run comes back and no sliver of the new one stays;
// after it, the new run is kept (resumable) and the previous one is gone.
func TestReplaceInterrupted(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=1")
	trainRun(t, cfg)
	old := snapshot(t, cfg.Out)
	tr, err := Replace(tinyConfig(t, "out="+cfg.Out, "train.seed=3"), Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) || !tr.Restored() {
		t.Fatalf("Run = %v, Restored %v; want ErrInterrupted and the previous run back", err, tr.Restored())
	}
	sameFiles(t, cfg.Out, old)
	if a := asides(t, cfg.Out); len(a) != 0 {
		t.Fatalf("left behind: %v", a)
	}

	// interrupted in its second epoch: the first epoch's checkpoint replaced the old run
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	tr, err = Replace(tinyConfig(t, "out="+cfg.Out, "train.seed=3", "train.epochs=3"), Hooks{
		OnEpoch: func(s EpochStats, _ int) { cancel() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) || tr.Restored() {
		t.Fatalf("Run = %v, Restored %v", err, tr.Restored())
	}
	if a := asides(t, cfg.Out); len(a) != 0 || Status(cfg.Out) != Unfinished {
		t.Fatalf("asides %v, status %v; want none and an unfinished run", a, Status(cfg.Out))
	}
	if _, err := Resume(cfg.Out, nil, Hooks{}); err != nil {
		t.Fatal(err)
	}
}

// TestRecover builds the states a crash can leave a replacement in, and checks that Recover
// ends each with exactly one run: the previous one unless the new one had a checkpoint.
func TestRecover(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=1")
	trainRun(t, cfg)
	old := snapshot(t, cfg.Out)
	dir := cfg.Out
	reset := func() {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			os.RemoveAll(filepath.Join(dir, e.Name()))
		}
		for name, b := range old {
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
	}
	newFiles := map[string][]byte{ConfigFile: []byte("new: config\n"), MetricsFile: []byte("{\"epoch\":1}\n")}
	write := func(files map[string][]byte) {
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	tests := []struct {
		name  string
		setup func()
		want  map[string][]byte // nil: the previous run
		did   string
	}{
		{"nothing to do", func() {}, nil, ""},
		{"killed while setting aside", func() {
			moving := filepath.Join(dir, asidePrefix+"x"+movingSuffix)
			os.Mkdir(moving, 0o755)
			for _, name := range runFiles[:3] { // sweep.json, final.ckpt, best.ckpt (absent)
				os.Rename(filepath.Join(dir, name), filepath.Join(moving, name))
			}
		}, nil, "put back"},
		{"killed before the new run's first checkpoint", func() {
			aside, err := setAside(dir, time.Now())
			if err != nil || !strings.HasPrefix(filepath.Base(aside), asidePrefix) {
				t.Fatal(aside, err)
			}
			write(newFiles)
		}, nil, "put back"},
		{"killed after the new run's first checkpoint", func() {
			if _, err := setAside(dir, time.Now()); err != nil {
				t.Fatal(err)
			}
			write(newFiles)
			write(map[string][]byte{CheckpointFile: []byte("new checkpoint")})
		}, map[string][]byte{ConfigFile: newFiles[ConfigFile], MetricsFile: newFiles[MetricsFile], CheckpointFile: []byte("new checkpoint")}, "deleted"},
		{"killed while putting back", func() {
			aside, err := setAside(dir, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			restoring := aside + restoringSuffix
			os.Rename(aside, restoring)
			os.Rename(filepath.Join(restoring, CheckpointFile), filepath.Join(dir, CheckpointFile))
		}, nil, "put back"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reset()
			tt.setup()
			did, err := Recover(dir)
			if err != nil || !strings.Contains(did, tt.did) || (tt.did == "") != (did == "") {
				t.Fatalf("Recover = %q, %v; want a note containing %q", did, err, tt.did)
			}
			want := tt.want
			if want == nil {
				want = old
			}
			sameFiles(t, dir, want)
			if a := asides(t, dir); len(a) != 0 {
				t.Fatalf("left behind: %v", a)
			}
		})
	}
}

// TestResumeWithNewConfigDropsSweep checks the order readers rely on: a finished run resumed
// for more epochs loses its sweep.json (which describes the old configuration) before its
// config.yaml changes, so that aggregate never pairs the new configuration with old results.
func TestResumeWithNewConfigDropsSweep(t *testing.T) {
	cfg := tinyConfig(t, "train.epochs=2")
	trainRun(t, cfg)
	tr, err := Resume(cfg.Out, []string{"train.epochs=4"}, Hooks{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := tr.Run(ctx); !errors.Is(err, ErrInterrupted) {
		t.Fatalf("Run = %v", err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, SweepFile)); err == nil {
		t.Fatal("sweep.json of the 2-epoch configuration survived next to the 4-epoch config.yaml")
	}
	if c := readFile(t, filepath.Join(cfg.Out, ConfigFile)); !strings.Contains(string(c), "epochs: 4") {
		t.Fatalf("config.yaml:\n%s", c)
	}
	// an unchanged configuration keeps its results
	cfg = tinyConfig(t, "train.epochs=2")
	trainRun(t, cfg)
	if tr, err = Resume(cfg.Out, nil, Hooks{}); err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(cfg.Out, SweepFile)); err != nil {
		t.Fatal("resuming a finished run without changes removed its sweep.json")
	}
}
