// Package inputs streams new samples from files for a trained model: a manifest CSV (an id
// column and one column per modality holding a file path; an empty cell means the sample
// lacks that modality) or one CSV/NPY file per view with rows aligned (an empty or all-NaN
// row means the sample lacks that view), with optional labels. Readers return records in
// chunks, so inputs far larger than memory are processed in bounded space.
package inputs

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/fileerr"
	"github.com/dmrnet/dmrnet/internal/table"
)

// Record is one sample read from the input.
type Record struct {
	// Where locates the sample for messages: "FILE line N" (manifest, CSV views) or
	// "FILE row N" (NPY views).
	Where string
	ID    string
	// Vectors holds rows of numbers by modality name, Files file paths (resolved against the
	// manifest's folder); a modality absent from both is missing.
	Vectors map[string][]float64
	Files   map[string]string
	// Label is the sample's label as written ("" without labels).
	Label string
	// Locs locates each view's row ("FILE line N") for messages about one modality.
	Locs map[string]string
}

// Reader returns records in chunks.
type Reader interface {
	// Next returns up to n records; io.EOF when there are no more.
	Next(n int) ([]Record, error)
	// Progress returns the bytes consumed and the input's total size.
	Progress() (done, total int64)
	Close() error
}

// ManifestOptions name the columns of a manifest.
type ManifestOptions struct {
	// Columns maps a column name to the modality it holds.
	Columns map[string]string
	// IDColumn is the id column (default "id"; without one the row number is the id).
	IDColumn string
	// LabelColumn is the label column (default "label"); RequireLabels makes it mandatory.
	LabelColumn   string
	RequireLabels bool
	// Ignore lists further columns that are allowed and ignored (e.g. "split").
	Ignore []string
}

// Manifest streams a manifest CSV.
type Manifest struct {
	path     string
	dir      string
	f        *os.File
	cr       *csv.Reader
	counter  *countReader
	size     int64
	idCol    int
	labelCol int
	modCols  map[int]string
	header   int
	rows     int
	seen     map[string]int
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n += int64(k)
	return k, err
}

// OpenManifest opens a manifest and checks its header: every column must be the id, the
// label, an ignored column or a modality; a modality without a column is missing for every
// sample.
func OpenManifest(path string, o ManifestOptions) (*Manifest, error) {
	if o.IDColumn == "" {
		o.IDColumn = "id"
	}
	if o.LabelColumn == "" {
		o.LabelColumn = "label"
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	cnt := &countReader{r: bufio.NewReaderSize(f, 1<<16)}
	cr := csv.NewReader(cnt)
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		f.Close()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: the file is empty (want a header row: %s and one column per modality)", path, o.IDColumn)
		}
		return nil, fmt.Errorf("%s: cannot read the header row: %v", path, err)
	}
	m := &Manifest{path: path, dir: filepath.Dir(path), f: f, cr: cr, counter: cnt, size: fi.Size(),
		idCol: -1, labelCol: -1, modCols: map[int]string{}, header: len(header), seen: map[string]int{}}
	ignore := map[string]bool{}
	for _, c := range o.Ignore {
		ignore[c] = true
	}
	var mods []string
	for name := range o.Columns {
		mods = append(mods, name)
	}
	sort.Strings(mods)
	for i, h := range header {
		h = strings.TrimSpace(h)
		switch {
		case h == o.IDColumn:
			m.idCol = i
		case h == o.LabelColumn:
			m.labelCol = i
		case o.Columns[h] != "":
			m.modCols[i] = o.Columns[h]
		case ignore[h]:
		default:
			f.Close()
			return nil, fmt.Errorf("%s: column %q is not a modality of the model (rename or remove it: the model's modality columns are %s, and the others allowed are %s, %s%s)",
				path, h, strings.Join(mods, ", "), o.IDColumn, o.LabelColumn, prefixJoin(", ", o.Ignore))
		}
	}
	if len(m.modCols) == 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no modality column, the header has %s (give a column for each modality the samples have: %s)", path, strings.Join(header, ", "), strings.Join(mods, ", "))
	}
	if o.RequireLabels && m.labelCol < 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no %q column (evaluation needs every sample's label)", path, o.LabelColumn)
	}
	return m, nil
}

func prefixJoin(sep string, v []string) string {
	if len(v) == 0 {
		return ""
	}
	return sep + strings.Join(v, sep)
}

// Next returns up to n records.
func (m *Manifest) Next(n int) ([]Record, error) {
	var out []Record
	for len(out) < n {
		rec, err := m.cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// FieldPos must not be called after a failed Read (it panics); a parse error
			// carries its own position.
			return nil, fmt.Errorf("%s: %v", m.path, csvError(err))
		}
		line, _ := m.cr.FieldPos(0)
		if len(rec) != m.header {
			return nil, fmt.Errorf("%s line %d: %d fields, the header has %d", m.path, line, len(rec), m.header)
		}
		m.rows++
		r := Record{Where: fmt.Sprintf("%s line %d", m.path, line), ID: strconv.Itoa(m.rows), Files: map[string]string{}}
		if m.idCol >= 0 {
			r.ID = strings.TrimSpace(rec[m.idCol])
			if r.ID == "" {
				return nil, fmt.Errorf("%s line %d: empty id", m.path, line)
			}
			if prev, dup := m.seen[r.ID]; dup {
				return nil, fmt.Errorf("%s line %d: id %q already used on line %d", m.path, line, r.ID, prev)
			}
			m.seen[r.ID] = line
		}
		if m.labelCol >= 0 {
			r.Label = strings.TrimSpace(rec[m.labelCol])
		}
		for col, mod := range m.modCols {
			if p := strings.TrimSpace(rec[col]); p != "" {
				if !filepath.IsAbs(p) {
					p = filepath.Join(m.dir, p)
				}
				r.Files[mod] = p
			}
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		if m.rows == 0 {
			return nil, fmt.Errorf("%s has no samples (only a header row)", m.path)
		}
		return nil, io.EOF
	}
	return out, nil
}

// Progress returns the bytes read and the file's size.
func (m *Manifest) Progress() (int64, int64) { return m.counter.n, m.size }

// Close closes the file.
func (m *Manifest) Close() error { return m.f.Close() }

// Views streams one file per view with rows aligned, and an optional labels file.
type Views struct {
	names  []string
	rows   []*table.RowReader
	labels *labelReader
	size   int64
	n      int
}

// OpenViews opens the view files (name -> path, CSV or NPY by extension) and, when labels is
// not empty, a labels file (one label per line: a class name or index; or an NPY vector).
func OpenViews(views map[string]string, labels string) (*Views, error) {
	v := &Views{}
	for name := range views {
		v.names = append(v.names, name)
	}
	sort.Strings(v.names)
	for _, name := range v.names {
		r, err := table.OpenRows(views[name], "")
		if err != nil {
			v.Close()
			return nil, err
		}
		v.rows = append(v.rows, r)
		if fi, err := os.Stat(views[name]); err == nil {
			v.size += fi.Size()
		}
	}
	if labels != "" {
		lr, err := openLabels(labels)
		if err != nil {
			v.Close()
			return nil, err
		}
		v.labels = lr
		v.size += lr.size
	}
	return v, nil
}

// Next returns up to n records; every view must have the same number of rows.
func (v *Views) Next(n int) ([]Record, error) {
	var out []Record
	for len(out) < n {
		r := Record{Vectors: map[string][]float64{}, Locs: map[string]string{}}
		ended := -1
		for k, rr := range v.rows {
			row, err := rr.Next()
			if errors.Is(err, io.EOF) {
				if k > 0 && ended < 0 {
					return nil, fmt.Errorf("%s: %d rows, %s has more (views need one row per sample, rows aligned)", rr.Name(), v.n, v.rows[0].Name())
				}
				ended = k
				continue
			}
			if err != nil {
				return nil, err
			}
			if ended >= 0 {
				return nil, fmt.Errorf("%s: %d rows, %s has more (views need one row per sample, rows aligned)", v.rows[ended].Name(), v.n, rr.Name())
			}
			if row != nil {
				r.Vectors[v.names[k]] = append([]float64(nil), row...)
			}
			r.Locs[v.names[k]] = rr.Name() + " " + rr.Where()
		}
		if ended >= 0 {
			if v.labels != nil {
				if _, err := v.labels.next(); !errors.Is(err, io.EOF) {
					return nil, fmt.Errorf("%s: more rows than the views, which have %d (give one label per view row)", v.labels.name, v.n)
				}
			}
			break
		}
		v.n++
		r.ID = strconv.Itoa(v.n)
		r.Where = fmt.Sprintf("%s %s", v.rows[0].Name(), v.rows[0].Where())
		if len(v.rows) > 1 {
			r.Where = fmt.Sprintf("sample %d (row %d of every view)", v.n, v.n)
		}
		if v.labels != nil {
			l, err := v.labels.next()
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s has %d labels, the views have more rows", v.labels.name, v.n-1)
			}
			if err != nil {
				return nil, err
			}
			r.Label = l
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		if v.n == 0 {
			return nil, fmt.Errorf("%s has no rows", v.rows[0].Name())
		}
		return nil, io.EOF
	}
	return out, nil
}

// Progress returns the bytes read and the files' total size.
func (v *Views) Progress() (int64, int64) {
	var done int64
	for _, r := range v.rows {
		done += r.Offset()
	}
	if v.labels != nil {
		done += v.labels.offset()
	}
	return done, v.size
}

// Close closes every file.
func (v *Views) Close() error {
	for _, r := range v.rows {
		r.Close()
	}
	if v.labels != nil {
		v.labels.close()
	}
	return nil
}

// labelReader reads one label per line of a text file, or the values of an NPY vector.
type labelReader struct {
	name string
	size int64
	f    *os.File
	cnt  *countReader
	br   *bufio.Reader
	npy  *table.RowReader
	line int
}

func openLabels(path string) (*labelReader, error) {
	l := &labelReader{name: path}
	if fi, err := os.Stat(path); err == nil {
		l.size = fi.Size()
	}
	if strings.EqualFold(filepath.Ext(path), ".npy") {
		r, err := table.OpenRows(path, "npy")
		if err != nil {
			return nil, err
		}
		l.npy = r
		return l, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	l.f, l.cnt = f, &countReader{r: f}
	l.br = bufio.NewReader(l.cnt)
	return l, nil
}

func (l *labelReader) next() (string, error) {
	if l.npy != nil {
		row, err := l.npy.Next()
		if err != nil {
			return "", err
		}
		if len(row) != 1 {
			return "", fmt.Errorf("%s: %s: labels need one value per row", l.name, l.npy.Where())
		}
		return strconv.FormatFloat(row[0], 'g', -1, 64), nil
	}
	s, err := l.br.ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && s != "") {
		return "", err
	}
	l.line++
	s = strings.Trim(strings.TrimSpace(s), `"`)
	if s == "" {
		return "", fmt.Errorf("%s line %d: empty label (every sample needs one)", l.name, l.line)
	}
	return s, nil
}

func (l *labelReader) offset() int64 {
	if l.npy != nil {
		return l.npy.Offset()
	}
	return l.cnt.n - int64(l.br.Buffered())
}

func (l *labelReader) close() {
	if l.npy != nil {
		l.npy.Close()
	}
	if l.f != nil {
		l.f.Close()
	}
}

// ClassIndex resolves a label written as a class name or a class index; the error names
// the classes.
func ClassIndex(label string, classes []string) (int, error) {
	for i, c := range classes {
		if c == label {
			return i, nil
		}
	}
	if k, err := strconv.Atoi(label); err == nil && k >= 0 && k < len(classes) {
		return k, nil
	}
	if f, err := strconv.ParseFloat(label, 64); err == nil && f == float64(int(f)) && int(f) >= 0 && int(f) < len(classes) {
		return int(f), nil
	}
	return 0, fmt.Errorf("label %q is not one of the model's classes (use %s, or an index 0..%d)", label, strings.Join(classes, ", "), len(classes)-1)
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
