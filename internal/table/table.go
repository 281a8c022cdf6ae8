// Package table reads numeric matrices from CSV and NPY files.
//
// Both readers return a dense row-major Matrix of float64 and refuse NaN and Inf values,
// which the models cannot use: missing values must be imputed or the rows dropped first.
//
// Errors are one line that starts with the name the caller passed (usually the file's
// path) and says where the problem is: line and column for CSV, row and column or byte
// offset for NPY.
package table

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/dmrnet/dmrnet/internal/fileerr"
)

// Matrix is a dense matrix of float64 values.
type Matrix struct {
	// Rows and Cols are the matrix dimensions.
	Rows, Cols int
	// Data holds the Rows*Cols values in row-major order.
	Data []float64
	// Shape is the shape of the source array: [Rows, Cols] for CSV files and 2-D NPY
	// arrays, [n] for 1-D NPY arrays (Rows n, Cols 1), [] for 0-D arrays (Rows 1, Cols 1),
	// and the full shape of N-D arrays, whose trailing dimensions are flattened into Cols.
	Shape []int
}

// At returns the value at row i, column j.
func (m *Matrix) At(i, j int) float64 {
	if i < 0 || i >= m.Rows || j < 0 || j >= m.Cols {
		panic(fmt.Sprintf("table: index (%d, %d) out of range for a %d x %d matrix", i, j, m.Rows, m.Cols))
	}
	return m.Data[i*m.Cols+j]
}

// Row returns row i as a slice of Data; changing it changes the matrix.
func (m *Matrix) Row(i int) []float64 {
	if i < 0 || i >= m.Rows {
		panic(fmt.Sprintf("table: row %d out of range for a matrix of %d rows", i, m.Rows))
	}
	return m.Data[i*m.Cols : (i+1)*m.Cols]
}

// ReadFile reads the matrix at path, choosing the format by the file extension:
// ".csv" (comma-separated, no header) or ".npy", in any letter case.
func ReadFile(path string) (*Matrix, error) {
	ext := strings.ToLower(filepath.Ext(path))
	switch ext {
	case ".csv":
		return ReadFileAs(path, "csv")
	case ".npy":
		return ReadFileAs(path, "npy")
	}
	if ext == "" {
		return nil, fmt.Errorf("%s: no file extension (want .csv or .npy)", path)
	}
	return nil, fmt.Errorf("%s: unsupported file extension %q (want .csv or .npy)", path, ext)
}

// ReadFileAs reads the matrix at path in the given format, "csv" (comma-separated, no
// header) or "npy", whatever the file's extension.
func ReadFileAs(path, format string) (*Matrix, error) {
	var read func(f *os.File) (*Matrix, error)
	switch format {
	case "csv":
		read = func(f *os.File) (*Matrix, error) { return ReadCSV(f, path) }
	case "npy":
		read = func(f *os.File) (*Matrix, error) { return ReadNPY(f, path) }
	default:
		return nil, fmt.Errorf("%s: unknown table format %q (want \"csv\" or \"npy\")", path, format)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fileerr.Open(path, err)
	}
	defer f.Close()
	return read(f)
}
