package dataset

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
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
	// distinct labels.
	ClassNames []string
	Modalities []ManifestModality
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
	files []string // per modality; "" = missing
}

// LoadManifest reads a manifest and decodes every referenced file in parallel. Audio
// modalities are standardised globally with training statistics (returned as
// StandardizeSpecs); images are normalised with their configured mean and std.
func LoadManifest(spec ManifestSpec) (*Dataset, []StandardizeSpec, error) {
	rows, classes, err := readManifest(spec)
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Dir(spec.Path)
	d := &Dataset{Name: strings.TrimSuffix(filepath.Base(spec.Path), filepath.Ext(spec.Path)), Classes: classes}
	for _, m := range spec.Modalities {
		d.Modalities = append(d.Modalities, Modality{Name: m.Name, Shape: m.shape()})
	}
	all := &Split{Y: make([]int, len(rows)), Avail: make([]combo.Set, len(rows))}
	for _, mod := range d.Modalities {
		all.X = append(all.X, make([]float32, len(rows)*mod.Size()))
	}
	for i, r := range rows {
		all.Y[i] = r.label
		for m, f := range r.files {
			if f != "" {
				all.Avail[i] |= 1 << uint(m)
			}
		}
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
		path := filepath.Join(dir, r.files[j.mod])
		size := d.Modalities[j.mod].Size()
		dst := all.X[j.mod][j.row*size : (j.row+1)*size]
		if err := decodeFile(path, mod, dst, ex, j.mod); err != nil {
			return fmt.Errorf("%s line %d (id %s), column %s: %w", spec.Path, r.line, r.id, mod.Column, err)
		}
		return nil
	}, func() map[int]*audio.Extractor { return map[int]*audio.Extractor{} })
	if err != nil {
		return nil, nil, invalidf("%v", err)
	}
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
		return nil, nil, invalidf("%s has %d train and %d test rows (both splits need samples)", spec.Path, len(train), len(test))
	}
	d.Train = all.Subset(train, d.Modalities)
	d.Test = all.Subset(test, d.Modalities)
	if len(val) > 0 {
		d.Val = all.Subset(val, d.Modalities)
	}
	var std []StandardizeSpec
	for m, mod := range spec.Modalities {
		if mod.Type == "audio" {
			std = append(std, StandardizeSpec{Modality: m})
		}
	}
	return d, std, nil
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
			dst[i] = float32(v)
		}
	default:
		return fmt.Errorf("unknown modality type %q", mod.Type)
	}
	return nil
}

// readManifest parses the manifest CSV and resolves labels to class indices.
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
			return 0, invalidf("%s: no column %q in the header (columns: %s)", spec.Path, name, strings.Join(header, ", "))
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
		line, _ := r.FieldPos(0)
		if err != nil {
			return nil, nil, invalidf("%s: %v", spec.Path, err)
		}
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
		for m := range spec.Modalities {
			p := strings.TrimSpace(rec[modCols[m]])
			row.files = append(row.files, p)
			any = any || p != ""
		}
		if !any {
			return nil, nil, invalidf("%s line %d (id %s): every modality is missing (a sample needs at least one)", spec.Path, line, row.id)
		}
		rows = append(rows, row)
		labels = append(labels, strings.TrimSpace(rec[labelCol]))
	}
	if len(rows) == 0 {
		return nil, nil, invalidf("%s: no samples (add a row per sample below the header)", spec.Path)
	}
	classes := spec.ClassNames
	if len(classes) == 0 {
		set := map[string]bool{}
		for _, l := range labels {
			set[l] = true
		}
		for l := range set {
			classes = append(classes, l)
		}
		sort.Strings(classes)
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
			return nil, nil, invalidf("%s line %d: label %q is not one of the classes %s (correct the label, or add it to data.manifest.class_names)", spec.Path, rows[i].line, l, strings.Join(classes, ", "))
		}
		rows[i].label = c
	}
	return rows, classes, nil
}
