package table

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// CSVOptions controls ReadCSVWith.
type CSVOptions struct {
	// Header says that the first record is a header row, which is skipped.
	Header bool
	// Comma is the field delimiter; 0 means ','. It must be a valid rune other than
	// '"', '\r' and '\n'.
	Comma rune
}

// ReadCSV reads a comma-separated matrix without a header row from r: one row per line,
// every row with the same number of numeric values. Spaces around values are ignored and
// values may be quoted. Empty lines are skipped. The name is used in error messages only.
//
// Error positions are 1-based: "line" counts lines of the file and "column" counts values
// along the line, so "line 3, column 2" is the second value of the third line.
func ReadCSV(r io.Reader, name string) (*Matrix, error) {
	return ReadCSVWith(r, name, CSVOptions{})
}

// ReadCSVWith is ReadCSV with options. It panics if opt.Comma is not a valid delimiter.
func ReadCSVWith(r io.Reader, name string, opt CSVOptions) (*Matrix, error) {
	comma := opt.Comma
	if comma == 0 {
		comma = ','
	}
	if comma == '"' || comma == '\r' || comma == '\n' || !utf8.ValidRune(comma) || comma == utf8.RuneError {
		panic(fmt.Sprintf("table: invalid CSVOptions.Comma %q", comma))
	}
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	// With a white-space delimiter, trimming leading space would merge empty fields.
	cr.TrimLeadingSpace = !unicode.IsSpace(comma)

	var (
		data       []float64
		rows       int
		cols       = -1
		firstLine  int
		headerSeen = !opt.Header
	)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s: line %d, character %d: %v", name, pe.Line, pe.Column, pe.Err)
			}
			return nil, fmt.Errorf("%s: reading CSV data: %v", name, err)
		}
		line, _ := cr.FieldPos(0)
		if !headerSeen {
			headerSeen = true
			continue
		}
		rows++
		if cols < 0 {
			cols, firstLine = len(rec), line
		} else if len(rec) != cols {
			return nil, fmt.Errorf("%s: line %d: row %d has %d values, the first row (line %d) has %d (every row needs the same number of values)", name, line, rows, len(rec), firstLine, cols)
		}
		for j, field := range rec {
			s := strings.TrimSpace(field)
			if s == "" {
				l, _ := cr.FieldPos(j)
				hint := "missing value? impute it or drop the row"
				if j == len(rec)-1 && j > 0 {
					hint = "trailing delimiter, or a missing value? impute it or drop the row"
				}
				return nil, fmt.Errorf("%s: line %d, column %d: empty cell (%s)", name, l, j+1, hint)
			}
			v, err := strconv.ParseFloat(s, 64)
			if err != nil && !(errors.Is(err, strconv.ErrRange) && !math.IsInf(v, 0)) {
				l, _ := cr.FieldPos(j)
				if errors.Is(err, strconv.ErrRange) {
					return nil, fmt.Errorf("%s: line %d, column %d: value %q is out of the float64 range", name, l, j+1, s)
				}
				return nil, fmt.Errorf("%s: line %d, column %d: cannot parse %q as a number (write plain numbers such as 0.5 or -1e-3)", name, l, j+1, s)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				l, _ := cr.FieldPos(j)
				return nil, fmt.Errorf("%s: line %d, column %d: value %q: NaN/Inf is not allowed (impute the missing values or drop the row)", name, l, j+1, s)
			}
			data = append(data, v)
		}
	}
	if rows == 0 {
		if opt.Header {
			return nil, fmt.Errorf("%s: empty file: no data rows after the header", name)
		}
		return nil, fmt.Errorf("%s: empty file: no rows", name)
	}
	return &Matrix{Rows: rows, Cols: cols, Data: data, Shape: []int{rows, cols}}, nil
}
