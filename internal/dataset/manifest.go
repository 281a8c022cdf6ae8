package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/audio"
	"github.com/dmrnet/dmrnet/internal/combo"
	"github.com/dmrnet/dmrnet/internal/fileerr"
	"github.com/dmrnet/dmrnet/internal/imageio"
	"github.com/dmrnet/dmrnet/internal/table"
	"github.com/dmrnet/dmrnet/internal/wav"
)

// ManifestSpec describes a data set listed in a CSV manifest: a header row, then one row per
// sample with an id, a label, a split (train, val or test) and, per modality, the path of the
// sample's file relative to the manifest. An empty cell means the sample lacks the modality:
// training always masks it and evaluation leaves the sample out of the combinations that
// need it.
type ManifestSpec struct {
	Path                               string
	IDColumn, LabelColumn, SplitColumn string
	// ClassNames fixes the classes; labels are names or indices into it. Empty: the sorted
	// distinct labels, of which there may be at most MaxClasses, and each of them must occur
	// on two rows or more, one of them in the training split (a label that occurs once, or
	// only in the val and test splits, is taken for a typo; see checkLabels).
	ClassNames []string
	Modalities []ManifestModality
	// Root is the data root (data.root). A file path of the manifest must lie inside the
	// manifest's folder or inside Root, unless AllowOutside is set (see resolvePath).
	Root         string
	AllowOutside bool
}

// ManifestModality is one modality column.
type ManifestModality struct {
	Name   string
	Column string
	// Type is "image", "audio" or "npy".
	Type  string
	Image imageio.Spec
	Mel   MelSpec
	// Shape of each npy file's array.
	Shape []int
}

func (m ManifestModality) shape() []int {
	switch m.Type {
	case "image":
		return []int{m.Image.Channels, m.Image.Height, m.Image.Width}
	case "audio":
		return []int{1, m.Mel.NMels, m.Mel.Frames(m.Mel.Samples)}
	}
	return append([]int(nil), m.Shape...)
}

type manifestRow struct {
	line  int // 1-based line in the manifest
	id    string
	label int
	split string
	files []string // per modality: the resolved path, "" = missing
}

// LoadManifest reads a manifest and decodes every referenced file in parallel. Audio
// modalities are standardised globally with training statistics (returned as
// StandardizeSpecs); images are normalised with their configured mean and std.
func LoadManifest(spec ManifestSpec) (*Dataset, []StandardizeSpec, error) {
	rows, classes, err := readManifest(spec)
	if err != nil {
		return nil, nil, err
	}
	d, all := manifestDataset(spec, rows, classes)
	for _, mod := range d.Modalities {
		all.X = append(all.X, make([]float32, len(rows)*mod.Size()))
	}
	type job struct{ row, mod int }
	var jobs []job
	for i, r := range rows {
		for m, f := range r.files {
			if f != "" {
				jobs = append(jobs, job{i, m})
			}
		}
	}
	err = parallel(len(jobs), func(k int, ex map[int]*audio.Extractor) error {
		j := jobs[k]
		r := rows[j.row]
		mod := spec.Modalities[j.mod]
		path := r.files[j.mod]
		size := d.Modalities[j.mod].Size()
		dst := all.X[j.mod][j.row*size : (j.row+1)*size]
		if err := decodeFile(path, mod, dst, ex, j.mod); err != nil {
			return spec.fileError(r, j.mod, err)
		}
		return nil
	}, func() map[int]*audio.Extractor { return map[int]*audio.Extractor{} })
	if err != nil {
		return nil, nil, invalidf("%v", err)
	}
	if err := splitManifest(spec, d, all, rows); err != nil {
		return nil, nil, err
	}
	return d, manifestStandardize(spec), nil
}

// manifestDataset is the data set of a manifest's rows without its samples' values: name,
// modalities and classes, and one split holding every row's label and the modalities it
// has. LoadManifest decodes the values into the split, StreamManifest decodes them per batch.
func manifestDataset(spec ManifestSpec, rows []manifestRow, classes []string) (*Dataset, *Split) {
	d := &Dataset{Name: strings.TrimSuffix(filepath.Base(spec.Path), filepath.Ext(spec.Path)), Classes: classes}
	for _, m := range spec.Modalities {
		d.Modalities = append(d.Modalities, Modality{Name: m.Name, Shape: m.shape()})
	}
	all := &Split{Y: make([]int, len(rows)), Avail: make([]combo.Set, len(rows))}
	for i, r := range rows {
		all.Y[i] = r.label
		for m, f := range r.files {
			if f != "" {
				all.Avail[i] |= 1 << uint(m)
			}
		}
	}
	return d, all
}

// fileError is the error of modality m's file of row r: the manifest, line, id and column,
// then the problem.
func (spec ManifestSpec) fileError(r manifestRow, m int, err error) error {
	return fmt.Errorf("%s line %d (id %s), column %s: %w", spec.Path, r.line, showText(r.id), spec.Modalities[m].Column, err)
}

// splitManifest divides the samples of all (one per manifest row) into d's train, val and
// test splits by the rows' split column.
func splitManifest(spec ManifestSpec, d *Dataset, all *Split, rows []manifestRow) error {
	var train, val, test []int
	for i, r := range rows {
		switch r.split {
		case "train":
			train = append(train, i)
		case "val":
			val = append(val, i)
		case "test":
			test = append(test, i)
		}
	}
	if len(train) == 0 || len(test) == 0 {
		return invalidf("%s has %d train and %d test rows (both splits need samples)", spec.Path, len(train), len(test))
	}
	d.Train = all.Subset(train, d.Modalities)
	d.Test = all.Subset(test, d.Modalities)
	if len(val) > 0 {
		d.Val = all.Subset(val, d.Modalities)
	}
	return nil
}

// manifestStandardize lists the standardisations of a manifest's modalities: audio is
// standardised globally with training statistics.
func manifestStandardize(spec ManifestSpec) []StandardizeSpec {
	var std []StandardizeSpec
	for m, mod := range spec.Modalities {
		if mod.Type == "audio" {
			std = append(std, StandardizeSpec{Modality: m})
		}
	}
	return std
}

func decodeFile(path string, mod ManifestModality, dst []float32, ex map[int]*audio.Extractor, m int) error {
	switch mod.Type {
	case "image":
		img, err := imageio.ReadFile(path)
		if err != nil {
			return err
		}
		t, err := mod.Image.Tensor(img, path)
		if err != nil {
			return err
		}
		copy(dst, t)
	case "audio":
		a, err := wav.ReadFile(path)
		if err != nil {
			return err
		}
		if a.SampleRate != mod.Mel.SampleRate {
			return fmt.Errorf("%s: sample rate %d Hz, modality %q expects %d (resample the file or set its mel.sample_rate)", path, a.SampleRate, mod.Name, mod.Mel.SampleRate)
		}
		e := ex[m]
		if e == nil {
			e = mod.Mel.NewExtractor()
			ex[m] = e
		}
		for i, v := range e.LogMel(audio.CentreFix(a.Mono(), mod.Mel.Samples)) {
			dst[i] = float32(v)
		}
	case "npy":
		t, err := table.ReadFileAs(path, "npy")
		if err != nil {
			return err
		}
		if len(t.Data) != len(dst) {
			return fmt.Errorf("%s: array of shape %v (%d values), modality %q expects shape %v (save arrays of that shape, or set the modality's shape)", path, t.Shape, len(t.Data), mod.Name, mod.Shape)
		}
		for i, v := range t.Data {
			f := float32(v)
			if math.IsInf(float64(f), 0) {
				return fmt.Errorf("%s: element %d of shape %v: value %g is beyond the float32 range of ±3.4e38 (the models compute in float32: rescale the data)", path, i, t.Shape, v)
			}
			dst[i] = f
		}
	default:
		return fmt.Errorf("unknown modality type %q", mod.Type)
	}
	return nil
}

// checkLabels returns the classes of a manifest without class names: its sorted distinct
// labels. A typo ("lvie" among "live" rows) would otherwise silently become a class
// of its own, so a label must occur on two rows or more, at least one of them in the training
// split, and there may be at most MaxClasses labels. Errors name the first line of the
// offending label, suggest the closest valid label, and point to data.manifest.class_names,
// which lifts these rules for the classes it lists.
func checkLabels(path string, rows []manifestRow, labels []string) ([]string, error) {
	type stat struct{ rows, train, line int }
	stats := map[string]*stat{}
	for i, l := range labels {
		st := stats[l]
		if st == nil {
			st = &stat{line: rows[i].line}
			stats[l] = st
		}
		st.rows++
		if rows[i].split == "train" {
			st.train++
		}
	}
	classes := make([]string, 0, len(stats))
	var valid []string
	for l, st := range stats {
		classes = append(classes, l)
		if st.rows >= 2 && st.train >= 1 {
			valid = append(valid, l)
		}
	}
	sort.Strings(classes)
	sort.Strings(valid)
	if len(classes) > MaxClasses {
		return nil, invalidf("%s: %d distinct labels, more than the %d classes dmrnet supports (merge classes, or fix the label column: data.manifest.label_column)", path, len(classes), MaxClasses)
	}
	bad := ""
	for _, l := range classes {
		if st := stats[l]; (st.rows < 2 || st.train == 0) && (bad == "" || st.line < stats[bad].line) {
			bad = l
		}
	}
	if bad == "" {
		return classes, nil
	}
	st := stats[bad]
	why := fmt.Sprintf("label %q occurs on this row only", bad)
	if st.rows > 1 {
		why = fmt.Sprintf("label %q has no training row (its %d rows are all in val or test)", bad, st.rows)
	}
	if s := suggestLabel(bad, valid); s != "" {
		why += fmt.Sprintf("; did you mean %q?", s)
	}
	return nil, invalidf("%s line %d: %s (without data.manifest.class_names every label is a class and needs two rows or more, one of them in train: fix the label, or list the classes in data.manifest.class_names)",
		path, st.line, why)
}

// resolvePath resolves a file path of the manifest: a relative path against the manifest's
// folder, an absolute one as it is. Unless AllowOutside is set the result must lie inside
// the manifest's folder or inside Root, so that a manifest from elsewhere cannot make dmrnet
// read files such as ../../etc/passwd. The check is lexical (after cleaning "." and ".."
// elements); symbolic links inside the folders are followed, since whoever controls the data
// folder chose them.
func (spec ManifestSpec) resolvePath(p string) (string, error) {
	dir := filepath.Dir(spec.Path)
	resolved := p
	if !filepath.IsAbs(p) {
		resolved = filepath.Join(dir, p)
	}
	if spec.AllowOutside || within(dir, resolved) || spec.Root != "" && within(spec.Root, resolved) {
		return resolved, nil
	}
	where := "the manifest's folder " + dir
	if spec.Root != "" {
		where += " and data.root " + spec.Root
	}
	return "", fmt.Errorf("path %q lies outside %s (write paths relative to the manifest, inside its folder; set data.manifest.allow_outside: true to read files elsewhere)", p, where)
}

// within reports whether path lies inside the directory dir (or is dir), lexically.
func within(dir, path string) bool {
	ad, err1 := filepath.Abs(dir)
	ap, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(ad, ap)
	return err == nil && filepath.IsLocal(rel)
}

// showText returns s for a message: as it is when it is plain text, quoted when it holds
// control characters, quotes or surrounding blanks, so that a message stays on one line.
func showText(s string) string {
	if q := strconv.Quote(s); q[1:len(q)-1] == s && strings.TrimSpace(s) == s && s != "" {
		return s
	}
	return strconv.Quote(s)
}

// listNames lists names for a message, each shown with showText; after 20 it says how many
// more there are.
func listNames(names []string) string {
	const most = 20
	parts := make([]string, 0, min(len(names), most))
	for _, n := range names[:min(len(names), most)] {
		parts = append(parts, showText(n))
	}
	if len(names) > most {
		return fmt.Sprintf("%s and %d more", strings.Join(parts, ", "), len(names)-most)
	}
	return strings.Join(parts, ", ")
}

// readManifest parses the manifest CSV and resolves labels to class indices and file paths
// to paths dmrnet may open (see resolvePath).
func readManifest(spec ManifestSpec) ([]manifestRow, []string, error) {
	f, err := os.Open(spec.Path)
	if err != nil {
		return nil, nil, invalidf("manifest: %v", fileerr.Open(spec.Path, err))
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, nil, invalidf("%s: cannot read the header row: %v (start the manifest with a header: id, label, split and a column per modality)", spec.Path, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.TrimSpace(h)] = i
	}
	need := func(name string) (int, error) {
		i, ok := col[name]
		if !ok {
			return 0, invalidf("%s: no column %q in the header (columns: %s)", spec.Path, name, listNames(header))
		}
		return i, nil
	}
	idCol, err := need(spec.IDColumn)
	if err != nil {
		return nil, nil, err
	}
	labelCol, err := need(spec.LabelColumn)
	if err != nil {
		return nil, nil, err
	}
	splitCol, err := need(spec.SplitColumn)
	if err != nil {
		return nil, nil, err
	}
	modCols := make([]int, len(spec.Modalities))
	for m, mod := range spec.Modalities {
		if modCols[m], err = need(mod.Column); err != nil {
			return nil, nil, err
		}
	}
	var rows []manifestRow
	var labels []string
	seen := map[string]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos must not be called after a failed Read (it panics); a parse error
			// carries its own position.
			return nil, nil, invalidf("%s: %v", spec.Path, csvError(err))
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(header) {
			return nil, nil, invalidf("%s line %d: %d fields, the header has %d (give every row one field per column, empty for a missing modality)", spec.Path, line, len(rec), len(header))
		}
		row := manifestRow{line: line, id: strings.TrimSpace(rec[idCol]), split: strings.ToLower(strings.TrimSpace(rec[splitCol]))}
		if row.id == "" {
			return nil, nil, invalidf("%s line %d: empty id (give every sample an id)", spec.Path, line)
		}
		if prev, dup := seen[row.id]; dup {
			return nil, nil, invalidf("%s line %d: id %q already used on line %d (give every sample its own id)", spec.Path, line, row.id, prev)
		}
		seen[row.id] = line
		switch row.split {
		case "train", "val", "test":
		default:
			return nil, nil, invalidf("%s line %d: split %q is not a split (use train, val or test)", spec.Path, line, rec[splitCol])
		}
		any := false
		for m, mod := range spec.Modalities {
			p := strings.TrimSpace(rec[modCols[m]])
			if p != "" {
				if p, err = spec.resolvePath(p); err != nil {
					return nil, nil, invalidf("%s line %d (id %s), column %s: %v", spec.Path, line, showText(row.id), mod.Column, err)
				}
			}
			row.files = append(row.files, p)
			any = any || p != ""
		}
		if !any {
			return nil, nil, invalidf("%s line %d (id %s): every modality is missing (a sample needs at least one)", spec.Path, line, showText(row.id))
		}
		label := strings.TrimSpace(rec[labelCol])
		if label == "" {
			return nil, nil, invalidf("%s line %d (id %s): empty label (every sample needs its class)", spec.Path, line, showText(row.id))
		}
		rows = append(rows, row)
		labels = append(labels, label)
	}
	if len(rows) == 0 {
		return nil, nil, invalidf("%s: no samples (add a row per sample below the header)", spec.Path)
	}
	classes := spec.ClassNames
	if len(classes) == 0 {
		var err error
		if classes, err = checkLabels(spec.Path, rows, labels); err != nil {
			return nil, nil, err
		}
	}
	index := map[string]int{}
	for i, c := range classes {
		index[c] = i
	}
	for i, l := range labels {
		c, ok := index[l]
		if !ok {
			if k, err := strconv.Atoi(l); err == nil && k >= 0 && k < len(classes) && len(spec.ClassNames) > 0 {
				c, ok = k, true
			}
		}
		if !ok {
			hint := "fix the label, or add the class to data.manifest.class_names"
			if s := suggestLabel(l, classes); s != "" {
				hint = fmt.Sprintf("did you mean %q? %s", s, hint)
			}
			return nil, nil, invalidf("%s line %d: label %q is not one of the classes %s (%s)", spec.Path, rows[i].line, l, listNames(classes), hint)
		}
		rows[i].label = c
	}
	return rows, classes, nil
}

// csvError describes an error of encoding/csv in one line: the position and the problem of a
// parse error (a bare or unterminated quote), with a hint.
func csvError(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return fmt.Sprintf("line %d, character %d: %v (quote a field that holds commas, quotes or line breaks, and double its quotes: \"a \"\"b\"\"\")", pe.Line, pe.Column, pe.Err)
	}
	return err.Error()
}
