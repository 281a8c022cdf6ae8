package report

import (
	"encoding/json"
	"math"
	"reflect"
	"sync"
)

// Metrics that have no value are NaN in memory: the accuracy and macro-F1 of a combination
// that no sample of the split has (see Row.Evaluated), and the means and worst of a sweep
// without any evaluated combination. JSON has no NaN, so such a value is written as null and
// null is read back as NaN; a missing field reads as 0, as before. The field names and their
// order stay those of the Go types, which are the public contract.

// MarshalJSON writes r with NaN metrics as null.
func (r Row) MarshalJSON() ([]byte, error) { return marshalNullNaN(r) }

// UnmarshalJSON reads r, null metrics as NaN. A row with "n": 0 has no measured metrics,
// whatever the file says: sweep.json files written before dmrnet knew n/a rows hold an
// accuracy of 0 there, which is read as NaN too.
func (r *Row) UnmarshalJSON(data []byte) error {
	if err := unmarshalNullNaN(data, r); err != nil {
		return err
	}
	if r.N == 0 {
		r.setNA()
	}
	return nil
}

// MarshalJSON writes w with a NaN accuracy as null.
func (w Worst) MarshalJSON() ([]byte, error) { return marshalNullNaN(w) }

// UnmarshalJSON reads w, a null accuracy as NaN.
func (w *Worst) UnmarshalJSON(data []byte) error { return unmarshalNullNaN(data, w) }

// MarshalJSON writes s with NaN means as null.
func (s Sweep) MarshalJSON() ([]byte, error) { return marshalNullNaN(s) }

// UnmarshalJSON reads s, null means as NaN.
func (s *Sweep) UnmarshalJSON(data []byte) error { return unmarshalNullNaN(data, s) }

// nullFloat is a float64 that JSON writes as null when it is NaN and reads as NaN from null.
type nullFloat float64

// MarshalJSON writes f, NaN as null.
func (f nullFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// UnmarshalJSON reads f, null as NaN.
func (f *nullFloat) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		*f = nullFloat(math.NaN())
		return nil
	}
	var v float64
	err := json.Unmarshal(data, &v)
	*f = nullFloat(v)
	return err
}

// mirrors caches, per struct type, a struct type with the same fields (names, tags and
// order) in which every float64 field is a nullFloat. It has no JSON methods of its own, so
// encoding/json treats it field by field.
var mirrors sync.Map // reflect.Type -> reflect.Type

func mirrorOf(t reflect.Type) reflect.Type {
	if m, ok := mirrors.Load(t); ok {
		return m.(reflect.Type)
	}
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		f := t.Field(i)
		if f.Type == reflect.TypeFor[float64]() {
			f.Type = reflect.TypeFor[nullFloat]()
		}
		fields[i] = f
	}
	m, _ := mirrors.LoadOrStore(t, reflect.StructOf(fields))
	return m.(reflect.Type)
}

// marshalNullNaN encodes the struct v with NaN float64 fields as null.
func marshalNullNaN(v any) ([]byte, error) {
	src := reflect.ValueOf(v)
	dst := reflect.New(mirrorOf(src.Type())).Elem()
	for i := range src.NumField() {
		dst.Field(i).Set(src.Field(i).Convert(dst.Field(i).Type()))
	}
	return json.Marshal(dst.Interface())
}

// unmarshalNullNaN decodes data into the struct that ptr points to, null float64 fields as
// NaN; fields that data lacks keep their value.
func unmarshalNullNaN(data []byte, ptr any) error {
	dst := reflect.ValueOf(ptr).Elem()
	m := reflect.New(mirrorOf(dst.Type()))
	for i := range dst.NumField() {
		m.Elem().Field(i).Set(dst.Field(i).Convert(m.Elem().Field(i).Type()))
	}
	if err := json.Unmarshal(data, m.Interface()); err != nil {
		return err
	}
	for i := range dst.NumField() {
		dst.Field(i).Set(m.Elem().Field(i).Convert(dst.Field(i).Type()))
	}
	return nil
}
