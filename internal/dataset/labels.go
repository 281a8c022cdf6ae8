package dataset

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/dmrnet/dmrnet/internal/table"
)

// MaxClasses bounds the number of classes of a data set. The classifier's output layer grows
// with it, and so does every combination's confusion matrix in sweep.json (C x C counts): at
// 10000 classes one matrix holds 10^8 counts. A stray label such as 999999 in a labels file
// would otherwise create that many classes and exhaust memory before training starts.
const MaxClasses = 10000

// tableLabels turns the values of a table data set's labels file into class indices and
// returns them with the class names.
//
// Labels are whole numbers. Without names, the classes are 0..C-1 and every one of them must
// occur: a label above a gap (the stray 999999 among labels 0..9) and labels that do not start
// at 0 (1..10, which would leave class 0 empty) are errors that name the file and the row, and
// C is at most MaxClasses. With names, labels must be below len(names); a named class may
// have no row.
func tableLabels(file string, data []float64, names []string) ([]int, []string, error) {
	const fix = "classes must be 0..C-1, each with a row: fix the label, or name every class with data.table.class_names"
	y := make([]int, len(data))
	first := map[int]int{} // label -> its first row (0-based)
	for i, v := range data {
		switch {
		case v != math.Trunc(v) || v < 0:
			return nil, nil, invalidf("%s row %d: label %v is not a class index (labels are whole numbers 0, 1, ..., C-1)", file, i+1, v)
		case len(names) > 0 && v >= float64(len(names)):
			return nil, nil, invalidf("%s row %d: label %v, but data.table.class_names names %d classes (labels must be 0..%d; add the missing class names or fix the label)",
				file, i+1, v, len(names), len(names)-1)
		case v >= 1<<52:
			return nil, nil, invalidf("%s row %d: label %v is far beyond the %d classes dmrnet supports (%s)", file, i+1, v, MaxClasses, fix)
		}
		y[i] = int(v)
		if _, ok := first[y[i]]; !ok {
			first[y[i]] = i
		}
	}
	if len(names) > 0 {
		return y, names, nil
	}
	distinct := make([]int, 0, len(first))
	for c := range first {
		distinct = append(distinct, c)
	}
	slices.Sort(distinct)
	if len(distinct) > 0 && distinct[0] != 0 {
		return nil, nil, invalidf("%s: no row has label 0; the labels use %s (classes must be 0..C-1, each with a row: renumber them from 0, or name every class with data.table.class_names)",
			file, intRanges(distinct))
	}
	for k, c := range distinct {
		if c == k {
			continue
		}
		missing := fmt.Sprintf("label %d", k)
		if c-1 > k {
			missing = fmt.Sprintf("a label in %d..%d", k, c-1)
		}
		return nil, nil, invalidf("%s row %d: label %d, but no row has %s (the labels use %s; %s)",
			file, first[c]+1, c, missing, intRanges(distinct), fix)
	}
	if len(distinct) > MaxClasses {
		return nil, nil, invalidf("%s: %d classes (labels 0..%d), more than the %d dmrnet supports (merge classes, or split the task)",
			file, len(distinct), len(distinct)-1, MaxClasses)
	}
	classes := make([]string, len(distinct))
	for c := range classes {
		classes[c] = strconv.Itoa(c)
	}
	return y, classes, nil
}

// intRanges describes sorted distinct integers as ranges, "0..9, 999999"; after four ranges
// it says how many more there are.
func intRanges(v []int) string {
	var parts []string
	for i := 0; i < len(v); {
		j := i
		for j+1 < len(v) && v[j+1] == v[j]+1 {
			j++
		}
		if j > i {
			parts = append(parts, fmt.Sprintf("%d..%d", v[i], v[j]))
		} else {
			parts = append(parts, strconv.Itoa(v[i]))
		}
		i = j + 1
	}
	if len(parts) > 4 {
		return fmt.Sprintf("%s and %d more ranges", strings.Join(parts[:4], ", "), len(parts)-4)
	}
	return strings.Join(parts, ", ")
}

// toFloat32 converts a matrix read from file to the float32 values the models compute with.
// Parsing accepts every float64, up to 1.8e308, but float32 ends at 3.4e38 and the conversion
// of a larger value gives an infinity, so such a value is an error that names the file, the
// row and the column (rows count the data rows, 1-based).
func toFloat32(file string, m *table.Matrix) ([]float32, error) {
	out := make([]float32, len(m.Data))
	for i, v := range m.Data {
		f := float32(v)
		if math.IsInf(float64(f), 0) {
			return nil, invalidf("%s row %d, column %d: value %g is beyond the float32 range of ±3.4e38 (the models compute in float32: rescale the column, e.g. change its unit)",
				file, i/m.Cols+1, i%m.Cols+1, v)
		}
		out[i] = f
	}
	return out, nil
}

// suggestLabel returns the label of candidates closest to l in edit distance, or "" when
// none is close (at most a third of the longer label's letters differ, and at least one).
func suggestLabel(l string, candidates []string) string {
	best, bestD := "", math.MaxInt
	for _, c := range candidates {
		if c == l {
			continue
		}
		d := editDistance(strings.ToLower(l), strings.ToLower(c))
		if d < bestD || d == bestD && c < best {
			best, bestD = c, d
		}
	}
	if best == "" || bestD > max(1, max(len(l), len(best))/3) {
		return ""
	}
	return best
}

// editDistance is the optimal-string-alignment distance of a and b, counted in bytes: the
// number of insertions, deletions, substitutions and transpositions of adjacent letters
// ("lvie" is one from "live").
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
