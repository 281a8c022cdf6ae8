package train

import (
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/dmrnet/dmrnet/internal/buildinfo"
	"github.com/dmrnet/dmrnet/internal/config"
)

// ProvenanceFile is the run directory's record of the dmrnet build and the data that trained
// the run (the same Provenance every checkpoint of the run carries).
const ProvenanceFile = "provenance.json"

// Provenance records what produced a training state: the dmrnet binary and the data.
type Provenance struct {
	// Dmrnet is the build of the dmrnet that last trained the state.
	Dmrnet buildinfo.Info `json:"dmrnet"`
	// Data is the fingerprint of the data the state was trained on.
	Data *DataFingerprint `json:"data"`
	// Notes record earlier sessions that differ from the last one: a resume by another
	// dmrnet build, or on changed data accepted with --allow-data-change.
	Notes []string `json:"notes,omitempty"`
}

// DataFingerprint identifies a data set: the size and SHA-256 of every file it is read from,
// or, for synthetic data (which has no files), the SHA-256 of its generator settings.
//
// The files are those the loader reads: for table data the labels, split and view files;
// for avmnist every file under the audio and MNIST directories; for a manifest the manifest
// and every file its modality columns name. Files are hashed whole, in parallel.
type DataFingerprint struct {
	// Kind is data.kind.
	Kind string `json:"kind"`
	// Settings is the SHA-256 of the generator settings (synthetic data only).
	Settings string `json:"settings_sha256,omitempty"`
	// Files are sorted by Path.
	Files []FileSum `json:"files,omitempty"`
}

// FileSum is one data file's size and content hash.
type FileSum struct {
	// Path is relative to data.root when the file lies under it (so that data moved with
	// --data-root still matches), else as configured.
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ErrDataChanged marks the refusal to resume or evaluate a run on data that differs from the
// data it was trained on. Errors wrap it (errors.Is).
var ErrDataChanged = errors.New("data changed since training")

// DataChangedError says which data file (or setting) differs from the recorded fingerprint.
type DataChangedError struct {
	// What is the file, as found now, or the key (data.kind, data.synthetic) that differs;
	// Why says how.
	What, Why string
	// More is the number of further differences.
	More int
	// Checkpoint is the file that holds the recorded fingerprint.
	Checkpoint string
}

func (e *DataChangedError) Error() string {
	return fmt.Sprintf("%s, against the fingerprint in %s (restore the data the run was trained on, or give --allow-data-change to use this data anyway)",
		e.summary(), e.Checkpoint)
}

// summary is the difference without the advice, for warnings.
func (e *DataChangedError) summary() string {
	more := ""
	if e.More > 0 {
		more = fmt.Sprintf("; %d more data files differ", e.More)
	}
	return fmt.Sprintf("%s: %s%s", e.What, e.Why, more)
}

// Is makes errors.Is(err, ErrDataChanged) true.
func (e *DataChangedError) Is(target error) bool { return target == ErrDataChanged }

// newProvenance is the provenance of a fresh run on data fingerprinted as fp.
func newProvenance(fp *DataFingerprint) *Provenance {
	return &Provenance{Dmrnet: buildinfo.Read(), Data: fp}
}

// Fingerprint computes the fingerprint of the data cfg describes (see DataFingerprint).
func Fingerprint(cfg *config.Config) (*DataFingerprint, error) {
	fp := &DataFingerprint{Kind: cfg.Data.Kind}
	if cfg.Data.Kind == "synthetic" {
		js, err := json.Marshal(syntheticSpec(cfg))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(js)
		fp.Settings = hex.EncodeToString(sum[:])
		return fp, nil
	}
	files, err := dataFiles(cfg)
	if err != nil {
		return nil, err
	}
	if fp.Files, err = hashFiles(cfg.Data.Root, files); err != nil {
		return nil, err
	}
	return fp, nil
}

// dataFiles lists the files the data set of cfg is read from.
func dataFiles(cfg *config.Config) ([]string, error) {
	d := cfg.Data
	switch d.Kind {
	case "table":
		return tableFiles(tableSpec(cfg)), nil
	case "avmnist":
		return dirFiles(dataPath(cfg, d.AVMNIST.Audio), dataPath(cfg, d.AVMNIST.MNIST))
	case "manifest":
		return manifestFiles(cfg)
	}
	return nil, &config.Error{Key: "data.kind", Msg: fmt.Sprintf("data.kind: %q is not supported (want synthetic, table, avmnist or manifest)", d.Kind)}
}

// manifestFiles lists a manifest and the files its modality columns name (as the manifest
// loader resolves them: relative to the manifest's directory), without duplicates.
func manifestFiles(cfg *config.Config) ([]string, error) {
	path := dataPath(cfg, cfg.Data.Manifest.File)
	f, err := os.Open(path)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fileError(path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	var cols []int
	for _, m := range manifestModalities(cfg) {
		if i, ok := col[m.Column]; ok {
			cols = append(cols, i)
		}
	}
	dir := filepath.Dir(path)
	seen := map[string]bool{}
	files := []string{path}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fileError(path, err)
		}
		for _, i := range cols {
			if i >= len(rec) {
				continue
			}
			if cell := strings.TrimSpace(rec[i]); cell != "" {
				p := filepath.Join(dir, cell)
				if !seen[p] {
					seen[p] = true
					files = append(files, p)
				}
			}
		}
	}
	return files, nil
}

// hashFiles returns the size and SHA-256 of every file, sorted by path, hashing on all
// cores. Paths under root are recorded relative to it.
func hashFiles(root string, files []string) ([]FileSum, error) {
	sums := make([]FileSum, len(files))
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(files), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				sums[i], errs[i] = hashFile(files[i])
				sums[i].Path = relToRoot(root, files[i])
			}
		}()
	}
	for i := range files {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(sums, func(i, j int) bool { return sums[i].Path < sums[j].Path })
	return sums, nil
}

func hashFile(path string) (FileSum, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileSum{}, fileError(path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileSum{}, fileError(path, err)
	}
	return FileSum{Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// fileError is the one-line error of a data file that cannot be read for its fingerprint.
func fileError(path string, err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: cannot read it to fingerprint the data: %w (check the file, or point --data-root, DMRNET_DATA_ROOT or data.root at where the data is now)", path, err)
}

// relToRoot is path relative to root when it lies under root, else path.
func relToRoot(root, path string) string {
	if root == "" {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}

// fromRoot is the inverse of relToRoot: where a recorded path is found under root now.
func fromRoot(root, rel string) string {
	p := filepath.FromSlash(rel)
	if filepath.IsAbs(p) || root == "" {
		return p
	}
	return filepath.Join(root, p)
}

// checkData compares the fingerprint recorded in checkpoint file (nil for checkpoints
// written before dmrnet recorded one: nothing to check) with the data as it is now, read
// from root. It returns a *DataChangedError naming the first difference, or nil.
func checkData(recorded, now *DataFingerprint, root, file string) error {
	if recorded == nil {
		return nil
	}
	diffs := diffData(recorded, now, root)
	if len(diffs) == 0 {
		return nil
	}
	d := diffs[0]
	return &DataChangedError{What: d[0], Why: d[1], More: len(diffs) - 1, Checkpoint: file}
}

// diffData lists the differences between two fingerprints as (what, why) pairs, the
// settings first and then the files in path order.
func diffData(recorded, now *DataFingerprint, root string) [][2]string {
	if recorded.Kind != now.Kind {
		return [][2]string{{"data.kind", fmt.Sprintf("the run was trained on %s data, this is %s data", recorded.Kind, now.Kind)}}
	}
	var out [][2]string
	if recorded.Settings != now.Settings {
		out = append(out, [2]string{"data." + now.Kind, fmt.Sprintf("the generator settings differ from the run's (SHA-256 %s, now %s)", short(recorded.Settings), short(now.Settings))})
	}
	was := map[string]FileSum{}
	for _, f := range recorded.Files {
		was[f.Path] = f
	}
	is := map[string]FileSum{}
	for _, f := range now.Files {
		is[f.Path] = f
	}
	paths := make([]string, 0, len(was)+len(is))
	for p := range was {
		paths = append(paths, p)
	}
	for p := range is {
		if _, ok := was[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		a, inA := was[p]
		b, inB := is[p]
		where := fromRoot(root, p)
		switch {
		case !inB:
			out = append(out, [2]string{where, fmt.Sprintf("is gone from the data: the run was trained with it (%d bytes)", a.Size)})
		case !inA:
			out = append(out, [2]string{where, fmt.Sprintf("was added to the data after training (%d bytes)", b.Size)})
		case a.Size != b.Size || a.SHA256 != b.SHA256:
			out = append(out, [2]string{where, fmt.Sprintf("changed since training: %d bytes with SHA-256 %s then, %d bytes with SHA-256 %s now",
				a.Size, short(a.SHA256), b.Size, short(b.SHA256))})
		}
	}
	return out
}

// short abbreviates a hex hash for messages.
func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "..."
	}
	return h
}
