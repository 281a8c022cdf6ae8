// Package aggregate combines the results of several runs into one table: it finds finished
// run directories, loads their resolved configuration and sweep, groups the runs that differ
// only in their training seed, and summarises every modality combination of each group as
// the mean and sample standard deviation over seeds, rendered as text, Markdown, CSV, JSON or
// a PNG plot.
package aggregate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dmrnet/dmrnet/internal/config"
	"github.com/dmrnet/dmrnet/internal/report"
)

// The files of a run directory that aggregate reads, as written by the train command.
const (
	// ConfigFile is the run's resolved configuration.
	ConfigFile = "config.yaml"
	// SweepFile is the run's evaluation of every modality combination.
	SweepFile = "sweep.json"
)

// Run is one finished run: its directory, resolved configuration and sweep.
type Run struct {
	// Dir is the run directory.
	Dir string
	// Config is the resolved configuration read from Dir's config.yaml.
	Config *config.Config
	// Sweep is the evaluation read from Dir's sweep.json.
	Sweep *report.Sweep
}

// Discover returns the run directories found at paths, sorted and without duplicates. Each
// path is a run directory (one holding both config.yaml and sweep.json), a directory searched
// at any depth for run directories (hidden directories below it are not entered), or one of
// the two files of a run directory.
//
// Directories met on the way that hold a configuration or a checkpoint (*.ckpt) but not both
// config.yaml and sweep.json are unfinished runs; they are skipped and returned, sorted, as
// unfinished, so that the caller can warn about them. Discover fails when no run directory is
// found.
func Discover(paths []string) (runs, unfinished []string, err error) {
	if len(paths) == 0 {
		return nil, nil, errors.New("aggregate: no paths given (name run directories or directories holding them)")
	}
	var found, skipped dirSet
	for _, p := range paths {
		root, err := discoverRoot(p)
		if err != nil {
			return nil, nil, err
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("aggregate: %w", err)
			}
			if !d.IsDir() {
				return nil
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			switch state, err := runState(path); {
			case err != nil:
				return err
			case state == finished:
				found.add(path)
			case state == started:
				skipped.add(path)
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
	}
	if len(found.list) == 0 {
		msg := fmt.Sprintf("aggregate: no finished runs (directories holding %s and %s) in %s",
			ConfigFile, SweepFile, strings.Join(paths, ", "))
		if n := len(skipped.list); n > 0 {
			msg += fmt.Sprintf(", only %d unfinished %s without %s (finish them with dmrnet train --resume DIR)", n, plural(n, "run", "runs"), SweepFile)
		} else {
			msg += " (train first, or name the directory that holds the runs)"
		}
		return nil, skipped.sorted(), errors.New(msg)
	}
	return found.sorted(), skipped.sorted(), nil
}

// discoverRoot returns the directory to search for path p: p itself when it is a directory
// (or a link to one), its parent when it is a run's config.yaml or sweep.json.
func discoverRoot(p string) (string, error) {
	info, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("aggregate: %w", err)
	}
	if !info.IsDir() {
		if base := filepath.Base(p); base == ConfigFile || base == SweepFile {
			return filepath.Dir(p), nil
		}
		return "", fmt.Errorf("aggregate: %s is not a directory (name a run directory or a directory holding runs)", p)
	}
	if l, err := os.Lstat(p); err == nil && l.Mode()&fs.ModeSymlink != 0 {
		// WalkDir does not follow a link given as its root; a trailing separator makes
		// the operating system resolve it.
		return p + string(filepath.Separator), nil
	}
	return p, nil
}

// state is how far a directory is from being a finished run directory.
type state int

const (
	notRun   state = iota // no run files
	started               // a configuration or checkpoint but no complete result
	finished              // config.yaml and sweep.json
)

// runState classifies the directory dir by the files it holds.
func runState(dir string) (state, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return notRun, fmt.Errorf("aggregate: %w", err)
	}
	var cfg, sweep, ckpt bool
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch name := e.Name(); {
		case name == ConfigFile:
			cfg = true
		case name == SweepFile:
			sweep = true
		case filepath.Ext(name) == ".ckpt":
			ckpt = true
		}
	}
	switch {
	case cfg && sweep:
		return finished, nil
	case cfg || sweep || ckpt:
		return started, nil
	}
	return notRun, nil
}

// dirSet collects directories, deduplicated by absolute path.
type dirSet struct {
	seen map[string]bool
	list []string
}

func (s *dirSet) add(dir string) {
	dir = filepath.Clean(dir)
	key := dir
	if abs, err := filepath.Abs(dir); err == nil {
		key = abs
	}
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if !s.seen[key] {
		s.seen[key] = true
		s.list = append(s.list, dir)
	}
}

func (s *dirSet) sorted() []string {
	out := slices.Clone(s.list)
	slices.Sort(out)
	return out
}

// Load reads the configuration and sweep of each run directory in dirs. Errors name the file
// that could not be read or decoded.
func Load(dirs []string) ([]Run, error) {
	runs := make([]Run, 0, len(dirs))
	for _, dir := range dirs {
		r, err := loadRun(dir)
		if err != nil {
			return nil, err
		}
		runs = append(runs, r)
	}
	return runs, nil
}

func loadRun(dir string) (Run, error) {
	cfgPath := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		return Run{}, fmt.Errorf("aggregate: %w", err)
	}
	cfg, err := config.FromYAML(data, cfgPath)
	if err != nil {
		if !strings.Contains(err.Error(), cfgPath) {
			// Validation errors name the key but not the file.
			return Run{}, fmt.Errorf("aggregate: %s: %w", cfgPath, err)
		}
		return Run{}, fmt.Errorf("aggregate: %w", err)
	}
	cfgData := data
	sweepPath := filepath.Join(dir, SweepFile)
	data, err = os.ReadFile(sweepPath)
	if err != nil {
		return Run{}, fmt.Errorf("aggregate: %w", err)
	}
	// The two files are read without a lock. A writer removes sweep.json before it changes
	// config.yaml and writes a new sweep.json only after training, so an unchanged
	// config.yaml read again now proves that the sweep belongs to it.
	if again, err := os.ReadFile(cfgPath); err != nil || !bytes.Equal(again, cfgData) {
		return Run{}, fmt.Errorf("aggregate: %s: the run changed while it was read (dmrnet is training into it: run aggregate again when it has finished)", dir)
	}
	var s report.Sweep
	if err := json.Unmarshal(data, &s); err != nil {
		return Run{}, fmt.Errorf("aggregate: %s: %w", sweepPath, err)
	}
	if err := checkSweep(&s); err != nil {
		return Run{}, fmt.Errorf("aggregate: %s: %w", sweepPath, err)
	}
	return Run{Dir: dir, Config: cfg, Sweep: &s}, nil
}

// checkSweep reports a sweep that cannot be aggregated.
func checkSweep(s *report.Sweep) error {
	if len(s.Modalities) == 0 {
		return errors.New("no modalities")
	}
	if len(s.Combinations) == 0 {
		return errors.New("no combinations")
	}
	seen := map[string]bool{}
	for i, r := range s.Combinations {
		if r.Name == "" {
			return fmt.Errorf("combination %d has no name", i)
		}
		if seen[r.Name] {
			return fmt.Errorf("combination %q appears twice", r.Name)
		}
		seen[r.Name] = true
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
