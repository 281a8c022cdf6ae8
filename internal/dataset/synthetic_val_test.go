package dataset

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// TestSyntheticValLeavesSplitsUnchanged: a validation split is generated after the training
// and test splits, which stay exactly those of the same spec without it, and a spec without
// one keeps the JSON (the data fingerprint) of earlier versions.
func TestSyntheticValLeavesSplitsUnchanged(t *testing.T) {
	spec := SyntheticSpec{Seed: 3, Classes: 2, Train: 40, Test: 20, Modalities: []SyntheticModality{{Name: "a", Dim: 3, Signal: 2}}}
	base, err := Synthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	if base.Val != nil {
		t.Fatal("Val without spec.Val")
	}
	js, _ := json.Marshal(spec)
	if strings.Contains(string(js), "Val") {
		t.Errorf("spec JSON without a validation split mentions Val: %s", js)
	}
	spec.Val = 10
	withVal, err := Synthetic(spec)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(base.Train, withVal.Train) || !reflect.DeepEqual(base.Test, withVal.Test) {
		t.Error("a validation split changed the training or test split")
	}
	if withVal.Val == nil || withVal.Val.Len() != 10 {
		t.Fatalf("Val = %+v, want 10 samples", withVal.Val)
	}
}
