package table

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/fileerr"
)

// RowReader streams a matrix from a CSV or NPY file one row at a time, so that inputs far
// larger than memory can be processed in bounded space.
//
// Unlike ReadCSV and ReadNPY it allows missing rows, which mark a sample that lacks the
// file's view: an empty CSV line, a CSV line whose cells are all empty, or a row whose values
// are all NaN (CSV "nan"/"NaN" or an NPY NaN) is returned as missing. A row that mixes values
// with empty or NaN cells, an infinite value, a value that is not a number and a row of
// another width than the others are errors that name the file, the line (CSV) or row (NPY)
// and the column.
type RowReader struct {
	name string
	f    *os.File
	br   *bufio.Reader
	npy  bool
	// NPY: the dtype, the row size in bytes and the rows the header declares.
	dt    dtype
	rowB  []byte
	nrows int
	// cols is the row width (-1 until a CSV row fixes it); row and line count rows and
	// lines read so far.
	cols      int
	row, line int
	offset    int64
	vals      []float64
}

// OpenRows opens path for streaming. format is "csv", "npy" or "" (by the file's
// extension, as ReadFile).
func OpenRows(path, format string) (*RowReader, error) {
	if format == "" {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".csv":
			format = "csv"
		case ".npy":
			format = "npy"
		default:
			return nil, fmt.Errorf("%s: unsupported file extension %q (want .csv or .npy)", path, filepath.Ext(path))
		}
	}
	if format != "csv" && format != "npy" {
		return nil, fmt.Errorf("%s: unsupported format %q (want csv or npy)", path, format)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	r := &RowReader{name: path, f: f, br: bufio.NewReaderSize(f, 1<<16), npy: format == "npy", cols: -1}
	if r.npy {
		info, err := readNPYHeader(countingReader{r.br, &r.offset}, path)
		if err != nil {
			f.Close()
			return nil, err
		}
		if info.header.fortran {
			f.Close()
			return nil, fmt.Errorf("%s: the array is stored in Fortran (column-major) order, only C order is supported (save it with np.save(path, np.ascontiguousarray(a)))", path)
		}
		r.dt, r.nrows, r.cols = info.dt, info.rows, info.cols
		// Check what the header declares against the file before allocating a row: a few
		// bytes can declare rows of terabytes.
		want := int64(info.count) * int64(info.dt.size)
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			if have := fi.Size() - int64(info.dstart); have < want {
				f.Close()
				return nil, fmt.Errorf("%s: truncated data: shape %s of %s needs %d bytes after byte offset %d, only %d are present",
					path, shapeString(info.shape), info.header.descr, want, info.dstart, max(have, 0))
			}
		} else if rowBytes := r.cols * info.dt.size; r.nrows > 0 && rowBytes > maxStreamRow {
			f.Close()
			return nil, fmt.Errorf("%s: rows of %d bytes (shape %s of %s) are too large to stream from a file that is not a regular file (at most %d)",
				path, rowBytes, shapeString(info.shape), info.header.descr, maxStreamRow)
		}
		if r.nrows > 0 {
			r.rowB = make([]byte, r.cols*info.dt.size)
		}
	}
	return r, nil
}

// maxStreamRow bounds the row size RowReader allocates for an NPY stream whose size it
// cannot check (a pipe rather than a regular file).
const maxStreamRow = 1 << 28

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n *int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	*c.n += int64(k)
	return k, err
}

// Close closes the file.
func (r *RowReader) Close() error { return r.f.Close() }

// Name is the file's path, as errors name it.
func (r *RowReader) Name() string { return r.name }

// Where says where the last row came from: "line N" of a CSV file or "row N" of an NPY
// file (1-based).
func (r *RowReader) Where() string {
	if r.npy {
		return fmt.Sprintf("row %d", r.row)
	}
	return fmt.Sprintf("line %d", r.line)
}

// Offset is the number of bytes consumed so far (for progress against the file size).
func (r *RowReader) Offset() int64 { return r.offset }

// Next returns the next row, nil for a missing row, and io.EOF after the last one. The
// returned slice is reused by the next call.
func (r *RowReader) Next() ([]float64, error) {
	if r.npy {
		return r.nextNPY()
	}
	return r.nextCSV()
}

func (r *RowReader) nextNPY() ([]float64, error) {
	if r.row >= r.nrows {
		if _, err := r.br.ReadByte(); err == nil {
			return nil, fmt.Errorf("%s: trailing data after the %d rows the header declares", r.name, r.nrows)
		}
		return nil, io.EOF
	}
	n, err := io.ReadFull(r.br, r.rowB)
	r.offset += int64(n)
	if err != nil {
		return nil, fmt.Errorf("%s: truncated data: row %d of %d is incomplete (%d of %d bytes)", r.name, r.row+1, r.nrows, n, len(r.rowB))
	}
	r.row++
	if cap(r.vals) < r.cols {
		r.vals = make([]float64, r.cols)
	}
	v := r.vals[:r.cols]
	for j := range v {
		v[j] = r.dt.at(r.rowB[j*r.dt.size : (j+1)*r.dt.size])
	}
	return r.check(v, nil)
}

func (r *RowReader) nextCSV() ([]float64, error) {
	line, err := r.br.ReadString('\n')
	r.offset += int64(len(line))
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("%s: %w", r.name, err)
	}
	r.line++
	r.row++
	line = strings.TrimRight(line, "\r\n")
	var cells []string
	if strings.ContainsRune(line, '"') {
		cr := csv.NewReader(strings.NewReader(line))
		cr.TrimLeadingSpace = true
		if cells, err = cr.Read(); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", r.name, r.line, err)
		}
	} else {
		cells = strings.Split(line, ",")
	}
	if len(cells) == 1 && strings.TrimSpace(cells[0]) == "" {
		return nil, nil // an empty line: the view is missing for this sample
	}
	if r.cols >= 0 && len(cells) != r.cols {
		return nil, fmt.Errorf("%s: line %d: %d values, the rows before have %d (every row needs the same number: leave a line empty to mark the view missing)", r.name, r.line, len(cells), r.cols)
	}
	r.cols = len(cells)
	if cap(r.vals) < len(cells) {
		r.vals = make([]float64, len(cells))
	}
	v := r.vals[:len(cells)]
	for j, c := range cells {
		c = strings.TrimSpace(c)
		if c == "" {
			v[j] = math.NaN()
			continue
		}
		x, err := strconv.ParseFloat(c, 64)
		if err != nil && !(errors.Is(err, strconv.ErrRange) && !math.IsInf(x, 0)) {
			return nil, fmt.Errorf("%s: line %d, column %d: cannot parse %q as a number", r.name, r.line, j+1, c)
		}
		v[j] = x
	}
	return r.check(v, cells)
}

// check returns nil for an all-missing row and refuses partly missing or infinite rows.
func (r *RowReader) check(v []float64, cells []string) ([]float64, error) {
	missing := 0
	for _, x := range v {
		if math.IsNaN(x) {
			missing++
		}
	}
	if missing == len(v) {
		return nil, nil
	}
	for j, x := range v {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			what := fmt.Sprint(x)
			if cells != nil {
				what = strconv.Quote(strings.TrimSpace(cells[j]))
			}
			if math.IsInf(x, 0) {
				return nil, fmt.Errorf("%s: %s, column %d: value %s is infinite (give a finite value)", r.name, r.Where(), j+1, what)
			}
			return nil, fmt.Errorf("%s: %s, column %d: value %s is missing while the row's other values are present (give every value, or leave the whole row empty or NaN to mark the view missing)", r.name, r.Where(), j+1, what)
		}
	}
	return v, nil
}
