package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/dmrnet/dmrnet/internal/config"
)

// runFiles are the files a run writes into its directory, in the order a replaced run is set
// aside: sweep.json first and config.yaml before checkpoint.ckpt, so that a reader never finds
// the old results next to a new configuration (aggregate pairs config.yaml with sweep.json).
// Putting a run back goes in the reverse order.
var runFiles = []string{SweepFile, FinalFile, BestFile, HardSetFile, MetricsFile, ProvenanceFile, ConfigFile, CheckpointFile}

// runFilesIn returns runFiles followed by the earlier checkpoints
// (checkpoint-<epoch>-<step>.ckpt) that dir holds.
func runFilesIn(dir string) []string {
	names := append([]string(nil), runFiles...)
	earlier, _ := rotatedFiles(dir)
	for _, r := range earlier {
		names = append(names, r.name)
	}
	return names
}

// A replaced run waits in DIR/.previous-<time>-<random>/ until the new run has written its
// first checkpoint. The directory's name says how far an operation on it got, so that an
// interruption at any point can be undone (see Recover):
//
//	.previous-X.moving     being filled; no file of the new run exists yet
//	.previous-X            complete; the run files in DIR belong to the new run
//	.previous-X.restoring  being put back; the new run's files are already gone
const (
	asidePrefix     = ".previous-"
	movingSuffix    = ".moving"
	restoringSuffix = ".restoring"
)

// Replace prepares a fresh run of cfg into cfg.Out like New, in a directory that may hold a
// previous run (train --force). The previous run stays untouched while Replace reads the data
// and builds the model; Run then sets its files aside into cfg.Out/.previous-<time>-<n>/,
// deletes them once the new run has written its first checkpoint, and puts them back when
// the new run fails before that (Restored then reports true). The caller must hold the run
// directory's lock (package runlock).
func Replace(cfg *config.Config, hooks Hooks) (*Trainer, error) {
	if err := Device(cfg.Train.Device); err != nil {
		return nil, err
	}
	t, err := fresh(cfg, hooks)
	if err != nil {
		return nil, err
	}
	t.replace = Status(cfg.Out) != NoRun
	return t, nil
}

// Restored reports whether Run failed before the new run's first checkpoint and put the
// previous run that Replace was to replace back in place.
func (t *Trainer) Restored() bool { return t.restored }

// beginReplace sets the previous run aside, if Replace asked for that.
func (t *Trainer) beginReplace() error {
	if !t.replace {
		return nil
	}
	aside, err := setAside(t.dir, t.Now())
	if err != nil {
		return err
	}
	t.replace, t.aside = false, aside
	return nil
}

// endReplace finishes a replacement when Run returns: it puts the previous run back when
// the new one failed before its first checkpoint (err != nil), and returns err, wrapped
// with the failure to restore if that failed too.
func (t *Trainer) endReplace(err error) error {
	if t.aside == "" {
		return err
	}
	if err == nil {
		return t.discardAside()
	}
	aside := t.aside
	t.aside = ""
	if rerr := restoreAside(t.dir, aside); rerr != nil {
		return errors.Join(err, rerr)
	}
	t.restored = true
	return err
}

// discardAside deletes the set-aside previous run, once the new run has a checkpoint. A
// failure is not the new run's: what is left is deleted by the next Recover.
func (t *Trainer) discardAside() error {
	if t.aside != "" {
		os.RemoveAll(t.aside)
		t.aside = ""
	}
	return nil
}

// setAside moves the run files of dir into a new directory dir/.previous-<time>-<n> and
// returns its path.
func setAside(dir string, now time.Time) (string, error) {
	moving, err := os.MkdirTemp(dir, asidePrefix+now.UTC().Format("20060102T150405")+"-*"+movingSuffix)
	if err != nil {
		return "", fmt.Errorf("%s: cannot set the previous run aside: %w (check the directory's permissions)", dir, err)
	}
	for _, name := range runFilesIn(dir) {
		err := os.Rename(filepath.Join(dir, name), filepath.Join(moving, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", errors.Join(fmt.Errorf("%s: cannot set the previous run aside: %w", dir, err), moveBack(dir, moving))
		}
	}
	aside := strings.TrimSuffix(moving, movingSuffix)
	if err := os.Rename(moving, aside); err != nil {
		return "", errors.Join(fmt.Errorf("%s: cannot set the previous run aside: %w", dir, err), moveBack(dir, moving))
	}
	syncDir(dir)
	return aside, nil
}

// restoreAside puts the complete set-aside run aside back into dir, replacing the files a
// new run wrote.
func restoreAside(dir, aside string) error {
	for _, name := range runFilesIn(dir) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: cannot put the previous run back from %s: %w (move its files back by hand)", dir, aside, err)
		}
	}
	restoring := aside + restoringSuffix
	if err := os.Rename(aside, restoring); err != nil {
		return fmt.Errorf("%s: cannot put the previous run back from %s: %w (move its files back by hand)", dir, aside, err)
	}
	return moveBack(dir, restoring)
}

// moveBack moves the run files in from (a .moving or .restoring directory) back into dir, in
// reverse set-aside order, and removes from.
func moveBack(dir, from string) error {
	for _, name := range slices.Backward(runFilesIn(from)) {
		err := os.Rename(filepath.Join(from, name), filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s: cannot put the previous run back from %s: %w (move its files back by hand)", dir, from, err)
		}
	}
	syncDir(dir)
	if err := os.RemoveAll(from); err != nil {
		return fmt.Errorf("%s: the previous run is back, but %s cannot be removed: %w (delete it by hand)", dir, from, err)
	}
	return nil
}

// Recover finishes a replacement of the run in dir (train --force) that a crash or SIGKILL
// interrupted: when the new run had written a checkpoint, the set-aside previous run is
// deleted; otherwise the new run's files are removed and the previous run is put back. It
// reports what it did ("" when there was nothing to do). The caller must hold the run
// directory's lock.
func Recover(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		return "", fmt.Errorf("%s: %w", dir, err)
	}
	var did []string
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || !strings.HasPrefix(name, asidePrefix) {
			continue
		}
		path := filepath.Join(dir, name)
		switch {
		case strings.HasSuffix(name, movingSuffix), strings.HasSuffix(name, restoringSuffix):
			if err := moveBack(dir, path); err != nil {
				return "", err
			}
			did = append(did, "put back the previous run that an interrupted --force had set aside")
		case fileExists(filepath.Join(dir, CheckpointFile)):
			if err := os.RemoveAll(path); err != nil {
				return "", fmt.Errorf("%s: cannot delete the replaced run: %w (delete it by hand)", path, err)
			}
			did = append(did, "deleted the previous run that --force replaced (left behind by an interruption)")
		default:
			if err := restoreAside(dir, path); err != nil {
				return "", err
			}
			did = append(did, "put back the previous run: the --force run that replaced it was interrupted before its first checkpoint")
		}
	}
	return strings.Join(did, "; "), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// syncDir makes renames in dir durable (best effort).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
